"""A text encoded once into a file of character ids, kept beside it and reused while the
text is unchanged (`encode_text`); reading text files as strict UTF-8, with one-line errors
that say how to convert them."""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charlm.data.kinds import as_paths
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
    digest: str | None = None,
) -> EncodedText:
    """The text's ids, encoded now or found from an earlier call on the same text.

    `check(length)` may refuse the text by its length in characters: it runs before anything
    is written, so a text refused so leaves no cache behind. `digest`: the texts'
    `text_digest`, where the caller has just read it.

    The encoded file is named by the text's SHA-256: a changed text is encoded anew beside the
    file of its earlier version (which is kept: a run of that version still reads it), an
    unchanged one is read back without decoding once its own SHA-256 is checked, so a damaged
    file is encoded again instead of trusted.
    """
    paths = as_paths(path)
    if not paths:
        raise TextError("no text file given: data.path=A_TEXT_FILE (or several, comma-separated)")
    digest = digest or text_digest(paths)
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
