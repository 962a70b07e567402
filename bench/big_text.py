"""Benchmark: training on a text larger than memory should allow, with bounded memory.

Writes a text of `--gigabytes` GB (tinyshakespeare.txt's lines, shuffled anew for each copy,
so it is not one block repeated) under `--dir` (not in the checkout), then, in a child
process, encodes it (`charlm.data.text.encode_text`, timed) and trains charlm-train's
Transformer on it for `--updates` updates with data=text, scoring only small val and test
splits at the end (final_eval=[val,test]). Prints the encoding time, the training time and
the child's peak resident memory (RSS); the encoded ids are read from disk block by block.

    .venv/bin/python bench/big_text.py [--gigabytes 1.0] [--updates 1000] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "data" / "tinyshakespeare.txt"


def write_text(path: Path, gigabytes: float) -> None:
    lines = SOURCE.read_text(encoding="utf-8").splitlines(keepends=True)
    target = int(gigabytes * 1e9)
    rng = random.Random(0)
    written = 0
    with path.open("w", encoding="utf-8") as f:
        while written < target:
            rng.shuffle(lines)
            block = "".join(lines)
            f.write(block)
            written += len(block.encode("utf-8"))


def child(path: Path, updates: int, run_dir: Path) -> None:
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    from charlm.config import config_dir, register_resolvers
    from charlm.data.encoded import encode_text
    from charlm.train import train

    started = time.perf_counter()
    encoded = encode_text(path)
    encode_s = time.perf_counter() - started
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "data=text", f"data.path={path}", "data.split=[0.9998,0.0001,0.0001]",
                "model=transformer", "model.net.num_layers=2", "model.net.emb_size=64",
                "model.net.dropout=0.0", "data.block_size=128", "data.batch_size=32",
                f"trainer.max_steps={updates}", "logger=none", "callbacks.progress_bar=null",
                "final_eval=[val,test]", "num_threads=2",
            ],
        )  # fmt: skip
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = str(run_dir)
    metrics = train(cfg)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "characters": encoded.length, "encode_s": encode_s, "train_s": metrics["train_time_s"],
        "steps": metrics["steps"], "test_loss": metrics["test"]["loss"], "peak_rss_mb": peak,
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=1.0)
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/charlm-big-text"))
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    path = args.dir / "big.txt"
    if args.child:
        child(path, args.updates, args.dir / f"run-{time.strftime('%Y%m%d-%H%M%S')}")
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.stat().st_size < args.gigabytes * 1e9:
        started = time.perf_counter()
        write_text(path, args.gigabytes)
        print(
            f"wrote {path}: {path.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - started:.0f} s"
        )
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--dir", str(args.dir), "--updates", str(args.updates)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"{result['characters']:,} characters; encoded in {result['encode_s']:.0f} s "
        f"({result['characters'] / result['encode_s'] / 1e6:.1f} M characters/s); "
        f"{result['steps']} updates in {result['train_s']:.0f} s; test loss {result['test_loss']:.3f}; "
        f"peak RSS of the training process {result['peak_rss_mb']:,.0f} MB"
    )


if __name__ == "__main__":
    main()
