"""A deeper member of the Bengio MLP family: embeddings, then a stack of normalised layers."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from charlm.errors import check_choice, check_dropout, check_positive_ints
from charlm.models.base import CharLM
from charlm.models.init import INITS, redraw_standard_normal, scale_initialisation
from charlm.models.layers import Dropout

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}
# PyTorch's own scaled initialisation, or one of the course's (charlm.models.init).
FEEDFORWARD_INITS = ("pytorch", *INITS)
NORMS = {"none": None, "layer": nn.LayerNorm, "batch": nn.BatchNorm1d}


class FeedForwardLM(CharLM):
    """logits = W_out(... act(norm(drop(concat(C[x])) @ W1 + b1)) ...) over a fixed window.

    Still Bengio et al. (2003): an embedding table and a feed-forward network over the previous
    `context_size` characters; depth, width, normalisation and dropout are free (width and depth
    as `hidden_sizes`, or as `hidden_size` and `num_layers`, the names every family shares). The layers
    use PyTorch's scaled initialisation (`init="pytorch"`) or one of the course's lesson
    (`charlm.models.init`): five tanh layers of 100 with `init="kaiming"` is its deep network.
    A layer followed by BatchNorm has no bias (BN's shift replaces it).
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
        init: str = "pytorch",
        hidden_size: int | None = None,
        num_layers: int | None = None,
    ) -> None:
        super().__init__(vocab_size, context_size)
        check_positive_ints(emb_size=emb_size)
        if hidden_size is not None or num_layers is not None:
            # The names every family shares (width and depth), so that one sweep sets them all:
            # `num_layers` layers of `hidden_size`, each defaulting to what hidden_sizes gives.
            width = hidden_size if hidden_size is not None else hidden_sizes[0]
            depth = num_layers if num_layers is not None else len(hidden_sizes)
            check_positive_ints(hidden_size=width, num_layers=depth)
            hidden_sizes = [width] * depth
        for size in hidden_sizes:
            check_positive_ints(hidden_sizes=size)
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("norm", norm, NORMS)
        check_dropout(dropout=dropout, emb_dropout=emb_dropout)
        check_choice("init", init, FEEDFORWARD_INITS)
        self.init = init
        self.emb_size = emb_size
        self.C = nn.Embedding(vocab_size, emb_size)
        # Dropout on the window's concatenated embeddings: the network learns not to lean on
        # any single previous character.
        self.emb_dropout = Dropout(emb_dropout) if emb_dropout > 0 else nn.Identity()
        layers: list[nn.Module] = []
        linears: list[nn.Linear] = []
        width = context_size * emb_size
        for size in hidden_sizes:
            linears.append(nn.Linear(width, size, bias=norm != "batch"))
            layers.append(linears[-1])
            if NORMS[norm] is not None:
                layers.append(NORMS[norm](size))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(Dropout(dropout))
            width = size
        self.hidden = nn.Sequential(*layers)
        self.output = nn.Linear(width, vocab_size)
        if init != "pytorch":
            drawn = [self.C.weight]
            for lin in (*linears, self.output):
                drawn += [lin.weight] if lin.bias is None else [lin.weight, lin.bias]
            redraw_standard_normal(drawn, None)
            scale_initialisation(
                init,
                [(lin.weight, lin.bias, lin.in_features) for lin in linears],
                (self.output.weight, self.output.bias),
                activation,
            )

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
