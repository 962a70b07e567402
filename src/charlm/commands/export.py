"""`charlm-export ckpt=PATH format=safetensors output=DIR`: a trained language model as plain
files another program can read (`charlm.export`)."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from charlm.checkpoint import read_checkpoint
from charlm.config import config_dir
from charlm.errors import CharlmError, check_options, report_errors
from charlm.export import export_safetensors

FORMATS = ("safetensors",)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="export")
@report_errors("charlm-export")
def main(cfg: DictConfig) -> None:
    """Console script `charlm-export`."""
    if not cfg.get("ckpt"):
        raise CharlmError("no checkpoint given: charlm-export ckpt=PATH/TO/last.ckpt")
    check_options(cfg, {"ckpt": "path", "format": "str", "output": "path|null"})
    if cfg.format not in FORMATS:
        raise CharlmError(
            f"format={cfg.format!r}: charlm-export writes {', '.join(FORMATS)} (a folder of "
            "model.safetensors, config.json, the vocabulary and a model card)"
        )
    ckpt = Path(cfg.ckpt)
    out = Path(cfg.output) if cfg.get("output") else ckpt.parent / f"{ckpt.stem}-{cfg.format}"
    folder = export_safetensors(read_checkpoint(ckpt), ckpt, out)
    print(f"written to {folder}: charlm.load_model({str(folder)!r}) reads it")


if __name__ == "__main__":
    main()
