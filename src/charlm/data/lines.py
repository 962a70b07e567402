"""LightningDataModule serving the lines of a text as sequences, in characters or BPE tokens."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from charlm.data.batches import SPLITS
from charlm.data.clean import clean_rules, clean_text, text_lines
from charlm.data.corpus import split_words
from charlm.data.fetch import KNOWN_FILES, ensure_corpus
from charlm.data.sequences import sequences_from_ids
from charlm.data.step_datamodule import StepDataModule
from charlm.data.text import TextError, as_paths, decoded_chunks, text_digest
from charlm.data.tokens import (
    SPECIAL_TOKENS,
    TokenVocabulary,
    flatten,
    load_tokenizer,
    train_tokenizer,
)
from charlm.data.vocab import Vocabulary
from charlm.data.windows import windows_from_ids
from charlm.errors import CharlmError, check_choice, check_positive_ints

CONTRACTS = ("windows", "sequences")
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
    "special_tokens": list(SPECIAL_TOKENS),
    "end_token": "[EOS]",
    "unk_token": "[UNK]",
}


class LinesDataModule(StepDataModule):
    """Each non-empty line of a text (or several) is one sequence ending with the end token,
    like a word ending with `.`: the course's TP3 treats lines of legal text this way.

    `units` is "chars" (the line's characters; the newline is the end token) or "tokens"
    (a BPE tokenizer's, `[EOS]` the end token). The tokenizer is trained on the training
    split's lines (`tokenizer`: vocab_size, min_frequency, normalizer, special_tokens), or
    read from `tokenizer.path`, or given (`vocab=`, as evaluation does from a checkpoint).
    The lines are split as the word lists are: shuffled with `random.seed(split_seed)`, then
    cut by `split`. `clean` is a list of rules (`charlm.data.clean`) applied first.
    """

    def __init__(
        self,
        path: str | Sequence[str],
        units: str = "tokens",
        tokenizer: Mapping[str, Any] | None = None,
        clean: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        context_size: int = 5,
        batch_size: int = 32,
        split: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 42,
        steps_per_batch: int = 1,
        eval_batch_size: int = 8192,
        seed: int = 0,
        contract: str = "windows",
        fetch: bool = False,
        shared_dir: str | None = None,
        vocab: Vocabulary | TokenVocabulary | None = None,
    ) -> None:
        super().__init__(batch_size, steps_per_batch, False, eval_batch_size, seed)
        check_positive_ints(context_size=context_size)
        check_choice("contract", contract, CONTRACTS)
        check_choice("units", units, UNITS)
        self.paths = as_paths(path if isinstance(path, str | Path) else list(path))
        self.path = self.paths[0] if self.paths else Path(str(path))
        self.units, self.contract, self.context_size = units, contract, context_size
        unknown = sorted(set(tokenizer or {}) - set(TOKENIZER_DEFAULTS))
        if unknown:
            raise CharlmError(
                f"data.tokenizer: unknown key(s) {unknown}; known: {sorted(TOKENIZER_DEFAULTS)}"
            )
        self.tokenizer_options = {**TOKENIZER_DEFAULTS, **dict(tokenizer or {})}
        self.rules = clean_rules(clean)
        self.split = tuple(float(f) for f in split)
        self.split_seed = split_seed
        self.fetch, self.shared_dir = fetch, shared_dir
        self.vocab = vocab
        self._given_vocab = vocab is not None
        self.lines: dict[str, list[str]] = {}
        self.characters: dict[str, int] = {}
        self.unknown_tokens: dict[str, int] = {}
        self._identity: dict[str, Any] = {}

    def prepare_data(self) -> None:
        """Fetch a missing known file when asked, check a present one against its SHA-256."""
        for p in self.paths:
            if p.name in KNOWN_FILES and (self.fetch or p.is_file()):
                ensure_corpus(p, self.shared_dir, name=p.name)

    def read_lines(self) -> list[str]:
        """The text's non-empty lines after cleaning, in file order."""
        text = "".join(chunk for p in self.paths for chunk in (*decoded_chunks(p), "\n"))
        lines = text_lines(clean_text(text, self.rules))
        if not lines:
            raise TextError(f"{self.path} holds no non-empty line (after cleaning)")
        return lines

    def setup(self, stage: str | None = None) -> None:
        """Read, clean and split the lines, build or read the vocabulary, encode every split."""
        if self.lines:
            return
        digest = text_digest(self.paths)
        lines = self.read_lines()
        parts = split_words(lines, self.split, self.split_seed, unit="lines")
        self.lines = dict(zip(SPLITS, parts, strict=True))
        if self.vocab is None:
            self.vocab = self._build_vocab(self.lines["train"], lines)
        if self._given_vocab and not isinstance(self.vocab, TokenVocabulary):
            self.vocab.check_words(lines, f"the lines of {self.path}")
        for name in SPLITS:
            self._encode(name)
        identity = {
            "kind": "lines",
            "units": self.units,
            "text_sha256": digest,
            "lines": len(lines),
            "split_sizes": [len(self.lines[s]) for s in SPLITS],
            "characters": [self.characters[s] for s in SPLITS],
        }
        if isinstance(self.vocab, TokenVocabulary):
            identity["tokenizer_sha256"] = hashlib.sha256(
                self.vocab.to_string().encode()
            ).hexdigest()
            identity["unknown_tokens"] = [self.unknown_tokens[s] for s in SPLITS]
        self._identity = identity

    def _build_vocab(self, train: list[str], lines: list[str]) -> Vocabulary | TokenVocabulary:
        opts = self.tokenizer_options
        if self.units == "chars":
            # Every character of the text, as a word list's vocabulary holds every character.
            return Vocabulary({c for line in lines for c in line}, boundary=LINE_END)
        if opts["path"]:
            tokenizer = load_tokenizer(opts["path"])
        else:
            check_positive_ints(**{"tokenizer.vocab_size": opts["vocab_size"]})
            tokenizer = train_tokenizer(
                train, opts["vocab_size"], opts["min_frequency"], opts["normalizer"],
                opts["special_tokens"], opts["unk_token"],
            )  # fmt: skip
        return TokenVocabulary(tokenizer, opts["end_token"], opts["unk_token"])

    def _encode(self, name: str) -> None:
        part = self.lines[name]
        vocab = self.vocab
        if isinstance(vocab, TokenVocabulary):
            rows = vocab.encode_lines(part)
            self.unknown_tokens[name] = vocab.unknown_count(rows)
            if self.unknown_tokens[name]:
                log.warning(
                    "%s: %d [UNK] tokens in the %s split (characters the tokenizer never saw "
                    "in training); they are scored as [UNK]",
                    self.path, self.unknown_tokens[name], name,
                )  # fmt: skip
            flat, lengths = flatten(rows)
            self.characters[name] = sum(vocab.characters(line) + 1 for line in part)
        else:
            flat, lengths = vocab.flat_ids(part)
            self.characters[name] = int(lengths.sum()) + len(part)
        if self.contract == "windows":
            self.splits[name] = windows_from_ids(flat, lengths, self.context_size)
        else:
            self.splits[name] = sequences_from_ids(flat, lengths)
            self.lengths[name] = lengths + 1

    def eval_predictions(self) -> int:
        """`eval_batch_size`, lowered so that a batch's logits stay within LOGITS_PER_BATCH."""
        self.setup()
        return max(1, min(self.eval_batch_size, LOGITS_PER_BATCH // len(self.vocab)))

    def split_characters(self, name: str) -> int:
        """Characters of split `name` as the model reads them, each line's end counted as one:
        what bits per character divide by, so token and character models compare."""
        self.setup()
        return self.characters[name]

    def data_identity(self) -> dict[str, Any]:
        """What the run's split was drawn from: the text's SHA-256, its lines, the split sizes
        and characters, the tokenizer's SHA-256 and [UNK] counts. Stored in checkpoints."""
        self.setup()
        return dict(self._identity)

    def net_kwargs(self) -> dict[str, int]:
        self.setup()
        if self.contract == "sequences":
            return {"vocab_size": len(self.vocab)}
        return {"vocab_size": len(self.vocab), "context_size": self.context_size}

    def longest_example(self) -> int:
        """Positions of the longest example: the window, or the longest line's units + 1."""
        self.setup()
        if self.contract == "windows":
            return self.context_size
        return max(int(self.lengths[s].max()) for s in SPLITS if len(self.lengths[s]))
