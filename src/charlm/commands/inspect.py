"""`charlm-inspect ckpt=PATH`: the diagnostics figure of a trained model on a batch of its data.

The same four panels as a run with `diagnostics=on` (`charlm.diagnostics`), without training
again: one forward and backward pass of the model in evaluation mode (BatchNorm's running
statistics, no dropout) over training examples of its own split. A checkpoint holds no
history of updates, so the fourth panel shows, for each weight matrix, the update one plain
SGD step at the run's learning rate would make, relative to the weights.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from charlm.config import config_dir
from charlm.errors import CharlmError, check_options, report_errors
from charlm.inference import inspect_checkpoint


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="inspect")
@report_errors("charlm-inspect")
def main(cfg: DictConfig) -> None:
    """Console script `charlm-inspect`."""
    if not cfg.get("ckpt"):
        raise CharlmError("no checkpoint given: charlm-inspect ckpt=PATH/TO/last.ckpt")
    check_options(
        cfg,
        {
            "batch_size": "int>=1",
            "seed": "int",
            "output": "path|null",
            "data_path": "path|null",
            "resplit": "bool",
        },
    )
    path = inspect_checkpoint(
        cfg.ckpt, cfg.get("output"), cfg.batch_size, cfg.seed, cfg.get("data_path"), cfg.resplit
    )
    print(f"diagnostics figure written to {path}")


if __name__ == "__main__":
    main()
