"""What a classifier has learned, shown in TensorBoard: decision boundaries, fizzbuzz output."""

from __future__ import annotations

import lightning as L

from charlm.figures import confusion_figure, decision_boundary_figure
from charlm.lit.loggers import tensorboard_writer


class DecisionBoundary(L.Callback):
    """Heatmap of P(class 1) over the input plane of a 2-input classifier, with the table's points.

    Drawn every `every_n_validations` validations and after the last, as the course draws the
    regions a network has learned (drawing one takes longer than 100 updates of these nets).
    """

    def __init__(
        self, resolution: int = 100, margin: float = 0.5, every_n_validations: int = 5
    ) -> None:
        self.resolution, self.margin = resolution, margin
        self.every_n_validations = every_n_validations
        self._validations = 0

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        datamodule = trainer.datamodule
        if writer is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        self._validations += 1
        last = trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps
        if self._validations % self.every_n_validations and not last:
            return
        x, y = datamodule.splits["train"]
        if x.shape[1] != 2:
            return
        fig = decision_boundary_figure(pl_module.net, x, y, self.resolution, self.margin)
        writer.add_figure("decision_boundary", fig, trainer.global_step)


class FizzBuzzReport(L.Callback):
    """After testing: the predicted fizzbuzz output for the test numbers and the confusion matrix."""

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from charlm.data.tables import FIZZBUZZ_CLASSES, fizzbuzz_text

        writer = tensorboard_writer(trainer)
        datamodule = trainer.datamodule
        if writer is None or not trainer.is_global_zero:
            return
        x, y = datamodule.splits["test"]
        labels = pl_module.net.predict(x.to(pl_module.device)).labels.cpu()
        numbers = datamodule.numbers["test"]
        text = " ".join(fizzbuzz_text(n, int(k)) for n, k in zip(numbers, labels, strict=True))
        writer.add_text("fizzbuzz/predicted", text, trainer.global_step)
        fig = confusion_figure(labels, y, FIZZBUZZ_CLASSES)
        writer.add_figure("fizzbuzz/confusion_matrix", fig, trainer.global_step)
