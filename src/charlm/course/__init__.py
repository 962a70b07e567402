"""The course as exercises: the checks a student calls in the lessons, in French.

Each `verifier_*` takes the student's function, runs it on inputs of its own against charlm's
reference and returns a `Verdict`: "✅ Juste. ..." with the figure reached, or "❌ ..." with
what is wrong and where to look. A check never raises, so a notebook run to the end shows every
verdict; `assert verifier_x(f)` makes a graded test of one. The interactive views are in
`charlm.course.views` (ipywidgets).
"""

from charlm.course.checks import (
    verifier_bigramme,
    verifier_echantillonneur,
    verifier_encodage,
    verifier_entrainement,
    verifier_fenetres,
    verifier_fizzbuzz,
    verifier_fusion,
    verifier_kaiming,
    verifier_mlp,
    verifier_nll,
    verifier_normalisation,
    verifier_perte,
    verifier_portes,
    verifier_predicteur,
    verifier_sequences,
    verifier_softmax,
    verifier_taux,
    verifier_xor,
)
from charlm.course.root import racine
from charlm.course.verdict import Verdict

__all__ = [
    "Verdict",
    "racine",
    "verifier_bigramme",
    "verifier_echantillonneur",
    "verifier_encodage",
    "verifier_entrainement",
    "verifier_fenetres",
    "verifier_fizzbuzz",
    "verifier_fusion",
    "verifier_kaiming",
    "verifier_mlp",
    "verifier_nll",
    "verifier_normalisation",
    "verifier_perte",
    "verifier_portes",
    "verifier_predicteur",
    "verifier_sequences",
    "verifier_softmax",
    "verifier_taux",
    "verifier_xor",
]
