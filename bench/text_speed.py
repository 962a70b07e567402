"""Benchmark: training throughput on running text, charlm against a plain PyTorch loop.

For each model (the Transformer and the GRU of the shakespeare experiments), in one go and
each in its own process, taking turns `--repeat` times:
  plain    a plain loop: the same `charlm.models` network, AdamW, gradient clipping, the
           same random blocks of tinyshakespeare.txt (`charlm.data.text.TextBlocks`)
  charlm   charlm-train on data=shakespeare with the same model, optimiser and blocks
Both are timed chunk by chunk (20 updates, after `--warmup` updates), Lightning's per-chunk
work included for charlm, validation excluded for both. Prints characters per second, the
median over every timed chunk of every run of each (with the slowest and fastest chunk: this
machine's speed drifts by 10% from one chunk to the next, so the fastest run of each would
compare two draws of that drift), and the ratio of the medians.

    .venv/bin/python bench/text_speed.py [--updates N] [--threads T] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = ROOT / "data" / "tinyshakespeare.txt"

MODELS = {
    "transformer": [
        "model=transformer", "model.net.num_layers=4", "model.net.n_head=4",
        "model.net.emb_size=128", "model.net.dropout=0.0",
    ],
    "gru": [
        "model=gru", "model.net.num_layers=1", "model.net.hidden_size=512",
        "model.net.emb_size=64", "model.net.dropout=0.0",
    ],
}  # fmt: skip
BLOCK, BATCH, LR = 128, 32, 3e-3


def compose(root: Path, *overrides: str):
    """charlm-train's config with `overrides`, its run directory under `root`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import open_dict

    from charlm.config import config_dir, register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = hydra_compose(config_name="train", overrides=list(overrides))
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = str(root / "run")
    return cfg


def child_plain(family: str, updates: int, warmup: int, threads: int) -> dict:
    import torch
    import torch.nn.functional as F

    from charlm.data.blocks import TextBlocks, split_bounds
    from charlm.data.encoded import encode_text
    from charlm.models import RecurrentLM, TransformerLM

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    encoded = encode_text(TEXT)
    V = len(encoded.vocab)
    if family == "transformer":
        net = TransformerLM(V, BLOCK, num_layers=4, n_head=4, emb_size=128, dropout=0.0)
    else:
        net = RecurrentLM(V, BLOCK, "gru", emb_size=64, hidden_size=512, num_layers=1)
    optimizer = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=0.01, foreach=True)
    blocks = TextBlocks(encoded.ids(), split_bounds(encoded.length, (0.85, 0.05, 0.1))[0],
                        BLOCK, BATCH, steps_per_batch=20, seed=0)  # fmt: skip
    blocks.num_chunks = (updates + warmup) // 20
    done, chunks = 0, []
    for chunk in blocks:
        started = time.perf_counter()
        for i in range(chunk.updates):
            x, y = chunk.minibatch(i)
            loss = F.cross_entropy(net(x).flatten(0, 1), y.flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            done += 1
        if done > warmup:
            chunks.append(time.perf_counter() - started)
    return {"chunk_s": chunks, "loss": loss.item()}


def child_charlm(family: str, updates: int, warmup: int, threads: int) -> dict:
    import lightning as L

    from charlm.train import train

    class Clock(L.Callback):
        """Times each chunk (one Lightning batch of 20 updates) after `warmup` updates."""

        def __init__(self) -> None:
            self.start, self.chunks = 0.0, []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step > warmup:
                self.chunks.append(time.perf_counter() - self.start)

    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose(
            Path(tmp), "data=shakespeare", f"data.path={TEXT}", *MODELS[family],
            f"data.block_size={BLOCK}", f"data.batch_size={BATCH}", "data.steps_per_batch=20",
            f"model.optimizer.lr={LR}", "model/scheduler=none", "trainer.gradient_clip_val=1.0",
            f"trainer.max_steps={warmup + updates}", f"trainer.val_check_interval={warmup + updates}",
            "logger=none", "callbacks.progress_bar=null", "callbacks.sample_words=null",
            "callbacks.embedding_plot=null", f"num_threads={threads}", "seed=0",
            "final_eval=[val]",
        )  # fmt: skip
        metrics = train(cfg, extra_callbacks=[clock])
    return {"chunk_s": clock.chunks, "loss": metrics["val"]["loss"]}


def run_child(kind: str, family: str, args: argparse.Namespace) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--family", family,
         "--updates", str(args.updates), "--warmup", str(args.warmup),
         "--threads", str(args.threads)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{kind} {family} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=100)
    # Both multiples of charlm's chunk (20 updates), whose boundaries charlm is timed at.
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--families", default="transformer,gru")
    parser.add_argument("--child", choices=["plain", "charlm"])
    parser.add_argument("--family", default="transformer")
    args = parser.parse_args()
    if args.updates % 20 or args.warmup % 20:
        parser.error("--updates and --warmup must be multiples of 20 (charlm's chunk)")
    if args.child:
        child = child_plain if args.child == "plain" else child_charlm
        print(json.dumps(child(args.family, args.updates, args.warmup, args.threads)))
        return
    if not TEXT.is_file():
        raise SystemExit(f"{TEXT} is missing: run `make data`")
    print(f"{args.updates} timed updates of {BATCH} blocks x {BLOCK} characters, "
          f"{args.threads} threads, {args.repeat} runs of each, taking turns: characters/s, "
          "the median chunk of 20 updates (slowest - fastest)")  # fmt: skip
    for family in args.families.split(","):
        rates: dict[str, list[float]] = {"plain": [], "charlm": []}
        for _ in range(args.repeat):
            for kind in ("plain", "charlm"):
                chunks = run_child(kind, family, args)["chunk_s"]
                rates[kind] += [20 * BATCH * BLOCK / s for s in chunks]
        median = {kind: statistics.median(r) for kind, r in rates.items()}
        print(f"{family:<12}" + "".join(
            f" {kind} {median[kind]:7,.0f} ({min(r):,.0f} - {max(r):,.0f})"
            for kind, r in rates.items()
        ) + f"   charlm / plain {median['charlm'] / median['plain']:.3f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
