"""Context windows: each character of `.word.` predicted from the k tokens before it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from charlm.data.vocab import Vocab

# Window rows hold token ids below 2**31: int32 halves their memory against int64, and
# embedding lookups and indexing take it as is. Targets stay int64, as cross-entropy wants.
WINDOW_DTYPE = torch.int32


def context_windows(
    words: Iterable[str], vocab: Vocab, context_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return X (N, context_size) and Y (N,) as the notebooks' `build_dataset` does.

    The context starts as `context_size` boundary tokens (id 0); each word yields one window
    per unit (a character, or a token of a `TokenVocabulary`) plus one, the last one
    predicting the boundary token that ends the word.
    """
    if context_size < 1:
        raise ValueError(f"context_size must be >= 1, got {context_size}")
    flat, lengths = vocab.flat_ids(list(words))
    return windows_from_ids(flat, lengths, context_size)


def windows_from_ids(
    flat: torch.Tensor, lengths: torch.Tensor, context_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Context windows of sequences given as their ids back to back (`flat`) and their
    lengths: sequence i becomes [0] * k + ids + [0], one window per id and one for the end.

    Built as slices of one tensor of padded sequences rather than row by row, so a list of
    millions of characters costs its tensors, not a Python list per window.
    """
    k = context_size
    if len(lengths) == 0:
        return torch.empty((0, k), dtype=WINDOW_DTYPE), torch.empty(0, dtype=torch.long)
    lengths = lengths.long()
    padded = _padded(flat, lengths, k)
    per_word = lengths + 1
    word_starts = torch.cumsum(per_word + k, 0) - (per_word + k)
    first_window = torch.cumsum(per_word, 0) - per_word
    total = int(per_word.sum())
    # Window j of sequence i starts at its j-th position; its target is k places further.
    starts = torch.repeat_interleave(word_starts - first_window, per_word) + torch.arange(total)
    x = padded.unfold(0, k, 1)[starts]  # (total, k)
    return x, padded[starts + k].long()


def _padded(flat: torch.Tensor, lengths: torch.Tensor, k: int) -> torch.Tensor:
    """[0] * k + ids + [0] for every sequence, back to back, in one tensor."""
    span = lengths + k + 1
    padded = torch.zeros(int(span.sum()), dtype=WINDOW_DTYPE)
    seq_first = torch.cumsum(span, 0) - span + k  # where each sequence's first id goes
    id_first = torch.cumsum(lengths, 0) - lengths  # where it is in `flat`
    positions = torch.repeat_interleave(seq_first - id_first, lengths) + torch.arange(len(flat))
    padded[positions] = flat.to(WINDOW_DTYPE)
    return padded
