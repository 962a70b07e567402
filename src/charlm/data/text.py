"""Running text as a kind of data: one UTF-8 file or several, read one after the other as a
stream of character ids (`charlm.data.encoded`), split contiguously and read in blocks
(`charlm.data.blocks`); and a text's per-line scores, as charlm-score prints them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from charlm.data.batches import SPLITS
from charlm.data.blocks import (
    CarriedRows,
    EvalBlocks,
    SlidingBlocks,
    TextBlocks,
    split_bounds,
)
from charlm.data.encoded import (
    EncodedText,
    IdsFile,
    TextError,
    decoded_chunks,
    encode_text,
    read_text,
    text_digest,
)
from charlm.data.kinds import DataKind
from charlm.data.scoring import cell, rows_out
from charlm.data.vocab import TextVocabulary
from charlm.errors import CharlmError

log = logging.getLogger(__name__)


class RunningText(DataKind):
    """One text or several, read in order, as one stream of characters split contiguously;
    every split is read once in non-overlapping blocks of `block_size`."""

    kind = "text"
    what = "text"
    described = "running text"
    config_keys = ("split", "block_size", "cache_dir")

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        vocab: TextVocabulary | None = None,
        split: Sequence[float] = (0.85, 0.05, 0.10),
        block_size: int = 128,
        cache_dir: str | Path | None = None,
    ) -> None:
        super().__init__(path, vocab)
        self.split = tuple(split)
        self.block_size = int(block_size)
        self.cache_dir = cache_dir
        self.bounds: dict[str, tuple[int, int]] = {}
        self.stream: IdsFile | None = None
        self.encoded: EncodedText | None = None
        self._digest: str | None = None  # the text's SHA-256, once `current_digest` read it

    def _load(self) -> None:
        encoded = encode_text(
            self.paths, self.cache_dir, check=self._check_length, digest=self._digest
        )
        bounds = split_bounds(encoded.length, self.split)
        self.encoded, self.vocab = encoded, self.vocab or encoded.vocab
        self.stream = encoded.ids()
        self.bounds = dict(zip(SPLITS, bounds, strict=True))

    def _check_length(self, length: int) -> None:
        """Refuse a text too short for its split or its blocks (before it is encoded)."""
        bounds = split_bounds(length, self.split)
        short = [(n, e - s) for n, (s, e) in zip(SPLITS, bounds, strict=True) if 0 < e - s < 2]
        if short:
            raise TextError(
                f"data.split={list(self.split)}: the {short[0][0]} split of {self.path} holds "
                f"{short[0][1]} character, and a split needs none or at least 2 (a character "
                "and the next): a longer text, or another data.split"
            )
        start, end = bounds[0]
        if end - start < self.block_size + 1:
            raise CharlmError(
                f"data.block_size={self.block_size}: the train split of {self.path} holds "
                f"{end - start} characters, and a block needs block_size + 1; lower "
                "data.block_size or give more text"
            )

    def check_vocab(self) -> None:
        """The model's characters must be the text's, one for one: ids would differ."""
        self.load()
        if self.encoded.vocab != self.vocab:
            extra = sorted(set(self.encoded.vocab.itos) - set(self.vocab.itos))
            raise CharlmError(
                f"{self.path} holds characters the model was not trained on ({''.join(extra)!r})"
                if extra
                else f"{self.path} lacks some of the model's characters: its ids would differ; "
                "give the text the model was trained on (data_path=)"
            )

    def current_digest(self) -> str:
        """The text's SHA-256, from its bytes: nothing encoded, no cache written (and kept for
        the encoding that follows, which then reads the text's bytes no second time)."""
        if self.encoded is not None:
            return self.encoded.sha256
        self._digest = self._digest or text_digest(self.paths)
        return self._digest

    def current_size(self) -> int:
        """The text's characters, decoded without encoding it (a refusal's message only)."""
        if self.encoded is not None:
            return self.encoded.length
        return sum(len(chunk) for p in self.paths for chunk in decoded_chunks(p))

    def identity(self) -> dict[str, Any]:
        """The text's SHA-256, its length, its files and the splits' (start, end)."""
        self.load()
        return {
            "kind": self.kind,
            "text_sha256": self.encoded.sha256,
            "characters": self.encoded.length,
            "sources": [p.name for p in self.paths],
            "split_bounds": [list(self.bounds[s]) for s in SPLITS],
        }

    def has_split(self, name: str) -> bool:
        self.load()
        start, end = self.bounds[name]
        return end - start >= 2

    def eval_batches(
        self, name: str, contract: str, context_size: int, predictions: int
    ) -> EvalBlocks:
        self.load()
        rows = max(1, predictions // self.block_size)
        return EvalBlocks(self.stream, self.bounds[name], self.block_size, rows)

    eval_modes = ("blocks", "sliding", "carried", "dynamic")
    # Rows of `carried`: each starts from the zero state, so few; enough to batch the pass.
    CARRIED_ROWS = 16

    def mode_batches(self, name: str, mode: str, predictions: int) -> Dataset:
        self.check_eval_mode(mode)
        self.load()
        if mode == "carried":
            return CarriedRows(self.stream, self.bounds[name], self.block_size, self.CARRIED_ROWS)
        if mode == "dynamic":
            # One row: the split's blocks in the order of the text, so each step learns only
            # from text before every character still to be scored.
            return CarriedRows(self.stream, self.bounds[name], self.block_size, 1)
        rows = max(1, predictions // self.block_size)
        blocks = SlidingBlocks if mode == "sliding" else EvalBlocks
        return blocks(self.stream, self.bounds[name], self.block_size, rows)

    def training_set(
        self, contract: str, context_size: int, batch_size: int, steps: int, seed: int,
        full_batch: bool = False,
    ) -> TextBlocks:  # fmt: skip
        """Random blocks of the training split (`TextBlocks`)."""
        self.load()
        return TextBlocks(self.stream, self.bounds["train"], self.block_size, batch_size, steps,
                          seed)  # fmt: skip

    def longest(self) -> int:
        return self.block_size

    def training_examples(self, model: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The first blocks of the training split."""
        return self.eval_batches("train", model.data_contract, model.context_size, 1 << 16)[0]

    # --- charlm-score and charlm-sample ---------------------------------------------------

    def read_input(self, path: str | None) -> tuple[str, str]:
        """The text of a file, or of standard input for None or '-'."""
        return read_text(path)

    def score(self, model: Any, inputs: str, source: str) -> tuple[list[dict], dict]:
        return score_text(model, inputs, source, self.block_size)

    def render(self, rows: Sequence[Mapping[str, Any]], totals: Mapping[str, Any], fmt: str) -> str:
        return render_text(rows, totals, fmt)

    def sample(self, model: Any, options: Mapping[str, Any]) -> Iterator[str]:
        """`n` passages of `length` characters after the prompt (the prompt included); one
        passage comes out in pieces as it is drawn."""
        if options.get("prefix"):
            raise CharlmError(
                f"prefix={options['prefix']!r}: this model writes running text; start it with "
                "prompt=..."
            )
        prompt = options.get("prompt")
        given = prompt is not None and prompt != ""
        prompt = str(prompt) if given else model.require_vocab().default_prompt
        n = int(options.get("n") or 1)
        generator = torch.Generator().manual_seed(int(options.get("seed", 0)))
        pieces = model.sample_text_pieces(
            prompt, int(options.get("length", 500)), n, generator,
            options.get("temperature", 1.0), options.get("top_k"), top_p=options.get("top_p"),
        )  # fmt: skip
        stop = options.get("stop")
        if stop:
            pieces = _stopped(pieces, str(stop), n)
        if n == 1:  # one passage is written out as it is drawn, however long
            yield prompt if given else ""
            for (piece,) in pieces:
                yield piece
            yield "\n"
            return
        # Several passages advance together: each is written once all are drawn.
        passages: list[list[str]] = [[prompt if given else ""] for _ in range(n)]
        for drawn in pieces:
            for passage, piece in zip(passages, drawn, strict=True):
                passage.append(piece)
        for i, passage in enumerate(passages, 1):
            yield f"--- sample {i} of {n} ---\n{''.join(passage)}\n"


def _stopped(pieces: Iterator[list[str]], stop: str, n: int) -> Iterator[list[str]]:
    """`pieces` of n passages, each cut before the first `stop` in it; the drawing ends
    once every passage has met it. A stop that spans two pieces is found: each passage's
    last len(stop) - 1 characters are held back until the next piece shows what follows."""
    held = ["" for _ in range(n)]
    done = [False] * n
    keep = len(stop) - 1
    for drawn in pieces:
        out = []
        for i, piece in enumerate(drawn):
            if done[i]:
                out.append("")
                continue
            text = held[i] + piece
            at = text.find(stop)
            if at >= 0:
                done[i], held[i] = True, ""
                out.append(text[:at])
            else:
                cut = len(text) - keep if keep else len(text)
                held[i] = text[cut:]
                out.append(text[:cut])
        yield out
        if all(done):
            return
    yield list(held)  # what was held back, at the end of the passages


TEXT_COLUMNS = ("line", "characters", "nll", "nll_per_char", "bpc", "text")


def score_text(
    model: Any, text: str, source: str = "the text", block_size: int | None = None
) -> tuple[list[dict], dict]:
    """One row per line of `text` (its newline included) and the totals.

    The text is read as the model's evaluation reads a split: in non-overlapping blocks of its
    training block (`block_size`, by default its run's), each character predicted from those
    before it in its block. The first character has nothing before it and is not scored.
    """
    vocab = model.require_vocab()
    bad = vocab.unknown(text)
    if bad:
        raise CharlmError(
            f"{source} holds characters outside the model's vocabulary: {''.join(bad)!r}; "
            f"the model knows {''.join(vocab.itos)!r}"
        )
    if len(text) < 2:
        raise CharlmError(f"{source} holds {len(text)} character(s): at least 2 are needed")
    block = block_size or text_block_size(model)
    ids = torch.tensor([vocab.stoi[c] for c in text])
    nll = torch.cat([torch.zeros(1), model.char_nll(ids, block)]).tolist()
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
        "block_size": block,
    }
    return rows, totals


def text_block_size(model: Any) -> int:
    """The block a text model was trained and evaluated on (its run's data.block_size)."""
    data = (getattr(model, "config", None) or {}).get("data") or {}
    return int(data.get("block_size") or model.context_size)


def render_text(rows: Sequence[Mapping[str, Any]], totals: Mapping[str, Any], fmt: str) -> str:
    """A text's rows as an aligned table with a totals line, as CSV, or as JSON."""

    def show(row: Mapping[str, Any], column: str) -> str:
        # A line's text as Python writes it (tabs and the like visible), cut at 60 characters.
        return repr(row["text"])[1:-1][:60] if column == "text" else cell(row.get(column))

    lines = rows_out(rows, totals, fmt, TEXT_COLUMNS, "lines", show)
    if isinstance(lines, str):
        return lines
    lines.append(
        f"{totals['lines']} lines; total NLL {totals['nll']:.4f} over {totals['characters']} "
        f"characters: {totals['nll_per_char']:.4f} per character, {totals['bpc']:.4f} bits per "
        f"character (blocks of {totals['block_size']}; the first character is not scored)"
    )
    return "\n".join(lines)
