"""`charlm-score ckpt=PATH words=FILE`: each word's NLL, NLL per character, perplexity and split.

Words with characters the model has never seen get a row saying so, and the rest are scored.
A model of running text scores a text instead (`text=FILE`): the total NLL, bits per
character, and a row per line. A model of lines (of characters or tokens) scores each
non-empty line of `text=FILE` as one sequence, its end token included, in bits per character.
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

from charlm.checkpoint import (
    RESPLIT_NOTE,
    DataChangedError,
    checkpoint_split,
    is_lines_model,
    is_text_model,
    load_model,
    text_block_size,
)
from charlm.config import config_dir
from charlm.data.corpus import load_words, words_from_bytes
from charlm.errors import CharlmError, check_options, check_output, report_errors
from charlm.inference import novelty
from charlm.models.base import CharLM

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
    vocab = model.require_vocab()
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


def _rows_out(
    rows: Sequence[Mapping[str, Any]],
    totals: Mapping[str, Any],
    fmt: str,
    columns: Sequence[str],
    name: str,
    cell: Any = None,
) -> str | list[str]:
    """JSON ({name: rows, "summary": totals}) or CSV, whole; or a table's aligned lines, to
    which the caller adds its totals line."""
    if fmt == "json":
        return json.dumps({name: list(rows), "summary": dict(totals)}, indent=2, ensure_ascii=False)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if r.get(k) is None else r[k]) for k in columns} for r in rows)
        return buffer.getvalue().rstrip("\n")
    if fmt != "table":
        raise CharlmError(f"format={fmt!r}: one of table, csv, json")
    cell = cell or (lambda row, column: _cell(row.get(column)))
    table = [tuple(columns)] + [tuple(cell(r, c) for c in columns) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return [
        "  ".join(t.ljust(w) for t, w in zip(line, widths, strict=True)).rstrip() for line in table
    ]


def render(rows: Sequence[Mapping[str, Any]], totals: Mapping[str, Any], fmt: str) -> str:
    """The rows as an aligned table with a totals line, as CSV, or as JSON."""
    lines = _rows_out(rows, totals, fmt, COLUMNS, "words")
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


TEXT_COLUMNS = ("line", "characters", "nll", "nll_per_char", "bpc", "text")


def score_text(model: CharLM, text: str, source: str = "the text") -> tuple[list[dict], dict]:
    """One row per line of `text` (its newline included) and the totals.

    The text is read as the model's evaluation reads a split: in non-overlapping blocks of its
    training block, each character predicted from those before it in its block. The first
    character has nothing before it and is not scored.
    """
    import torch

    vocab = model.require_vocab()
    bad = vocab.unknown(text)
    if bad:
        raise CharlmError(
            f"{source} holds characters outside the model's vocabulary: {''.join(bad)!r}; "
            f"the model knows {''.join(vocab.itos)!r}"
        )
    if len(text) < 2:
        raise CharlmError(f"{source} holds {len(text)} character(s): at least 2 are needed")
    ids = torch.tensor([vocab.stoi[c] for c in text])
    nll = torch.cat([torch.zeros(1), model.char_nll(ids, text_block_size(model))]).tolist()
    rows, start = [], 0
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        end = start + len(line)
        scored = end - max(start, 1)
        total = sum(nll[max(start, 1) : end])
        rows.append(
            {
                "line": number,
                "characters": scored,
                "nll": total,
                "nll_per_char": total / scored if scored else None,
                "bpc": total / scored / math.log(2) if scored else None,
                "text": line.rstrip("\n"),
            }
        )
        start = end
    total = sum(nll)
    chars = len(text) - 1
    totals = {
        "lines": len(rows),
        "characters": chars,
        "nll": total,
        "nll_per_char": total / chars,
        "bpc": total / chars / math.log(2),
        "block_size": text_block_size(model),
    }
    return rows, totals


def render_text(rows: Sequence[Mapping[str, Any]], totals: Mapping[str, Any], fmt: str) -> str:
    """A text's rows as an aligned table with a totals line, as CSV, or as JSON."""

    def cell(row: Mapping[str, Any], column: str) -> str:
        # A line's text as Python writes it (tabs and the like visible), cut at 60 characters.
        return repr(row["text"])[1:-1][:60] if column == "text" else _cell(row.get(column))

    lines = _rows_out(rows, totals, fmt, TEXT_COLUMNS, "lines", cell)
    if isinstance(lines, str):
        return lines
    lines.append(
        f"{totals['lines']} lines; total NLL {totals['nll']:.4f} over {totals['characters']} "
        f"characters: {totals['nll_per_char']:.4f} per character, {totals['bpc']:.4f} bits per "
        f"character (blocks of {totals['block_size']}; the first character is not scored)"
    )
    return "\n".join(lines)


LINE_COLUMNS = ("line", "units", "unknown", "characters", "nll", "nll_per_char", "bpc", "text")


