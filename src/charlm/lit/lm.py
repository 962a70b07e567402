"""LightningModule training any `CharLM` with cross-entropy, from a config-given optimiser."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from charlm.data.protocol import LanguageData
from charlm.data.sequences import PAD_TARGET
from charlm.lit.base import OptimizerFactory, SchedulerFactory, StepTask
from charlm.metrics import LMMetrics, evaluate_lm
from charlm.models.base import CharLM
from charlm.models.sampling import logits_for


class LanguageModelTask(StepTask):
    """Trains a character language model; logs train/loss and val|test loss, ppl, bpc, acc."""

    def __init__(
        self,
        net: CharLM | Mapping[str, Any],
        optimizer: OptimizerFactory | Mapping[str, Any] | None = None,
        scheduler: SchedulerFactory | Mapping[str, Any] | None = None,
        weight_decay_on: str = "all",
    ) -> None:
        super().__init__(net, optimizer, scheduler, weight_decay_on)
        self.metrics = torch.nn.ModuleDict(
            {stage: LMMetrics(self.net.vocab_size) for stage in ("val", "test")}
        )

    def setup(self, stage: str) -> None:
        # The model's vocabulary is the data's (a `charlm.data.LanguageData`) unless it has one.
        datamodule: LanguageData | None = getattr(self.trainer, "datamodule", None)
        if self.net.vocab is None and datamodule is not None:
            self.net.vocab = datamodule.vocab

    def objective(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Windows (batch, vocab) or blocks of sequences (batch, time, vocab), padding ignored.
        logits = logits_for(self.net, x, y)
        nll = F.cross_entropy(logits.flatten(0, -2), y.flatten(), ignore_index=PAD_TARGET)
        reg = self.net.regularization()
        return (nll if reg is None else nll + reg), nll

    def _eval_step(self, stage: str, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        x, y = batch
        self.metrics[stage].update(logits_for(self.net, x, y), y)

    def _eval_values(self, stage: str) -> dict[str, float]:
        values = self.metrics[stage].compute()
        self.metrics[stage].reset()
        # A model of tokens: bpc per character of the split's text, as metrics.json gives it.
        datamodule = getattr(self.trainer, "datamodule", None)
        chars_of = getattr(datamodule, "split_characters", None)
        chars = chars_of(stage) if callable(chars_of) else None
        units = getattr(datamodule, "splits", {}).get(stage)
        if chars is not None and units is not None:
            predictions = int((units[1] != PAD_TARGET).sum())
            values["bpc"] = values["loss"] * predictions / chars / math.log(2)
        return values

    def predict_step(self, batch: list[str], batch_idx: int) -> list[dict[str, Any]]:
        """Per-word scores of a batch of words: total NLL and NLL per character (end included)."""
        totals = self.net.word_nll(batch)
        return [
            {"word": w, "nll": float(t), "nll_per_char": float(t) / (len(w) + 1)}
            for w, t in zip(batch, totals, strict=True)
        ]

    def evaluate(self, batches: Any) -> dict[str, float]:
        """Loss, ppl, bpc and accuracy over a dataloader of windows, outside the Trainer."""
        return evaluate_lm(self.net, batches)
