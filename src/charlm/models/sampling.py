"""Drawing from a model's next-character logits, written once for every family: temperature,
top-k, a tiny temperature kept finite, non-finite logits refused; and the checks of sampling
options and weights that sampling and scoring share."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from charlm.errors import NonFiniteError

if TYPE_CHECKING:
    from charlm.models.base import CharLM


def logits_for(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The logits that `targets` score: one window per row (targets (batch,)) by `forward`,
    blocks (targets (batch, time)) by `block_logits`, which every `CharLM` reads whole."""
    if targets.dim() == 1 or not hasattr(model, "block_logits"):
        return model(x)
    return model.block_logits(x)


def draw(
    logits: torch.Tensor,
    generator: torch.Generator | None,
    temperature: float,
    top_k: int | None,
    vocab_size: int,
    model: CharLM | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """One id per row of `logits` (n, vocab), drawn at `temperature` among the `top_k` likeliest
    and the nucleus of `top_p` (`sampling_probs`).

    Logits that are NaN, +inf, or -inf for a whole row give no distribution: `NonFiniteError`
    (naming `model`'s checkpoint) instead of `torch.multinomial`'s error.
    """
    probs = sampling_probs(logits, temperature, top_k, vocab_size, model, top_p)
    return torch.multinomial(probs, 1, replacement=True, generator=generator)[:, 0]


def sampling_probs(
    logits: torch.Tensor,
    temperature: float,
    top_k: int | None,
    vocab_size: int,
    model: CharLM | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """The distribution `draw` samples from: softmax(logits / temperature) over the `top_k`
    likeliest ids of each row (n, vocab), the others at 0; then, with `top_p`, over the
    nucleus (Holtzman et al., 2020): the likeliest ids whose probabilities add up to `top_p`,
    the one that crosses it included, renormalised."""
    logits = logits.float().cpu()
    scaled = logits / temperature
    if top_k is not None and top_k < vocab_size:
        cutoff = torch.topk(scaled, top_k, dim=-1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < cutoff, -math.inf)
    probs = F.softmax(scaled, dim=-1)
    if not bool(torch.isfinite(probs).all()):
        probs = _finite_probs(logits, temperature, top_k, vocab_size, model)
    if top_p is not None and top_p < 1:
        probs = nucleus(probs, top_p)
    return probs


def nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """`probs` (n, vocab) kept on each row's smallest set of likeliest ids whose probabilities
    reach `top_p` (ties kept in id order), the others at 0, renormalised."""
    ranked, order = probs.sort(dim=-1, descending=True, stable=True)
    before = ranked.cumsum(dim=-1) - ranked  # the mass of the ids ranked above each
    kept = torch.zeros_like(probs).scatter(-1, order, (before < top_p).to(probs.dtype))
    kept = probs * kept
    return kept / kept.sum(dim=-1, keepdim=True)


def _finite_probs(
    logits: torch.Tensor,
    temperature: float,
    top_k: int | None,
    vocab_size: int,
    model: CharLM | None,
) -> torch.Tensor:
    """`draw`'s probabilities where dividing by a tiny temperature overflowed: the logits are
    shifted to a maximum of 0 first, so the likeliest character keeps a finite weight. Logits
    that are not finite themselves are refused."""
    top = logits.max(dim=-1, keepdim=True).values
    if torch.isnan(logits).any() or not bool(torch.isfinite(top).all()):
        name = model.describe() if model is not None else "the model"
        raise NonFiniteError(
            f"{name} gives non-finite next-character logits (nan or inf), so nothing can be "
            "sampled: its weights diverged or overflow; use an earlier checkpoint of its run, "
            "or train again with a lower learning rate (model.optimizer.lr)"
        )
    scaled = (logits - top) / temperature
    if top_k is not None and top_k < vocab_size:
        cutoff = torch.topk(scaled, top_k, dim=-1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < cutoff, -math.inf)
    return F.softmax(scaled, dim=-1)


def non_finite_weights(module: nn.Module) -> tuple[str, str] | None:
    """(name, "nan" or "inf") of the first floating-point parameter or buffer of `module`
    holding a NaN or an infinity, or None when all are finite."""
    for name, tensor in (*module.named_parameters(), *module.named_buffers()):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name, "nan" if bool(torch.isnan(tensor).any()) else "inf"
    return None


def check_sampling_args(
    n: int,
    temperature: float,
    top_k: int | None,
    max_len: int,
    vocab_size: int,
    top_p: float | None = None,
) -> None:
    """Raise `ValueError` naming the first sampling option out of range."""

    def is_int(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if not is_int(n) or n < 1:
        raise ValueError(f"n={n!r}: the number of words to sample must be an integer >= 1")
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 < temperature < math.inf
    ):
        raise ValueError(
            f"temperature={temperature!r}: must be a number > 0 (1.0 samples the model as is)"
        )
    if top_k is not None and (not is_int(top_k) or top_k < 1):
        raise ValueError(f"top_k={top_k!r}: must be an integer >= 1, or null for no cut-off")
    if not is_int(max_len) or max_len < 1:
        raise ValueError(f"max_len={max_len!r}: must be an integer >= 1")
    if top_p is not None and (
        isinstance(top_p, bool) or not isinstance(top_p, int | float) or not 0 < top_p <= 1
    ):
        raise ValueError(
            f"top_p={top_p!r}: the nucleus's probability mass, a number in (0, 1] (1: all "
            "ids), or null for none"
        )
