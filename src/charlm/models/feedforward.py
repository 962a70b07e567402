"""A deeper member of the Bengio MLP family: embeddings, then a stack of normalised layers."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from charlm.errors import check_choice, check_dropout, check_positive_ints
from charlm.models.base import CharLM
from charlm.models.layers import Dropout

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}
NORMS = {"none": None, "layer": nn.LayerNorm, "batch": nn.BatchNorm1d}


class FeedForwardLM(CharLM):
    """logits = W_out(... act(norm(drop(concat(C[x])) @ W1 + b1)) ...) over a fixed window.

    Still Bengio et al. (2003): an embedding table and a feed-forward network over the previous
    `context_size` characters; depth, width, normalisation and dropout are free, and the
    layers use PyTorch's scaled initialisation rather than the notebook's standard normal.
    """

    def __init__(
        self,
        vocab_size: int,
        context_size: int = 8,
        emb_size: int = 24,
        hidden_sizes: Sequence[int] = (512, 512),
        activation: str = "gelu",
        norm: str = "layer",
        dropout: float = 0.0,
        emb_dropout: float = 0.0,
    ) -> None:
        super().__init__(vocab_size, context_size)
        check_positive_ints(emb_size=emb_size)
        for size in hidden_sizes:
            check_positive_ints(hidden_sizes=size)
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("norm", norm, NORMS)
        check_dropout(dropout=dropout, emb_dropout=emb_dropout)
        self.emb_size = emb_size
        self.C = nn.Embedding(vocab_size, emb_size)
        # Dropout on the window's concatenated embeddings: the network learns not to lean on
        # any single previous character.
        self.emb_dropout = Dropout(emb_dropout) if emb_dropout > 0 else nn.Identity()
        layers: list[nn.Module] = []
        width = context_size * emb_size
        for size in hidden_sizes:
            layers.append(nn.Linear(width, size))
            if NORMS[norm] is not None:
                layers.append(NORMS[norm](size))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(Dropout(dropout))
            width = size
        self.hidden = nn.Sequential(*layers)
        self.output = nn.Linear(width, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emb = self.C(x)  # (batch, context) -> (batch, context, emb)
        h = self.hidden(
            self.emb_dropout(emb.flatten(1))
        )  # (batch, context * emb) -> (batch, hidden)
        return self.output(h)  # (batch, vocab)

    @property
    def embeddings(self) -> torch.Tensor:
        """The character embedding table C (vocab, emb)."""
        return self.C.weight
