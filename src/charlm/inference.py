"""What a trained model is asked once trained: its metrics on its own splits, on a word list or
on a text, and how new the words it samples are. The commands (`charlm-eval`, `charlm-sample`,
`charlm-score`, `charlm-report`) and the notebooks call these; they import no command.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from charlm.checkpoint import (
    RESPLIT_NOTE,
    checkpoint_lines,
    checkpoint_split,
    checkpoint_text,
    is_lines_model,
    is_text_model,
    load_model,
    text_block_size,
)
from charlm.data.batches import TensorSlices
from charlm.data.corpus import load_words
from charlm.errors import CharlmError
from charlm.metrics import evaluate_lm, per_character
from charlm.models.base import CharLM

NOVELTY = ("train", "held-out", "new")
# Words drawn and printed at a time: a large n streams out instead of waiting in memory.
WORDS_PER_CHUNK = 10_000


def novelty(samples: Iterable[str], splits: Mapping[str, Iterable[str]]) -> list[str]:
    """For each sample: 'train' if a training word, 'held-out' if a val/test word, else 'new'."""
    train = set(splits.get("train", ()))
    held_out = set(splits.get("val", ())) | set(splits.get("test", ()))
    return ["train" if w in train else "held-out" if w in held_out else "new" for w in samples]


def novelty_summary(tags: list[str] | Counter) -> str:
    """One line with the count and share of each novelty class."""
    counts = tags if isinstance(tags, Counter) else Counter(tags)
    total = sum(counts.values())
    parts = [f"{counts[k]} {k} ({counts[k] / total:.0%})" for k in NOVELTY]
    return f"novelty of {total} samples: " + ", ".join(parts)


def sample_chunks(
    model: CharLM, n: int, generator: torch.Generator, **options
) -> Iterator[list[str]]:
    """`n` words in chunks of at most WORDS_PER_CHUNK, drawn one chunk after the other from
    `generator` (so n <= WORDS_PER_CHUNK gives exactly `model.sample(n, ...)`)."""
    for start in range(0, n, WORDS_PER_CHUNK):
        yield model.sample(min(WORDS_PER_CHUNK, n - start), generator=generator, **options)


def evaluate_words(model: CharLM, words: list[str], batch_size: int = 8192) -> dict[str, float]:
    """Metrics of `model` over every character of `words`, the end token of each included.

    `batch_size` counts predictions: a batch of sequences holds that many positions.
    """
    x, y = model.examples(words)
    rows = max(1, batch_size // y[0].numel())
    return evaluate_lm(model, TensorSlices(x, y, batch_size=rows))


def evaluate_text(model: CharLM, stream, bounds: tuple[int, int], block_size: int) -> dict:
    """Metrics of a text model over one split read once (`charlm.data.text.EvalBlocks`)."""
    from charlm.data.text import EvalBlocks

    return evaluate_lm(model, EvalBlocks(stream, bounds, block_size, max(1, 16384 // block_size)))


def evaluate_checkpoint(
    ckpt: str | Path | list[str],
    words: str | Path | None = None,
    data_path: str | Path | None = None,
    unknown: str = "skip",
    resplit: bool = False,
) -> dict[str, dict[str, Any]]:
    """Metrics on the checkpoint's own train/val/test split, and on `words` if given.

    Words of `words` holding characters outside the model's vocabulary, or longer than the
    model reads, are skipped and reported on standard error (`unknown="skip"`), or refuse the
    whole file (`"error"`). `resplit` splits a word list changed since training all the same.
    """
    if unknown not in ("skip", "error"):
        raise CharlmError(f"unknown={unknown!r}: 'skip' (report and go on) or 'error'")
    model = load_model(ckpt)
    if is_text_model(model):
        if words:
            raise CharlmError(
                "words=: this model was trained on running text; score a text with "
                "charlm-score ckpt=... text=FILE"
            )
        encoded, bounds, changed = checkpoint_text(model, data_path, resplit)
        if changed:
            print(f"charlm-eval: {RESPLIT_NOTE}", file=sys.stderr)
        stream, block = encoded.ids(), text_block_size(model)
        return {
            split: evaluate_text(model, stream, span, block)
            for split, span in bounds.items()
            if span[1] - span[0] >= 2
        }
    if is_lines_model(model):
        if words:
            raise CharlmError(
                "words=: this model was trained on lines of text; score a text's lines with "
                "charlm-score ckpt=... text=FILE"
            )
        datamodule, changed = checkpoint_lines(model, data_path, resplit)
        if changed:
            print(f"charlm-eval: {RESPLIT_NOTE}", file=sys.stderr)
        return {
            split: per_character(
                evaluate_lm(model, datamodule.eval_dataloader(split)),
                datamodule.split_characters(split),
            )
            for split in ("train", "val", "test")
            if datamodule.has_split(split)
        }
    splits, changed = checkpoint_split(model, data_path, resplit)
    if changed:
        print(f"charlm-eval: {RESPLIT_NOTE}", file=sys.stderr)
    results = {split: evaluate_words(model, part) for split, part in splits.items() if part}
    if words:
        extra = load_words(words)
        if unknown == "error":
            model.vocab.check_words(extra, f"word list {words}")
        skipped = [w for w in extra if model.vocab.unknown(w)]
        if skipped:
            shown = ", ".join(f"{w!r} ({''.join(model.vocab.unknown(w))!r})" for w in skipped[:5])
            more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            print(
                f"charlm-eval: skipped {len(skipped)} of {len(extra)} words of {words} with "
                f"characters outside the model's vocabulary: {shown}{more}",
                file=sys.stderr,
            )
            extra = [w for w in extra if not model.vocab.unknown(w)]
        long = [w for w in extra if model.too_long(w)]
        if long:
            print(
                f"charlm-eval: skipped {len(long)} word(s) of {words} longer than the model reads "
                f"(at most {model.max_word_length} characters)",
                file=sys.stderr,
            )
            extra = [w for w in extra if not model.too_long(w)]
        if not extra:
            raise CharlmError(f"no word of {words} can be scored: all hold unknown characters")
        results[Path(words).name] = evaluate_words(model, extra)
    return results
