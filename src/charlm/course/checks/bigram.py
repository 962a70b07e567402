"""Leçon 4, the bigram (seed 003): counts, normalisation, the neural bigram's softmax, its
loss and the sampler."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from charlm.course.checks.common import (
    _SIGNE,
    _SOMME,
    _TOUTES,
    MOTS,
    _close,
    _compter,
    _diagnostic_de_perte,
    _perte_du_comptage,
    _scalaire,
    _stoi,
)
from charlm.course.verdict import Faute, appeler, fonction, nombre, tenseur, verification

# ---- Leçon 4: the bigram (seed 003) ----


@verification
def verifier_bigramme(compter_bigrammes: Callable, mots: Sequence[str] | None = None) -> str:
    """compter_bigrammes(mots, stoi) -> N (V, V) d'entiers : N[i, j] compte « i suivi de j »
    dans les mots encadrés de « . ». Avec `mots`, la perte du comptage sur ces mots."""
    f = fonction(compter_bigrammes, "compter_bigrammes")
    stoi = _stoi(MOTS)
    v = len(stoi)
    n = tenseur(appeler(f, "compter_bigrammes", MOTS, stoi), "N", (v, v), "entier").long()
    ref = _compter(MOTS, stoi)
    if not torch.equal(n, ref):
        itos = list(stoi)
        if torch.equal(n, ref.T):
            raise Faute(
                "N est transposée : N[i, j] doit compter « i suivi de j » (ligne : le caractère "
                "d'avant, colonne : celui d'après)."
            )
        start, end = int(n[0].sum()) == 0, int(n[:, 0].sum()) == 0
        if start or end:
            which = "du début et de fin" if start and end else "du début" if start else "de fin"
            raise Faute(
                f"Le jeton de frontière « . » {which} manque : encadrez chaque mot, "
                "['.'] + list(mot) + ['.'], avant de compter ses paires."
            )
        if int(n.sum()) != int(ref.sum()):
            raise Faute(
                f"N compte {int(n.sum())} paires ; les mots {MOTS} en ont {int(ref.sum())} "
                "(len(mot) + 1 chacun, les « . » compris)."
            )
        i, j = (n != ref).nonzero()[0].tolist()
        raise Faute(
            f"N[{i}, {j}] (« {itos[i]} » suivi de « {itos[j]} ») vaut {int(n[i, j])} ; "
            f"attendu : {int(ref[i, j])}."
        )
    message = f"N compte les {int(ref.sum())} paires de {MOTS}."
    if mots is not None:
        mots = list(mots)
        stoi = _stoi(mots)
        ref = _compter(mots, stoi)
        v = len(stoi)
        n = tenseur(appeler(f, "compter_bigrammes", mots, stoi), "N", (v, v), "entier")
        if not torch.equal(n.long(), ref):
            top = torch.iinfo(n.dtype).max
            if int(ref.max()) > top:
                raise Faute(
                    f"N est de type {n.dtype}, qui compte au plus jusqu'à {top} : sur vos "
                    f"{len(mots)} mots, une paire revient {int(ref.max())} fois, et son compte "
                    "déborde. Créez N en torch.int32 (ou torch.long)."
                )
            itos = list(stoi)
            i, j = (n.long() != ref).nonzero()[0].tolist()
            raise Faute(
                f"Juste sur les mots de la vérification, mais pas sur les vôtres : N[{i}, {j}] "
                f"(« {itos[i]} » suivi de « {itos[j]} ») vaut {int(n[i, j])} ; attendu : "
                f"{int(ref[i, j])}."
            )
        loss = _perte_du_comptage(ref, mots, stoi)
        message += (
            f" Sur vos {len(mots)} mots, la perte du comptage vaut {nombre(loss)} "
            f"(charlm : {nombre(loss)} ; le cours : 2,34)."
        )
    return message


@verification
def verifier_normalisation(normaliser: Callable) -> str:
    """normaliser(N) -> P : chaque ligne de N divisée par sa somme, P[i, j] = P(j | i)."""
    f = fonction(normaliser, "normaliser")
    # Rows and columns sum differently, so each mistake gives its own P.
    n = torch.tensor([[0, 3, 1], [2, 2, 4], [5, 0, 5]], dtype=torch.int32)
    given = n.clone()
    p = tenseur(appeler(f, "normaliser", given, copier=False), "P", (3, 3), "flottant")
    if not torch.equal(given, n):
        raise Faute("normaliser a modifié N : gardez N intacte et renvoyez un nouveau tenseur P.")
    nf = n.float()
    if _close(p, nf / nf.sum(1, keepdim=True)):
        return "chaque ligne de P somme à 1 : P[i, j] = N[i, j] / N[i].sum()."
    if _close(p, nf / nf.sum(0, keepdim=True)):
        raise Faute(
            "Vous avez normalisé les colonnes (chacune somme à 1) : sommez sur dim=1, les "
            "lignes, N.sum(1, keepdim=True)."
        )
    if _close(p, nf / nf.sum(1)):
        raise Faute(
            "N / N.sum(1) sans keepdim=True : la somme (V,) se diffuse le long des lignes et "
            "divise chaque colonne j par la somme de la ligne j. Écrivez N.sum(1, keepdim=True)."
        )
    rows = p.sum(1)
    if not torch.allclose(rows.double(), torch.ones(3, dtype=torch.double), atol=1e-5):
        raise Faute(
            f"Les lignes de P somment à {[round(float(r), 3) for r in rows]} ; chacune doit "
            "sommer à 1."
        )
    raise Faute("Les lignes somment à 1, mais P n'est pas N normalisée : P[i] = N[i] / N[i].sum().")


@verification
def verifier_softmax(probabilites: Callable) -> str:
    """probabilites(xs, W) -> probs (n, V) : le bigramme neuronal, softmax(one_hot(xs) @ W)."""
    f = fonction(probabilites, "probabilites")
    g = torch.Generator().manual_seed(3)
    w = torch.randn(5, 5, generator=g)
    xs = torch.tensor([0, 3, 1, 4, 2, 3])  # 6 examples, 5 symbols: dim 0 and dim 1 differ
    logits = F.one_hot(xs, 5).float() @ w
    probs = tenseur(appeler(f, "probabilites", xs, w.clone()), "probs", (6, 5), "flottant")
    if _close(probs, F.softmax(logits, dim=1)):
        return (
            "probs = softmax(one_hot(xs) @ W) : la ligne i est le softmax de la ligne xs[i] de W."
        )
    if _close(probs, F.softmax(logits, dim=0)):
        raise Faute(
            "Le softmax est pris sur la mauvaise dimension : ce sont les colonnes qui somment "
            "à 1. Normalisez chaque ligne (dim=1, keepdim=True)."
        )
    if _close(probs, logits):
        raise Faute("Ce sont encore les logits : passez-les par exp, puis normalisez chaque ligne.")
    if _close(probs, logits.exp()):
        raise Faute("exp sans normaliser : divisez chaque ligne par sa somme (keepdim=True).")
    if _close(probs, logits / logits.sum(1, keepdim=True)):
        raise Faute(
            "Il manque exp avant de normaliser : des logits négatifs ne sont pas des comptes."
        )
    raise Faute(
        "probs ne vient pas de one_hot(xs) @ W : la ligne i doit être le softmax de W[xs[i]]."
    )


@verification
def verifier_nll(nll: Callable) -> str:
    """nll(probs, ys) -> la moyenne de −log probs[i, ys[i]] : la perte du bigramme."""
    f = fonction(nll, "nll")
    g = torch.Generator().manual_seed(4)
    probs = F.softmax(torch.randn(6, 4, generator=g), dim=1)
    ys = torch.tensor([1, 0, 3, 3, 2, 1])
    value = _scalaire(appeler(f, "nll", probs.clone(), ys.clone()), "la perte", 6)
    picked = probs[torch.arange(6), ys].log()
    ref = -picked.mean()
    if _close(value, ref):
        return f"perte {nombre(float(ref))} sur ces 6 exemples, comme charlm."
    _diagnostic_de_perte(
        value,
        {
            _SOMME: -picked.sum(),
            _SIGNE: picked.mean(),
            _TOUTES: -(probs.log() * F.one_hot(ys, 4)).mean(),
            "probs[:, ys] prend toutes les lignes pour chaque ys : indexez ligne par ligne, "
            "probs[torch.arange(n), ys].": -probs[:, ys].log().mean(),
            "Il manque le log : la perte est −log p, pas −p.": -probs[torch.arange(6), ys].mean(),
        },
    )
    raise Faute(f"Votre perte vaut {nombre(float(value))} ; attendu : {nombre(float(ref))}.")


def _mots_de_reference(p: torch.Tensor, itos: Sequence[str], g: torch.Generator) -> str:
    out, ix = [], 0
    while True:
        ix = int(torch.multinomial(p[ix], num_samples=1, replacement=True, generator=g))
        if ix == 0:
            return "".join(out)
        out.append(itos[ix])


_ARRET = (
    "La boucle s'arrête quand le caractère tiré est le « . » de fin : if ix == 0: break "
    "(ix, le nouvel indice tiré, pas l'ancien)."
)


@verification
def verifier_echantillonneur(echantillonner: Callable) -> str:
    """echantillonner(P, itos, generateur) -> un mot : partir de « . », tirer le caractère
    suivant de P[ix] avec `generateur` jusqu'au « . » de fin (non compris)."""
    f = fonction(echantillonner, "echantillonner")
    mots = ["abc", "ba", "cab", "a", "bac", "cc"]
    stoi = _stoi(mots)
    itos = list(stoi)
    n = _compter(mots, stoi).double() + 0.5
    p = (n / n.sum(1, keepdim=True)).float()
    drawn = []
    for seed in range(5):
        words = []
        for global_seed in (10 + seed, 20 + seed):
            with torch.random.fork_rng():
                torch.manual_seed(global_seed)
                word = appeler(
                    f, "echantillonner", p.clone(), list(itos),
                    torch.Generator().manual_seed(seed), boucle=_ARRET,
                )  # fmt: skip
            if not isinstance(word, str):
                raise Faute(f"`echantillonner` doit renvoyer un mot (str), pas {word!r}.")
            if "." in word:
                raise Faute(
                    f"Le mot tiré, {word!r}, contient « . » : arrêtez-vous au « . » de fin, sans "
                    "l'ajouter au mot."
                )
            words.append(word)
        if words[0] != words[1]:
            raise Faute(
                "Votre échantillonneur ignore son générateur : avec la même graine, il tire "
                f"{words[0]!r} puis {words[1]!r}. Passez generator=generateur à torch.multinomial."
            )
        want = _mots_de_reference(p, itos, torch.Generator().manual_seed(seed))
        if words[0] != want:
            raise Faute(
                f"Pour la graine {seed}, vous tirez {words[0]!r} ; la référence tire {want!r}. "
                "Partez de ix = 0 (« . »), tirez un caractère à la fois avec "
                "torch.multinomial(P[ix], num_samples=1, replacement=True, generator=generateur)."
            )
        drawn.append(want)
    return f"les graines 0 à 4 donnent les mots de la référence : {drawn}."
