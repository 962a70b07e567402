"""Running text as a stream of character ids, in plain NumPy and torch.

The text (one UTF-8 file or several, read one after the other) is encoded once into a file of
ids (`encode_text`), reused while the text is unchanged and read from disk by position, so a
text much larger than memory trains with bounded memory. Splits are contiguous stretches of
the stream (`split_bounds`). Training reads random blocks (`TextBlocks`); evaluation reads
each split once in non-overlapping blocks (`EvalBlocks`).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

from charlm.data.batches import SPLITS
from charlm.data.kinds import DataKind, as_paths
from charlm.data.scoring import cell, rows_out
from charlm.data.sequences import PAD_TARGET
from charlm.data.vocab import TextVocabulary
from charlm.errors import CharlmError

log = logging.getLogger(__name__)

# Bytes read at a time: bounds the memory of encoding a text of any size.
READ_BYTES = 16 << 20
# Bumped when the layout of the encoded file changes, so older ones are rebuilt (2: the
# ids' own SHA-256 is recorded and checked).
FORMAT = 2


class TextError(CharlmError):
    """A text file is missing, empty, not UTF-8, or cannot be split as asked."""


@dataclass(frozen=True)
class EncodedText:
    """A text encoded into ids: where they are kept, the vocabulary, and the text's identity."""

    sources: tuple[Path, ...]
    ids_path: Path
    vocab: TextVocabulary
    length: int
    sha256: str
    dtype: str

    def ids(self) -> IdsFile:
        """The whole stream, read from disk by position (slices and blocks)."""
        return IdsFile(self.ids_path, self.dtype, self.length)


class IdsFile:
    """The ids of an encoded text on disk, read by position: `ids[a:b]` and `blocks`.

    Each read is one `os.pread`, so the process holds only what it read. Written by hand
    because a memory map (`np.memmap`) counts every page it touches, and the kernel's
    read-ahead around it, as the process's own memory: 50 minibatches of random blocks of a
    1 GB text grew a process by 1.5 GB that way.
    """

    def __init__(self, path: Path, dtype: str, length: int) -> None:
        self.path, self.dtype, self.length = Path(path), np.dtype(dtype), length
        self._fd: int | None = None

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("IdsFile reads slices (ids[a:b]) and blocks (ids.blocks(...))")
        start, stop, step = key.indices(self.length)
        if step != 1:
            raise ValueError("IdsFile reads contiguous slices only")
        return self._read(start, max(stop - start, 0))

    def _read(self, start: int, count: int) -> np.ndarray:
        size = self.dtype.itemsize
        data = os.pread(self._file(), count * size, start * size)
        return np.frombuffer(data, dtype=self.dtype)

    def blocks(self, starts: np.ndarray, width: int) -> np.ndarray:
        """Rows ids[s : s + width] for each s of `starts` (blocks, width)."""
        return np.stack([self._read(int(s), width) for s in starts])

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None}  # each process opens its own

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise TextError(f"{path}: no such file; give data.path=A_TEXT_FILE (UTF-8)")
    if not path.is_file():
        raise TextError(f"{path} is not a file; give data.path=A_TEXT_FILE (UTF-8)")
    _check_openable(path)
    if path.stat().st_size == 0:
        raise TextError(f"{path} is empty: give a text file with some characters in it")


def _check_openable(path: Path) -> None:
    """A file that exists but cannot be read (its permissions) is one line, not a traceback."""
    try:
        with path.open("rb"):
            pass
    except OSError as err:
        raise TextError(
            f"{path} cannot be read ({err.strerror or err}): check its permissions "
            "(`chmod u+r FILE`) or give a copy you can read"
        ) from None


def text_digest(paths: Sequence[Path]) -> str:
    """SHA-256 of the texts, each file's length included, so files joined differently differ."""
    digest = hashlib.sha256()
    for path in paths:
        _check_readable(path)
        digest.update(f"{path.stat().st_size}:".encode())
        with path.open("rb") as f:
            for block in iter(lambda f=f: f.read(READ_BYTES), b""):
                digest.update(block)
    return digest.hexdigest()


