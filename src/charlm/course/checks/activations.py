"""Leçon 7, Kaiming's gain for tanh."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from charlm.course.checks.common import (
    GAIN_TANH,
)
from charlm.course.verdict import Faute, appeler, fonction, nombre, tenseur, verification

# ---- Leçon 7: Kaiming's gain ----


@verification
def verifier_kaiming(kaiming: Callable) -> str:
    """kaiming(fan_in, fan_out, generateur) -> W (fan_in, fan_out) tiré de N(0, 1) et mis à
    l'échelle de Kaiming pour tanh : un écart-type de (5/3) / √fan_in."""
    f = fonction(kaiming, "kaiming")
    fan_in, fan_out = 300, 200
    draws = []
    for global_seed in (1, 2):
        with torch.random.fork_rng():
            torch.manual_seed(global_seed)
            w = appeler(f, "kaiming", fan_in, fan_out, torch.Generator().manual_seed(0))
        draws.append(tenseur(w, "W", (fan_in, fan_out), "flottant").detach())
    std, want = float(draws[0].std()), GAIN_TANH / math.sqrt(fan_in)
    if not math.isclose(std, want, rel_tol=0.04):
        wrong = {
            "Il manque le gain de tanh : multipliez par 5/3 (torch.nn.init.calculate_gain('tanh')).": 1
            / math.sqrt(fan_in),
            "Divisez par la racine de fan_in (les entrées de la couche), pas de fan_out.": GAIN_TANH
            / math.sqrt(fan_out),
            "Divisez par √fan_in, pas par fan_in.": GAIN_TANH / fan_in,
            "Le gain est 5/3, pas sa racine.": math.sqrt(GAIN_TANH) / math.sqrt(fan_in),
            "Les poids ne sont pas mis à l'échelle : multipliez par (5/3) / √fan_in.": 1.0,
        }
        for hint, value in wrong.items():
            if math.isclose(std, value, rel_tol=0.04):
                raise Faute(f"Écart-type {nombre(std)} ; attendu : {nombre(want)}. {hint}")
        raise Faute(f"Écart-type {nombre(std)} ; attendu : (5/3) / √{fan_in} = {nombre(want)}.")
    if not torch.equal(draws[0], draws[1]):
        raise Faute(
            "Votre initialisation ignore son générateur : la même graine donne d'autres poids. "
            "torch.randn(fan_in, fan_out, generator=generateur)."
        )
    return f"écart-type {nombre(std)} ; Kaiming pour tanh : (5/3) / √{fan_in} = {nombre(want)}."
