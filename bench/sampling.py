"""Benchmark: sampling 1,000 words one at a time (the notebooks' loop) against all together.

For each checkpoint given (or, with none, freshly built models of each family: the speed of
sampling does not depend on training), prints words per second both ways and their ratio.
One at a time runs one forward pass per character of each word; batched runs one per
character position for all the words, with a recurrent state or a key/value cache.

    .venv/bin/python bench/sampling.py [CKPT ...] [--n 1000] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch


def models(paths: list[str]) -> list[tuple[str, torch.nn.Module]]:
    from charlm import Vocabulary, load_model, load_words
    from charlm.models import BengioMLP, FeedForwardLM, RecurrentLM, TransformerLM

    if paths:
        return [(p, load_model(p)) for p in paths]
    vocab = Vocabulary.from_words(load_words("data/civil_mots.txt"))
    v = len(vocab)
    built = [
        ("BengioMLP (bengio2003)", BengioMLP(v, 3, 2, 100, seed=0)),
        ("FeedForwardLM (mlp_best)", FeedForwardLM(v, 10, 32, [1024] * 4, dropout=0.4)),
        ("RecurrentLM gru 2x256", RecurrentLM(v, hidden_size=256, num_layers=2)),
        ("TransformerLM 4x128", TransformerLM(v, num_layers=4, n_head=4, emb_size=128)),
    ]
    for _, model in built:
        model.vocab = vocab
    return built


def words_per_second(model: torch.nn.Module, n: int, batched: bool) -> tuple[float, float]:
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    words = model.sample(n, generator=generator, batched=batched, max_len=30)
    seconds = time.perf_counter() - started
    return n / seconds, sum(map(len, words)) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.n} words, max 30 characters, {args.threads} threads")
    print(f"{'model':<28}{'one at a time':>16}{'batched':>12}{'ratio':>8}{'mean length':>13}")
    for name, model in models(args.checkpoints):
        model.eval()
        loop, length = words_per_second(model, args.n, batched=False)
        together, _ = words_per_second(model, args.n, batched=True)
        print(
            f"{name:<28}{loop:>12.0f} w/s{together:>8.0f} w/s{together / loop:>7.1f}x{length:>13.1f}"
        )


if __name__ == "__main__":
    main()
