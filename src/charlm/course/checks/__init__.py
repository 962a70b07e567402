"""The checks a student calls in the lessons' exercises, one module per lesson.

Each runs the student's function on small inputs of its own, compares it with charlm's
reference, and, where the answer is wrong, names the likely mistake (a softmax over the wrong
dimension, a missing boundary token, windows shifted by one...). A right answer gets the figure
it reached, beside charlm's, on the lesson's data when the lesson passes it.
"""

from charlm.course.checks.activations import verifier_kaiming
from charlm.course.checks.bigram import (
    verifier_bigramme,
    verifier_echantillonneur,
    verifier_nll,
    verifier_normalisation,
    verifier_softmax,
)
from charlm.course.checks.fizzbuzz import verifier_encodage, verifier_fizzbuzz
from charlm.course.checks.mlp import (
    verifier_entrainement,
    verifier_fenetres,
    verifier_mlp,
    verifier_perte,
    verifier_taux,
)
from charlm.course.checks.perceptrons import verifier_portes, verifier_xor
from charlm.course.checks.predictor import verifier_predicteur
from charlm.course.checks.sequences import verifier_sequences
from charlm.course.checks.tokens import verifier_fusion

__all__ = [
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
