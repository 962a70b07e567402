"""Scoring a language model on windows: NLL, perplexity, bits per character, accuracy."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from charlm.data.sequences import PAD_TARGET


class LMMetrics(torch.nn.Module):
    """Running NLL and next-character accuracy over batches of windows (torchmetrics, DDP-synced)."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.nll = MeanMetric()
        self.acc = MulticlassAccuracy(num_classes=vocab_size, average="micro")

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """Logits (..., vocab) and targets (...): windows or padded sequences alike.

        Padding targets (`PAD_TARGET`) count for nothing, so every family's NLL is the mean
        over the same characters, the end token included.
        """
        logits, targets = logits.flatten(0, -2).float(), targets.flatten()
        keep = targets != PAD_TARGET
        if not bool(keep.all()):
            logits, targets = logits[keep], targets[keep]
        self.nll.update(F.cross_entropy(logits, targets, reduction="none"))
        self.acc.update(logits, targets)

    def compute(self) -> dict[str, float]:
        nll = float(self.nll.compute())
        return {
            "loss": nll,
            "ppl": math.exp(nll) if nll < 700 else math.inf,
            "bpc": nll / math.log(2),
            "acc": float(self.acc.compute()),
        }

    def reset(self) -> None:
        self.nll.reset()
        self.acc.reset()


@torch.no_grad()
def evaluate_lm(
    model: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> dict[str, float]:
    """Mean NLL (nats), perplexity, bits per character and accuracy of `model` over `batches`."""
    was_training = model.training
    model.eval()
    metrics: LMMetrics | None = None
    count = 0
    try:
        for x, y in batches:
            logits = model(x)
            if metrics is None:
                metrics = LMMetrics(logits.shape[-1])
            metrics.update(logits, y)
            count += int((y != PAD_TARGET).sum())
    finally:
        model.train(was_training)
    if metrics is None:
        raise ValueError("nothing to evaluate: the split holds no windows")
    return {**metrics.compute(), "windows": count}
