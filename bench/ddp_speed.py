"""Multi-process training on one machine: updates per second of 2 processes x 1 thread
(`torchrun --nproc_per_node=2 charlm-train trainer=ddp_cpu num_threads=1`) against 1 process x
2 threads, for the notebook's MLP (`experiment=bengio2003`) and the Shakespeare GRU
(`experiment=shakespeare_best` with its earlier GRU in place of its LSTM), with the chunked loop (the experiment's `data.steps_per_batch`)
and with one update a Lightning batch. Run it on an idle machine: `make bench-ddp`.

Each MLP run trains a fixed number of updates, each GRU run a fixed time; its speed is steps / train_time_s from its
metrics.json (rank 0's clock: every update waits for both processes' gradients). A process of
DDP draws its own minibatch, so an update of 2 processes learns from twice the examples: the
table gives both updates/s and examples (or characters) per second of the global batch.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
MODELS = {
    "bengio2003": ("experiment=bengio2003",),
    # shakespeare_best's GRU recipe, as measured (the experiment now trains an LSTM).
    "shakespeare GRU": (
        "experiment=shakespeare_best", "model.net.cell=gru", "model.net.dropout=0.2",
        "trainer.precision=32-true", "~callbacks.ema",
    ),
}  # fmt: skip


def run(root: Path, label: str, model: tuple[str, ...], bound: str, world: int, *extra: str):
    run_dir = root / label
    args = [*model, bound, "callbacks.progress_bar=null", "logger=none",
            "final_eval=[val]", f"hydra.run.dir={run_dir}", *extra]  # fmt: skip
    if world == 1:
        cmd = [str(BIN / "charlm-train"), *args, "num_threads=2"]
    else:
        cmd = [str(BIN / "torchrun"), "--standalone", f"--nproc_per_node={world}",
               str(BIN / "charlm-train"), *args, "trainer=ddp_cpu", "num_threads=1"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{label}: exit {done.returncode}\n{done.stderr[-2000:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = (run_dir / ".hydra" / "config.yaml").read_text()
    return metrics, config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mlp-steps", type=int, default=20000)
    parser.add_argument("--gru-seconds", type=int, default=60)
    args = parser.parse_args()
    import yaml

    rows = []
    with tempfile.TemporaryDirectory(prefix="charlm-ddp-") as tmp:
        root = Path(tmp)
        for name, model in MODELS.items():
            # The GRU's recipe is bounded by time (its learning rate anneals over the budget).
            bound = (f"trainer.max_steps={args.mlp_steps}" if name == "bengio2003"
                     else f"time_budget_s={args.gru_seconds}")  # fmt: skip
            for label, world, extra in (
                ("1 x 2 threads", 1, ()),
                ("2 x 1 thread", 2, ()),
                ("2 x 1 thread, steps_per_batch=1", 2, ("data.steps_per_batch=1",)),
            ):
                metrics, config = run(root, re.sub(r"\W+", "_", f"{name}-{label}"), model, bound,
                                      world, *extra)  # fmt: skip
                data = yaml.safe_load(config)["data"]
                per_update = data["batch_size"] * world * (data.get("block_size") or 1)
                ups = metrics["steps"] / metrics["train_time_s"]
                rows.append((name, label, data["steps_per_batch"], ups, ups * per_update,
                             metrics["val"]["loss"]))  # fmt: skip
                print(f"{name:16} {label:32} {rows[-1][3]:9.1f} updates/s", flush=True)
    print()
    print("| model | processes x threads | steps_per_batch | updates/s | examples/s "
          "(global batch) | val loss |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, label, chunk, ups, examples, val in rows:
        print(f"| {name} | {label} | {chunk} | {ups:,.1f} | {examples:,.0f} | {val:.4f} |")


if __name__ == "__main__":
    main()
