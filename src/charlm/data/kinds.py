"""The kinds of data a language model reads, without Lightning: one class each.

A kind knows how its files are read, split and encoded, what identifies them, and what the
commands ask of a model trained on them: its splits for evaluation, how a file is scored and
shown, how samples are drawn and tagged, the examples `charlm-inspect` looks at. The
DataModules (`charlm.data.datamodule`) serve a kind's splits to Lightning; the commands get a
model's data with `charlm.data.registry.model_data(model)` and never ask which kind it is.

Kinds: `WordList` (`charlm.data.words`), `RunningText` (`charlm.data.text`), `TextLines`
(`charlm.data.lines`) and `TextRecords` (`charlm.data.records`).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from charlm.data.batches import SPLITS, TensorSlices
from charlm.errors import CharlmError, CheckpointError, ConfigError

if TYPE_CHECKING:
    import torch

    from charlm.data.vocab import Vocab

# Units drawn at most before a sampled word or line is cut, by default.
WORD_MAX_LEN = 50
LINE_MAX_LEN = 200


def as_paths(path: str | Path | Sequence[str | Path]) -> list[Path]:
    """One path, several given as a list, or several joined by commas."""
    if isinstance(path, str | Path):
        return [Path(p) for p in str(path).split(",") if p]
    return [Path(p) for p in path]


# What a command says when it splits changed data because it was asked to.
RESPLIT_NOTE = (
    "note: the data changed since training; split again as asked (resplit=true): "
    "the figures and tags are not those of the run's own split"
)


class DataChangedError(CheckpointError):
    """The data a run was split from is not the one at its path now."""


class DataKind:
    """The data of one run: files, split, vocabulary and identity, and the commands' questions.

    `load()` reads and splits the files (once); until then a kind answers what needs no data
    (how to score a file, how to sample). `vocab` may be given (the model's, when the data is
    rebuilt for a checkpoint): it is then used as it is, and the data checked against it.
    """

    kind: ClassVar[str]
    # What the data is, in messages ("word list", "text"), and what a model trained on it
    # was trained on ("a word list", "running text").
    what: ClassVar[str]
    described: ClassVar[str]
    # The identity's key of the data's SHA-256, and of its size (how many words, characters).
    digest_key: ClassVar[str] = "text_sha256"
    size_key: ClassVar[str] = "characters"
    # Config keys (`data.*`) of the run that rebuild the kind (`from_config`).
    config_keys: ClassVar[tuple[str, ...]] = ("split",)
    # charlm-score's input option, and the columns its rows sort on.
    score_option: ClassVar[str] = "text"
    sort_keys: ClassVar[tuple[str, ...]] = ("nll", "nll_per_char")
    # Whether charlm-score tags each row with the run's split (read when at hand).
    scores_by_split: ClassVar[bool] = False

    def __init__(self, path: str | Path | Sequence[str | Path], vocab: Vocab | None = None) -> None:
        self.paths = as_paths(path if isinstance(path, str | Path) else list(path))
        self.path = self.paths[0] if self.paths else Path(str(path))
        self.vocab = vocab
        self.given_vocab = vocab is not None
        self.loaded = False

    @classmethod
    def from_config(
        cls, data: Mapping[str, Any], vocab: Vocab | None = None, path: str | Path | None = None
    ) -> DataKind:
        """The kind a run's stored `data` config describes, its path replaced by `path`."""
        given = path or data.get("path")
        if not given:
            raise DataChangedError("the checkpoint stores no data path: give data_path=PATH")
        kwargs = {k: data[k] for k in cls.config_keys if data.get(k) is not None}
        return cls(given, vocab=vocab, **kwargs)

    # --- reading --------------------------------------------------------------------------

    def load(self) -> None:
        """Read, split and encode the data; later calls are free."""
        if not self.loaded:
            self._load()
            self.loaded = True

    def _load(self) -> None:
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        """What the run's split was drawn from, stored in checkpoints; it names the kind."""
        raise NotImplementedError

    def check_unchanged(self, stored: Mapping[str, Any] | None, resplit: bool = False) -> bool:
        """Whether the data differs from `stored` (a checkpoint's identity). A changed one is
        refused, unless `resplit` asks to split it all the same."""
        then = (stored or {}).get(self.digest_key)
        digest = self.current_digest()
        changed = bool(then) and then != digest
        if changed and not resplit:
            raise DataChangedError(
                f"{self.path} is not the {self.what} this model was split from "
                f"({(stored or {}).get(self.size_key)} {self.size_key} then, {self.current_size()}"
                f" now; SHA-256 {then[:12]}... then, {digest[:12]}... now): restore"
                " it, point data_path= at the original, or give resplit=true to split it as it"
                " is now"
            )
        self.load()
        self.check_vocab()
        return changed

    def current_digest(self) -> str:
        """The data's SHA-256 as it is now (its identity's `digest_key`). A kind that writes
        what it reads (an encoded cache) answers without writing it, so that data refused as
        changed leaves nothing behind."""
        return self.identity()[self.digest_key]

    def current_size(self) -> int:
        """The data's size as it is now (its identity's `size_key`), for a refusal's message;
        written nothing, as `current_digest`."""
        return self.identity()[self.size_key]

    def check_vocab(self) -> None:
        """Refuse data the given vocabulary cannot encode (checked once it is known to be the
        run's data, or split anew as asked)."""

    # --- evaluation -----------------------------------------------------------------------

    def has_split(self, name: str) -> bool:
        """Whether split `name` holds anything to predict."""
        raise NotImplementedError

    def eval_batches(
        self, name: str, contract: str, context_size: int, predictions: int
    ) -> Sequence[tuple[torch.Tensor, torch.Tensor]]:
        """Split `name` in order as (x, y) batches of about `predictions` predictions."""
        raise NotImplementedError

    # The ways `charlm-eval mode=` can read a split; the first is how `eval_batches` reads it
    # (the run's own figures, in metrics.json's `evaluation`).
    eval_modes: ClassVar[tuple[str, ...]] = ("sequences",)

    def check_eval_mode(self, mode: str | None) -> None:
        """Refuse a `mode` that is not one of `eval_modes` (None: the first)."""
        if mode is not None and mode not in self.eval_modes:
            raise CharlmError(
                f"mode={mode!r}: one of {list(self.eval_modes)} for a model of {self.described}"
                + (
                    ""
                    if self.kind == "text"
                    else "; sliding, carried and dynamic read running text"
                )
            )

    def mode_batches(self, name: str, mode: str, predictions: int) -> Any:
        """Split `name` read another way than `eval_batches` (one of `eval_modes`)."""
        self.check_eval_mode(mode)
        raise NotImplementedError

    def tensors(self, contract: str, context_size: int) -> dict[str, tuple[Any, Any]]:
        """Every split as (x, y) tensors, where the kind keeps them in memory; else {}."""
        return {}

    def training_set(
        self, contract: str, context_size: int, batch_size: int, steps: int, seed: int,
        full_batch: bool = False,
    ) -> Any:  # fmt: skip
        """Endless chunks of `steps` training minibatches, drawn from `seed` alone by chunk
        (with `position` and `num_chunks` for resuming and the progress bar)."""
        raise NotImplementedError

    def longest(self) -> int:
        """Positions the longest sequence takes (its units and the end)."""
        raise NotImplementedError

    def split_characters(self, name: str) -> int | None:
        """Characters the predictions of split `name` cover, when they are not one a prediction
        (a model of tokens); None when every prediction is one character."""
        return None

    def file_batches(self, model: Any, path: str, unknown: str) -> Sequence[Any]:
        """charlm-eval's `words=FILE`: only a word list's models read another word list."""
        raise CharlmError(
            f"words=: this model was trained on {self.described}; score a text with "
            "charlm-score ckpt=... text=FILE"
        )

    # --- charlm-score ---------------------------------------------------------------------

    def read_input(self, path: str | None) -> tuple[Any, str]:
        """What charlm-score scores (a file, or standard input for None or '-'), and its name."""
        raise NotImplementedError

    def score(self, model: Any, inputs: Any, source: str) -> tuple[list[dict], dict]:
        """One row per line (or word) of `inputs`, and the totals."""
        raise NotImplementedError

    def render(self, rows: Sequence[Mapping[str, Any]], totals: Mapping[str, Any], fmt: str) -> str:
        """The rows as an aligned table with a totals line, as CSV or as JSON."""
        raise NotImplementedError

    # --- charlm-sample --------------------------------------------------------------------

    def sample(self, model: Any, options: Mapping[str, Any]) -> Iterator[str]:
        """What charlm-sample prints for `options` (its config), in pieces written out as
        they come, each as it is (a line ends with its newline)."""
        raise NotImplementedError

    # --- charlm-inspect -------------------------------------------------------------------

    def training_examples(self, model: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of the training split in the model's own contract."""
        raise NotImplementedError


class SequenceKind(DataKind):
    """Data made of separate sequences (words, lines, records), each ending with the end token,
    split by shuffling them with `random.seed(split_seed)` as the notebooks split words."""

    size_key = "lines"
    config_keys = ("split", "split_seed")
    # What a sequence is called in messages, and each line's prefix option when sampling.
    unit: ClassVar[str] = "lines"
    max_len: ClassVar[int] = LINE_MAX_LEN

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        vocab: Vocab | None = None,
        split: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 42,
    ) -> None:
        super().__init__(path, vocab)
        self.split = tuple(float(f) for f in split)
        if isinstance(split_seed, bool) or not isinstance(split_seed, int):
            raise ConfigError(
                f"data.split_seed={split_seed!r}: an integer (the notebooks' is 42)",
                key="data.split_seed",
            )
        self.split_seed = split_seed
        self.parts: dict[str, list[str]] = {}
        self._examples: dict[tuple, tuple[Any, Any]] = {}

    def has_split(self, name: str) -> bool:
        self.load()
        return bool(self.parts.get(name))

    def flat_ids(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The ids of split `name`'s sequences back to back, and each one's units."""
        return self.vocab.flat_ids(self.parts[name])

    def examples(self, name: str, contract: str, context_size: int) -> tuple[Any, Any]:
        """(x, y) of split `name`: context windows, or whole padded sequences (built once)."""
        from charlm.data.sequences import sequences_from_ids
        from charlm.data.windows import windows_from_ids

        self.load()
        key = (name, contract, context_size if contract == "windows" else None)
        if key not in self._examples:
            flat, lengths = self.flat_ids(name)
            self._examples[key] = (
                windows_from_ids(flat, lengths, context_size)
                if contract == "windows"
                else sequences_from_ids(flat, lengths)
            )
        return self._examples[key]

    def tensors(self, contract: str, context_size: int) -> dict[str, tuple[Any, Any]]:
        return {name: self.examples(name, contract, context_size) for name in SPLITS}

    def training_set(
        self, contract: str, context_size: int, batch_size: int, steps: int, seed: int,
        full_batch: bool = False,
    ) -> Any:  # fmt: skip
        from charlm.data.batches import RandomBatches

        x, y = self.examples("train", contract, context_size)
        # A minibatch of sequences is cut to its longest one.
        lengths = self.flat_ids("train")[1] + 1 if contract == "sequences" else None
        return RandomBatches(x, y, batch_size, steps, seed, full_batch, lengths)

    def longest(self) -> int:
        self.load()
        return max(int(self.flat_ids(name)[1].max()) + 1 for name in SPLITS if self.parts[name])

    def eval_batches(
        self, name: str, contract: str, context_size: int, predictions: int
    ) -> TensorSlices:
        x, y = self.examples(name, contract, context_size)
        rows = max(1, predictions // y[0].numel()) if len(y) else 1
        return TensorSlices(x, y, batch_size=rows)

    def novelty_splits(self) -> dict[str, list[str]]:
        """The split's sequences, which samples are tagged against."""
        self.load()
        return self.parts

    def training_examples(self, model: Any) -> tuple[Any, Any]:
        self.load()
        if not self.parts["train"]:
            raise CharlmError(f"the run's training split of {self.path} is empty")
        return model.examples(self.parts["train"])

    def sample(self, model: Any, options: Mapping[str, Any]) -> Iterator[str]:
        """`n` sequences in chunks, each tagged train, held-out or new when `novelty` is on,
        then a line counting the tags."""
        if options.get("prompt"):
            raise CharlmError(
                f"prompt={options['prompt']!r}: this model samples {self.unit}; start them with "
                "prefix=..."
            )
        splits = None
        if options.get("novelty"):
            if self.check_unchanged(model.data_identity, bool(options.get("resplit"))):
                print(f"charlm-sample: {RESPLIT_NOTE}", file=sys.stderr)
            splits = self.novelty_splits()
        draw = {
            "temperature": options.get("temperature", 1.0),
            "top_k": options.get("top_k"),
            "top_p": options.get("top_p"),
            "prefix": str(options.get("prefix") or ""),
            "max_len": options.get("max_len") or self.max_len,
            "batched": options.get("batched"),
        }
        generator = torch_generator(int(options.get("seed", 0)))
        counts: Counter = Counter()
        for words in sample_chunks(model, int(options.get("n") or 20), generator, **draw):
            if splits is None:
                yield "\n".join(words) + "\n"
                continue
            tags = novelty(words, splits)
            counts.update(tags)
            yield self.tagged(words, tags) + "\n"
        if splits is not None:
            yield novelty_summary(counts) + "\n"

    def tagged(self, samples: Sequence[str], tags: Sequence[str]) -> str:
        """Samples beside their tags: the tag first, a sentence after it."""
        return "\n".join(f"{t:<8}  {w}" for w, t in zip(samples, tags, strict=True))


# --- sampling and novelty ---------------------------------------------------------------------

NOVELTY = ("train", "held-out", "new")
# Words drawn and printed at a time: a large n streams out instead of waiting in memory.
WORDS_PER_CHUNK = 10_000


def torch_generator(seed: int) -> Any:
    import torch

    return torch.Generator().manual_seed(seed)


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


def sample_chunks(model: Any, n: int, generator: Any, **options: Any) -> Iterator[list[str]]:
    """`n` words in chunks of at most WORDS_PER_CHUNK, drawn one chunk after the other from
    `generator` (so n <= WORDS_PER_CHUNK gives exactly `model.sample(n, ...)`)."""
    for start in range(0, n, WORDS_PER_CHUNK):
        yield model.sample(min(WORDS_PER_CHUNK, n - start), generator=generator, **options)


# Sequences (words, lines) scored in one forward pass: bounds the memory of a long file.
SEQUENCES_PER_PASS = 4096


def readable_nll(model: Any, sequences: Sequence[str]) -> dict[str, float]:
    """Total NLL (nats, the end token included) of each sequence `model` can read (known
    characters, not too long), by sequence; the others are left out for their row's note."""
    vocab = model.require_vocab()
    readable = [s for s in sequences if not vocab.unknown(s) and not model.too_long(s)]
    totals: dict[str, float] = {}
    for start in range(0, len(readable), SEQUENCES_PER_PASS):
        batch = readable[start : start + SEQUENCES_PER_PASS]
        totals.update(zip(batch, model.word_nll(batch).tolist(), strict=True))
    return totals
