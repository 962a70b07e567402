"""Benchmark: a trained model's inference in float32, in int8 and in ONNX Runtime.

For the GRU and the Transformer of `experiment=gru` and `experiment=transformer` (trained
here when no checkpoint is given, about 10 minutes on 2 cores), exports each with
`charlm-export format=onnx quantize=int8`, then for torch float32, torch int8 (dynamic
quantisation), onnxruntime float32 and onnxruntime int8 prints:

- the test split's NLL per character (end token included), and its change against float32;
- characters per second scoring the test split (one pass over all its words);
- characters per second drawing 1,000 words together (batched) and 100 one at a time.

Each speed is the best of `--repeat` runs. Run it on an idle machine.

    .venv/bin/python bench/export_speed.py [--gru CKPT] [--transformer CKPT] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def trained(experiment: str, given: str | None, work: Path) -> Path:
    if given:
        return Path(given)
    run = work / experiment
    print(f"training experiment={experiment} into {run} ...", flush=True)
    subprocess.run(
        [str(BIN / "charlm-train"), f"experiment={experiment}", f"hydra.run.dir={run}",
         "logger=none"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return run / "checkpoints" / "last.ckpt"


def test_words(model) -> list[str]:
    from charlm.data.corpus import load_words, split_words

    data = model.config.get("data") or {}
    words = load_words(ROOT / str(data.get("path", "data/civil_mots.txt")))
    return split_words(words, tuple(data.get("split", (0.8, 0.1, 0.1))),
                       int(data.get("split_seed", 42)))[2]  # fmt: skip


def best_of(repeat: int, work) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def measure(model, words: list[str], repeat: int) -> dict[str, float]:
    characters = sum(len(w) + 1 for w in words)
    seconds, nll = best_of(repeat, lambda: model.word_nll(words))
    figures = {"nll": float(nll.sum()) / characters, "score": characters / seconds}
    for name, n, batched in (("batched", 1000, True), ("single", 100, False)):

        def draw(n=n, batched=batched):
            return model.sample(n, generator=torch.Generator().manual_seed(0), batched=batched,
                                max_len=30)  # fmt: skip

        seconds, drawn = best_of(repeat, draw)
        figures[name] = sum(len(w) + 1 for w in drawn) / seconds
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gru", help="a checkpoint of experiment=gru (default: train one)")
    parser.add_argument("--transformer", help="a checkpoint of experiment=transformer")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the figures there")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from charlm import load_model, load_onnx, quantize_int8
    from charlm.checkpoint import read_checkpoint
    from charlm.export_onnx import export_onnx
    from charlm.precision import cpu_model

    print(f"{cpu_model() or platform.processor()}, {args.threads} torch threads (onnxruntime: its default, one per "
          f"core), torch {torch.__version__}")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for experiment in ("gru", "transformer"):
            ckpt = trained(experiment, getattr(args, experiment), work)
            folder = export_onnx(read_checkpoint(ckpt), ckpt, work / f"{experiment}-onnx", "int8")
            reference = load_model(ckpt).eval()
            words = test_words(reference)
            runtimes = {
                "torch float32": reference,
                "torch int8": quantize_int8(reference),
                "onnxruntime float32": load_onnx(folder),
                "onnxruntime int8": load_onnx(folder, int8=True),
            }
            for name, model in runtimes.items():
                figures = measure(model, words, args.repeat)
                rows.append({"model": experiment, "runtime": name, **figures})
                print(json.dumps(rows[-1]), flush=True)
    print()
    print("| model | runtime | test NLL | vs float32 | scoring chars/s | sampling chars/s "
          "(1,000 batched) | sampling chars/s (one word at a time) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        base = next(r for r in rows if r["model"] == row["model"])["nll"]
        print(f"| {row['model']} | {row['runtime']} | {row['nll']:.4f} | "
              f"{row['nll'] - base:+.4f} | {row['score']:,.0f} | {row['batched']:,.0f} | "
              f"{row['single']:,.0f} |")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
