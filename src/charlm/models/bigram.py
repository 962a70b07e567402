"""Neural bigram (notebook "bigram"): one-hot(x) @ W, a V x V weight matrix."""

from __future__ import annotations

import torch
from torch import nn

from charlm.errors import ConfigError
from charlm.models.base import CharLM


class BigramLM(CharLM):
    """logits = one_hot(previous character) @ W, computed as the row lookup W[x].

    Only the last token of a window is read, so any `context_size` works; 1 is the natural one.
    With `penalty` > 0 the training loss adds penalty * mean(W**2), the notebook's smoothing
    (0.01 there). Trained to convergence without penalty, softmax(W) equals the normalised
    bigram count matrix.
    """

    def __init__(
        self, vocab_size: int, context_size: int = 1, penalty: float = 0.0, seed: int | None = None
    ) -> None:
        super().__init__(vocab_size, context_size)
        if penalty < 0:
            raise ConfigError(f"penalty={penalty}: must be >= 0", key="penalty")
        self.penalty = penalty
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        self.W = nn.Parameter(torch.randn((vocab_size, vocab_size), generator=g))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (batch, context) -> (batch, vocab), from the last token only: one_hot(x) @ W is the row W[x]
        return self.W[x[:, -1]]

    def regularization(self) -> torch.Tensor:
        return self.penalty * (self.W**2).mean()