def score_lines(model: CharLM, text: str, source: str = "the text") -> tuple[list[dict], dict]:
    """One row per non-empty line of `text`, scored as the model's training read its lines
    (one sequence each, the end token included), and the totals.

    `units` counts the model's predictions (tokens or characters, the end included),
    `characters` the line's characters as the model reads them plus its end, `unknown` the
    `[UNK]` tokens it holds; bits per character divide by `characters`, so models of tokens
    and of characters compare. A line a character model cannot read gets a note instead.
    """
    from charlm.data.clean import text_lines

    vocab = model.require_vocab()
    lines = text_lines(text)
    if not lines:
        raise CharlmError(f"{source} holds no non-empty line to score")
    count_chars = getattr(vocab, "characters", len)
    readable = [line for line in lines if not vocab.unknown(line) and not model.too_long(line)]
    totals: dict[str, float] = {}
    for start in range(0, len(readable), WORDS_PER_PASS):
        batch = readable[start : start + WORDS_PER_PASS]
        totals.update(zip(batch, model.word_nll(batch).tolist(), strict=True))
    rows = []
    for number, line in enumerate(lines, 1):
        row: dict[str, Any] = {"line": number, "text": line}
        bad, long = vocab.unknown(line), model.too_long(line)
        if bad or long:
            row.update(units=None, unknown=None, characters=None, nll=None, nll_per_char=None,
                       bpc=None)  # fmt: skip
            row["note"] = (
                f"not scored: characters outside the vocabulary: {''.join(bad)!r}"
                if bad
                else f"not scored: {long}"
            )
        else:
            ids = vocab.encode(line)
            unknown = vocab.unknown_count([ids]) if hasattr(vocab, "unknown_count") else 0
            chars = count_chars(line) + 1
            row.update(units=len(ids) + 1, unknown=unknown, characters=chars, nll=totals[line],
                       nll_per_char=totals[line] / chars,
                       bpc=totals[line] / chars / math.log(2), note="")  # fmt: skip
        rows.append(row)
    scored = [r for r in rows if r["nll"] is not None]
    if not scored:
        raise CharlmError(f"no line of {source} can be scored: {rows[0]['note']}")
    nll = sum(r["nll"] for r in scored)
    chars = sum(r["characters"] for r in scored)
    units = sum(r["units"] for r in scored)
    summary = {
        "lines": len(rows),
        "scored": len(scored),
        "units": units,
        "unit_name": vocab.unit_name,
        "unknown": sum(r["unknown"] for r in scored),
        "characters": chars,
        "nll": nll,
        "nll_per_unit": nll / units,
        "nll_per_char": nll / chars,
        "bpc": nll / chars / math.log(2),
    }
    return rows, summary


def render_lines(rows: Sequence[Mapping[str, Any]], totals: Mapping[str, Any], fmt: str) -> str:
    """The lines' rows as an aligned table with a totals line, as CSV, or as JSON."""

    def cell(row: Mapping[str, Any], column: str) -> str:
        if column == "text":
            return row["text"][:60] + (f"  ({row['note']})" if row.get("note") else "")
        return _cell(row.get(column))

    lines = _rows_out(rows, totals, fmt, LINE_COLUMNS, "lines", cell)
    if isinstance(lines, str):
        return lines
    per_unit = (
        f"{totals['nll_per_unit']:.4f} per token ({totals['units']}, ends included, "
        f"{totals['unknown']} [UNK]), "
        if totals["unit_name"] == "tokens"
        else ""
    )
    lines.append(
        f"{totals['scored']} of {totals['lines']} lines scored; total NLL {totals['nll']:.4f}: "
        f"{per_unit}{totals['nll_per_char']:.4f} per character ({totals['characters']}, ends "
        f"included), {totals['bpc']:.4f} bits per character"
    )
    return "\n".join(lines)


def read_text(path: str | None) -> tuple[str, str]:
    """The text of a file (strict UTF-8), or of standard input for None or '-'; and its name."""
    from charlm.data.text import TextError, decoded_chunks

    if path in (None, "", "-"):
        data = sys.stdin.buffer.read()
        try:
            return data.decode("utf-8"), "standard input"
        except UnicodeDecodeError as err:
            raise TextError(f"standard input is not UTF-8 text (byte {err.start})") from None
    p = Path(path)
    if not p.is_file():
        raise TextError(f"text={path}: no such file")
    return "".join(decoded_chunks(p)), str(p)


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
            "text": "path|null",
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
    if is_lines_model(model):
        if cfg.get("words"):
            raise CharlmError(
                "words=: this model was trained on lines of text; score them with text=FILE"
            )
        text, source = read_text(cfg.get("text"))
        rows, totals = score_lines(model, text, source)
        if cfg.sort is not None and cfg.sort not in ("nll", "nll_per_char"):
            raise CharlmError(f"sort={cfg.sort!r}: lines sort on nll or nll_per_char")
        out = render_lines(arrange(rows, cfg.sort, cfg.descending, cfg.top), totals, cfg.format)
        _write(out, cfg.get("output"))
        return
    if is_text_model(model):
        if cfg.get("words"):
            raise CharlmError(
                "words=: this model was trained on running text; score a text with text=FILE"
            )
        text, source = read_text(cfg.get("text"))
        rows, totals = score_text(model, text, source)
        if cfg.sort is not None and cfg.sort not in ("nll", "nll_per_char"):
            raise CharlmError(f"sort={cfg.sort!r}: a text's lines sort on nll or nll_per_char")
        out = render_text(arrange(rows, cfg.sort, cfg.descending, cfg.top), totals, cfg.format)
        _write(out, cfg.get("output"))
        return
    if cfg.get("text"):
        raise CharlmError(
            "text=: this model was trained on a word list; score words with words=FILE"
        )
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
    _write(text, cfg.get("output"))


def _write(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
        print(f"written to {output}")
    else:
        print(text)


if __name__ == "__main__":
    main()
