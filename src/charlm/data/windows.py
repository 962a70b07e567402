"""Context windows: each character of `.word.` predicted from the k tokens before it."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from charlm.data.vocab import Vocabulary


def context_windows(
    words: Iterable[str], vocab: Vocabulary, context_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return X (N, context_size) and Y (N,) as the notebooks' `build_dataset` does.

    The context starts as `context_size` boundary tokens (id 0); each word yields len(word) + 1
    windows, the last one predicting the boundary token that ends the word.
    """
    if context_size < 1:
        raise ValueError(f"context_size must be >= 1, got {context_size}")
    xs: list[list[int]] = []
    ys: list[int] = []
    for word in words:
        context = [0] * context_size
        for ix in [*vocab.encode(word), 0]:
            xs.append(context)
            ys.append(ix)
            context = [*context[1:], ix]
    x = torch.tensor(xs, dtype=torch.long).view(-1, context_size)
    return x, torch.tensor(ys, dtype=torch.long)
