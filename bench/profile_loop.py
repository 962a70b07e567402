"""Profile: what charlm's training loop costs beside the notebook's plain loop, and where.

Each measurement runs in a fresh process, as a user's run does, with one thread, on
experiment=bengio2003's recipe (the plain loop is bench/speed.py's):
  plain      the plain loop, `--steps` updates, timed; then again under cProfile
  charlm     `charlm-train`'s `train()`, `--steps` updates and twice as many, timed: the
             difference is the cost per update, the rest the run's fixed cost (set-up,
             validation, test, checkpoints)
  profile    `train()`, `--steps` updates under cProfile: the run split into its phases by
             the cumulative time of the functions that make them (the updates: drawing the
             minibatch, forward and loss, the update itself; validation and test; checkpoints),
             and the functions it spends most in. A function's own time includes the tensor
             operators (`@`, `+`, indexing) it calls, which cProfile does not see as calls, and
             cProfile's cost per Python call inflates Python-heavy code: read shares.

    make bench-profile            # or: .venv/bin/python bench/profile_loop.py [--steps N]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "civil_mots.txt"
BENCH_STEPS = 200_000  # bench/speed.py's run

# The functions whose cumulative time makes each phase of a run: (file name, function).
PHASES = {
    "run (all of it)": ("train.py", "train_run"),
    "updates": ("base.py", "training_step"),
    "  minibatch": ("batches.py", "minibatch"),
    "  forward + loss": ("lm.py", "objective"),
    "  update": ("update.py", "update"),
    "val and test": ("evaluation_loop.py", "run"),
    "checkpoints": ("trainer.py", "save_checkpoint"),
}


def child_plain(steps: int) -> dict:
    import torch
    from speed import notebook_parameters, notebook_updates  # bench/speed.py, beside this file

    from charlm.data import Vocabulary, context_windows, load_words, split_words

    torch.set_num_threads(1)
    words = load_words(CORPUS)
    vocab = Vocabulary.from_words(words)
    xtr, ytr = context_windows(split_words(words)[0], vocab, 3)
    parameters = notebook_parameters()

    def loop(n: int) -> None:
        notebook_updates(parameters, xtr, ytr, n)

    started = time.perf_counter()
    loop(steps)
    unprofiled = time.perf_counter() - started
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.runcall(loop, steps)
    return {"seconds": unprofiled, "profiled_seconds": time.perf_counter() - started}


def run_charlm(steps: int) -> tuple[dict, float]:
    """One `train()` of bengio2003's recipe with `steps` updates: its metrics and wall seconds."""
    from omegaconf import open_dict

    from charlm.runs import compose_config
    from charlm.train import train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config(
            [
                "experiment=bengio2003",
                f"data.path={CORPUS}",
                f"paths.root_dir={tmp}",
                f"paths.output_dir={tmp}/run",
                "num_threads=1",
                "callbacks.progress_bar=null",
                f"trainer.max_steps={steps}",
                f"model.scheduler.milestones=[{steps // 2}]",
            ]
        )
        with open_dict(cfg):
            del cfg["hydra"]  # charlm-train's Hydra app is not running: train() needs none
        started = time.perf_counter()
        metrics = train(cfg)
        return metrics, time.perf_counter() - started


def child_charlm(steps: int) -> dict:
    metrics, seconds = run_charlm(steps)
    return {"seconds": seconds, "fit_seconds": metrics["train_time_s"]}


def child_profile(steps: int, top: int) -> dict:
    profile = cProfile.Profile()
    profile.enable()
    run_charlm(steps)
    profile.disable()
    stats = pstats.Stats(profile)
    phases: dict[str, float] = {}
    rows = []
    for (filename, line, name), (_, calls, own, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        for phase, (file, function) in PHASES.items():
            ours = "/charlm/" in filename or "/lightning/" in filename
            if ours and name == function and Path(filename).name == file:
                phases[phase] = max(phases.get(phase, 0.0), cum)
        where = name if filename == "~" else f"{Path(filename).name}:{line} {name}"
        rows.append((own, calls, where))
    rows.sort(reverse=True)
    return {"phases": phases, "top": rows[:top]}


def run_child(kind: str, steps: int, top: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--steps", str(steps), "--top", str(top)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"{kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--child", choices=["plain", "charlm", "profile"])
    args = parser.parse_args()
    n = args.steps
    if args.child:
        children = {
            "plain": lambda: child_plain(n),
            "charlm": lambda: child_charlm(n),
            "profile": lambda: child_profile(n, args.top),
        }
        print(json.dumps(children[args.child]()))
        return
    if not CORPUS.is_file():
        sys.exit("data/civil_mots.txt is missing: run `make data`")
    plain = run_child("plain", n)
    short, long = run_child("charlm", n), run_child("charlm", 2 * n)
    profiled = run_child("profile", n, args.top)

    plain_us = plain["seconds"] / n * 1e6
    per_update = (long["fit_seconds"] - short["fit_seconds"]) / n  # seconds
    fixed = short["fit_seconds"] - n * per_update
    print("bengio2003's recipe, 1 thread; fresh process each; µs per update unless said")
    print(f"  plain loop                          {plain_us:8.1f}")
    print(f"  charlm, per update (slope {n} -> {2 * n})  {per_update * 1e6:8.1f}"
          f"   ratio plain/charlm {plain_us / (per_update * 1e6):.2f}")  # fmt: skip
    print(f"  charlm, fixed cost of a run's fit   {fixed:8.2f} s"
          f"   (fit {short['fit_seconds']:.2f} s for {n}, {long['fit_seconds']:.2f} s for {2 * n};"
          f" train() {short['seconds']:.2f} s and {long['seconds']:.2f} s)")  # fmt: skip
    for steps in (n, BENCH_STEPS):
        ratio = plain_us * 1e-6 * steps / (fixed + per_update * steps)
        print(f"  ratio plain/charlm over a fit of {steps:,} updates: {ratio:.2f}")

    phases = profiled["phases"]
    total = phases.get("run (all of it)", 0.0)
    print(f"charlm's train() under cProfile, {n} updates, by phase: µs per update, share")
    for phase, seconds in phases.items():
        print(f"  {phase:<18}{seconds / n * 1e6:>8.1f}  {seconds / total:>6.1%}")
    named = sum(phases.get(p, 0.0) for p in ("updates", "val and test", "checkpoints"))
    rest = total - named
    print(f"  {'set-up and rest':<18}{rest / n * 1e6:>8.1f}  {rest / total:>6.1%}")
    print(
        f"the plain loop under cProfile: {plain['profiled_seconds'] / n * 1e6:.1f}; "
        f"charlm's updates against it: "
        f"{phases.get('updates', 0.0) / plain['profiled_seconds']:.2f}"
    )
    print("charlm's functions by their own time (µs per update, calls per update)")
    for own, calls, where in profiled["top"]:
        print(f"  {own / n * 1e6:>8.2f} {calls / n:>7.2f}  {where}")


if __name__ == "__main__":
    main()
