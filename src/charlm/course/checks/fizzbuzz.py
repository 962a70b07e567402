"""Leçon 2, fizzbuzz (seed 001): the binary encoding and the classes."""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable

import torch

from charlm.course.verdict import Faute, appeler, fonction, tenseur, verification
from charlm.data.tables import FIZZBUZZ_CLASSES, fizzbuzz_label

# ---- Leçon 2: fizzbuzz (seed 001) ----


@verification
def verifier_encodage(encoder_binaire: Callable) -> str:
    """encoder_binaire(n, chiffres) -> un tenseur de `chiffres` bits flottants, le bit de
    poids faible d'abord (le `binary_encode` du TD1)."""
    f = fonction(encoder_binaire, "encoder_binaire")
    for n in (1, 6, 512, 1023, 0, 37):
        bits = tenseur(
            appeler(f, "encoder_binaire", n, 10), f"encoder_binaire({n}, 10)", (10,), "flottant"
        )
        want = torch.tensor([n >> d & 1 for d in range(10)], dtype=torch.float)
        if not torch.equal(bits.float(), want):
            if torch.equal(bits.float(), want.flip(0)):
                raise Faute(
                    f"encoder_binaire({n}, 10) met le bit de poids fort d'abord ; le TD1 met le "
                    "bit de poids faible d'abord : [n >> d & 1 for d in range(chiffres)]."
                )
            raise Faute(
                f"encoder_binaire({n}, 10) vaut {bits.int().tolist()} ; attendu : "
                f"{want.int().tolist()}."
            )
    return "10 bits, poids faible d'abord : 6 -> [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]."


@verification
def verifier_fizzbuzz(classe: Callable) -> str:
    """classe(n) -> 0 (le nombre), 1 (fizz), 2 (buzz) ou 3 (fizzbuzz)."""
    f = fonction(classe, "classe")
    for n in range(1, 101):
        got, want = appeler(f, "classe", n), fizzbuzz_label(n)
        with contextlib.suppress(TypeError):  # an integer tensor or numpy scalar: its int
            got = got if isinstance(got, bool) else operator.index(got)
        if isinstance(got, bool) or not isinstance(got, int):
            raise Faute(
                f"classe({n}) vaut {got!r} : une classe est un entier, 0, 1, 2 ou 3 "
                "(pas un booléen, ni un flottant, ni un texte)."
            )
        if got != want:
            hint = (
                " Testez 15 avant 3 et 5 : un multiple de 15 l'est aussi de 3."
                if n % 15 == 0
                else ""
            )
            raise Faute(
                f"classe({n}) vaut {got!r} ; attendu : {want} ({FIZZBUZZ_CLASSES[want]}).{hint}"
            )
    return "les classes de 1..100 sont toutes justes (27 fizz, 14 buzz, 6 fizzbuzz)."
