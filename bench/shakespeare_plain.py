"""Benchmark: charlm's nanoGPT-protocol recipe against a plain PyTorch loop of the same model,
data and time (`make bench-shakespeare`, about 25 minutes on an idle machine).

  plain    a hand-written loop: tinyshakespeare.txt's characters as ids, the first 90% for
           training, random blocks drawn with a torch.Generator, the same network
           (`charlm.models.RecurrentLM`, a plain nn.Module), AdamW with weight decay on the
           weight matrices, gradient clipping, warm-up then a cosine over the wall-clock
           budget, the clock read before every update, bfloat16 autocast where the CPU has
           bfloat16 instructions, an exponential moving average of the weights after every 10
           updates; then the average scored on the last 10% in non-overlapping blocks, every
           character after the split's first predicted once
  charlm   `charlm-train experiment=shakespeare_nanogpt` with the same seed and budget

Both train for `--budget` seconds with the same threads, one after the other, and the script
prints each one's updates and its NLL per character on the last 10% (nats), and charlm minus
plain. Run it on an idle machine: a run bounded by time loses updates beside another job.

    .venv/bin/python bench/shakespeare_plain.py [--budget 600] [--seed 0] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = ROOT / "data" / "tinyshakespeare.txt"
# experiment=shakespeare_nanogpt's recipe, written out.
BLOCK, BATCH, LR, WEIGHT_DECAY, WARMUP, FINAL_RATIO, CLIP = 256, 16, 6e-3, 0.2, 100, 0.1, 1.0
EMA_DECAY, EMA_EVERY = 0.9, 10  # an average of the weights after every 10 updates
NET = {"cell": "lstm", "emb_size": 64, "hidden_size": 512, "num_layers": 1, "dropout": 0.3}


def plain(budget_s: float, seed: int, threads: int) -> dict:
    import torch
    import torch.nn.functional as F

    from charlm.config import native_bf16_precision
    from charlm.models import RecurrentLM

    # The recipe's precision: bfloat16 autocast where the CPU has bfloat16 instructions.
    bf16 = native_bf16_precision() == "bf16-mixed"
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    text = TEXT.read_text(encoding="utf-8")
    itos = sorted(set(text))
    stoi = {c: i for i, c in enumerate(itos)}
    ids = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    cut = int(0.9 * len(ids))
    train, test = ids[:cut], ids[cut:]
    net = RecurrentLM(len(itos), BLOCK, **NET)
    matrices = [p for n, p in net.named_parameters() if p.dim() >= 2 and not n.startswith("C.")]
    others = [p for n, p in net.named_parameters() if p.dim() < 2 or n.startswith("C.")]
    optimizer = torch.optim.AdamW(
        [{"params": matrices, "weight_decay": WEIGHT_DECAY}, {"params": others, "weight_decay": 0}],
        lr=LR, foreach=True,
    )  # fmt: skip
    average = torch.optim.swa_utils.AveragedModel(
        net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(EMA_DECAY), use_buffers=True
    )
    draws = torch.Generator().manual_seed(seed)
    offsets = torch.arange(BLOCK + 1)
    net.train()
    updates, started = 0, time.monotonic()
    while (elapsed := time.monotonic() - started) < budget_s:
        warm = min(1.0, (updates + 1) / (WARMUP + 1))
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed / budget_s)))
        for group in optimizer.param_groups:
            group["lr"] = LR * warm * (FINAL_RATIO + (1 - FINAL_RATIO) * cosine)
        starts = torch.randint(0, len(train) - BLOCK - 1, (BATCH, 1), generator=draws)
        rows = train[starts + offsets]  # (batch, block + 1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = net(rows[:, :-1])  # (batch, block, vocab)
        loss = F.cross_entropy(logits.float().flatten(0, 1), rows[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), CLIP)
        optimizer.step()
        updates += 1
        if updates % EMA_EVERY == 0:
            average.update_parameters(net)
    train_s = time.monotonic() - started
    net = average.module  # scored: the average
    net.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(test) - 1, BLOCK):
            x, y = test[s : s + BLOCK][None], test[s + 1 : s + BLOCK + 1][None]
            x = x[:, : y.shape[1]]
            total += F.cross_entropy(net(x)[0], y[0], reduction="sum").item()
            count += y.shape[1]
    return {"updates": updates, "train_s": train_s, "test_loss": total / count, "bf16": bf16}


def charlm(budget_s: float, seed: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        done = subprocess.run(
            [str(Path(sys.executable).parent / "charlm-train"), "experiment=shakespeare_nanogpt",
             f"seed={seed}", f"time_budget_s={budget_s}", f"num_threads={threads}",
             f"data.path={TEXT}", "callbacks.progress_bar=null", "logger=none",
             "final_eval=[test]", f"hydra.run.dir={run_dir}"],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"charlm-train failed:\n{done.stderr[-3000:]}")
        metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "updates": metrics["steps"],
        "train_s": metrics.get("train_time_s"),
        "test_loss": metrics["test"]["loss"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=600.0, help="training seconds each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=["plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(plain(args.budget, args.seed, args.threads)))
        return
    if not TEXT.is_file():
        raise SystemExit(f"{TEXT} is missing: run `make data`")
    print(f"tinyshakespeare.txt, first 90% -> last 10%, {args.budget:g} s of training each, "
          f"{args.threads} threads, seed {args.seed}", flush=True)  # fmt: skip
    out = subprocess.run(
        [sys.executable, __file__, "--child", "plain", "--budget", str(args.budget),
         "--seed", str(args.seed), "--threads", str(args.threads)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"the plain loop failed:\n{out.stderr[-3000:]}")
    rows = {"plain": json.loads(out.stdout.strip().splitlines()[-1])}
    print(f"plain   {rows['plain']['updates']:6,} updates   last 10% {rows['plain']['test_loss']:.4f}"
          f"   ({'bfloat16' if rows['plain']['bf16'] else 'float32'})", flush=True)  # fmt: skip
    rows["charlm"] = charlm(args.budget, args.seed, args.threads)
    print(
        f"charlm  {rows['charlm']['updates']:6,} updates   last 10% {rows['charlm']['test_loss']:.4f}"
    )
    print(
        f"charlm - plain: {rows['charlm']['test_loss'] - rows['plain']['test_loss']:+.4f} nats/char"
    )


if __name__ == "__main__":
    main()
