"""Bengio et al. (2003) MLP language model (notebook "MLP"): embeddings, tanh layer, softmax."""

from __future__ import annotations

import torch
from torch import nn

from charlm.errors import ConfigError, check_choice, check_positive_ints
from charlm.models.base import CharLM
from charlm.models.init import INITS, scale_initialisation

NORMS = ("none", "batch")


class BengioMLP(CharLM):
    """logits = tanh(concat(C[x]) @ W1 + b1) @ W2 + b2.

    Parameters are drawn from a standard normal, as in the notebook (`torch.randn` with the
    generator seeded by `seed`): with seed 2147483647 and sizes (41, 3, 2, 100) this is its
    4,923-parameter model. `init` scales them as the course's lesson on initialisation does
    (`charlm.models.init`: randn, output_scaled, tanh_scaled, kaiming).

    `norm="batch"` is the lesson's BatchNorm: tanh(BN(concat(C[x]) @ W1)) with no b1 (BN's
    shift replaces it); batch statistics while training, running statistics (updated with
    `bn_momentum`) in evaluation, sampling and scoring.
    """

    def __init__(
        self,
        vocab_size: int,
        context_size: int = 3,
        emb_size: int = 2,
        hidden_size: int = 100,
        seed: int | None = None,
        init: str = "randn",
        norm: str = "none",
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__(vocab_size, context_size)
        check_positive_ints(emb_size=emb_size, hidden_size=hidden_size)
        check_choice("init", init, INITS)
        check_choice("norm", norm, NORMS)
        if isinstance(bn_momentum, bool) or not (
            isinstance(bn_momentum, int | float) and 0 < bn_momentum <= 1
        ):
            raise ConfigError(
                f"bn_momentum={bn_momentum!r}: must be a number in (0, 1]", "bn_momentum"
            )
        self.emb_size = emb_size
        self.hidden_size = hidden_size
        self.init = init
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        fan_in = context_size * emb_size
        # Drawn in the notebooks' order: C, W1, b1 (none before BatchNorm), W2, b2.
        self.C = nn.Parameter(torch.randn((vocab_size, emb_size), generator=g))
        self.W1 = nn.Parameter(torch.randn((fan_in, hidden_size), generator=g))
        if norm == "batch":
            self.b1 = None
            self.bn = nn.BatchNorm1d(hidden_size, momentum=bn_momentum)
        else:
            self.b1 = nn.Parameter(torch.randn(hidden_size, generator=g))
            self.bn = None
        self.W2 = nn.Parameter(torch.randn((hidden_size, vocab_size), generator=g))
        self.b2 = nn.Parameter(torch.randn(vocab_size, generator=g))
        scale_initialisation(init, [(self.W1, self.b1, fan_in)], (self.W2, self.b2), "tanh")
        # A module, so that diagnostics can watch the hidden layer (charlm.diagnostics.Probe).
        self.act = nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emb = self.C[x]  # (batch, context) -> (batch, context, emb)
        hpreact = emb.view(emb.shape[0], -1) @ self.W1  # (batch, context * emb) -> (batch, hidden)
        hpreact = self.bn(hpreact) if self.bn is not None else hpreact + self.b1
        h = self.act(hpreact)  # (batch, hidden)
        return h @ self.W2 + self.b2  # (batch, vocab)

    @property
    def embeddings(self) -> torch.Tensor:
        """The character embedding table C (vocab, emb)."""
        return self.C
