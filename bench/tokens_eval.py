"""Benchmark: evaluating a model of 15,000 BPE tokens over every split, with bounded memory.

The course's TP3 computes the logits of its whole training split at once and dies asking for
64.9 GB. charlm evaluates in batches of `data.eval_batch_size` predictions. This evaluates a
checkpoint (`--ckpt`, e.g. an `experiment=tp3` run's) with `charlm-eval`'s own function, or,
without one, the course's network untrained over tinyshakespeare.txt's lines and a tokenizer
trained on them, in a child process; it prints each split's time and figures and the
process's peak resident memory (RSS), beside the size of the logits the notebook asked for.

    .venv/bin/python bench/tokens_eval.py [--ckpt RUN/checkpoints/last.ckpt]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = ROOT / "data" / "tinyshakespeare.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", help="a checkpoint of a lines model (default: the course's MLP)")
    parser.add_argument("--vocab-size", type=int, default=15000)
    # tinyshakespeare.txt's training lines hold about 13,600 tokens of frequency >= 2; 1
    # lets the tokenizer reach 15,000.
    parser.add_argument("--min-frequency", type=int, default=2)
    args = parser.parse_args()
    import torch

    from charlm import load_model
    from charlm.data.datamodule import LinesDataModule
    from charlm.data.registry import checked_data
    from charlm.metrics import evaluate_lm, per_character
    from charlm.models import BengioMLP

    torch.set_num_threads(2)
    started = time.perf_counter()
    if args.ckpt:
        model = load_model(args.ckpt)
        data, _ = checked_data(model)
        stored = model.config["data"]
        datamodule = LinesDataModule(
            data.paths, data.units, clean=stored.get("clean"),
            context_size=int(stored["context_size"]), split=data.split,
            split_seed=data.split_seed, eval_batch_size=int(stored["eval_batch_size"]),
            contract=model.data_contract, vocab=model.vocab,
        )  # fmt: skip
    else:
        options = {"vocab_size": args.vocab_size, "min_frequency": args.min_frequency}
        datamodule = LinesDataModule(TEXT, tokenizer=options, context_size=5)
        datamodule.setup()
        model = BengioMLP(len(datamodule.vocab), 5, emb_size=10, hidden_size=128, init="randn")
        model.vocab = datamodule.vocab
    print(
        f"vocabulary {len(model.vocab)} tokens; data ready in {time.perf_counter() - started:.1f} s"
    )
    for split in ("train", "val", "test"):
        t = time.perf_counter()
        figures = per_character(
            evaluate_lm(model, datamodule.eval_dataloader(split)),
            datamodule.split_characters(split),
        )
        windows = figures["windows"]
        naive = windows * len(model.vocab) * 4 / 1e9
        print(
            f"{split:<5} {windows:>8} predictions in {time.perf_counter() - t:6.1f} s: "
            f"loss {figures['loss']:.4f} per token, {figures['char_loss']:.4f} per character, "
            f"bpc {figures['bpc']:.4f} (all logits at once: {naive:.1f} GB)"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MB")


if __name__ == "__main__":
    main()
