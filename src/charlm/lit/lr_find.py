"""Lightning's learning-rate finder, its curve saved beside the run and shown in TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.tuner import Tuner
from omegaconf import DictConfig

from charlm.lit.loggers import tensorboard_writer


def find_lr(
    options: DictConfig,
    trainer: L.Trainer,
    task: L.LightningModule,
    datamodule: L.LightningDataModule,
    output_dir: Path,
) -> dict[str, Any]:
    """Lightning's learning-rate finder: loss against an exponentially growing lr.

    Saves the curve as lr_find.png, lr_find.json and a TensorBoard figure, and returns the
    suggested lr. One update per Lightning batch, so the finder's schedule advances per update.
    """
    datamodule.connect(steps_per_batch=1)
    finder = Tuner(trainer).lr_find(
        task,
        datamodule=datamodule,
        min_lr=options.min_lr,
        max_lr=options.max_lr,
        num_training=options.num_training,
        early_stop_threshold=options.get("early_stop_threshold"),
        update_attr=False,
    )
    if finder is None:
        raise RuntimeError("the learning-rate finder returned no result")
    suggestion = finder.suggestion(skip_begin=options.skip_begin)
    lrs, losses = finder.results["lr"], finder.results["loss"]
    lowest = min(range(len(losses)), key=lambda i: losses[i])
    fig = finder.plot(suggest=False)
    ax = fig.axes[0]
    if suggestion is not None:
        ax.plot(
            suggestion, losses[lrs.index(suggestion)], "o", color="red", label="steepest descent"
        )
    ax.plot(lrs[lowest], losses[lowest], "s", color="green", label="lowest loss")
    ax.legend()
    fig.savefig(output_dir / "lr_find.png", dpi=100)
    writer = tensorboard_writer(trainer)
    if writer is not None:
        writer.add_figure("lr_find", fig)
        writer.flush()
    result = {
        "suggested_lr": suggestion,
        "lowest_loss_lr": lrs[lowest],
        "lr": lrs,
        "loss": losses,
    }
    (output_dir / "lr_find.json").write_text(json.dumps(result, indent=2))
    print(
        f"suggested learning rate (steepest descent): {suggestion:.4g}; "
        f"lowest loss at lr {lrs[lowest]:.4g}; curve: {output_dir / 'lr_find.png'}"
    )
    return result
