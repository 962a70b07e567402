"""Benchmark: a Transformer writing 2,000 characters of text, with its key/value cache and
without (`TransformerLM.text_cache`), the same passage either way for a seed.

For each checkpoint given (or, with none, freshly built Transformers the size of
experiment=shakespeare_transformer and of nanoGPT's Shakespeare GPT: the speed of sampling does
not depend on training), prints characters per second both ways, their ratio, and whether the
two passages are the same.

    .venv/bin/python bench/text_sampling.py [CKPT ...] [--length 2000] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch


def models(paths: list[str]) -> list[tuple[str, torch.nn.Module]]:
    from charlm import load_model
    from charlm.data.vocab import TextVocabulary
    from charlm.models import TransformerLM

    if paths:
        return [(p, load_model(p)) for p in paths]
    vocab = TextVocabulary("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    torch.manual_seed(0)
    built = [
        ("4x128, context 64", TransformerLM(len(vocab), 64, num_layers=4, n_head=4, emb_size=128)),
        ("6x384, context 256", TransformerLM(len(vocab), 256, num_layers=6, n_head=6, emb_size=384)),
    ]  # fmt: skip
    for _, model in built:
        model.vocab = vocab
    return built


def write(model: torch.nn.Module, length: int, cached: bool) -> tuple[float, str]:
    model.text_cache = cached
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    (passage,) = model.sample_text("\n", length, generator=generator)
    return length / (time.perf_counter() - started), passage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*")
    parser.add_argument("--length", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.length} characters, one passage, {args.threads} threads")
    print(f"{'model':<24}{'no cache':>14}{'cache':>14}{'ratio':>8}  same passage")
    for name, model in models(args.checkpoints):
        model.eval()
        write(model, 50, True)  # warm up
        plain, a = write(model, args.length, cached=False)
        cached, b = write(model, args.length, cached=True)
        print(f"{name:<24}{plain:>10.0f} c/s{cached:>10.0f} c/s{cached / plain:>7.1f}x  {a == b}")


if __name__ == "__main__":
    main()
