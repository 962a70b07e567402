"""LightningModule for the course's classifiers: cross-entropy (or binary), accuracy metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from charlm.lit.base import OptimizerFactory, SchedulerFactory, StepTask
from charlm.metrics import ClassifierMetrics
from charlm.models.classifiers import Classifier


class ClassifierTask(StepTask):
    """Trains a `Classifier`; logs train/loss, train/acc and val|test loss and acc.

    A network with one output is trained with binary cross-entropy on its logit, one with
    several with cross-entropy.
    """

    def __init__(
        self,
        net: Classifier | Mapping[str, Any],
        optimizer: OptimizerFactory | Mapping[str, Any] | None = None,
        scheduler: SchedulerFactory | Mapping[str, Any] | None = None,
        num_classes: int = 2,
        weight_decay_on: str = "all",
    ) -> None:
        super().__init__(net, optimizer, scheduler, weight_decay_on)
        self.num_classes = num_classes
        self.metrics = torch.nn.ModuleDict(
            {stage: ClassifierMetrics(num_classes) for stage in ("fit", "val", "test")}
        )

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if logits.shape[-1] == 1:
            return F.binary_cross_entropy_with_logits(logits[:, 0], y.float())
        return F.cross_entropy(logits, y)

    def objective(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss = self.loss(self.net(x), y)
        return loss, loss

    def training_scalars(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        # Accuracy on the minibatch just trained on, with the weights after its update.
        return {"train/acc": float((self.net.predict(x).labels == y).float().mean())}

    def _eval_step(self, stage: str, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        x, y = batch
        logits = self.net(x)
        self.metrics[stage].update(self.loss(logits, y), self.net.predict(x).labels, y)

    def _eval_values(self, stage: str) -> dict[str, float]:
        values = self.metrics[stage].compute()
        self.metrics[stage].reset()
        return values

    @torch.no_grad()
    def evaluate(self, batches: Any) -> dict[str, float]:
        """Loss and accuracy over a dataloader, outside the Trainer."""
        for x, y in batches:
            self._eval_step("fit", (x, y))
        return self._eval_values("fit")
