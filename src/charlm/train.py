"""Training entry point: `charlm-train experiment=bengio2003` (a Hydra app)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from charlm.config import config_dir, register_resolvers

log = logging.getLogger(__name__)
register_resolvers()


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a config group such as `callbacks` or `logger`."""
    if not group:
        return []
    return [instantiate(item) for item in group.values() if item and "_target_" in item]


def train(cfg: DictConfig) -> dict[str, Any]:
    """Seed, build data, model and trainer, fit, test; return and save the final metrics."""
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    if cfg.get("num_threads"):
        torch.set_num_threads(cfg.num_threads)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    datamodule = instantiate(cfg.data)
    datamodule.setup()
    with open_dict(cfg):
        cfg.model.net.update(datamodule.net_kwargs())
    task = instantiate(cfg.model)
    task.run_config = OmegaConf.to_container(cfg, resolve=True)

    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    has_val = datamodule.has_split("val")
    trainer_kwargs = {} if has_val else {"limit_val_batches": 0, "num_sanity_val_steps": 0}
    trainer: L.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, **trainer_kwargs
    )

    started = time.perf_counter()
    trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    train_time = time.perf_counter() - started

    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_path if checkpoint else ""
    last = checkpoint.last_model_path if checkpoint else ""
    if datamodule.has_split("test"):
        trainer.test(task, datamodule=datamodule, ckpt_path=best or None)
    elif best:
        task.load_state_dict(_load_weights(best))

    metrics: dict[str, Any] = {
        split: task.evaluate(datamodule.eval_dataloader(split))
        for split in ("train", "val", "test")
        if datamodule.has_split(split)
    }
    metrics.update(
        steps=trainer.global_step,
        train_time_s=round(train_time, 2),
        best_checkpoint=best or None,
        last_checkpoint=last or None,
        output_dir=str(output_dir),
    )
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    _log_hparams(trainer, cfg, metrics)
    log.info("metrics: %s", json.dumps(metrics))
    return metrics


def _load_weights(path: str) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


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
        if split in metrics
    }
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams, scores)
        logger.save()


def optimized_metric(cfg: DictConfig, metrics: dict[str, Any]) -> float | None:
    """The value a sweep minimises, named by `optimized_metric` as `split/name` (e.g. val/loss)."""
    name = cfg.get("optimized_metric")
    if not name:
        return None
    split, key = name.split("/", 1)
    return float(metrics[split][key])


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Console script `charlm-train`."""
    metrics = train(cfg)
    return optimized_metric(cfg, metrics)


if __name__ == "__main__":
    main()
