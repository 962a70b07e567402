"""`charlm-train experiment=bengio2003`: a Hydra app over `conf/`, one run (or a multirun's
jobs) trained by `charlm.train.train`."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from charlm.config import config_dir, release_run_dir
from charlm.errors import report_errors
from charlm.launch import rank_zero_run_dir
from charlm.train import RunInterrupted, train

log = logging.getLogger("charlm.train")


def optimized_metric(cfg: DictConfig, metrics: dict[str, Any]) -> float | None:
    """The value a sweep minimises, named by `optimized_metric` as `split/name` (e.g. val/loss)."""
    name = cfg.get("optimized_metric")
    split, _, key = (name or "").partition("/")
    if split not in metrics:
        return None
    return float(metrics[split][key])


def run_sweep_job(cfg: DictConfig) -> float | None:
    """One job of a multirun: a failure is recorded, logged and scored, and the sweep goes on."""
    try:
        return optimized_metric(cfg, train(cfg))
    except Exception as err:  # a failed job must not stop the other jobs of the sweep
        log.exception("this job failed")
        output_dir = Path(cfg.paths.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        error = f"{type(err).__name__}: {err}"
        (output_dir / "failed.json").write_text(json.dumps({"error": error}, indent=2))
        print(f"charlm-train: job failed: {error}", file=sys.stderr)
        return float(cfg.get("failure_value", 1.0e9))


@rank_zero_run_dir
@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
@report_errors("charlm-train")
def main(cfg: DictConfig) -> float | None:
    """Console script `charlm-train`."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return run_sweep_job(cfg)
    try:
        return optimized_metric(cfg, train(cfg))
    except RunInterrupted:
        sys.exit(1)  # the stop said where its last weights are
    finally:
        release_run_dir(Path(cfg.paths.output_dir))  # held since Hydra's Preflight check


if __name__ == "__main__":
    main()
