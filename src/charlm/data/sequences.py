"""Whole words as sequences: `.word` in, `word.` out, padded, padding masked out of the loss."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from charlm.data.vocab import Vocab

# Target of a padding position: `F.cross_entropy(..., ignore_index=PAD_TARGET)` skips it.
PAD_TARGET = -1


def word_sequences(words: Sequence[str], vocab: Vocab) -> tuple[torch.Tensor, torch.Tensor]:
    """X (W, L) and Y (W, L) for W words, L the longest word's length + 1.

    Row i of X is the start token (id 0) then the word's units (characters, or the tokens of
    a `TokenVocabulary`); row i of Y is those units then the end token (id 0): a word of n
    units gives n + 1 predictions, the same ones its context windows give. Positions past a
    word are padding: 0 in X, `PAD_TARGET` in Y.
    """
    flat, lengths = vocab.flat_ids(list(words))
    return sequences_from_ids(flat, lengths)


def sequences_from_ids(
    flat: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """`word_sequences` of sequences given as their ids back to back and their lengths."""
    lengths = lengths.long() + 1  # the end token
    width = int(lengths.max()) if len(lengths) else 1
    rows = len(lengths)
    x = torch.zeros((rows, width), dtype=torch.long)
    y = torch.full((rows, width), PAD_TARGET, dtype=torch.long)
    columns = torch.arange(width)
    inside = columns < (lengths - 1)[:, None]  # the sequence's own units
    # (W, L) positions of the units, row by row, in the order `flat` holds them.
    ids = flat.long()
    x[:, 1:][inside[:, :-1]] = ids
    y[inside] = ids
    y[torch.arange(rows), lengths - 1] = 0  # the end token
    return x, y
