"""Leçon 6, sequence models: a whole word as one sequence, its targets shifted by one and its
padding masked out of the loss (makemore's `-1`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from charlm.course.checks.common import _deux, _stoi
from charlm.course.verdict import Faute, appeler, fonction, tenseur, verification
from charlm.data.sequences import PAD_TARGET, word_sequences
from charlm.data.vocab import Vocabulary

# Words of three lengths, so that padding, start and end tokens each show.
MOTS_SEQUENCES = ["loi", "code", "a"]


@verification
def verifier_sequences(sequences: Callable, mots: Sequence[str] | None = None) -> str:
    """sequences(mots, stoi) -> X (W, L), Y (W, L) : pour chaque mot, X est « . » puis ses
    caractères, Y ses caractères puis « . » (Y décalé d'un cran sur X) ; L vaut la longueur du
    plus long mot + 1, et le remplissage vaut 0 dans X, -1 dans Y."""
    f = fonction(sequences, "sequences")
    message = _compare(f, MOTS_SEQUENCES, mine=False)
    if mots is not None:
        message += " " + _compare(f, list(mots), mine=True)
    return message


def _compare(f: Callable, mots: list[str], mine: bool) -> str:
    stoi = _stoi(mots)
    ref_x, ref_y = word_sequences(mots, Vocabulary.from_words(mots))
    x, y = _deux(appeler(f, "sequences", mots, stoi), "sequences", "X et Y")
    x, y = tenseur(x, "X", None, "entier"), tenseur(y, "Y", None, "entier")
    shape = tuple(ref_x.shape)
    if tuple(x.shape) != shape or tuple(y.shape) != shape:
        longest = max(len(m) for m in mots)
        if x.dim() == 2 and x.shape[1] == longest:
            raise Faute(
                f"X a {longest} colonnes, la longueur du plus long mot : il en faut une de plus, "
                f"{longest + 1}, pour le « . » du début de X et celui de la fin de Y."
            )
        raise Faute(
            f"X a la forme {tuple(x.shape)} et Y {tuple(y.shape)} ; attendu : {shape} (un mot "
            "par ligne, la longueur du plus long mot + 1 colonnes)."
        )
    x, y = x.long(), y.long()
    if torch.equal(x, ref_x) and torch.equal(y, ref_y):
        if mine:
            return (
                f"Sur vos {len(mots)} mots : X et Y {shape}, les mêmes que "
                "charlm.data.sequences.word_sequences."
            )
        return (
            f"X et Y {shape} pour {mots} : Y est X décalé d'un cran, le remplissage de Y vaut "
            f"{PAD_TARGET} (ignore_index)."
        )
    if mine:
        i = int((x != ref_x).any(1).logical_or((y != ref_y).any(1)).nonzero()[0])
        raise Faute(
            f"Juste sur les mots de la vérification, mais pas sur les vôtres : le mot "
            f"{mots[i]!r} donne X = {x[i].tolist()}, Y = {y[i].tolist()} ; attendu : "
            f"{ref_x[i].tolist()}, {ref_y[i].tolist()}."
        )
    pad = ref_y == PAD_TARGET
    if torch.equal(y, ref_y) and not torch.equal(x[:, 0], ref_x[:, 0]):
        raise Faute(
            "X doit commencer par le « . » du début (id 0) : la première position prédit la "
            "première lettre à partir de rien."
        )
    given = y != PAD_TARGET
    if bool(given.any()) and torch.equal(y[given], x[given]):
        raise Faute(
            "Y répète X : chaque position doit prédire le caractère suivant. Y est X décalé "
            "d'un cran : les caractères du mot, puis « . »."
        )
    if torch.equal(x, ref_x) and torch.equal(y[~pad], ref_y[~pad]):
        raise Faute(
            f"Le remplissage de Y vaut {sorted(set(y[pad].tolist()))} : il doit valoir "
            f"{PAD_TARGET}, que F.cross_entropy(..., ignore_index={PAD_TARGET}) ignore. Avec 0, "
            "le modèle apprendrait à prédire « . » après la fin de chaque mot court."
        )
    if torch.equal(x, ref_x) and not bool((y == 0).any()):
        raise Faute(
            "Il manque le « . » de fin dans Y : après le dernier caractère, le modèle doit "
            "prédire la fin du mot (id 0)."
        )
    i = int((x != ref_x).any(1).logical_or((y != ref_y).any(1)).nonzero()[0])
    raise Faute(
        f"Le mot {mots[i]!r} donne X = {x[i].tolist()}, Y = {y[i].tolist()} ; attendu : "
        f"{ref_x[i].tolist()}, {ref_y[i].tolist()}."
    )
