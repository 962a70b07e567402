"""Recurrent language model (makemore's RNN/GRU, with LSTM): embeddings, a recurrent stack, logits."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from charlm.errors import ConfigError, check_choice, check_dropout, check_positive_ints
from charlm.models.layers import Dropout
from charlm.models.sequence import SequenceLM
from charlm.models.transformer import CausalSelfAttention, Rotary

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class AttendedState(NamedTuple):
    """Where a recurrent model with attention stands in a text or a word: the recurrent
    state, the keys and values of the last context_size - 1 positions, and the position of
    the next character."""

    recurrent: Any
    keys: torch.Tensor
    values: torch.Tensor
    position: int


class RecurrentLM(SequenceLM):
    """logits_t = W_out(drop(h_t)), h_t = cell(drop(C[x_t]), h_{t-1}), over `num_layers` layers.

    `weight_dropout` drops entries of the hidden-to-hidden matrices (DropConnect, as in Merity et
    al.'s AWD-LSTM), one mask a forward pass shared by every position, in training only: it
    regularises the recurrence itself, which dropout on the inputs and outputs leaves alone.

    `attention_heads` > 0 adds one causal self-attention layer over the last layer's outputs,
    h_t + attn(norm(h))_t, with rotary positions, each position seeing the `context_size`
    positions up to itself (Merity's single-headed attention RNN, 2019): the recurrence
    carries the text's gist, the attention copies from it, such as a name read a few lines
    before. Its queries, keys and values have `attention_size` channels, fewer than the
    hidden state's, so that it costs a fraction of the recurrence.
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
        attention_heads: int = 0,
        attention_size: int = 128,
    ) -> None:
        super().__init__(vocab_size, context_size)
        check_positive_ints(emb_size=emb_size, hidden_size=hidden_size, num_layers=num_layers)
        check_choice("cell", cell, CELLS)
        check_dropout(dropout=dropout, weight_dropout=weight_dropout)
        if (
            isinstance(attention_heads, bool)
            or not isinstance(attention_heads, int)
            or attention_heads < 0
        ):
            raise ConfigError(
                f"attention_heads={attention_heads!r}: a whole number >= 0 (0: no attention)",
                key="attention_heads",
            )
        check_positive_ints(attention_size=attention_size)
        if attention_heads and attention_size % attention_heads:
            raise ConfigError(
                f"attention_heads={attention_heads}: must divide attention_size={attention_size}",
                key="attention_heads",
            )
        if attention_heads and (attention_size // attention_heads) % 2:
            raise ConfigError(
                f"attention_size / attention_heads = {attention_size // attention_heads}: "
                f"rotary positions need an even head size",
                key="attention_size",
            )
        self.cell = cell
        self.weight_dropout = weight_dropout
        self.attention_heads = attention_heads
        self.C = nn.Embedding(vocab_size, emb_size)
        # Between stacked layers, nn.RNN/GRU/LSTM's own dropout; on their input and output, ours.
        self.rnn = CELLS[cell](
            emb_size, hidden_size, num_layers, batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )  # fmt: skip
        self.drop = Dropout(dropout)
        self.attn_norm = nn.LayerNorm(hidden_size) if attention_heads else None
        self.attn = (
            CausalSelfAttention(
                attention_size, attention_heads, dropout,
                Rotary(attention_size // attention_heads, context_size), io_size=hidden_size,
            )
            if attention_heads
            else None
        )  # fmt: skip
        self.output = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        emb = self.drop(self.C(idx))  # (batch, time) -> (batch, time, emb)
        h, _ = self._recur(emb, None)  # (batch, time, hidden)
        h = self._attend(h)[0]
        return self.output(self.drop(h))  # (batch, time, vocab)

    def _attend(
        self, h: torch.Tensor, past: AttendedState | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """h + attn(norm(h)) where the model has attention (else h), each position seeing
        at most `context_size` positions up to itself; `past` holds the keys and values of
        the positions before h. Also the keys and values of the last context_size - 1
        positions, which the next characters may see."""
        if self.attn is None:
            return h, None
        if past is None:
            attended, (k, v) = self.attn(self.attn_norm(h), window=self.context_size)
        else:
            kv = (past.keys, past.values)
            attended, (k, v) = self.attn(self.attn_norm(h), kv, start=past.position)
        first = max(0, k.shape[2] - (self.context_size - 1))
        return h + attended, (k[:, :, first:], v[:, :, first:])

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
    def attention(self, idx: torch.Tensor) -> torch.Tensor:
        """The attention layer's weights over `idx` (batch, time), as a Transformer gives
        them: (1 layer, batch, heads, time, time). A model without one has none to give."""
        if self.attn is None:
            raise ValueError(
                f"this {self.cell.upper()} has no attention layer (model.net.attention_heads=0); "
                "its hidden units show what it tracks (HiddenUnitsView, hidden_units_figure)"
            )
        h = self.rnn(self.C(idx))[0]  # (batch, time, hidden)
        return self.attn.weights(self.attn_norm(h))[None]

    @torch.no_grad()
    def hidden_states(self, idx: torch.Tensor) -> torch.Tensor:
        """The last layer's hidden state after each position of `idx` (batch, time):
        (batch, time, hidden), the units a figure of what the network tracks reads."""
        return self.rnn(self.C(idx))[0]

    def carried_logits(self, idx: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Logits of the blocks `idx` (batch, time) read from `state` (None: the zero state),
        and the state after them: the next block of each row goes on from there."""
        h, state = self._recur(self.drop(self.C(idx)), state)
        # Attention, where the model has it, reads each block alone, as training did.
        return self.output(self.drop(self._attend(h)[0])), state

    def text_start(self, prompt: torch.Tensor) -> tuple[torch.Tensor, Any]:
        h, state = self.rnn(self.C(prompt))  # the prompt (n, P) from the zero state
        h, kv = self._attend(h)
        if kv is not None:
            state = AttendedState(state, *kv, prompt.shape[1])
        return self.output(h[:, -1]), state

    def start(self, n: int) -> tuple[torch.Tensor, Any]:
        return self._step(torch.zeros(n, dtype=torch.long, device=self._device()), None)

    def advance(self, state: Any, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        return self._step(ids, state)

    def select(self, state: Any, rows: torch.Tensor) -> Any:
        if isinstance(state, AttendedState):
            return AttendedState(
                self.select(state.recurrent, rows),
                state.keys[rows], state.values[rows], state.position,
            )  # fmt: skip
        if isinstance(state, tuple):  # LSTM: (h, c), each (layers, batch, hidden)
            return tuple(t[:, rows] for t in state)
        return state[:, rows]

    def _step(self, ids: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """One position from `state` (None: the start of a word)."""
        past = state if isinstance(state, AttendedState) else None
        recurrent = past.recurrent if past is not None else state
        h, recurrent = self.rnn(self.C(ids)[:, None], recurrent)  # one position: (n, 1, hidden)
        h, kv = self._attend(h, past)
        if kv is None:
            return self.output(h[:, 0]), recurrent
        position = past.position + 1 if past is not None else 1
        return self.output(h[:, 0]), AttendedState(recurrent, *kv, position)

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
