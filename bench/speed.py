"""Benchmark: the notebook's plain PyTorch loop against charlm's Lightning pipeline.

Runs, in one go and on the same machine, each in its own process:
  plain    a faithful re-implementation of the notebook's loop (experiment=bengio2003's recipe)
  charlm   charlm-train experiment=bengio2003
  diag     charlm-train experiment=bengio2003 diagnostics=on (the cost of watching the network)
  fast     charlm-train experiment=mlp_fast, timed to the first val/loss <= 1.91
and prints steps per second, wall time, final test NLL, and their ratios. The plain loop,
charlm and charlm with diagnostics take turns (`--repeat` times each) and the fastest run of
each is compared. `--diagnostics-only` runs the last two alone.

Memory: two shorter runs of the same two recipes (`--memory-steps`, validating after every
chunk) under torch.profiler's allocation tracking give the peak of live tensor bytes during
training, set against the raw data tensors plus the model and optimiser state. Process RSS is
printed too, but most of it is the libraries themselves.

    make bench                    # or: .venv/bin/python bench/speed.py [--steps N] [--threads T]
"""

from __future__ import annotations

import argparse
import contextlib
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


@contextlib.contextmanager
def tracked_tensors():
    """Record every CPU tensor allocation and free (torch.profiler's memory tracking).

    Yields a dict that, on exit, holds `events`: (time ns, +/- bytes) in time order.
    """
    from torch.profiler import ProfilerActivity, profile

    found: dict = {}
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        yield found
    found["events"] = sorted(
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]"
    )


def peak_mb(events, start_ns: int, end_ns: int, live_at_start: float) -> float:
    """Peak of live tensor MB between two times, given what was live when tracking began."""
    live, peak = live_at_start * 2**20, 0.0
    for ns, nbytes in events:
        if ns > end_ns:
            break
        live += nbytes
        if ns >= start_ns:
            peak = max(peak, live)
    return peak / 2**20


def notebook_parameters() -> list:
    """The notebook's C, W1, b1, W2, b2: drawn by randn from a generator seeded 2147483647."""
    import torch

    g = torch.Generator().manual_seed(2147483647)
    shapes = ((41, 2), (6, 100), (100,), (100, 41), (41,))
    return [torch.randn(shape, generator=g).requires_grad_() for shape in shapes]


