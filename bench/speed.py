"""Benchmark: the notebook's plain PyTorch loop against charlm's Lightning pipeline.

Runs, in one go and on the same machine, each in its own process:
  plain    a faithful re-implementation of the notebook's loop (experiment=bengio2003's recipe)
  charlm   charlm-train experiment=bengio2003
  fast     charlm-train experiment=mlp_fast, timed to the first val/loss <= 1.91
and prints steps per second, wall time, peak memory, final test NLL, and their ratios.

    make bench                    # or: .venv/bin/python bench/speed.py [--steps N] [--threads T]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "civil_mots.txt"
TARGET = 1.91


def rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tensor_mb(*tensors) -> float:
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


def child_plain(steps: int, threads: int) -> dict:
    """The notebook: randn parameters, randint minibatches of 32, manual SGD, step lr."""
    import torch
    import torch.nn.functional as F

    from charlm.data import Vocabulary, context_windows, load_words, split_words

    torch.set_num_threads(threads)
    baseline = rss_mb()
    words = load_words(CORPUS)
    vocab = Vocabulary.from_words(words)
    train, val, test = split_words(words)
    Xtr, Ytr = context_windows(train, vocab, 3)
    Xdev, Ydev = context_windows(val, vocab, 3)
    Xte, Yte = context_windows(test, vocab, 3)
    g = torch.Generator().manual_seed(2147483647)
    C = torch.randn((41, 2), generator=g)
    W1 = torch.randn((6, 100), generator=g)
    b1 = torch.randn(100, generator=g)
    W2 = torch.randn((100, 41), generator=g)
    b2 = torch.randn(41, generator=g)
    parameters = [C, W1, b1, W2, b2]
    for p in parameters:
        p.requires_grad = True
    started = time.perf_counter()
    for i in range(steps):
        ix = torch.randint(0, Xtr.shape[0], (32,))
        emb = C[Xtr[ix]]
        h = torch.tanh(emb.view(-1, 6) @ W1 + b1)
        logits = h @ W2 + b2
        loss = F.cross_entropy(logits, Ytr[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.16 if i < steps // 2 else 0.016
        for p in parameters:
            p.data += -lr * p.grad
    wall = time.perf_counter() - started

    def nll(X, Y):
        with torch.no_grad():
            emb = C[X]
            h = torch.tanh(emb.view(-1, 6) @ W1 + b1)
            return F.cross_entropy(h @ W2 + b2, Y).item()

    data = tensor_mb(Xtr, Ytr, Xdev, Ydev, Xte, Yte)
    return {
        "steps": steps,
        "wall_s": wall,
        "steps_per_s": steps / wall,
        "train_nll": nll(Xtr, Ytr),
        "val_nll": nll(Xdev, Ydev),
        "test_nll": nll(Xte, Yte),
        "peak_rss_mb": rss_mb(),
        "rss_growth_mb": rss_mb() - baseline,
        "data_mb": data,
        "state_mb": tensor_mb(*parameters),
    }


def child_charlm(overrides: list[str], threads: int) -> dict:
    """charlm-train with `overrides`, in this process; times the fit and the first val <= TARGET."""
    import lightning as L
    from hydra import compose, initialize_config_dir

    from charlm.config import config_dir, register_resolvers
    from charlm.train import train

    class TimeToTarget(L.Callback):
        def on_train_start(self, trainer, pl_module):
            self.start, self.reached = time.perf_counter(), None

        def on_validation_end(self, trainer, pl_module):
            val = trainer.callback_metrics.get("val/loss")
            if self.reached is None and val is not None and float(val) <= TARGET:
                self.reached = (time.perf_counter() - self.start, trainer.global_step, float(val))

    register_resolvers()
    baseline = rss_mb()
    timer = TimeToTarget()
    with tempfile.TemporaryDirectory() as tmp:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose(
                config_name="train",
                overrides=[
                    f"data.path={CORPUS}",
                    f"paths.root_dir={tmp}",
                    f"paths.output_dir={tmp}/run",
                    f"num_threads={threads}",
                    "callbacks.progress_bar=null",
                    *overrides,
                ],
            )
        metrics = train(cfg, extra_callbacks=[timer])
    steps = metrics["steps"]
    result = {
        "steps": steps,
        "wall_s": metrics["train_time_s"],
        "steps_per_s": steps / metrics["train_time_s"],
        "train_nll": metrics["train"]["loss"],
        "val_nll": metrics["val"]["loss"],
        "test_nll": metrics["test"]["loss"],
        "peak_rss_mb": rss_mb(),
        "rss_growth_mb": rss_mb() - baseline,
    }
    if timer.reached:
        result["time_to_target_s"], result["step_at_target"], result["val_at_target"] = (
            timer.reached
        )
    return result


def run_child(kind: str, args: argparse.Namespace, overrides: list[str] | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--steps", str(args.steps),
           "--threads", str(args.threads), *(["--"] + overrides if overrides else [])]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"{kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", choices=["plain", "charlm", "fast"])
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.child == "plain":
        print(json.dumps(child_plain(args.steps, args.threads)))
        return
    if args.child in ("charlm", "fast"):
        print(json.dumps(child_charlm(args.overrides, args.threads)))
        return
    if not CORPUS.is_file():
        sys.exit("data/civil_mots.txt is missing: run `make data`")

    half = args.steps // 2
    plain = run_child("plain", args)
    ours = run_child(
        "charlm",
        args,
        [
            "experiment=bengio2003",
            f"trainer.max_steps={args.steps}",
            f"model.scheduler.milestones=[{half}]",
        ],  # fmt: skip
    )
    fast = run_child("fast", args, ["experiment=mlp_fast"])

    rows = [("plain loop", plain), ("charlm bengio2003", ours), ("charlm mlp_fast", fast)]
    print(f"threads: {args.threads}; steps: {args.steps}")
    print(
        f"{'':<20}{'steps/s':>10}{'wall s':>9}{'peak MB':>9}{'+MB':>7}{'train':>8}{'val':>8}{'test':>8}"
    )
    for name, r in rows:
        print(
            f"{name:<20}{r['steps_per_s']:>10.0f}{r['wall_s']:>9.1f}{r['peak_rss_mb']:>9.0f}"
            f"{r['rss_growth_mb']:>7.0f}{r['train_nll']:>8.4f}{r['val_nll']:>8.4f}{r['test_nll']:>8.4f}"
        )
    print(
        f"speed ratio charlm / plain (steps/s):         {ours['steps_per_s'] / plain['steps_per_s']:.2f}"
    )
    print(
        f"test NLL difference charlm - plain:           {ours['test_nll'] - plain['test_nll']:+.4f}"
    )
    if "time_to_target_s" in fast:
        print(
            f"mlp_fast: val NLL {fast['val_at_target']:.4f} <= {TARGET} after "
            f"{fast['step_at_target']} steps, {fast['time_to_target_s']:.2f} s; "
            f"ratio to the plain loop's {plain['wall_s']:.1f} s: "
            f"{fast['time_to_target_s'] / plain['wall_s']:.3f}"
        )
    else:
        print(f"mlp_fast never reached val NLL {TARGET}")
    print(
        f"peak RSS growth during training: plain {plain['rss_growth_mb']:.0f} MB, charlm "
        f"{ours['rss_growth_mb']:.0f} MB; raw data tensors {plain['data_mb']:.2f} MB, model "
        f"{plain['state_mb'] * 1024:.0f} KiB (SGD keeps no state)"
    )


if __name__ == "__main__":
    main()
