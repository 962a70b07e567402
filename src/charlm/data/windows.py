"""Context windows: each character of `.word.` predicted from the k tokens before it."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from charlm.data.vocab import Vocabulary

# Window rows hold token ids below 2**31: int32 halves their memory against int64, and
# embedding lookups and indexing take it as is. Targets stay int64, as cross-entropy wants.
WINDOW_DTYPE = torch.int32


def context_windows(
    words: Iterable[str], vocab: Vocabulary, context_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return X (N, context_size) and Y (N,) as the notebooks' `build_dataset` does.

    The context starts as `context_size` boundary tokens (id 0); each word yields len(word) + 1
    windows, the last one predicting the boundary token that ends the word. Built as slices of
    one tensor of padded words rather than row by row, so a list of millions of characters
    costs its tensors, not a Python list per window.
    """
    if context_size < 1:
        raise ValueError(f"context_size must be >= 1, got {context_size}")
    k = context_size
    words = list(words)
    for word in (w for w in words if vocab.boundary in w):
        vocab.check(word, "word")  # the boundary token cannot be a word's character
    if not words:
        return torch.empty((0, k), dtype=WINDOW_DTYPE), torch.empty(0, dtype=torch.long)
    # Word i becomes [0] * k + ids + [0]; its windows start at each of its first len(ids) + 1
    # positions, and window j's target is the token k places after its start.
    flat = _token_ids("".join(vocab.boundary * k + w + vocab.boundary for w in words), vocab)
    per_word = torch.tensor([len(w) + 1 for w in words])
    word_starts = torch.cumsum(per_word + k, 0) - (per_word + k)
    first_window = torch.cumsum(per_word, 0) - per_word
    total = int(per_word.sum())
    starts = torch.repeat_interleave(word_starts - first_window, per_word) + torch.arange(total)
    x = flat.unfold(0, k, 1)[starts]  # (total, k)
    return x, flat[starts + k].long()


def _token_ids(text: str, vocab: Vocabulary) -> torch.Tensor:
    """The ids of every character of `text`, the boundary token included (as id 0)."""
    extra = set(text) - set(vocab.itos)
    if extra:
        # The word that holds them, for the error message.
        vocab.check(next(w for w in text.split(vocab.boundary) if set(w) & extra), "word")
    if len(vocab) <= 256:
        # One byte per character, translated in C: millions of characters in well under a second.
        table = {ord(c): chr(i) for i, c in enumerate(vocab.itos)}
        raw = bytearray(text.translate(table).encode("latin-1"))
        return torch.frombuffer(raw, dtype=torch.uint8).to(WINDOW_DTYPE)
    return torch.tensor([vocab.stoi[c] for c in text], dtype=WINDOW_DTYPE)
