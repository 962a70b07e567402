"""`charlm-score ckpt=PATH words=FILE`: each word's NLL, NLL per character, perplexity and split.

Words with characters the model has never seen get a row saying so, and the rest are scored.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from charlm.checkpoint import RESPLIT_NOTE, DataChangedError, checkpoint_split, load_model
from charlm.config import config_dir
from charlm.data.corpus import load_words, words_from_bytes
from charlm.errors import CharlmError, check_options, check_output, report_errors
from charlm.models.base import CharLM
from charlm.sample import novelty

COLUMNS = ("word", "nll", "nll_per_char", "ppl", "split", "note")
SORT_KEYS = ("nll", "nll_per_char", "ppl", "word")
# Words scored in one forward pass: bounds the memory of a long list.
WORDS_PER_PASS = 4096


def score_words(
    model: CharLM, words: Sequence[str], splits: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, Any]]:
    """One row per word, in order: total NLL (nats, end token included), NLL per character,
    perplexity, and 'train', 'held-out' or 'new' against `splits`. A word with characters
    outside the model's vocabulary has no figures and a note naming them."""
    vocab = model._require_vocab()
    tags = novelty(words, splits or {})
    known = [w for w in words if not vocab.unknown(w) and not model.too_long(w)]
    totals: dict[str, float] = {}
    for start in range(0, len(known), WORDS_PER_PASS):
        batch = known[start : start + WORDS_PER_PASS]
        totals.update(zip(batch, model.word_nll(batch).tolist(), strict=True))
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
            per_char = totals[word] / (len(word) + 1)
            row.update(nll=totals[word], nll_per_char=per_char, ppl=math.exp(per_char), note="")
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


def arrange(
    rows: list[dict[str, Any]], sort: str | None, descending: bool, top: int | None
) -> list[dict[str, Any]]:
    """Rows sorted on `sort` (unscored words last, whatever the order), then the first `top`."""
    if sort is not None:
        if sort not in SORT_KEYS:
            raise CharlmError(
                f"sort={sort!r}: one of {', '.join(SORT_KEYS)}, or null (input order)"
            )
        scored = sorted(
            (r for r in rows if r[sort] is not None), key=lambda r: r[sort], reverse=descending
        )
        rows = scored + [r for r in rows if r[sort] is None]
    if top is not None:
        if not isinstance(top, int) or top < 1:
            raise CharlmError(f"top={top!r}: must be an integer >= 1, or null for every row")
        rows = rows[:top]
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def render(rows: Sequence[Mapping[str, Any]], totals: Mapping[str, Any], fmt: str) -> str:
    """The rows as an aligned table with a totals line, as CSV, or as JSON."""
    if fmt == "json":
        return json.dumps(
            {"words": list(rows), "summary": dict(totals)}, indent=2, ensure_ascii=False
        )
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if r.get(k) is None else r[k]) for k in COLUMNS} for r in rows)
        return buffer.getvalue().rstrip("\n")
    if fmt != "table":
        raise CharlmError(f"format={fmt!r}: one of table, csv, json")
    table = [COLUMNS] + [tuple(_cell(r.get(c)) for c in COLUMNS) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(t.ljust(w) for t, w in zip(line, widths, strict=True)).rstrip() for line in table
    ]
    line = f"{totals['scored']} of {totals['words']} words scored" + (
        f" ({totals['not_scored']} not: see their notes)" if totals["not_scored"] else ""
    )
    if totals["nll_per_char"] is not None:
        line += (
            f"; total NLL {totals['nll']:.4f} over {totals['characters']} characters: "
            f"{totals['nll_per_char']:.4f} per character, perplexity {totals['ppl']:.4f}"
        )
    return "\n".join([*lines, line])


def read_words(words: str | None) -> list[str]:
    """The words of a file, or of standard input when `words` is None or '-'."""
    if words in (None, "", "-"):
        return words_from_bytes(sys.stdin.buffer.read(), "standard input")
    return load_words(words)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="score")
@report_errors("charlm-score")
def main(cfg: DictConfig) -> None:
    """Console script `charlm-score`."""
    if not cfg.get("ckpt"):
        raise CharlmError("no checkpoint given: charlm-score ckpt=PATH/TO/last.ckpt words=FILE")
    check_options(
        cfg,
        {
            "words": "path|null",
            "sort": "str|null",
            "descending": "bool",
            "top": "int>=1|null",
            "format": "str",
            "output": "path|null",
            "data_path": "path|null",
            "resplit": "bool",
        },
    )
    if cfg.format not in ("table", "csv", "json"):
        raise CharlmError(f"format={cfg.format!r}: one of table, csv, json")
    if cfg.sort is not None and cfg.sort not in SORT_KEYS:
        raise CharlmError(
            f"sort={cfg.sort!r}: one of {', '.join(SORT_KEYS)}, or null (input order)"
        )
    if cfg.get("output"):
        check_output(cfg.output)
    model = load_model(cfg.ckpt)
    words = read_words(cfg.get("words"))
    try:
        splits, changed = checkpoint_split(model, cfg.get("data_path"), cfg.resplit)
    except DataChangedError:
        raise
    except CharlmError as err:
        if cfg.get("data_path"):
            raise
        print(f"charlm-score: note: no split column ({err})", file=sys.stderr)
        splits, changed = None, False
    if changed:
        print(f"charlm-score: {RESPLIT_NOTE}", file=sys.stderr)
    rows = score_words(model, words, splits)
    text = render(arrange(rows, cfg.sort, cfg.descending, cfg.top), summary(rows), cfg.format)
    if cfg.get("output"):
        Path(cfg.output).write_text(text + "\n", encoding="utf-8")
        print(f"written to {cfg.output}")
    else:
        print(text)


if __name__ == "__main__":
    main()