def decoded_chunks(path: Path) -> Iterator[str]:
    """The text of `path` in pieces of about READ_BYTES, decoded as strict UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    offset = 0
    with path.open("rb") as f:
        while True:
            block = f.read(READ_BYTES)
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as err:
                raise TextError(
                    f"{path} is not UTF-8 text (byte {offset + err.start}: {err.reason}); "
                    f"convert it, e.g. `iconv -f {_likely_encoding(path)} -t utf-8 FILE > "
                    "FILE.utf8`"
                ) from None
            if text:
                yield text
            if not block:
                return
            offset += len(block)


def _likely_encoding(path: Path) -> str:
    """The encoding a file that is not UTF-8 probably has, for the hint that converts it:
    UTF-16 when it starts with its byte-order mark, else Latin-1."""
    with path.open("rb") as f:
        head = f.read(4)
    if head[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return "utf-32"
    return "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "latin1"


def default_cache_dir(first: Path) -> Path:
    """`.charlm-cache/` beside the text, or the user's cache folder when that is read-only."""
    beside = first.resolve().parent / ".charlm-cache"
    if os.access(first.resolve().parent, os.W_OK):
        return beside
    home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(home) / "charlm"


def encode_text(
    path: str | Path | Sequence[str | Path],
    cache_dir: str | Path | None = None,
    check: Callable[[int], None] | None = None,
) -> EncodedText:
    """The text's ids, encoded now or found from an earlier call on the same text.

    `check(length)` may refuse the text by its length in characters: it runs before anything
    is written, so a text refused so leaves no cache behind.

    The encoded file is named by the text's SHA-256: a changed text is encoded anew beside the
    file of its earlier version (which is kept: a run of that version still reads it), an
    unchanged one is read back without decoding once its own SHA-256 is checked, so a damaged
    file is encoded again instead of trusted.
    """
    paths = as_paths(path)
    if not paths:
        raise TextError("no text file given: data.path=A_TEXT_FILE (or several, comma-separated)")
    digest = text_digest(paths)
    folder = Path(cache_dir) if cache_dir else default_cache_dir(paths[0])
    stem = paths[0].stem + (f"+{len(paths) - 1}" if len(paths) > 1 else "")
    ids_path = folder / f"{stem}.{digest[:16]}.ids"
    meta_path = ids_path.with_suffix(".json")
    found = _read_meta(meta_path, ids_path, digest)
    if found is not None:
        vocab, length, dtype = found
        if check is not None:
            check(length)
        return EncodedText(tuple(paths), ids_path, vocab, length, digest, dtype)

    chars: set[str] = set()
    length = 0
    for p in paths:
        for text in decoded_chunks(p):
            chars.update(text)
            length += len(text)
    if length < 2:
        raise TextError(f"{paths[0]} holds {length} character(s): a text needs at least 2")
    if check is not None:
        check(length)
    vocab = TextVocabulary(chars)
    dtype = "uint16" if len(vocab) <= 1 << 16 else "uint32"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        ids_sha256 = _write_ids(paths, vocab, dtype, ids_path)
        meta = {
            "format": FORMAT, "sha256": digest, "sources": [str(p) for p in paths],
            "length": length, "dtype": dtype, "vocab": vocab.to_string(),
            "ids_sha256": ids_sha256,
        }  # fmt: skip
        meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    except OSError as err:
        raise TextError(
            f"data.cache_dir={folder}: the encoded text cannot be written there "
            f"({err.strerror or err}); give a writable folder (data.cache_dir=...)"
        ) from None
    return EncodedText(tuple(paths), ids_path, vocab, length, digest, dtype)


