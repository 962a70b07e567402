"""Leçon 5, the MLP of Bengio et al. (seed 002): windows, forward, loss, learning-rate drop
and the training loop."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from charlm.course.checks.common import (
    _SIGNE,
    _SOMME,
    _TOUTES,
    MOTS,
    _close,
    _deux,
    _diagnostic_de_perte,
    _fenetres,
    _scalaire,
    _stoi,
)
from charlm.course.verdict import Faute, appeler, fonction, nombre, tenseur, verification

# ---- Leçon 5: the MLP of Bengio et al. (seed 002) ----


@verification
def verifier_fenetres(fenetres: Callable, mots: Sequence[str] | None = None) -> str:
    """fenetres(mots, stoi, k) -> X (n, k), Y (n,) : pour chaque caractère de chaque mot et
    pour le « . » final, les k ids d'avant (des « . » au début) et l'id à prédire."""
    f = fonction(fenetres, "fenetres")
    mots_courts, k = ["loi", "code"], 3
    stoi = _stoi(mots_courts)
    ref_x, ref_y = _fenetres(mots_courts, stoi, k)
    x, y = _deux(appeler(f, "fenetres", mots_courts, stoi, k), "fenetres", "X et Y")
    x, y = tenseur(x, "X", None, "entier"), tenseur(y, "Y", None, "entier")
    n = len(ref_y)
    if x.dim() != 2 or x.shape[1] != k:
        raise Faute(
            f"X a la forme {tuple(x.shape)} : une ligne par fenêtre de k = {k} ids ; "
            f"attendu : ({n}, {k})."
        )
    if y.shape != (len(x),):
        raise Faute(f"Y a la forme {tuple(y.shape)} : un id à prédire par fenêtre, ({len(x)},).")
    if len(x) == n - len(mots_courts) or (len(x) == n and not bool((y == 0).any())):
        raise Faute(
            "Il manque la fenêtre qui prédit le « . » de fin : chaque mot donne len(mot) + 1 "
            "fenêtres, la dernière avec Y = 0."
        )
    if len(x) != n:
        raise Faute(f"{len(x)} fenêtres pour {mots_courts} et k = {k} ; attendu : {n}.")
    if not torch.equal(x, ref_x) or not torch.equal(y, ref_y):
        if bool((x[:, -1] == y).all()):
            raise Faute(
                "Vos fenêtres sont décalées d'un caractère : la dernière colonne de X est déjà "
                "Y. Ajoutez la fenêtre à X avant d'y faire entrer le caractère qu'elle prédit."
            )
        if torch.equal(x, ref_x):
            raise Faute("X est juste, mais Y est décalé : Y[i] est le caractère qui suit X[i].")
        if not bool((x[0] == 0).all()):
            raise Faute(
                f"La première fenêtre d'un mot est {x[0].tolist()} : elle doit être k fois le "
                "« . » (id 0), context = [0] * k."
            )
        i = int((x != ref_x).any(1).logical_or(y != ref_y).nonzero()[0])
        raise Faute(
            f"La fenêtre {i} est {x[i].tolist()} -> {int(y[i])} ; attendu : "
            f"{ref_x[i].tolist()} -> {int(ref_y[i])}."
        )
    message = f"{n} fenêtres de {k} ids pour {mots_courts}."
    if mots is not None:
        from charlm.data.vocab import Vocabulary
        from charlm.data.windows import context_windows

        mots = list(mots)
        theirs = context_windows(mots, Vocabulary.from_words(mots), k)
        yours = _deux(appeler(f, "fenetres", mots, _stoi(mots), k), "fenetres", "X et Y")
        if not all(torch.equal(torch.as_tensor(a), b) for a, b in zip(yours, theirs, strict=True)):
            raise Faute("Juste sur les mots de la vérification, mais pas sur les vôtres.")
        message += (
            f" Sur vos {len(mots)} mots : {len(theirs[1])} fenêtres, les mêmes que "
            "charlm.context_windows."
        )
    return message


@verification
def verifier_mlp(avant: Callable) -> str:
    """avant(X, C, W1, b1, W2, b2) -> logits (n, V) : tanh(C[X] mis à plat @ W1 + b1) @ W2 + b2."""
    f = fonction(avant, "avant")
    g = torch.Generator().manual_seed(2)
    n, k, d, h, v = 4, 3, 2, 5, 7
    x = torch.randint(0, v, (n, k), generator=g)
    c, w1 = torch.randn(v, d, generator=g), torch.randn(k * d, h, generator=g)
    b1, w2, b2 = (
        torch.randn(h, generator=g),
        torch.randn(h, v, generator=g),
        torch.randn(v, generator=g),
    )
    emb = c[x].view(n, k * d)  # (n, k, d) -> (n, k * d)
    ref = torch.tanh(emb @ w1 + b1) @ w2 + b2
    params = [t.clone() for t in (c, w1, b1, w2, b2)]
    logits = tenseur(appeler(f, "avant", x, *params), "logits", (n, v), "flottant").detach()
    if _close(logits, ref):
        return f"logits ({n}, {v}) = tanh(emb @ W1 + b1) @ W2 + b2, emb = C[X].view(n, k * d)."
    if _close(logits, (emb @ w1 + b1) @ w2 + b2):
        raise Faute("La couche cachée doit passer par tanh : h = torch.tanh(emb @ W1 + b1).")
    if _close(logits, F.softmax(ref, dim=1)):
        raise Faute("Renvoyez les logits, sans softmax : F.cross_entropy s'en charge.")
    raise Faute(
        "Vos logits diffèrent de tanh(emb @ W1 + b1) @ W2 + b2, emb = C[X].view(n, k * d) : "
        "les k plongements d'une fenêtre, bout à bout."
    )


@verification
def verifier_perte(perte: Callable) -> str:
    """perte(logits, Y) -> la moyenne sur les exemples de −log softmax(logits)[i, Y[i]]."""
    f = fonction(perte, "perte")
    g = torch.Generator().manual_seed(5)
    logits, y = torch.randn(6, 4, generator=g), torch.tensor([1, 0, 3, 3, 2, 1])
    value = _scalaire(appeler(f, "perte", logits.clone(), y.clone()), "la perte", 6)
    ref = F.cross_entropy(logits, y)
    if _close(value, ref):
        return f"perte {nombre(float(ref))}, comme F.cross_entropy(logits, Y)."
    picked = F.log_softmax(logits, dim=1)[torch.arange(6), y]
    _diagnostic_de_perte(
        value,
        {
            _SOMME: -picked.sum(),
            _SIGNE: picked.mean(),
            _TOUTES: -(F.log_softmax(logits, dim=1) * F.one_hot(y, 4)).mean(),
            "Le softmax est pris sur la mauvaise dimension (dim=0, les exemples) : les "
            "probabilités d'une fenêtre sont sur sa ligne, dim=1.": -F.log_softmax(logits, dim=0)[
                torch.arange(6), y
            ].mean(),
            "Les logits ne sont pas des log-probabilités : passez-les par log_softmax, ou "
            "utilisez F.cross_entropy(logits, Y).": -logits[torch.arange(6), y].mean(),
        },
    )
    raise Faute(f"Votre perte vaut {nombre(float(value))} ; attendu : {nombre(float(ref))}.")


@verification
def verifier_taux(taux: Callable) -> str:
    """taux(etape, etapes) -> le pas d'apprentissage du cours : 0,1, puis 0,01 à partir de la
    moitié des étapes (100 000 sur 200 000)."""
    f = fonction(taux, "taux")
    for etapes in (200_000, 10):
        for etape in range(etapes) if etapes == 10 else (0, 99_999, 100_000, 199_999):
            want = 0.1 if etape < etapes // 2 else 0.01
            got = appeler(f, "taux", etape, etapes)
            if not isinstance(got, int | float) or isinstance(got, bool):
                raise Faute(f"taux({etape}, {etapes}) doit renvoyer un nombre, pas {got!r}.")
            if not math.isclose(got, want, rel_tol=1e-9):
                if got == 0.1 and etape >= etapes // 2:
                    raise Faute(
                        f"taux({etape}, {etapes}) vaut encore 0,1 : le pas passe à 0,01 dès "
                        "la moitié des étapes, etape >= etapes // 2."
                    )
                if got == 0.01 and etape < etapes // 2:
                    raise Faute(
                        f"taux({etape}, {etapes}) vaut déjà 0,01 : le pas reste à 0,1 jusqu'à la "
                        "moitié des étapes."
                    )
                raise Faute(f"taux({etape}, {etapes}) vaut {got} ; attendu : {want}.")
    return "0,1 jusqu'à la moitié des étapes, puis 0,01 (le cours : 100 000 sur 200 000)."


def _probleme() -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """A small MLP's parameters [C, W1, b1, W2, b2] and the windows of MOTS (k = 3)."""
    g = torch.Generator().manual_seed(6)
    stoi = _stoi(MOTS)
    x, y = _fenetres(MOTS, stoi, 3)
    v, d, h = len(stoi), 2, 20
    shapes = [(v, d), (3 * d, h), (h,), (h, v), (v,)]
    params = [torch.randn(s, generator=g) * (0.1 if i >= 3 else 1.0) for i, s in enumerate(shapes)]
    for p in params:
        p.requires_grad_(True)
    return params, x, y


