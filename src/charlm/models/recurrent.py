"""Recurrent language model (makemore's RNN/GRU, with LSTM): embeddings, a recurrent stack, logits."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from charlm.errors import check_choice, check_dropout, check_positive_ints
from charlm.models.layers import Dropout
from charlm.models.sequence import SequenceLM

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RecurrentLM(SequenceLM):
    """logits_t = W_out(drop(h_t)), h_t = cell(drop(C[x_t]), h_{t-1}), over `num_layers` layers.

    `weight_dropout` drops entries of the hidden-to-hidden matrices (DropConnect, as in Merity et
    al.'s AWD-LSTM), one mask a forward pass shared by every position, in training only: it
    regularises the recurrence itself, which dropout on the inputs and outputs leaves alone.
    """

    def __init__(
        self,
        vocab_size: int,
        context_size: int = 64,
        cell: str = "gru",
        emb_size: int = 64,
        hidden_size: int = 256,
        num_layers: int = 2,
        dropout: float = 0.0,
        weight_dropout: float = 0.0,
    ) -> None:
        super().__init__(vocab_size, context_size)
        check_positive_ints(emb_size=emb_size, hidden_size=hidden_size, num_layers=num_layers)
        check_choice("cell", cell, CELLS)
        check_dropout(dropout=dropout, weight_dropout=weight_dropout)
        self.cell = cell
        self.weight_dropout = weight_dropout
        self.C = nn.Embedding(vocab_size, emb_size)
        # Between stacked layers, nn.RNN/GRU/LSTM's own dropout; on their input and output, ours.
        self.rnn = CELLS[cell](
            emb_size, hidden_size, num_layers, batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )  # fmt: skip
        self.drop = Dropout(dropout)
        self.output = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        emb = self.drop(self.C(idx))  # (batch, time) -> (batch, time, emb)
        h, _ = self._recur(emb, None)  # (batch, time, hidden)
        return self.output(self.drop(h))  # (batch, time, vocab)

    def _recur(self, emb: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """The recurrent stack over `emb` from `state`, its hidden-to-hidden matrices dropped
        (`weight_dropout`) while training. The dropped matrices are passed to the stack's own
        fused kernel through `functional_call`, so the whole sequence still runs as one call."""
        if not (self.training and self.weight_dropout):
            return self.rnn(emb, state)
        dropped = {
            name: F.dropout(weight, self.weight_dropout)
            for name, weight in self.rnn.named_parameters()
            if name.startswith("weight_hh")
        }
        return functional_call(self.rnn, dropped, (emb, state))

    @torch.no_grad()
    def hidden_states(self, idx: torch.Tensor) -> torch.Tensor:
        """The last layer's hidden state after each position of `idx` (batch, time):
        (batch, time, hidden), the units a figure of what the network tracks reads."""
        return self.rnn(self.C(idx))[0]

    def carried_logits(self, idx: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Logits of the blocks `idx` (batch, time) read from `state` (None: the zero state),
        and the state after them: the next block of each row goes on from there."""
        h, state = self._recur(self.drop(self.C(idx)), state)
        return self.output(self.drop(h)), state

    def text_start(self, prompt: torch.Tensor) -> tuple[torch.Tensor, Any]:
        h, state = self.rnn(self.C(prompt))  # the prompt (n, P) from the zero state
        return self.output(h[:, -1]), state

    def start(self, n: int) -> tuple[torch.Tensor, Any]:
        return self._step(torch.zeros(n, dtype=torch.long, device=self._device()), None)

    def advance(self, state: Any, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        return self._step(ids, state)

    def select(self, state: Any, rows: torch.Tensor) -> Any:
        if isinstance(state, tuple):  # LSTM: (h, c), each (layers, batch, hidden)
            return tuple(t[:, rows] for t in state)
        return state[:, rows]

    def _step(self, ids: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        h, state = self.rnn(self.C(ids)[:, None], state)  # one position: (n, 1, hidden)
        return self.output(h[:, 0]), state

    @property
    def embeddings(self) -> torch.Tensor:
        """The character embedding table C (vocab, emb)."""
        return self.C.weight


class CarriedState(nn.Module):
    """A recurrent model reading the batches of `CarriedRows` in order, its state carried from
    each batch to the next (`charlm-eval mode=carried`); `evaluate_lm` scores it as a model."""

    def __init__(self, model: RecurrentLM) -> None:
        super().__init__()
        self.model = model
        self.state: Any = None

    def block_logits(self, idx: torch.Tensor) -> torch.Tensor:
        logits, self.state = self.model.carried_logits(idx, self.state)
        return logits

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.block_logits(idx)

    def require_finite(self) -> None:
        self.model.require_finite()

    def check_finite_nll(self, nll: torch.Tensor) -> torch.Tensor:
        return self.model.check_finite_nll(nll)
