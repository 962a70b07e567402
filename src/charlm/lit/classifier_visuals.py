"""What a classifier has learned, shown in TensorBoard: decision boundaries, fizzbuzz output."""

from __future__ import annotations

import lightning as L
import torch

from charlm.lit.loggers import tensorboard_writer


class DecisionBoundary(L.Callback):
    """Heatmap of P(class 1) over the input plane of a 2-input classifier, with the table's points.

    Drawn after every validation, as the course draws the regions a network has learned.
    """

    def __init__(self, resolution: int = 100, margin: float = 0.5) -> None:
        self.resolution, self.margin = resolution, margin

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        datamodule = trainer.datamodule
        if writer is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        x, y = datamodule.splits["train"]
        if x.shape[1] != 2:
            return
        fig = decision_boundary_figure(pl_module.net, x, y, self.resolution, self.margin)
        writer.add_figure("decision_boundary", fig, trainer.global_step)


def decision_boundary_figure(net, x: torch.Tensor, y: torch.Tensor, resolution: int, margin: float):
    """P(class 1) on a grid spanning the points' range plus `margin`, points coloured by class."""
    from matplotlib.figure import Figure

    lo, hi = x.min(0).values - margin, x.max(0).values + margin
    g0 = torch.linspace(float(lo[0]), float(hi[0]), resolution)
    g1 = torch.linspace(float(lo[1]), float(hi[1]), resolution)
    grid = torch.cartesian_prod(g0, g1)
    p1 = net.predict(grid).probs[:, 1].view(resolution, resolution).T
    fig = Figure(figsize=(5, 4.5))
    ax = fig.subplots()
    extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
    image = ax.imshow(
        p1, origin="lower", extent=extent, cmap="RdBu_r", vmin=0, vmax=1, aspect="auto"
    )
    ax.contour(g0, g1, p1, levels=[0.5], colors="black", linewidths=1)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", vmin=0, vmax=1, edgecolors="black", s=120)
    fig.colorbar(image, ax=ax, label="P(class 1)")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    return fig


class FizzBuzzReport(L.Callback):
    """After testing: the predicted fizzbuzz output for the test numbers and the confusion matrix."""

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from torchmetrics.classification import MulticlassConfusionMatrix

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
        confusion = MulticlassConfusionMatrix(num_classes=len(FIZZBUZZ_CLASSES))
        confusion.update(labels, y)
        fig, _ = confusion.plot(labels=list(FIZZBUZZ_CLASSES))
        writer.add_figure("fizzbuzz/confusion_matrix", fig, trainer.global_step)
