"""civil_mots.txt on any machine: a copy already there, a shared folder, or its public source.

    charlm-data --dest data/civil_mots.txt --shared ../shared/data   (what `make data` runs)

The file is the word list of the course this package follows, kept in the course's repository
at a pinned commit; whatever the source, it is checked against its SHA-256 before it is kept,
and a failed copy or download leaves nothing behind.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from charlm.data.corpus import CorpusError

CORPUS_NAME = "civil_mots.txt"
CORPUS_SHA256 = "dfd990e6f4bfd01040d302bf8817a14199bd005b07e96f962b1430c1609bea69"
CORPUS_URL = (
    "https://raw.githubusercontent.com/gasilber/tp_nlp_tokens_mines/"
    "7214b902ebc86d3958722d05d00c8bd32e64a9ef/civil_mots.txt"
)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _place(dest: Path, write: Callable[[BinaryIO], None], source: str) -> None:
    """Write into a temporary file beside `dest`, check its hash, then rename it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        if sha256(tmp) != CORPUS_SHA256:
            raise CorpusError(
                f"{source} does not match the SHA-256 of {CORPUS_NAME} ({CORPUS_SHA256[:12]}...); "
                f"nothing was kept. Get the file from {CORPUS_URL} and put it at {dest}"
            )
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def check_corpus(path: str | Path) -> None:
    """Raise `CorpusError` unless the file at `path` is civil_mots.txt as published."""
    if sha256(Path(path)) != CORPUS_SHA256:
        raise CorpusError(
            f"{path} does not match the SHA-256 of {CORPUS_NAME} ({CORPUS_SHA256[:12]}...): it was "
            "changed. Delete it and run `make data` again; to train on an edited list, save it "
            "under another name and give data.path="
        )


def ensure_corpus(
    dest: str | Path, shared: str | Path | None = None, url: str = CORPUS_URL, timeout: float = 30
) -> str:
    """Make `dest` hold civil_mots.txt, checked; returns where it came from.

    In order: `dest` itself if present (checked, never replaced), `shared`/civil_mots.txt if
    present (copied), else a download from `url`. Raises `CorpusError` with one line saying
    what went wrong, where to get the file and where to put it.
    """
    dest = Path(dest)
    if dest.is_file():
        check_corpus(dest)
        return "present"
    local = Path(shared) / CORPUS_NAME if shared else None
    if local is not None and local.is_file():
        with local.open("rb") as src:
            _place(dest, lambda f: shutil.copyfileobj(src, f), str(local))
        return f"copied from {local}"

    def download(f: BinaryIO) -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                shutil.copyfileobj(response, f)
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise CorpusError(
                f"{CORPUS_NAME} could not be downloaded ({reason}): get it from {url} "
                f"and put it at {dest}"
            ) from None

    _place(dest, download, f"the file downloaded from {url}")
    return f"downloaded from {url}"


def main(argv: list[str] | None = None) -> None:
    """`make data`: print where the corpus came from, or one line saying how to get it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default=f"data/{CORPUS_NAME}")
    parser.add_argument("--shared", default="../shared/data", help="a folder holding a copy")
    parser.add_argument("--url", default=os.environ.get("CHARLM_CORPUS_URL") or CORPUS_URL)
    args = parser.parse_args(argv)
    try:
        origin = ensure_corpus(args.dest, args.shared, args.url)
    except CorpusError as err:
        print(f"charlm-data: error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"{args.dest}: SHA-256 OK ({origin})")


if __name__ == "__main__":
    main()
