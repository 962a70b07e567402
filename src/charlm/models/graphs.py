"""A language model's computations as fixed graphs another runtime can run (ONNX): `forward`,
the logits of every position of a block, and `step`, one character from a fixed set of state
tensors, for cached decoding.

Both take and give plain tensors only, so `torch.onnx.export` traces them whole:

- `BlockGraph`: ids (batch, time) -> logits (batch, time, vocab), position t predicting the
  token after ids[:, t] (`CharLM.block_logits`). A word is read as [0, its ids...]; a window
  model pads with the boundary token before the block, a sequence model reads the block.
- `StepGraph`: (ids (batch,), *state) -> (logits (batch, vocab), *state). From
  `initial_state(batch)`, stepping the start token 0 gives a word's first logits, as
  `CharLM.start` does; each drawn id stepped in gives the next ones, as `advance` does.
"""

from __future__ import annotations

import torch
from torch import nn

from charlm.models.base import CharLM
from charlm.models.recurrent import RecurrentLM
from charlm.models.transformer import TransformerLM


class BlockGraph(nn.Module):
    """`model.block_logits` as a module of its own (what `torch.onnx.export` takes)."""

    def __init__(self, model: CharLM) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.block_logits(ids)


class StepGraph(nn.Module):
    """One character of cached decoding; subclasses name their state tensors."""

    state_names: tuple[str, ...] = ()

    def __init__(self, model: CharLM) -> None:
        super().__init__()
        self.model = model

    def initial_state(self, n: int) -> list[torch.Tensor]:
        """The state before a word's start token (every tensor's batch is `n`)."""
        raise NotImplementedError

    def batch_axes(self) -> dict[str, int]:
        """Each state tensor's batch axis, by name."""
        raise NotImplementedError


class WindowStep(StepGraph):
    """A window model's state: the `context_size` last ids (batch, context), which slide on."""

    state_names = ("window",)

    def initial_state(self, n: int) -> list[torch.Tensor]:
        return [torch.zeros((n, self.model.context_size), dtype=torch.long)]

    def batch_axes(self) -> dict[str, int]:
        return {"window": 0}

    def forward(self, ids: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        window = torch.cat([state[0][:, 1:], ids[:, None]], dim=1)
        return self.model(window), window


class RecurrentStep(StepGraph):
    """A recurrent stack's hidden state h (layers, batch, hidden), with the LSTM's cell c."""

    def __init__(self, model: RecurrentLM) -> None:
        super().__init__(model)
        self.state_names = ("h", "c") if model.cell == "lstm" else ("h",)

    def initial_state(self, n: int) -> list[torch.Tensor]:
        rnn = self.model.rnn
        return [torch.zeros(rnn.num_layers, n, rnn.hidden_size) for _ in self.state_names]

    def batch_axes(self) -> dict[str, int]:
        return dict.fromkeys(self.state_names, 1)

    def forward(self, ids: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        recurrent = tuple(state) if len(state) == 2 else state[0]
        h, recurrent = self.model.rnn(self.model.C(ids)[:, None], recurrent)
        logits = self.model.output(h[:, 0])
        return (logits, *recurrent) if isinstance(recurrent, tuple) else (logits, recurrent)


class TransformerStep(StepGraph):
    """A Transformer's keys and values of every layer, k0, v0, k1, v1...: each (batch, heads,
    past, head size), `past` the positions read so far (0 before the start token). A word
    reaches at most context_size - 1 positions past its start; the sampler ends it there."""

    def __init__(self, model: TransformerLM) -> None:
        super().__init__(model)
        self.state_names = tuple(f"{kv}{i}" for i in range(len(model.blocks)) for kv in ("k", "v"))

    def initial_state(self, n: int) -> list[torch.Tensor]:
        attn = self.model.blocks[0].attn
        shape = (n, attn.n_head, 0, attn.n_embd // attn.n_head)
        return [torch.zeros(shape) for _ in self.state_names]

    def batch_axes(self) -> dict[str, int]:
        return dict.fromkeys(self.state_names, 0)

    def forward(self, ids: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        cache = list(zip(state[0::2], state[1::2], strict=True))
        position = state[0].shape[2]
        logits, cache = self.model._run(ids[:, None], position, cache)
        return (logits[:, -1], *(t for kv in cache for t in kv))


def block_exporter(model: CharLM) -> str:
    """Which of torch's ONNX exporters traces `model`'s `BlockGraph` with a variable time axis:
    "dynamo" (torch.export), or "torchscript" for recurrent stacks, whose sequence torch.export
    unrolls at the example's length, where the TorchScript exporter maps nn.RNN, nn.GRU and
    nn.LSTM to ONNX's own recurrent operators."""
    return "torchscript" if isinstance(model, RecurrentLM) else "dynamo"


def block_reach(model: CharLM) -> int | None:
    """The longest block `BlockGraph` reads, or None for any length: attention's position
    tables (a Transformer's, a recurrent model's attention layer) hold `context_size`."""
    if isinstance(model, TransformerLM) or getattr(model, "attn", None) is not None:
        return model.context_size
    return None


def step_graph(model: CharLM) -> StepGraph | None:
    """The step graph of `model`'s family, or None where its cached state is not a fixed set
    of tensors (a recurrent model with attention carries a position; an ensemble, its
    members' states): such a model decodes from `BlockGraph` alone."""
    if isinstance(model, TransformerLM):
        return TransformerStep(model)
    if isinstance(model, RecurrentLM):
        return RecurrentStep(model) if model.attn is None else None
    if model.data_contract == "windows":
        return WindowStep(model)
    return None
