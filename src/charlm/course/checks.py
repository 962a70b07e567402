"""The checks a student calls in the lessons' exercises, one per piece of the course's TP.

Each runs the student's function on small inputs of its own, compares it with charlm's
reference, and, where the answer is wrong, names the likely mistake (a softmax over the wrong
dimension, a missing boundary token, windows shifted by one...). A right answer gets the figure
it reached, beside charlm's, on the lesson's data when the lesson passes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from charlm.course.verdict import Faute, appeler, fonction, nombre, tenseur, verification
from charlm.data.tables import FIZZBUZZ_CLASSES, fizzbuzz_label, gate_table
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
        yours = tenseur(appeler(f, "compter_bigrammes", mots, stoi), "N", None, "entier")
        theirs = _perte_du_comptage(_compter(mots, stoi), mots, stoi)
        mine = _perte_du_comptage(yours.long(), mots, stoi)
        message += (
            f" Sur vos {len(mots)} mots, la perte du comptage vaut {nombre(mine)} "
            f"(charlm : {nombre(theirs)} ; le cours : 2,34)."
        )
    return message


@verification
def verifier_normalisation(normaliser: Callable) -> str:
    """normaliser(N) -> P : chaque ligne de N divisée par sa somme, P[i, j] = P(j | i)."""
    f = fonction(normaliser, "normaliser")
    # Rows and columns sum differently, so each mistake gives its own P.
    n = torch.tensor([[0, 3, 1], [2, 2, 4], [5, 0, 5]], dtype=torch.int32)
    given = n.clone()
    p = tenseur(appeler(f, "normaliser", given), "P", (3, 3), "flottant")
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


# ---- Leçon 5: the MLP of Bengio et al. (seed 002) ----


def _fenetres(mots: Sequence[str], stoi: dict[str, int], k: int) -> tuple[torch.Tensor, ...]:
    """charlm's own windows (`context_windows`) of `mots`, in the ids of `stoi`."""
    vocab = Vocabulary.from_words(mots)
    assert vocab.itos == sorted(stoi, key=stoi.get)  # the notebooks' stoi is charlm's
    return context_windows(mots, vocab, k)


def _deux(valeur: Any, nom: str, noms: str) -> tuple[Any, Any]:
    if not isinstance(valeur, tuple | list) or len(valeur) != 2:
        raise Faute(f"`{nom}` doit renvoyer deux tenseurs, {noms}.")
    return valeur[0], valeur[1]


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
            runs.append(_pertes(appeler(f, "entrainer", params, x, y, etapes, g), etapes))
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


def _mots_de_reference(p: torch.Tensor, itos: Sequence[str], g: torch.Generator) -> str:
    out, ix = [], 0
    while True:
        ix = int(torch.multinomial(p[ix], num_samples=1, replacement=True, generator=g))
        if ix == 0:
            return "".join(out)
        out.append(itos[ix])


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
                    f, "echantillonner", p.clone(), list(itos), torch.Generator().manual_seed(seed)
                )
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
    for row, a, b in zip(x.int().tolist(), out.reshape(-1).tolist(), y.tolist(), strict=True):
        if a != b:
            raise Faute(
                f"xor{tuple(row)} vaut {a:g} ; attendu : {b}. XOR = ET(OU(a, b), NON(ET(a, b))) : "
                "deux couches de perceptrons."
            )
    return "la table de XOR est exacte, 4 sur 4 (le notebook : 4 sur 4)."


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
