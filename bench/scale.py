"""Benchmark: how each stage of a run grows from civil_mots.txt to a word list 50x larger.

For each word list, in fresh processes:
  data   reading the list, the vocabulary, the split, the context windows (seconds), the
         bytes of the window tensors and the process's peak RSS after building them
  train  a short bengio2003 run (`--steps` updates, a validation every `--val-every`):
         seconds per update, seconds per validation, and the run's peak RSS

    make bench-scale                          # civil_mots.txt and /usr/share/dict/french
    .venv/bin/python bench/scale.py LIST[:BOUNDARY] ...   # other lists ('#' if '.' is in words)

The large list is Debian's French word list (`apt-get install wfrench`); it is not committed.
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
DEFAULT_LISTS = [f"{ROOT / 'data' / 'civil_mots.txt'}:.", "/usr/share/dict/french:#"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_data(path: str, boundary: str) -> dict:
    from charlm.data import Vocabulary, context_windows, load_words, split_words

    started = time.perf_counter()
    words = load_words(path)
    loaded = time.perf_counter()
    vocab = Vocabulary.from_words(words, boundary=boundary)
    parts = split_words(words)
    split = time.perf_counter()
    tensors = [t for part in parts for t in context_windows(part, vocab, 3)]
    windowed = time.perf_counter()
    return {
        "words": len(words),
        "windows": sum(len(t) for t in tensors[1::2]),
        "load_s": loaded - started,
        "split_s": split - loaded,
        "windows_s": windowed - split,
        "window_mb": sum(t.numel() * t.element_size() for t in tensors) / 2**20,
        "data_rss_mb": peak_rss_mb(),
    }


def child_train(path: str, boundary: str, steps: int, val_every: int) -> dict:
    import lightning as L

    import charlm

    class Timer(L.Callback):
        def __init__(self) -> None:
            self.train_s, self.val_s, self.validations = 0.0, 0.0, 0

        def on_train_batch_start(self, *args) -> None:
            self.t = time.perf_counter()

        def on_train_batch_end(self, *args) -> None:
            self.train_s += time.perf_counter() - self.t

        def on_validation_start(self, *args) -> None:
            self.v = time.perf_counter()

        def on_validation_end(self, *args) -> None:
            self.val_s += time.perf_counter() - self.v
            self.validations += 1

    timer = Timer()
    overrides = [
        f"data.path={path}",
        f"data.boundary='{boundary}'",
        f"trainer.max_steps={steps}",
        f"trainer.val_check_interval={val_every}",
        "logger=none",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        charlm.fit("bengio2003", overrides, root=tmp, quiet=True, callbacks=[timer])
        wall = time.perf_counter() - started
    return {
        "update_ms": 1000 * timer.train_s / steps,
        "validation_s": timer.val_s / max(timer.validations, 1),
        "run_s": wall,
        "train_rss_mb": peak_rss_mb(),
    }


def run_child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lists", nargs="*", default=DEFAULT_LISTS, help="PATH[:BOUNDARY]")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--val-every", type=int, default=1000)
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, path, boundary, *rest = args.child
        result = (
            child_data(path, boundary)
            if kind == "data"
            else child_train(path, boundary, *map(int, rest))
        )
        print(json.dumps(result))
        return

    rows = []
    for spec in args.lists:
        path, _, boundary = spec.partition(":")
        if not Path(path).is_file():
            sys.exit(f"{path} not found (the large list: apt-get install wfrench)")
        boundary = boundary or "."
        data = run_child("data", path, boundary)
        fit = run_child("train", path, boundary, str(args.steps), str(args.val_every))
        rows.append((Path(path).name, {**data, **fit}))

    print(f"bengio2003, {args.steps} updates, a validation every {args.val_every}")
    header = ("list", "words", "windows", "load s", "split s", "windows s", "windows MB",
              "RSS data MB", "ms/update", "s/validation", "RSS train MB", "run s")  # fmt: skip
    print("  ".join(f"{h:>12}" for h in header))
    for name, r in rows:
        cells = (name, r["words"], r["windows"], f"{r['load_s']:.3f}", f"{r['split_s']:.3f}",
                 f"{r['windows_s']:.3f}", f"{r['window_mb']:.1f}", f"{r['data_rss_mb']:.0f}",
                 f"{r['update_ms']:.3f}", f"{r['validation_s']:.3f}", f"{r['train_rss_mb']:.0f}",
                 f"{r['run_s']:.1f}")  # fmt: skip
        print("  ".join(f"{c:>12}" for c in cells))
    if len(rows) > 1:
        (a_name, a), (b_name, b) = rows[0], rows[-1]
        print(f"growth {a_name} -> {b_name}:")
        for key, label in (("windows", "windows"), ("load_s", "load"), ("windows_s", "windows built"),
                           ("window_mb", "window tensors"), ("update_ms", "time per update"),
                           ("validation_s", "time per validation")):  # fmt: skip
            print(f"  {label:<22} x{b[key] / a[key]:.1f}")
        extra = (b["train_rss_mb"] - b["data_rss_mb"], a["train_rss_mb"] - a["data_rss_mb"])
        print(f"  peak RSS of training   {a['train_rss_mb']:.0f} -> {b['train_rss_mb']:.0f} MB"
              f" (beyond the data build: {extra[1]:.0f} -> {extra[0]:.0f} MB)")  # fmt: skip


if __name__ == "__main__":
    main()
