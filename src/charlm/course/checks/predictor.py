"""Leçon 1, the token predictor (seed 000)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from charlm.course.checks.common import (
    _close,
    _deux,
)
from charlm.course.verdict import Faute, appeler, fonction, tenseur, verification

# ---- Leçon 1: the token predictor (seed 000) ----


@verification
def verifier_predicteur(
    predire: Callable, modele: Any = None, exemples: tuple[Any, Any] | None = None
) -> str:
    """predire(logits) -> (probs, jetons) : softmax de chaque ligne, et son jeton le plus
    probable. Avec `modele` et `exemples` (x, y), ses bonnes réponses sur ces exemples."""
    f = fonction(predire, "predire")
    logits = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    probs, jetons = _deux(appeler(f, "predire", logits.clone()), "predire", "probs et jetons")
    probs = tenseur(probs, "probs", (5, 3), "flottant").detach()
    if not _close(probs, F.softmax(logits, dim=1)):
        if _close(probs, F.softmax(logits, dim=0)):
            raise Faute(
                "Le softmax est pris sur la mauvaise dimension : ce sont les colonnes qui "
                "somment à 1. Chaque ligne est un exemple : softmax(logits, dim=1)."
            )
        if _close(probs, logits):
            raise Faute("probs sont encore les logits : appliquez softmax(logits, dim=1).")
        raise Faute("probs n'est pas softmax(logits, dim=1).")
    jetons = tenseur(jetons, "jetons", None, "entier")
    if jetons.shape == (3,):
        raise Faute("argmax sur la mauvaise dimension : un jeton par ligne, argmax(dim=1).")
    tenseur(jetons, "jetons", (5,))
    if not torch.equal(jetons.long(), probs.argmax(dim=1)):
        raise Faute("jetons doit être, pour chaque ligne, l'indice de sa plus grande probabilité.")
    message = "probs somme à 1 par ligne, et jetons est son argmax."
    if modele is not None and exemples is not None:
        x, y = exemples
        with torch.no_grad():
            _, mine = _deux(appeler(f, "predire", modele(x)), "predire", "probs et jetons")
        right = int((torch.as_tensor(mine).reshape(-1) == y).sum())
        message += (
            f" Avec ce réseau : {right} bonnes réponses sur {len(y)} (le notebook : 4 sur 4)."
        )
    return message
