"""A word list: one word per line, each word a sequence ending with the boundary token `.`."""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from charlm.data.batches import TensorSlices
from charlm.data.corpus import distinct_words, load_words, split_words, words_digest
from charlm.data.kinds import WORD_MAX_LEN, SequenceKind, novelty, readable_nll
from charlm.data.scoring import rows_out
from charlm.data.vocab import BOUNDARY, Vocab, Vocabulary
from charlm.errors import CharlmError

log = logging.getLogger(__name__)

COLUMNS = ("word", "nll", "nll_per_char", "ppl", "split", "note")
# Predictions a batch of charlm-eval's words=FILE holds.
FILE_PREDICTIONS = 8192


class WordList(SequenceKind):
    """The distinct words of a file, split as the notebooks split them."""

    kind = "words"
    what = "word list"
    described = "a word list"
    digest_key, size_key = "words_sha256", "words"
    config_keys = ("split", "split_seed", "boundary")
    score_option = "words"
    scores_by_split = True
    sort_keys = ("nll", "nll_per_char", "ppl", "word")
    unit = "words"
    max_len = WORD_MAX_LEN

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        vocab: Vocab | None = None,
        split: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 42,
        boundary: str = BOUNDARY,
        read: Any = None,
    ) -> None:
        super().__init__(path, vocab, split, split_seed)
        self.boundary = boundary
        # Where the words come from: `load_words(path)`, or a DataModule's `read_words`.
        self.read = read or (lambda: load_words(self.path))
        self.words: list[str] = []

    def _load(self) -> None:
        words, repeats = distinct_words(self.read())
        if repeats:
            log.warning(
                "%s: %d repeated words dropped (%d distinct kept): each word is split once, so "
                "no held-out word is a copy of a training word",
                self.path, repeats, len(words),
            )  # fmt: skip
        spaced = [w for w in words if any(c.isspace() for c in w)]
        if spaced:
            log.warning(
                "%s: %d lines hold spaces or tabs (e.g. %r): each line is one word, so the "
                "space or tab is trained as a character; give one word per line",
                self.path, len(spaced), spaced[0],
            )  # fmt: skip
        self.words = words
        if self.vocab is None:
            self.vocab = Vocabulary.from_words(words, boundary=self.boundary)
        parts = split_words(words, self.split, self.split_seed)
        self.parts = dict(zip(("train", "val", "test"), parts, strict=True))

    def check_vocab(self) -> None:
        self.load()
        if self.given_vocab:
            self.vocab.check_words(self.words, f"word list {self.path}")

    def identity(self) -> dict[str, Any]:
        """The SHA-256 of the distinct words, their count, and the size of each split."""
        self.load()
        return {
            "kind": self.kind,
            "words_sha256": words_digest(self.words),
            "words": len(self.words),
            "split_sizes": [len(self.parts[name]) for name in ("train", "val", "test")],
        }

    # --- charlm-eval words=FILE -----------------------------------------------------------

    def file_batches(self, model: Any, path: str, unknown: str) -> Any:
        """charlm-eval's `words=FILE`: the words of `path` the model can read, as batches;
        the others are reported on standard error and skipped (`unknown="skip"`), or refuse
        the file (`"error"`)."""
        extra = load_words(path)
        if unknown == "error":
            model.vocab.check_words(extra, f"word list {path}")
        skipped = [w for w in extra if model.vocab.unknown(w)]
        if skipped:
            shown = ", ".join(f"{w!r} ({''.join(model.vocab.unknown(w))!r})" for w in skipped[:5])
            more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            print(
                f"charlm-eval: skipped {len(skipped)} of {len(extra)} words of {path} with "
                f"characters outside the model's vocabulary: {shown}{more}",
                file=sys.stderr,
            )
            extra = [w for w in extra if not model.vocab.unknown(w)]
        long = [w for w in extra if model.too_long(w)]
        if long:
            print(
                f"charlm-eval: skipped {len(long)} word(s) of {path} longer than the model reads "
                f"(at most {model.max_word_length} characters)",
                file=sys.stderr,
            )
            extra = [w for w in extra if not model.too_long(w)]
        if not extra:
            raise CharlmError(f"no word of {path} can be scored: all hold unknown characters")
        x, y = model.examples(extra)
        return TensorSlices(x, y, batch_size=max(1, FILE_PREDICTIONS // y[0].numel()))

    # --- charlm-score ---------------------------------------------------------------------

    def read_input(self, path: str | None) -> tuple[list[str], str]:
        from charlm.data.corpus import words_from_bytes

        if path in (None, "", "-"):
            return words_from_bytes(sys.stdin.buffer.read(), "standard input"), "standard input"
        return load_words(path), str(path)

    def score(self, model: Any, inputs: Sequence[str], source: str) -> tuple[list[dict], dict]:
        """Each word's NLL, tagged against the split when the run's word list is at hand."""
        rows = score_words(model, inputs, self.parts if self.loaded else None)
        return rows, summary(rows)

    def render(self, rows: Sequence[Mapping[str, Any]], totals: Mapping[str, Any], fmt: str) -> str:
        return render_words(rows, totals, fmt)

    def tagged(self, samples: Sequence[str], tags: Sequence[str]) -> str:
        """Words beside their tags, aligned."""
        width = max(len(w) for w in samples)
        return "\n".join(f"{w:<{width}}  {t}" for w, t in zip(samples, tags, strict=True))


def score_words(
    model: Any, words: Sequence[str], splits: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """One row per word, in order: total NLL (nats, end token included), NLL per character,
    perplexity, and 'train', 'held-out' or 'new' against `splits`. A word with characters
    outside the model's vocabulary has no figures and a note naming them."""
    vocab = model.require_vocab()
    tags = novelty(words, splits or {})
    totals = readable_nll(model, words)
    rows = []
    for word, tag in zip(words, tags, strict=True):
        row: dict[str, Any] = {"word": word, "split": tag if splits is not None else None}
        bad = vocab.unknown(word)
        long = model.too_long(word)
        if bad or long:
            row.update(nll=None, nll_per_char=None, ppl=None)
            row["note"] = (
                f"not scored: characters outside the vocabulary: {''.join(bad)!r}"
                if bad
                else f"not scored: {long}"
            )
        else:
            nll = totals[word]
            per_char = nll / (len(word) + 1)
            row.update(nll=nll, nll_per_char=per_char, ppl=math.exp(per_char), note="")
        rows.append(row)
    return rows


def summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals over the scored words: the NLL per character is charlm-eval's loss on them."""
    scored = [r for r in rows if r["nll"] is not None]
    chars = sum(len(r["word"]) + 1 for r in scored)
    total = sum(r["nll"] for r in scored)
    per_char = total / chars if chars else None
    return {
        "words": len(rows),
        "scored": len(scored),
        "not_scored": len(rows) - len(scored),
        "characters": chars,
        "nll": total,
        "nll_per_char": per_char,
        "ppl": math.exp(per_char) if per_char is not None else None,
    }


def render_words(rows: Sequence[Mapping[str, Any]], totals: Mapping[str, Any], fmt: str) -> str:
    """The rows as an aligned table with a totals line, as CSV, or as JSON."""
    lines = rows_out(rows, totals, fmt, COLUMNS, "words")
    if isinstance(lines, str):
        return lines
    line = f"{totals['scored']} of {totals['words']} words scored" + (
        f" ({totals['not_scored']} not: see their notes)" if totals["not_scored"] else ""
    )
    if totals["nll_per_char"] is not None:
        line += (
            f"; total NLL {totals['nll']:.4f} over {totals['characters']} characters: "
            f"{totals['nll_per_char']:.4f} per character, perplexity {totals['ppl']:.4f}"
        )
    return "\n".join([*lines, line])
