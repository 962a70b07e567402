"""A finished run's record: the final figures of every split, saved as metrics.json, given to
TensorBoard's HPARAMS tab and printed as the closing table."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from omegaconf import DictConfig

from charlm.metrics import closing_summary, finite_json, per_character
from charlm.precision import figures_precision

if TYPE_CHECKING:
    from charlm.train import TrainingRun

log = logging.getLogger(__name__)


def record(run: TrainingRun, train_time: float, share: Any) -> dict[str, Any]:
    """The final figures of every split, saved as metrics.json, logged and printed."""
    task, datamodule, cfg = run.task, run.datamodule, run.cfg
    scored_splits = cfg.get("final_eval") or ("train", "val", "test")
    metrics: dict[str, Any] = {
        split: split_figures(task, datamodule, split)
        for split in ("train", "val", "test")
        if split in scored_splits and datamodule.has_split(split)
    }
    metrics.update(
        steps=run.steps,
        first_loss=task.first_loss,
        weights="best" if run.best else "last",
        weights_step=run.scored_step,
        # The arithmetic the figures were read in (`charlm-eval precision=` reads in any),
        # and the one the run trained in.
        precision=figures_precision(str(run.trainer.precision)),
        trainer_precision=str(run.trainer.precision),
        parameters=sum(p.numel() for p in task.net.parameters()),
        train_time_s=round(train_time, 2),
        # torch's threads during training (num_threads=auto: each count it took, in order).
        threads=share.used if share else [torch.get_num_threads()],
        best_checkpoint=run.best or None,
        last_checkpoint=run.last or None,
        output_dir=str(run.output_dir),
        # Processes that trained (each its own minibatches) and the minibatch of one update.
        world_size=run.trainer.world_size,
        global_batch_size=(cfg.data.get("batch_size") or 0) * run.trainer.world_size or None,
    )
    modes = getattr(getattr(datamodule, "data", None), "eval_modes", None)
    if modes:  # how the splits were read: `charlm-eval mode=` reads them the other ways
        metrics["evaluation"] = modes[0]
    if run.notes:
        metrics["notes"] = list(run.notes)
    metrics = run.metrics = finite_json(metrics)
    log.debug("metrics: %s", json.dumps(metrics, allow_nan=False))
    if not run.trainer.is_global_zero:
        return metrics  # rank 0 writes the run's record
    (run.output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False))
    _log_hparams(run.trainer, cfg, metrics)
    print(closing_summary(metrics), flush=True)
    return metrics


def split_figures(task: Any, datamodule: Any, split: str) -> dict[str, Any]:
    """The final figures of one split; per character too where the data counts its characters
    (lines of tokens or characters: `LinesDataModule.split_characters`)."""
    values = task.evaluate(datamodule.eval_dataloader(split))
    chars_of = getattr(datamodule, "split_characters", None)
    chars = chars_of(split) if callable(chars_of) else None
    return per_character(values, chars) if chars is not None else values


def _log_hparams(trainer: L.Trainer, cfg: DictConfig, metrics: dict[str, Any]) -> None:
    """Hyperparameters against the final losses, for TensorBoard's HPARAMS tab."""
    hparams = {
        "model": cfg.model.net._target_.rsplit(".", 1)[-1],
        **{f"model.{k}": v for k, v in cfg.model.net.items() if not k.startswith("_")},
        **{f"optimizer.{k}": v for k, v in cfg.model.optimizer.items() if not k.startswith("_")},
        "optimizer": cfg.model.optimizer._target_.rsplit(".", 1)[-1],
        "data.batch_size": cfg.data.get("batch_size"),
        "trainer.max_steps": cfg.trainer.get("max_steps"),
        "seed": cfg.get("seed"),
    }
    hparams = {
        k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in hparams.items()
    }
    scores = {
        f"hp/{split}_loss": metrics[split]["loss"]
        for split in ("train", "val", "test")
        if split in metrics and metrics[split]["loss"] is not None
    }
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams, scores)
        logger.save()
