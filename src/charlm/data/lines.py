"""The lines of a text as sequences, in characters or BPE tokens (the course's TP3).

`TextLines` is the kind of data (read, clean, split, encode, score); `LinesDataModule`
(`charlm.data.datamodule`) serves it to Lightning.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from charlm.data.batches import SPLITS
from charlm.data.clean import clean_rules, clean_text, text_lines
from charlm.data.corpus import split_words
from charlm.data.encoded import TextError, decoded_chunks, read_text, text_digest
from charlm.data.kinds import SequenceKind, readable_nll
from charlm.data.scoring import cell, rows_out
from charlm.data.vocab import Vocab, Vocabulary
from charlm.errors import CharlmError, ConfigError, check_choice, check_positive_ints

UNITS = ("chars", "tokens")
# A line's end, as a character model's boundary token: no line holds one.
LINE_END = "\n"
# Logits an evaluation batch holds at most (64 MB of float32): a prediction over 15,000 tokens
# is 15,000 of them, so a large vocabulary evaluates fewer predictions a batch.
LOGITS_PER_BATCH = 2**24

log = logging.getLogger(__name__)

TOKENIZER_DEFAULTS: dict[str, Any] = {
    "path": None,
    "vocab_size": 15000,
    "min_frequency": 2,
    "normalizer": ["nfd", "lowercase"],
    "special_tokens": ["[EOS]", "[UNK]", "[PAD]", "[CLS]", "[SEP]"],
    "end_token": "[EOS]",
    "unk_token": "[UNK]",
}


def tokenizer_options(tokenizer: Mapping[str, Any] | None) -> dict[str, Any]:
    """`data.tokenizer` completed with the defaults; unknown keys refused."""
    unknown = sorted(set(tokenizer or {}) - set(TOKENIZER_DEFAULTS))
    if unknown:
        raise CharlmError(
            f"data.tokenizer: unknown key(s) {unknown}; known: {sorted(TOKENIZER_DEFAULTS)}"
        )
    options = {**TOKENIZER_DEFAULTS, **dict(tokenizer or {})}
    for key in ("vocab_size", "min_frequency"):
        value = options[key]
        least = 1 if key == "vocab_size" else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(
                f"data.tokenizer.{key}={value!r}: must be an integer >= {least}",
                key=f"data.tokenizer.{key}",
            )
    for key in ("end_token", "unk_token"):
        value = options[key]
        if not isinstance(value, str) or not value:
            listed = not isinstance(value, str) and isinstance(value, Sequence) and len(value) == 1
            shown = f"[{value[0]}]" if listed else value
            raise ConfigError(
                f"data.tokenizer.{key}={value!r}: a token's name; a name in brackets must be "
                f"quoted on the command line, 'data.tokenizer.{key}=\"{shown}\"'",
                key=f"data.tokenizer.{key}",
            )
    return options


class TextLines(SequenceKind):
    """Each non-empty line of a text (or several) is one sequence ending with the end token,
    like a word ending with `.`: the course's TP3 treats lines of legal text this way.

    `units` is "chars" (the line's characters; the newline is the end token) or "tokens"
    (a BPE tokenizer's, `[EOS]` the end token). The tokenizer is trained on the training
    split's lines (`tokenizer`: vocab_size, min_frequency, normalizer, special_tokens), or
    read from `tokenizer.path`, or given (`vocab=`, as evaluation does from a checkpoint).
    The lines are split as the word lists are: shuffled with `random.seed(split_seed)`, then
    cut by `split`. `clean` is a list of rules (`charlm.data.clean`) applied first.
    """

    kind = "lines"
    what = "text"
    described = "lines of text"
    config_keys = ("split", "split_seed", "units", "tokenizer", "clean")

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        vocab: Vocab | None = None,
        split: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 42,
        units: str = "tokens",
        tokenizer: Mapping[str, Any] | None = None,
        clean: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(path, vocab, split, split_seed)
        check_choice("units", units, UNITS)
        self.units = units
        self.tokenizer_options = tokenizer_options(tokenizer)
        self.rules = clean_rules(clean)
        self.characters: dict[str, int] = {}
        self.unknown_tokens: dict[str, int] = {}
        self.encoded: dict[str, tuple[Any, Any]] = {}
        self._identity: dict[str, Any] = {}

    @property
    def lines(self) -> dict[str, list[str]]:
        """The split's lines, by split."""
        self.load()
        return self.parts

    def read_lines(self) -> list[str]:
        """The text's non-empty lines after cleaning, in file order."""
        text = "".join(chunk for p in self.paths for chunk in (*decoded_chunks(p), "\n"))
        lines = text_lines(clean_text(text, self.rules))
        if not lines:
            raise TextError(f"{self.path} holds no non-empty line (after cleaning)")
        return lines

    def _load(self) -> None:
        digest = text_digest(self.paths)
        lines = self.read_lines()
        parts = split_words(lines, self.split, self.split_seed, unit="lines")
        self.parts = dict(zip(SPLITS, parts, strict=True))
        if self.vocab is None:
            self.vocab = self._build_vocab(self.parts["train"], lines)
        else:
            self.vocab.check_words(lines, f"the lines of {self.path}")
        for name in SPLITS:
            self._encode(name)
        identity = {
            "kind": self.kind,
            "units": self.units,
            "text_sha256": digest,
            "lines": len(lines),
            "split_sizes": [len(self.parts[s]) for s in SPLITS],
            "characters": [self.characters[s] for s in SPLITS],
        }
        if self.units == "tokens":
            identity["tokenizer_sha256"] = hashlib.sha256(
                self.vocab.to_string().encode()
            ).hexdigest()
            identity["unknown_tokens"] = [self.unknown_tokens[s] for s in SPLITS]
        self._identity = identity

    def _build_vocab(self, train: list[str], lines: list[str]) -> Vocab:
        opts = self.tokenizer_options
        if self.units == "chars":
            # Every character of the text, as a word list's vocabulary holds every character.
            return Vocabulary({c for line in lines for c in line}, boundary=LINE_END)
        from charlm.data.tokens import TokenVocabulary, load_tokenizer, train_tokenizer

        if opts["path"]:
            tokenizer = load_tokenizer(opts["path"])
        else:
            check_positive_ints(**{"tokenizer.vocab_size": opts["vocab_size"]})
            tokenizer = train_tokenizer(
                train, opts["vocab_size"], opts["min_frequency"], opts["normalizer"],
                opts["special_tokens"], opts["unk_token"],
            )  # fmt: skip
        vocab = TokenVocabulary(tokenizer, opts["end_token"], opts["unk_token"])
        if not opts["path"] and len(vocab) > opts["vocab_size"]:
            log.warning(
                "data.tokenizer.vocab_size=%d is below what the tokenizer must hold: %d tokens, "
                "one a character of the training lines and the special tokens",
                opts["vocab_size"], len(vocab),
            )  # fmt: skip
        return vocab

    def _encode(self, name: str) -> None:
        part = self.parts[name]
        flat, lengths = self.vocab.flat_ids(part)
        self.unknown_tokens[name] = self.vocab.count_unknown(flat)
        if self.unknown_tokens[name]:
            log.warning(
                "%s: %d [UNK] tokens in the %s split (characters the tokenizer never saw "
                "in training); they are scored as [UNK]",
                self.path, self.unknown_tokens[name], name,
            )  # fmt: skip
        self.characters[name] = sum(self.vocab.characters(line) + 1 for line in part)
        self.encoded[name] = (flat, lengths)

    def flat_ids(self, name: str) -> tuple[Any, Any]:
        self.load()
        return self.encoded[name]

    def identity(self) -> dict[str, Any]:
        """The text's SHA-256, its lines, the split sizes and characters, the tokenizer's
        SHA-256 and [UNK] counts."""
        self.load()
        return dict(self._identity)

    def novelty_splits(self) -> dict[str, list[str]]:
        """The split's lines as the model writes them (a tokenizer's normalised, decoded
        text), which its samples are compared with."""
        self.load()
        if self.units != "tokens":
            return self.parts
        decode, encode = self.vocab.decode, self.vocab.encode
        return {name: [decode(encode(line)) for line in part] for name, part in self.parts.items()}

    def split_characters(self, name: str) -> int:
        """Characters of split `name` as the model reads them, each line's end counted as one:
        what bits per character divide by, so token and character models compare."""
        self.load()
        return self.characters[name]

    def eval_batches(self, name: str, contract: str, context_size: int, predictions: int) -> Any:
        """`predictions` lowered so that a batch's logits stay within LOGITS_PER_BATCH."""
        self.load()
        capped = max(1, min(predictions, LOGITS_PER_BATCH // len(self.vocab)))
        return super().eval_batches(name, contract, context_size, capped)

    # --- charlm-score ---------------------------------------------------------------------

    def read_input(self, path: str | None) -> tuple[str, str]:
        """The text of a file, or of standard input for None or '-'."""
        return read_text(path)

    def score(self, model: Any, inputs: str, source: str) -> tuple[list[dict], dict]:
        return score_lines(model, inputs, source)

    def render(self, rows: Sequence[Mapping[str, Any]], totals: Mapping[str, Any], fmt: str) -> str:
        return render_lines(rows, totals, fmt)


LINE_COLUMNS = ("line", "units", "unknown", "characters", "nll", "nll_per_char", "bpc", "text")


def score_lines(model: Any, text: str, source: str = "the text") -> tuple[list[dict], dict]:
    """One row per non-empty line of `text`, scored as the model's training read its lines
    (one sequence each, the end token included), and the totals.

    `units` counts the model's predictions (tokens or characters, the end included),
    `characters` the line's characters as the model reads them plus its end, `unknown` the
    `[UNK]` tokens it holds; bits per character divide by `characters`, so models of tokens
    and of characters compare. A line a character model cannot read gets a note instead.
    """
    import torch

    vocab = model.require_vocab()
    lines = text_lines(text)
    if not lines:
        raise CharlmError(f"{source} holds no non-empty line to score")
    totals = readable_nll(model, lines)
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
            chars = vocab.characters(line) + 1
            row.update(units=len(ids) + 1, unknown=vocab.count_unknown(torch.tensor(ids)),
                       characters=chars, nll=totals[line], nll_per_char=totals[line] / chars,
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

    def show(row: Mapping[str, Any], column: str) -> str:
        if column == "text":
            return row["text"][:60] + (f"  ({row['note']})" if row.get("note") else "")
        return cell(row.get(column))

    lines = rows_out(rows, totals, fmt, LINE_COLUMNS, "lines", show)
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
