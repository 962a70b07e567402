"""Bengio et al. (2003) MLP language model (notebook "MLP"): embeddings, tanh layer, softmax."""

from __future__ import annotations

import torch
from torch import nn

from charlm.errors import check_positive_ints
from charlm.models.base import CharLM


class BengioMLP(CharLM):
    """logits = tanh(concat(C[x]) @ W1 + b1) @ W2 + b2.

    Parameters are drawn from a standard normal, as in the notebook (`torch.randn` with the
    generator seeded by `seed`): with seed 2147483647 and sizes (41, 3, 2, 100) this is its
    4,923-parameter model.
    """

    def __init__(
        self,
        vocab_size: int,
        context_size: int = 3,
        emb_size: int = 2,
        hidden_size: int = 100,
        seed: int | None = None,
    ) -> None:
        super().__init__(vocab_size, context_size)
        check_positive_ints(emb_size=emb_size, hidden_size=hidden_size)
        self.emb_size = emb_size
        self.hidden_size = hidden_size
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        self.C = nn.Parameter(torch.randn((vocab_size, emb_size), generator=g))
        self.W1 = nn.Parameter(torch.randn((context_size * emb_size, hidden_size), generator=g))
        self.b1 = nn.Parameter(torch.randn(hidden_size, generator=g))
        self.W2 = nn.Parameter(torch.randn((hidden_size, vocab_size), generator=g))
        self.b2 = nn.Parameter(torch.randn(vocab_size, generator=g))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emb = self.C[x]  # (batch, context) -> (batch, context, emb)
        h = torch.tanh(emb.view(emb.shape[0], -1) @ self.W1 + self.b1)  # (batch, hidden)
        return h @ self.W2 + self.b2  # (batch, vocab)

    @property
    def embeddings(self) -> torch.Tensor:
        """The character embedding table C (vocab, emb)."""
        return self.C
