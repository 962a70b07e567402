"""Whole words as sequences: `.word` in, `word.` out, padded, padding masked out of the loss."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from charlm.data.vocab import Vocabulary
from charlm.data.windows import _token_ids

# Target of a padding position: `F.cross_entropy(..., ignore_index=PAD_TARGET)` skips it.
PAD_TARGET = -1


def word_sequences(words: Sequence[str], vocab: Vocabulary) -> tuple[torch.Tensor, torch.Tensor]:
    """X (W, L) and Y (W, L) for W words, L the longest word's length + 1.

    Row i of X is the start token (id 0) then the word's characters; row i of Y is the word's
    characters then the end token (id 0): a word of n characters gives n + 1 predictions, the
    same ones its context windows give. Positions past a word are padding: 0 in X, `PAD_TARGET`
    in Y.
    """
    words = list(words)
    for word in (w for w in words if vocab.boundary in w):
        vocab.check(word, "word")  # the boundary token cannot be a word's character
    lengths = torch.tensor([len(w) + 1 for w in words], dtype=torch.long)
    width = int(lengths.max()) if words else 1
    ids = _token_ids("".join(words), vocab).long()
    x = torch.zeros((len(words), width), dtype=torch.long)
    y = torch.full((len(words), width), PAD_TARGET, dtype=torch.long)
    columns = torch.arange(width)
    inside = columns < (lengths - 1)[:, None]  # the word's own characters
    # (W, L) positions of the characters, row by row, in the order `ids` holds them.
    x[:, 1:][inside[:, :-1]] = ids
    y[inside] = ids
    y[torch.arange(len(words)), lengths - 1] = 0  # the end token
    return x, y
