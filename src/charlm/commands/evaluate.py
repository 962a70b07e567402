"""`charlm-eval ckpt=PATH`: NLL, perplexity, bits per character and accuracy of a trained model."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from charlm.checkpoint import device_for, load_model
from charlm.config import config_dir
from charlm.data.registry import model_data
from charlm.errors import CharlmError, check_options, check_output, report_errors
from charlm.inference import DYNAMIC_LR, evaluate_model
from charlm.metrics import format_table
from charlm.precision import precision_plugin, run_precision


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="eval")
@report_errors("charlm-eval")
def main(cfg: DictConfig) -> None:
    """Console script `charlm-eval`."""
    if not cfg.get("ckpt"):
        raise CharlmError("no checkpoint given: charlm-eval ckpt=PATH/TO/last.ckpt")
    check_options(
        cfg,
        {
            "words": "path|null",
            "data_path": "path|null",
            "output": "path|null",
            "resplit": "bool",
            "mode": "str|null",
            "dynamic_lr": "number>0|null",
            "device": "str|null",
            "precision": "str|null",
        },
    )
    if cfg.get("dynamic_lr") is not None and cfg.get("mode") != "dynamic":
        raise CharlmError(
            f"dynamic_lr={cfg.dynamic_lr}: only mode=dynamic takes steps; add mode=dynamic"
        )
    # One checkpoint, or several (ckpt=[a.ckpt,b.ckpt]) evaluated as one ensemble.
    ckpts = [str(c) for c in cfg.ckpt] if OmegaConf.is_list(cfg.ckpt) else [str(cfg.ckpt)]
    first = Path(ckpts[0])
    name = first.stem if len(ckpts) == 1 else "ensemble"
    output = Path(cfg.output) if cfg.get("output") else first.parent / f"eval-{name}.json"
    check_output(output, [*ckpts, cfg.get("words"), cfg.get("data_path")])
    device = device_for(cfg.get("device"))
    model = load_model(ckpts).to(device)
    # The arithmetic of the figures: float32 unless asked; `run`, the run's own (metrics.json's).
    precision = cfg.get("precision") or "32-true"
    if precision == "run":
        precision = run_precision(model.config)
    plugin = precision_plugin(precision, device)
    data = model_data(model, cfg.get("data_path"))
    check_output(output, data.paths)  # the data the run read, by any name
    mode = cfg.get("mode")
    dynamic_lr = cfg.get("dynamic_lr") or DYNAMIC_LR
    model = plugin.convert_module(model)
    # A "-true" reading is weights of that type, as a run's own final scoring reads them; a
    # "-mixed" one, the plugin's autocast.
    context = plugin.forward_context() if precision.endswith("-mixed") else nullcontext()
    with context:
        results = evaluate_model(
            model, data, cfg.get("words"), cfg.get("unknown", "skip"), cfg.resplit, mode,
            dynamic_lr,
        )  # fmt: skip
    evaluation = mode or data.eval_modes[0]
    # How the splits were read, in what arithmetic, and the step size where they were
    # learned from.
    how = {
        "evaluation": evaluation,
        "precision": precision,
        **({"dynamic_lr": dynamic_lr} if mode == "dynamic" else {}),
    }
    steps = f" (one SGD step of {dynamic_lr} a block)" if mode == "dynamic" else ""
    print(f"splits read as: {evaluation}{steps}, in {precision}")
    print(format_table(results))
    stored = ckpts[0] if len(ckpts) == 1 else ckpts
    output.write_text(json.dumps({"checkpoint": stored, **how, "results": results}, indent=2))
    print(f"written to {output}")


if __name__ == "__main__":
    main()
