"""Leçon 3, perceptrons (seed 004): hand-set gates and XOR."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from charlm.course.verdict import Faute, appeler, fonction, nombre, tenseur, verification
from charlm.data.tables import gate_table

# ---- Leçon 3: perceptrons (seed 004) ----

_NOMS = {"et": "and", "ou": "or", "non": None}


def _porte(poids: Sequence[float], x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor([float(p) for p in poids])
    return (w[0] + x @ w[1:] > 0).long()


@verification
def verifier_portes(portes: Callable) -> str:
    """portes() -> {"et": [w0, w1, w2], "ou": [w0, w1, w2], "non": [w0, w1]} : les poids,
    biais d'abord, de trois perceptrons (1 si w0 + w1 x1 + ... > 0, sinon 0)."""
    f = fonction(portes, "portes")
    weights = appeler(f, "portes")
    if not isinstance(weights, dict) or set(weights) != set(_NOMS):
        raise Faute(
            '`portes` doit renvoyer un dictionnaire {"et": [...], "ou": [...], "non": [...]}.'
        )
    for nom, gate in _NOMS.items():
        w = weights[nom]
        inputs = 1 if gate is None else 2
        if not isinstance(w, list | tuple | torch.Tensor) or len(w) != inputs + 1:
            raise Faute(
                f"{nom.upper()} a {inputs} entrée(s) : ses poids sont [w0"
                + "".join(f", w{i + 1}" for i in range(inputs))
                + "], le biais w0 d'abord."
            )
        x = gate_table("and")[0] if gate else torch.tensor([[0.0], [1.0]])
        want = gate_table(gate)[1] if gate else torch.tensor([1, 0])
        got = _porte(w, x)
        for row, a, b in zip(x.int().tolist(), got.tolist(), want.tolist(), strict=True):
            if a != b:
                raise Faute(
                    f"Pour l'entrée {tuple(row)}, votre perceptron {nom.upper()} donne {a} ; "
                    f"{nom.upper()} donne {b}. Le biais w0 fixe le seuil que w1 x1 + ... doit "
                    "dépasser."
                )
    return "ET, OU et NON donnent leurs tables exactes (le cours : [-0,6, 0,5, 0,5], [-0,5, 1, 1], [1, -1])."


@verification
def verifier_xor(xor: Callable) -> str:
    """xor(x) -> pour chaque ligne (a, b) de x (4, 2), a XOR b : 0 ou 1."""
    f = fonction(xor, "xor")
    x, y = gate_table("xor")
    out = tenseur(appeler(f, "xor", x.clone()), "xor(x)").detach()
    if out.numel() != 4:
        raise Faute(f"xor(x) a la forme {tuple(out.shape)} : une réponse par ligne de x, (4,).")
    values = out.reshape(-1).double().tolist()
    if not all(v in (0.0, 1.0) for v in values):
        shown = ", ".join(nombre(v) for v in values)
        if all(0.0 <= v <= 1.0 for v in values):
            raise Faute(
                f"xor(x) vaut [{shown}] : des probabilités (une sigmoïde ?), pas des 0 et des "
                "1. Tranchez : (sortie > 0.5).long()."
            )
        raise Faute(f"xor(x) vaut [{shown}] : chaque réponse doit être 0 ou 1.")
    for row, a, b in zip(x.int().tolist(), values, y.tolist(), strict=True):
        if a != b:
            raise Faute(
                f"xor{tuple(row)} vaut {int(a)} ; attendu : {b}. XOR = ET(OU(a, b), NON(ET(a, b))) : "
                "deux couches de perceptrons."
            )
    return "la table de XOR est exacte, 4 sur 4 (le notebook : 4 sur 4)."