def _write_ids(paths: Sequence[Path], vocab: TextVocabulary, dtype: str, ids_path: Path) -> str:
    """Write the ids of the texts to `ids_path` (whole or not at all); their SHA-256.

    They go to a `.part` file named with this process's id first, then take their name; parts
    left by a process that is gone (killed while encoding) are removed.
    """
    folder = ids_path.parent
    for part in folder.glob(f".{ids_path.name}.*.part"):
        if not _alive(part.name.removeprefix(f".{ids_path.name}.").split(".")[0]):
            part.unlink(missing_ok=True)
    codepoints = np.array(sorted(ord(c) for c in vocab.itos), dtype=np.uint32)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{ids_path.name}.{os.getpid()}.", suffix=".part",
                               dir=folder)  # fmt: skip
    try:
        with os.fdopen(fd, "wb") as out:
            for p in paths:
                for text in decoded_chunks(p):
                    points = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
                    block = np.searchsorted(codepoints, points).astype(dtype).tobytes()
                    digest.update(block)
                    out.write(block)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's file is private; the cache is not
        Path(tmp).replace(ids_path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return digest.hexdigest()


def _alive(pid: str) -> bool:
    """Whether process `pid` (a part file's writer) is running."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _read_meta(
    meta_path: Path, ids_path: Path, digest: str
) -> tuple[TextVocabulary, int, str] | None:
    """What an earlier encoding of the same text recorded, if its ids are whole and intact
    (their SHA-256 is the one recorded); else None."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        length, dtype = int(meta["length"]), str(meta["dtype"])
        whole = ids_path.stat().st_size == length * np.dtype(dtype).itemsize
        if meta.get("format") != FORMAT or meta.get("sha256") != digest or not whole:
            return None
        if _file_sha256(ids_path) != meta.get("ids_sha256"):
            log.warning("%s is damaged (its SHA-256 is not the one recorded): encoding the "
                        "text again", ids_path)  # fmt: skip
            return None
        return TextVocabulary.from_string(meta["vocab"]), length, dtype
    except (OSError, ValueError, KeyError, TypeError, CharlmError):
        return None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(READ_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def split_bounds(length: int, fractions: Sequence[float]) -> list[tuple[int, int]]:
    """Contiguous (start, end) of each split: split i ends at floor(length * (f_0 + ... + f_i)).

    Computed in exact fractions of the decimal values given, so 0.85 / 0.05 / 0.10 of
    tinyshakespeare.txt puts the test split at character 1,003,854, where nanoGPT's
    validation text starts.
    """
    values = list(fractions)
    if len(values) != 3 or any(
        isinstance(f, bool) or not isinstance(f, int | float) or not 0 <= f <= 1 for f in values
    ):
        raise TextError(
            f"data.split={values!r}: three fractions in [0, 1] (train, val, test), e.g. "
            "[0.85, 0.05, 0.10]"
        )
    exact = [Fraction(str(f)) for f in values]
    if sum(exact) != 1:
        raise TextError(
            f"data.split={values!r}: the fractions add up to {float(sum(exact)):g}, not 1"
        )
    bounds, start, cumulative = [], 0, Fraction(0)
    for f in exact:
        cumulative += f
        end = math.floor(length * cumulative)
        bounds.append((start, end))
        start = end
    return bounds


def gather_blocks(stream: np.ndarray | IdsFile, starts: np.ndarray, width: int) -> torch.Tensor:
    """Rows stream[s : s + width] for each s of `starts`, as int64 (blocks, width)."""
    if isinstance(stream, IdsFile):
        return torch.from_numpy(stream.blocks(starts, width).astype(np.int64))
    index = starts[:, None] + np.arange(width)
    return torch.from_numpy(np.asarray(stream[index], dtype=np.int64))


class BlockChunk(NamedTuple):
    """`updates` minibatches of random blocks of the stream: update i reads the blocks that
    start at `starts[i]`, inputs `block_size` characters and targets the same shifted by one."""

    stream: np.ndarray
    starts: np.ndarray
    block_size: int
    updates: int
    device: str = "cpu"

    def minibatch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        blocks = gather_blocks(self.stream, self.starts[i], self.block_size + 1)
        blocks = blocks.to(self.device)
        return blocks[:, :-1], blocks[:, 1:]  # (batch, block) each


class TextBlocks(IterableDataset):
    """Random blocks of a split, drawn with replacement, `steps_per_batch` updates a chunk.

    Chunk c is drawn from a generator seeded with (seed, c) alone, so a resumed run reads the
    same blocks as an uninterrupted one (as `RandomBatches` does for word lists).
    """

    def __init__(
        self,
        stream: np.ndarray,
        bounds: tuple[int, int],
        block_size: int,
        batch_size: int,
        steps_per_batch: int = 1,
        seed: int = 0,
    ) -> None:
        self.stream, self.bounds = stream, bounds
        self.block_size, self.batch_size = block_size, batch_size
        self.steps_per_batch, self.seed = steps_per_batch, seed
        self.num_chunks: int | None = None
        self.position: Callable[[], int] = lambda: 0

    def __len__(self) -> int:
        if self.num_chunks is None:
            raise TypeError("endless TextBlocks have no length")
        return self.num_chunks

    def __iter__(self) -> Iterator[BlockChunk]:
        start, end = self.bounds
        # A block and its shifted targets need block_size + 1 characters.
        last_start = end - self.block_size - 1
        c = self.position()
        while self.num_chunks is None or c < self.num_chunks:
            rng = np.random.default_rng([self.seed % 2**63, c])
            starts = rng.integers(start, last_start + 1, (self.steps_per_batch, self.batch_size))
            yield BlockChunk(self.stream, starts, self.block_size, self.steps_per_batch)
            c += 1


class EvalBlocks(Dataset):
    """A split read once in blocks of `block_size`: every character after the split's first
    is predicted exactly once, from the characters before it in its block.

    Block k starts `k * stride` characters into the split. With `stride` None the blocks do
    not overlap (the run's own full pass); with a smaller stride (`SlidingBlocks`) the first
    block scores all its predictions and each later one only its last `stride`, the others
    being the block before's. Batch i holds `blocks_per_batch` blocks of inputs (block_size)
    and targets; what a block does not score is padded (inputs 0, targets `PAD_TARGET`, which
    no metric counts).
    """

    def __init__(
        self,
        stream: np.ndarray,
        bounds: tuple[int, int],
        block_size: int,
        blocks_per_batch: int,
        stride: int | None = None,
    ) -> None:
        self.stream, self.block_size = stream, block_size
        self.start, self.end = bounds
        self.stride = stride or block_size
        self.predictions = max(self.end - self.start - 1, 0)
        beyond = max(0, self.predictions - block_size)
        self.blocks = 0 if not self.predictions else 1 + math.ceil(beyond / self.stride)
        self.blocks_per_batch = max(1, blocks_per_batch)

    def __len__(self) -> int:
        return math.ceil(self.blocks / self.blocks_per_batch)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        T = self.block_size
        first = i * self.blocks_per_batch
        rows = min(self.blocks_per_batch, self.blocks - first)
        x = np.zeros((rows, T), dtype=np.int64)
        y = np.full((rows, T), PAD_TARGET, dtype=np.int64)
        for r in range(rows):
            at = self.start + (first + r) * self.stride
            n = min(T, self.end - 1 - at)
            x[r, :n] = self.stream[at : at + n]
            y[r, :n] = self.stream[at + 1 : at + n + 1]
            if first + r:
                y[r, : T - self.stride] = PAD_TARGET  # scored by the block before
        return torch.from_numpy(x), torch.from_numpy(y)


class SlidingBlocks(EvalBlocks):
    """`EvalBlocks` overlapping by half (`charlm-eval mode=sliding`): every character after
    the first block is predicted from at least `block_size // 2` characters before it."""

    def __init__(
        self, stream: np.ndarray, bounds: tuple[int, int], block_size: int, blocks_per_batch: int
    ) -> None:
        super().__init__(stream, bounds, block_size, blocks_per_batch, max(1, block_size // 2))


class CarriedRows(Dataset):
    """A split as `rows` contiguous streams read block after block (`eval_mode=carried`):
    batch i holds block i of every row, so a recurrent model carrying its state from one batch
    to the next (`CarriedState`) reads every character with all those before it in its row,
    as char-rnn evaluates. Every character after the split's first is predicted once."""

    def __init__(
        self, stream: np.ndarray, bounds: tuple[int, int], block_size: int, rows: int
    ) -> None:
        self.stream, self.block_size = stream, block_size
        self.start, end = bounds
        self.inputs_end = max(end - 1, self.start)  # the last character is only a target
        predictions = self.inputs_end - self.start
        self.rows = max(1, min(rows, predictions))
        self.row_length = math.ceil(predictions / self.rows) if predictions else 0
        self.blocks = math.ceil(self.row_length / block_size)

    def __len__(self) -> int:
        return self.blocks

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        T = self.block_size
        x = np.zeros((self.rows, T), dtype=np.int64)
        y = np.full((self.rows, T), PAD_TARGET, dtype=np.int64)
        for r in range(self.rows):
            row_start = self.start + r * self.row_length
            at = row_start + i * T
            n = min(T, min(row_start + self.row_length, self.inputs_end) - at)
            if n > 0:
                x[r, :n] = self.stream[at : at + n]
                y[r, :n] = self.stream[at + 1 : at + n + 1]
        return torch.from_numpy(x), torch.from_numpy(y)


def read_text(path: str | Path | None) -> tuple[str, str]:
    """The text of a file (strict UTF-8), or of standard input for None or '-'; and its name."""
    import sys

    if path in (None, "", "-"):
        data = sys.stdin.buffer.read()
        try:
            return data.decode("utf-8"), "standard input"
        except UnicodeDecodeError as err:
            raise TextError(f"standard input is not UTF-8 text (byte {err.start})") from None
    p = Path(path)
    if not p.exists():
        raise TextError(f"text={path}: no such file")
    if not p.is_file():
        raise TextError(
            f"text={path} is not a regular file (a directory, a FIFO, ...): give a text file, "
            "or - to read standard input"
        )
    _check_openable(p)
    return "".join(decoded_chunks(p)), str(p)


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

    def _load(self) -> None:
        encoded = encode_text(self.paths, self.cache_dir, check=self._check_length)
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

    def current(self) -> tuple[str, int]:
        """The text's SHA-256 and characters, read without encoding it (no cache written)."""
        if self.encoded is not None:
            return self.encoded.sha256, self.encoded.length
        chars = sum(len(chunk) for p in self.paths for chunk in decoded_chunks(p))
        return text_digest(self.paths), chars

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
            options.get("temperature", 1.0), options.get("top_k"),
        )  # fmt: skip
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
