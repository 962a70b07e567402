"""The data files on any machine: a copy already there, a shared folder, or the public source.

    charlm-data --dest data/civil_mots.txt --dest data/tinyshakespeare.txt --shared ../shared/data
    (what `make data` runs)

civil_mots.txt is the word list of the course this package follows, kept in the course's
repository at a pinned commit; tinyshakespeare.txt is char-rnn's running text, at a pinned
commit too. Whatever the source, a file is checked against its SHA-256 before it is kept, and
a failed copy or download leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from charlm.data.corpus import CorpusError

CORPUS_NAME = "civil_mots.txt"
CORPUS_SHA256 = "dfd990e6f4bfd01040d302bf8817a14199bd005b07e96f962b1430c1609bea69"
CORPUS_URL = (
    "https://raw.githubusercontent.com/gasilber/tp_nlp_tokens_mines/"
    "7214b902ebc86d3958722d05d00c8bd32e64a9ef/civil_mots.txt"
)

TEXT_NAME = "tinyshakespeare.txt"


@dataclass(frozen=True)
class DataFile:
    """A file charlm knows: its SHA-256 and where it is published."""

    sha256: str
    url: str


KNOWN_FILES = {
    CORPUS_NAME: DataFile(CORPUS_SHA256, CORPUS_URL),
    TEXT_NAME: DataFile(
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    ),
}


def known_file(name: str) -> DataFile:
    """What charlm knows of the data file called `name`; a one-line error for any other."""
    if name not in KNOWN_FILES:
        raise CorpusError(
            f"{name!r} is not a data file charlm knows (it knows {', '.join(KNOWN_FILES)}); "
            "give one of those names"
        )
    return KNOWN_FILES[name]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _place(dest: Path, write: Callable[[BinaryIO], None], source: str, name: str) -> None:
    """Write into a temporary file beside `dest`, check its hash, then rename it into place."""
    known = known_file(name)
    # The folders made for `dest` go again if it is not placed: a failed fetch leaves no
    # empty ./data behind in the folder a run was started from.
    made = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        _write_checked(dest, write, source, name, known)
    finally:
        if not dest.exists():
            for folder in made:  # innermost first; one that now holds anything stays
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _write_checked(
    dest: Path, write: Callable[[BinaryIO], None], source: str, name: str, known: DataFile
) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        if sha256(tmp) != known.sha256:
            raise CorpusError(
                f"{source} does not match the SHA-256 of {name} ({known.sha256[:12]}...); "
                f"nothing was kept. Get the file from {known.url} and put it at {dest}"
            )
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def check_corpus(path: str | Path, name: str = CORPUS_NAME) -> None:
    """Raise `CorpusError` unless the file at `path` is the data file `name` as published."""
    known = known_file(name)
    if sha256(Path(path)) != known.sha256:
        raise CorpusError(
            f"{path} does not match the SHA-256 of {name} ({known.sha256[:12]}...): it was "
            "changed. Delete it and run `make data` again; to train on an edited copy, save it "
            "under another name and give data.path="
        )


def ensure_corpus(
    dest: str | Path,
    shared: str | Path | None = None,
    url: str | None = None,
    timeout: float = 30,
    name: str = CORPUS_NAME,
) -> str:
    """Make `dest` hold the data file `name` (civil_mots.txt by default), checked; returns
    where it came from.

    In order: `dest` itself if present (checked, never replaced), `shared`/`name` if present
    (copied), else a download from `url` (default: its pinned source). Raises `CorpusError`
    with one line saying what went wrong, where to get the file and where to put it.
    """
    dest = Path(dest)
    url = url or known_file(name).url
    if dest.is_file():
        check_corpus(dest, name)
        return "present"
    local = Path(shared) / name if shared else None
    if local is not None and local.is_file():
        with local.open("rb") as src:
            _place(dest, lambda f: shutil.copyfileobj(src, f), str(local), name)
        return f"copied from {local}"

    def download(f: BinaryIO) -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                shutil.copyfileobj(response, f)
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise CorpusError(
                f"{name} could not be downloaded ({reason}): get it from {url} and put it at {dest}"
            ) from None

    _place(dest, download, f"the file downloaded from {url}", name)
    return f"downloaded from {url}"