def _pertes(valeur: Any, etapes: int) -> list[float]:
    if not isinstance(valeur, list | tuple | torch.Tensor) or len(valeur) != etapes:
        raise Faute(
            f"`entrainer` doit renvoyer la liste de ses {etapes} pertes, une par étape "
            "(pertes.append(loss.item()))."
        )
    return [float(v) for v in valeur]


@verification
def verifier_entrainement(entrainer: Callable) -> str:
    """entrainer(parametres, X, Y, etapes, generateur) -> la liste des pertes : des lots de 32
    fenêtres tirés avec `generateur`, une descente de gradient par lot."""
    f = fonction(entrainer, "entrainer")
    etapes, runs = 300, []
    for global_seed in (1, 2):  # the global seed changes, the generator's does not
        params, x, y = _probleme()
        before = [p.detach().clone() for p in params]
        with torch.random.fork_rng():
            torch.manual_seed(global_seed)
            g = torch.Generator().manual_seed(0)
            runs.append(
                _pertes(appeler(f, "entrainer", params, x, y, etapes, g, copier=False), etapes)
            )
        if all(torch.equal(p.detach(), b) for p, b in zip(params, before, strict=True)):
            raise Faute(
                "Les paramètres n'ont pas bougé : après loss.backward(), mettez à jour chaque "
                "p.data += -lr * p.grad (et remettez p.grad à None avant chaque backward)."
            )
    first, last = sum(runs[0][:10]) / 10, sum(runs[0][-50:]) / 50
    if not last < first - 0.3:
        raise Faute(
            f"La perte ne baisse pas assez : {nombre(first, 3)} au début, {nombre(last, 3)} à la "
            "fin. Vérifiez le signe de la mise à jour (p.data += -lr * p.grad) et le pas (0,1)."
        )
    if runs[0] != runs[1]:
        raise Faute(
            "Deux entraînements avec le même générateur donnent des pertes différentes : tirez "
            "les lots avec lui, torch.randint(0, len(X), (32,), generator=generateur)."
        )
    return (
        f"la perte passe de {nombre(first, 3)} à {nombre(last, 3)} en {etapes} étapes, et le "
        "même générateur redonne les mêmes pertes."
    )