def notebook_updates(parameters: list, x, y, steps: int) -> None:
    """The notebook's loop: minibatches of 32 drawn by randint, manual SGD at 0.16, then 0.016
    for the second half (bench/profile_loop.py times it too)."""
    import torch
    import torch.nn.functional as F

    C, W1, b1, W2, b2 = parameters
    for i in range(steps):
        ix = torch.randint(0, x.shape[0], (32,))
        h = torch.tanh(C[x[ix]].view(-1, 6) @ W1 + b1)  # (32, 3, 2) -> (32, 6) -> (32, 100)
        loss = F.cross_entropy(h @ W2 + b2, y[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.16 if i < steps // 2 else 0.016
        for p in parameters:
            p.data += -lr * p.grad


def child_plain(steps: int, threads: int, memory: bool = False) -> dict:
    """The notebook: randn parameters, randint minibatches of 32, manual SGD, step lr.

    With `memory`, the loop runs under allocation tracking and the peak is returned instead.
    """
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
    parameters = notebook_parameters()
    C, W1, b1, W2, b2 = parameters
    data = tensor_mb(Xtr, Ytr, Xdev, Ydev, Xte, Yte)
    state = tensor_mb(*parameters)

    def loop() -> None:
        notebook_updates(parameters, Xtr, Ytr, steps)

    if memory:
        with tracked_tensors() as tracked:
            start = time.time_ns()
            loop()
            end = time.time_ns()
        peak = peak_mb(tracked["events"], start, end, data + state)
        return {"peak_tensor_mb": peak, "data_mb": data, "state_mb": state}
    started = time.perf_counter()
    loop()
    wall = time.perf_counter() - started

    def nll(X, Y):
        with torch.no_grad():
            emb = C[X]
            h = torch.tanh(emb.view(-1, 6) @ W1 + b1)
            return F.cross_entropy(h @ W2 + b2, Y).item()

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
        "state_mb": state,
    }


def child_charlm(overrides: list[str], threads: int, memory: bool = False) -> dict:
    """charlm-train with `overrides`, in this process; times the fit and the first val <= TARGET.

    With `memory`, the run goes under allocation tracking and the peak during fit is returned.
    """
    import lightning as L
    import torch

    import charlm

    class TimeToTarget(L.Callback):
        def on_train_start(self, trainer, pl_module):
            self.start, self.reached = time.perf_counter(), None

        def on_validation_end(self, trainer, pl_module):
            val = trainer.callback_metrics.get("val/loss")
            if self.reached is None and val is not None and float(val) <= TARGET:
                self.reached = (time.perf_counter() - self.start, trainer.global_step, float(val))

    class Footprint(L.Callback):
        """When fit starts and ends, and the bytes of the data, model and optimiser state."""

        def on_fit_start(self, trainer, pl_module):
            self.start = time.time_ns()

        def on_fit_end(self, trainer, pl_module):
            self.end = time.time_ns()
            splits = trainer.datamodule.splits.values()
            self.data_mb = tensor_mb(*(t for pair in splits for t in pair))
            optimizer_state = [
                v
                for opt in trainer.optimizers
                for state in opt.state.values()
                for v in state.values()
                if isinstance(v, torch.Tensor)
            ]
            self.state_mb = tensor_mb(*pl_module.parameters(), *optimizer_state)

    baseline = rss_mb()
    timer, footprint = TimeToTarget(), Footprint()
    args = [f"data.path={CORPUS}", f"num_threads={threads}", *overrides]
    with tempfile.TemporaryDirectory() as tmp:
        if memory:
            with tracked_tensors() as tracked:
                charlm.fit(None, args, root=tmp, quiet=True, callbacks=[footprint])
            # Nothing is live before the config is composed: the run builds its own tensors.
            peak = peak_mb(tracked["events"], footprint.start, footprint.end, 0.0)
            return {
                "peak_tensor_mb": peak,
                "data_mb": footprint.data_mb,
                "state_mb": footprint.state_mb,
            }
        metrics = charlm.fit(None, args, root=tmp, quiet=True, callbacks=[timer]).metrics
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


def run_child(
    kind: str, args: argparse.Namespace, overrides: list[str] | None = None, steps: int = 0
) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--steps", str(steps or args.steps),
           "--threads", str(args.threads), *(["--"] + overrides if overrides else [])]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        sys.exit(f"{kind} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # One line per run as it ends, so that a long benchmark shows its progress.
    shown = ", ".join(f"{k} {v:.4g}" for k, v in result.items() if isinstance(v, float))
    print(f"  [{kind} {' '.join(overrides or [])}] {shown}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--memory-steps", type=int, default=5_000)
    parser.add_argument("--diagnostics-only", action="store_true")
    parser.add_argument("--child", choices=["plain", "charlm", "plain-memory", "charlm-memory"])
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.child:
        memory = args.child.endswith("-memory")
        if args.child.startswith("plain"):
            result = child_plain(args.steps, args.threads, memory)
        else:
            result = child_charlm(args.overrides, args.threads, memory)
        print(json.dumps(result))
        return
    if not CORPUS.is_file():
        sys.exit("data/civil_mots.txt is missing: run `make data`")

    half = args.steps // 2
    recipe = ["experiment=bengio2003", f"model.scheduler.milestones=[{half}]"]
    # Alternate the two and keep each one's fastest run: other work on the machine slows
    # whichever run it overlaps, and the fastest run is the least disturbed.
    plains, ourss, diags = [], [], []
    for _ in range(args.repeat):
        if not args.diagnostics_only:
            plains.append(run_child("plain", args))
        ourss.append(run_child("charlm", args, [*recipe, f"trainer.max_steps={args.steps}"]))
        diags.append(
            run_child(
                "charlm", args, [*recipe, f"trainer.max_steps={args.steps}", "diagnostics=on"]
            )
        )
    ours = max(ourss, key=lambda r: r["steps_per_s"])
    diag = max(diags, key=lambda r: r["steps_per_s"])
    for name, runs in (("diagnostics off", ourss), ("diagnostics=on", diags)):
        print(
            f"  charlm bengio2003, {name} steps/s: "
            + ", ".join(f"{r['steps_per_s']:.0f}" for r in runs)
        )
    print(
        f"speed ratio diagnostics on / off (steps/s):   {diag['steps_per_s'] / ours['steps_per_s']:.2f}"
        f" (test NLL {diag['test_nll']:.4f} on, {ours['test_nll']:.4f} off)"
    )
    if args.diagnostics_only:
        return
    plain = max(plains, key=lambda r: r["steps_per_s"])
    fast = run_child("charlm", args, ["experiment=mlp_fast"])
    memory_run = [f"trainer.max_steps={args.memory_steps}", "trainer.val_check_interval=1000"]
    plain_memory = run_child("plain-memory", args, steps=args.memory_steps)
    ours_memory = run_child("charlm-memory", args, [*recipe, *memory_run])

    rows = [("plain loop", plain), ("charlm bengio2003", ours), ("charlm mlp_fast", fast)]
    print(f"threads: {args.threads}; steps: {args.steps}; fastest of {args.repeat} runs each")
    for name, runs in (("plain loop", plains), ("charlm bengio2003", ourss)):
        print(f"  {name} steps/s: " + ", ".join(f"{r['steps_per_s']:.0f}" for r in runs))
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
        f"peak live tensors while training ({args.memory_steps} steps, charlm validating "
        "after every chunk):"
    )
    for name, r in (("plain loop", plain_memory), ("charlm bengio2003", ours_memory)):
        base = r["data_mb"] + r["state_mb"]
        print(
            f"  {name:<18} {r['peak_tensor_mb']:.3f} MB; data {r['data_mb']:.3f} MB + model and "
            f"optimiser state {r['state_mb'] * 1024:.1f} KiB = {base:.3f} MB; "
            f"ratio {r['peak_tensor_mb'] / base:.2f}"
        )
    print(
        f"peak RSS growth (libraries included): plain {plain['rss_growth_mb']:.0f} MB, "
        f"charlm {ours['rss_growth_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
