"""`charlm-inspect ckpt=PATH`: the diagnostics figure of a trained model on a batch of its data.

The same four panels as a run with `diagnostics=on` (`charlm.diagnostics`), without training
again: one forward and backward pass of the model in evaluation mode (BatchNorm's running
statistics, no dropout) over training examples of its own split. A checkpoint holds no
history of updates, so the fourth panel shows, for each weight matrix, the update one plain
SGD step at the run's learning rate would make, relative to the weights.
"""

from __future__ import annotations

import math
from pathlib import Path

import hydra
import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from charlm.checkpoint import load_model, read_checkpoint
from charlm.config import config_dir
from charlm.data.registry import checked_data
from charlm.data.sequences import PAD_TARGET
from charlm.diagnostics import Probe, diagnostics_figure, finite
from charlm.errors import (
    CharlmError,
    check_options,
    check_output,
    check_positive_ints,
    report_errors,
)
from charlm.models.base import logits_for


def inspect_checkpoint(
    ckpt: str | Path,
    output: str | Path | None = None,
    batch_size: int = 256,
    seed: int = 0,
    data_path: str | Path | None = None,
    resplit: bool = False,
) -> Path:
    """Write the diagnostics figure of checkpoint `ckpt` as a PNG; return its path.

    `batch_size` training examples (windows, or words for sequence models) are drawn with
    `seed`. The PNG goes to `output`, by default `diagnostics-<checkpoint name>.png` beside
    the checkpoint.
    """
    check_positive_ints(batch_size=batch_size)
    ckpt = Path(ckpt)
    if "," in str(ckpt):
        raise CharlmError(f"ckpt={ckpt}: charlm-inspect reads one checkpoint at a time")
    path = Path(output) if output else ckpt.parent / f"diagnostics-{ckpt.stem}.png"
    check_output(path)
    model = load_model(ckpt)
    step = int(read_checkpoint(ckpt).get("global_step", 0))
    data, _ = checked_data(model, data_path, resplit)
    x, y = data.training_examples(model)
    rows = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:batch_size]
    probe = Probe(model)
    probe.start(snapshot_weights=False)
    with torch.enable_grad():
        logits = logits_for(model, x[rows], y[rows])
        loss = F.cross_entropy(
            logits.flatten(0, -2), y[rows].flatten().long(), ignore_index=PAD_TARGET
        )
        loss.backward()
    snap = probe.finish()

    lr = ((model.config.get("model") or {}).get("optimizer") or {}).get("lr")
    history: dict[str, list[tuple[int, float]]] = {}
    if isinstance(lr, int | float) and lr > 0:
        for name, p in probe.weights:
            grad = snap.weight_grads.get(name)
            if finite(grad) and float(grad.std()) > 0:
                ratio = lr * float(grad.std()) / float(p.detach().std())
                history[name] = [(step, math.log10(ratio))]
    fig = diagnostics_figure(
        snap,
        history,
        title=f"{ckpt} (update {step}): {len(rows)} training examples, loss {loss.item():.4f}",
        update_label=f"one SGD step at lr={lr}: update-to-weight ratio (log10)",
    )
    fig.savefig(path, dpi=80)
    return path


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
