"""`charlm-export ckpt=PATH format=safetensors|onnx|web output=DIR`: a trained language model
as plain files another program can read (`charlm.export`), as ONNX graphs onnxruntime runs
(`charlm.export_onnx`), or as a web page that samples and scores in a browser with no Python
(`charlm.export_web`)."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from charlm.checkpoint import read_checkpoint
from charlm.config import config_dir
from charlm.errors import CharlmError, check_options, report_errors

FORMATS = ("safetensors", "onnx", "web")
WHAT = {
    "safetensors": "charlm.load_model({folder!r}) reads it",
    "onnx": "charlm.load_onnx({folder!r}) runs its graphs in onnxruntime",
    "web": "open {folder}/index.html in a browser (no server, no network needed)",
}


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="export")
@report_errors("charlm-export")
def main(cfg: DictConfig) -> None:
    """Console script `charlm-export`."""
    if not cfg.get("ckpt"):
        raise CharlmError("no checkpoint given: charlm-export ckpt=PATH/TO/last.ckpt")
    check_options(
        cfg, {"ckpt": "path", "format": "str", "output": "path|null", "quantize": "str|null",
              "ort_web": "path|null"},
    )  # fmt: skip
    if cfg.format not in FORMATS:
        raise CharlmError(
            f"format={cfg.format!r}: charlm-export writes {', '.join(FORMATS)} (safetensors: "
            "weights, config, vocabulary and a model card; onnx: those and the ONNX graphs; "
            "web: those and a page that runs them in a browser)"
        )
    if cfg.get("quantize") and cfg.format == "safetensors":
        raise CharlmError(
            f"quantize={cfg.quantize!r} applies to the ONNX graphs: add format=onnx or format=web"
        )
    ckpt = Path(cfg.ckpt)
    out = Path(cfg.output) if cfg.get("output") else ckpt.parent / f"{ckpt.stem}-{cfg.format}"
    checkpoint = read_checkpoint(ckpt)
    if cfg.format == "safetensors":
        from charlm.export import export_safetensors

        folder = export_safetensors(checkpoint, ckpt, out)
    elif cfg.format == "onnx":
        from charlm.export_onnx import export_onnx

        folder = export_onnx(checkpoint, ckpt, out, cfg.get("quantize"))
    else:
        from charlm.export_web import export_web

        folder = export_web(checkpoint, ckpt, out, cfg.get("quantize"), cfg.get("ort_web"))
    print(f"written to {folder}: " + WHAT[cfg.format].format(folder=str(folder)))


if __name__ == "__main__":
    main()
