"""What a sequence model computes along a passage: its attention maps and its hidden units,
read in eval mode, and their figures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from charlm.figures.common import _figure, _shown


def _read(model: Any, text: str) -> tuple[torch.Tensor, list[str]]:
    """The ids (1, time) a sequence model reads for `text`, and a label for each position: a
    word model starts from its boundary token, a model of running text from the text itself."""
    vocab = model.require_vocab()
    vocab.check(text, "text")
    ids = vocab.encode(text)
    labels = [vocab.itos[i] for i in ids]
    if vocab.boundary is not None:
        ids, labels = [0, *ids], [vocab.boundary, *labels]
    if not ids:
        raise ValueError("text='': give at least one character to read")
    limit = getattr(model, "context_size", len(ids))
    if len(ids) > limit:
        raise ValueError(
            f"text of {len(ids)} positions: this model reads at most {limit} at once; "
            "give a shorter passage"
        )
    return torch.tensor([ids], device=model._device()), labels


def _in_eval_mode(model: Any, read: Any, ids: torch.Tensor) -> torch.Tensor:
    """`read(ids)` with `model` in eval mode (no dropout), its mode restored after."""
    was_training = model.training
    model.eval()
    try:
        return read(ids)
    finally:
        model.train(was_training)


def attention_maps(model: Any, text: str) -> tuple[torch.Tensor, list[str]]:
    """A Transformer's attention weights over `text`: (layers, heads, time, time), row t
    the weights position t gives the positions it sees, and the label of each position."""
    if not hasattr(model, "attention"):
        raise ValueError(
            f"attention_maps: {type(model).__name__} has no attention (a TransformerLM has, "
            "and a RecurrentLM with model.net.attention_heads > 0)"
        )
    ids, labels = _read(model, text)
    return _in_eval_mode(model, model.attention, ids)[:, 0].float().cpu(), labels


def attention_figure(
    model: Any,
    text: str,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    title: str | None = None,
) -> Figure:
    """A grid of attention maps over `text`: one row per layer, one column per head, each
    position (row) against the positions it attends to (columns), darker for more weight."""
    maps, labels = attention_maps(model, text)
    layers = list(range(maps.shape[0])) if layers is None else list(layers)
    heads = list(range(maps.shape[1])) if heads is None else list(heads)
    side = max(2.5, 0.22 * len(labels))
    fig = _figure(figsize=(side * len(heads), side * len(layers)), layout="constrained")
    axes = fig.subplots(len(layers), len(heads), squeeze=False)
    shown = [_shown(c) for c in labels]
    for row, layer in enumerate(layers):
        for col, head in enumerate(heads):
            ax = axes[row][col]
            ax.imshow(maps[layer, head].numpy(), cmap="Blues", vmin=0, vmax=1)
            ax.set_xticks(range(len(shown)), shown, fontsize=7)
            ax.set_yticks(range(len(shown)), shown, fontsize=7)
            ax.set_title(f"layer {layer}, head {head}", fontsize=9)
    fig.suptitle(title or f"attention over {text!r}")
    return fig


def hidden_activations(model: Any, text: str) -> tuple[torch.Tensor, list[str]]:
    """A recurrent model's last-layer hidden state after each position of `text`:
    (time, hidden), and the label of each position."""
    if not hasattr(model, "hidden_states"):
        raise ValueError(
            f"hidden_activations: {type(model).__name__} has no hidden state (a RecurrentLM has)"
        )
    ids, labels = _read(model, text)
    return _in_eval_mode(model, model.hidden_states, ids)[0].float().cpu(), labels


def hidden_units_figure(
    model: Any, text: str, units: Sequence[int], title: str | None = None
) -> Figure:
    """The activation of chosen hidden units along `text`: one row per unit, each character
    on a cell coloured from blue (-1) to red (+1), as char-rnn's "a neuron that tracks
    quotes" picture."""
    states, labels = hidden_activations(model, text)
    units = list(units)
    bad = [u for u in units if not 0 <= u < states.shape[1]]
    if not units or bad:
        raise ValueError(f"units={units}: give unit numbers from 0 to {states.shape[1] - 1}")
    values = states[:, units].T  # (units, time)
    fig = _figure(
        figsize=(max(4.0, 0.28 * len(labels) + 1.5), 0.5 * len(units) + 1.2), layout="constrained"
    )
    ax = fig.subplots()
    ax.imshow(values.numpy(), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for t, label in enumerate(labels):
        for row in range(len(units)):
            ax.text(t, row, _shown(label), ha="center", va="center", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks(range(len(units)), [f"unit {u}" for u in units])
    ax.set_title(title or "hidden units along the passage")
    return fig
