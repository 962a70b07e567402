"""Runs sharing a machine: updates per second of one run alone, two at once, and a
`hydra/launcher=joblib` sweep of two, with `num_threads=auto` (the default) and with torch's
default threads (`num_threads=null`). Run it on an idle machine: `make bench-threads`.

Each run is `charlm-train experiment=bengio2003 trainer.max_steps=N`; its speed is
steps / train_time_s from its metrics.json.

`--model gru` measures a model above the one-thread cap instead: `experiment=shakespeare_gru`
bounded to `--budget` seconds, alone, beside another such run, and beside two busy processes
that are not charlm runs (`python -c 'while True: pass'`), with `num_threads=auto` and with
`num_threads=2` (every core of a 2-core machine, whatever else runs).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

BIN = Path(sys.executable).parent


def command(
    run_dir: Path, steps: int, threads: str, *extra: str, multirun: bool = False
) -> list[str]:
    return [
        str(BIN / "charlm-train"), *(["-m"] if multirun else []), "experiment=bengio2003", f"trainer.max_steps={steps}",
        "callbacks.progress_bar=null", "logger=none", f"num_threads={threads}",
        "final_eval=[val]", *extra,
    ]  # fmt: skip


def gru_command(run_dir: Path, budget: float, threads: str, *extra: str) -> list[str]:
    return [
        str(BIN / "charlm-train"), "experiment=shakespeare_gru", f"time_budget_s={budget}",
        "callbacks.progress_bar=null", "logger=none", f"num_threads={threads}",
        "final_eval=[val]", *extra,
    ]  # fmt: skip


def speed(metrics_file: Path) -> tuple[float, list[int]]:
    metrics = json.loads(metrics_file.read_text())
    return metrics["steps"] / metrics["train_time_s"], metrics["threads"]


def together(
    root: Path, steps: float, threads: str, n: int, label: str, make=command
) -> list[tuple[float, list]]:
    dirs = [root / f"{label}-{i}" for i in range(n)]
    procs = [
        subprocess.Popen(
            make(d, steps, threads, f"hydra.run.dir={d}"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for d in dirs
    ]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"a run failed: {proc.args}")
    return [speed(d / "metrics.json") for d in dirs]


@contextlib.contextmanager
def busy_processes(n: int) -> Iterator[None]:
    """`n` processes that keep a core busy each, and are not charlm runs."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def sweep(root: Path, steps: int, threads: str) -> list[tuple[float, list]]:
    out = root / f"sweep-{threads}"
    subprocess.run(
        command(out, steps, threads, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                "seed=0,1", f"hydra.sweep.dir={out}", multirun=True),
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return [speed(out / str(job) / "metrics.json") for job in (0, 1)]


def bengio(args: argparse.Namespace, root: Path) -> None:
    print("bengio2003; updates/s of each run (its threads), and against the same setting alone")
    for threads, steps in (("auto", args.steps), ("null", args.null_steps)):
        (alone,) = together(root, steps, threads, 1, f"alone-{threads}")
        show(f"alone, num_threads={threads}, {steps} updates", [alone], alone[0])
        pair = together(root, steps, threads, 2, f"two-{threads}")
        show(f"two at once, num_threads={threads}", pair, alone[0])
        show(f"joblib sweep of two, num_threads={threads}", sweep(root, steps, threads),
             alone[0])  # fmt: skip


def gru(args: argparse.Namespace, root: Path) -> None:
    print(f"shakespeare_gru, {args.budget:g} s each; updates/s of each run (its threads), "
          "and against auto alone")  # fmt: skip
    reference = None
    for threads in ("auto", "2"):
        (alone,) = together(root, args.budget, threads, 1, f"gru-alone-{threads}", gru_command)
        reference = reference or alone[0]
        show(f"alone, num_threads={threads}", [alone], reference)
        pair = together(root, args.budget, threads, 2, f"gru-two-{threads}", gru_command)
        show(f"beside another such run, num_threads={threads}", pair, reference)
        with busy_processes(2):
            (loaded,) = together(root, args.budget, threads, 1, f"gru-busy-{threads}", gru_command)
        show(f"beside two busy processes, num_threads={threads}", [loaded], reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("bengio2003", "gru"), default="bengio2003")
    parser.add_argument("--steps", type=int, default=20000)
    # Runs fighting over the cores go many times slower: fewer updates keep the bench short.
    parser.add_argument("--null-steps", type=int, default=2000)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of each GRU run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (gru if args.model == "gru" else bengio)(args, Path(tmp))


def show(label: str, runs: list[tuple[float, list]], reference: float) -> None:
    speeds = ", ".join(f"{s:,.2f} ({'/'.join(map(str, t))})" for s, t in runs)
    ratios = ", ".join(f"{s / reference:.2f}" for s, _ in runs)
    print(f"{label:<48} {speeds:<34} vs alone: {ratios}", flush=True)


if __name__ == "__main__":
    main()
