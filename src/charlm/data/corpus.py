"""Reading word lists from disk and splitting them as the notebooks do."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from pathlib import Path

from charlm.errors import CharlmError


class CorpusError(CharlmError):
    """A word-list file is missing, empty, badly encoded or too small for what is asked of it."""


def load_words(path: str | Path) -> list[str]:
    """Read one word per line (UTF-8); strips BOM, CR and surrounding spaces, drops blank lines."""
    path = Path(path)
    if path.is_dir():
        raise CorpusError(
            f"{path} is a directory: give a word list file (one word per line, UTF-8)"
        )
    if not path.is_file():
        raise CorpusError(
            f"word list not found: {path}. Run `make data` to fetch civil_mots.txt, "
            "or point data.path=... at your own file (one word per line, UTF-8)"
        )
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CorpusError(
            f"{path} cannot be read ({err.strerror or err}): check its permissions "
            "(`chmod u+r FILE`) or give a copy you can read"
        ) from None
    return words_from_bytes(data, str(path))


def words_from_bytes(raw: bytes, source: str) -> list[str]:
    """The words of a UTF-8 text (a file's or standard input's), normalised as `load_words` does."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise CorpusError(
            f"{source} is not valid UTF-8 (byte {err.start}: {raw[err.start : err.start + 1]!r}); "
            "save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    words = [line.strip() for line in text.splitlines()]
    words = [w for w in words if w]
    if not words:
        raise CorpusError(f"{source} holds no words: expected one word per line")
    return words


def distinct_words(words: Sequence[str]) -> tuple[list[str], int]:
    """The words in order with repeats dropped (first kept), and how many were dropped.

    A repeated word would land in several splits: held-out words would be copies of training
    ones, and the held-out figures would measure memory, not generalisation.
    """
    kept = list(dict.fromkeys(words))
    return kept, len(words) - len(kept)


def words_digest(words: Sequence[str]) -> str:
    """SHA-256 of the words as read (one per line): what a run's split is drawn from.

    Taken over the words, not the file's bytes, so a BOM or CRLF line ends change nothing.
    """
    return hashlib.sha256("\n".join(words).encode("utf-8")).hexdigest()


def split_words(
    words: Sequence[str],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 42,
    unit: str = "words",
) -> tuple[list[str], list[str], list[str]]:
    """Shuffle with `random.seed(seed)` then cut train/val/test, exactly like the notebooks.

    `unit` names what is split in the error for too few of them (words, lines)."""
    check_fractions(fractions)
    words = list(words)
    # The same Mersenne Twister stream as `random.seed(seed); random.shuffle(words)`.
    random.Random(seed).shuffle(words)
    n = len(words)
    n1 = int(fractions[0] * n)
    n2 = int((fractions[0] + fractions[1]) * n)
    parts = words[:n1], words[n1:n2], words[n2:]
    for name, frac, part in zip(("train", "val", "test"), fractions, parts, strict=True):
        if frac > 0 and not part:
            need = _words_needed(fractions)
            raise CorpusError(
                f"{n} {unit} are too few for the split {list(fractions)}: the {name} part is "
                f"empty; at least {need} {unit} are needed"
            )
    return parts


def check_fractions(fractions: Sequence[float]) -> None:
    """Raise `CorpusError` unless `fractions` is (train, val, test), train > 0, each < 1 or 1, sum 1."""
    if len(fractions) != 3:
        raise CorpusError(f"data.split must have 3 fractions (train, val, test), got {fractions}")
    train, val, test = (float(f) for f in fractions)
    if not 0 < train <= 1 or not 0 <= val < 1 or not 0 <= test < 1:
        raise CorpusError(
            f"data.split={list(fractions)}: the train fraction must be in (0, 1] and the val "
            "and test fractions in [0, 1)"
        )
    if abs(train + val + test - 1) > 1e-6:
        raise CorpusError(
            f"data.split={list(fractions)} sums to {train + val + test:g}; the fractions must sum to 1"
        )


def _words_needed(fractions: Sequence[float]) -> int:
    """Smallest word count for which every non-zero fraction gets at least one word."""
    n = 1
    while n < 10_000_000:
        n1 = int(fractions[0] * n)
        n2 = int((fractions[0] + fractions[1]) * n)
        sizes = (n1, n2 - n1, n - n2)
        if all(s > 0 or f == 0 for s, f in zip(sizes, fractions, strict=True)):
            return n
        n += 1
    return n
