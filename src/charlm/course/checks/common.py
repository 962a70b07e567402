"""What the checks share: the course's small word list, its stoi, and comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from charlm.course.verdict import Faute, tenseur
from charlm.data.vocab import Vocabulary
from charlm.data.windows import context_windows

# The check's own word list: short, and every word ends differently.
MOTS = ["loi", "code", "civil", "article"]
GAIN_TANH = 5 / 3


def _stoi(mots: Sequence[str]) -> dict[str, int]:
    """The notebooks' stoi: '.' is 0, the characters 1..V-1 in sorted order."""
    return {".": 0} | {c: i + 1 for i, c in enumerate(sorted(set("".join(mots))))}


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=1e-5, rtol=1e-4)


def _paires(mots: Sequence[str], stoi: dict[str, int]) -> list[tuple[int, int]]:
    return [(stoi[a], stoi[b]) for mot in mots for a, b in zip("." + mot, mot + ".", strict=True)]


def _compter(mots: Sequence[str], stoi: dict[str, int]) -> torch.Tensor:
    n = torch.zeros(len(stoi), len(stoi), dtype=torch.long)
    for a, b in _paires(mots, stoi):
        n[a, b] += 1
    return n


def _perte_du_comptage(n: torch.Tensor, mots: Sequence[str], stoi: dict[str, int]) -> float:
    p = n.double() / n.double().sum(1, keepdim=True).clamp(min=1)
    a, b = torch.tensor(_paires(mots, stoi)).T
    return float(-p[a, b].log().mean())


def _diagnostic_de_perte(value: torch.Tensor, wrong: dict[str, torch.Tensor]) -> None:
    for hint, candidate in wrong.items():
        if _close(value.reshape(()), candidate.reshape(())):
            raise Faute(hint)


def _scalaire(valeur: Any, nom: str, n: int) -> torch.Tensor:
    loss = tenseur(valeur, nom, None, "flottant")
    if loss.dim() != 0:
        raise Faute(
            f"Votre perte a la forme {tuple(loss.shape)} : c'est une perte par exemple ; "
            "faites-en la moyenne (.mean()) pour obtenir un seul nombre."
        )
    return loss.detach()


_SOMME = "C'est la somme des pertes : prenez la moyenne sur les exemples (.mean())."
_SIGNE = "Le signe : la perte est −log p, un nombre positif. Ajoutez le moins."
_TOUTES = (
    "Vous avez moyenné sur toutes les cases (n × V) : ne gardez que la probabilité de la "
    "bonne réponse de chaque ligne, probs[torch.arange(n), ys], puis moyennez sur les n exemples."
)


def _fenetres(mots: Sequence[str], stoi: dict[str, int], k: int) -> tuple[torch.Tensor, ...]:
    """charlm's own windows (`context_windows`) of `mots`, in the ids of `stoi`."""
    vocab = Vocabulary.from_words(mots)
    assert vocab.itos == sorted(stoi, key=stoi.get)  # the notebooks' stoi is charlm's
    return context_windows(mots, vocab, k)


def _deux(valeur: Any, nom: str, noms: str) -> tuple[Any, Any]:
    if not isinstance(valeur, tuple | list) or len(valeur) != 2:
        raise Faute(f"`{nom}` doit renvoyer deux tenseurs, {noms}.")
    return valeur[0], valeur[1]
