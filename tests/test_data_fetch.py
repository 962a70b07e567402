"""civil_mots.txt on any machine: kept, copied or downloaded, always checked, never left half-done."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from charlm import CharWindowDataModule
from charlm.data.corpus import CorpusError
from charlm.data.fetch import CORPUS_SHA256, ensure_corpus, sha256

ROOT = Path(__file__).resolve().parents[1]
# Nothing listens on the discard port of the loopback: the connection is refused at once,
# as on a machine without network.
NO_NETWORK = "http://127.0.0.1:9/civil_mots.txt"
# Run as a make of its own, not as a sub-make of `make test`.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}


def test_the_pinned_hash_is_the_one_in_data():
    assert (ROOT / "data" / "civil_mots.txt.sha256").read_text().split()[0] == CORPUS_SHA256


def _fetch(dest: Path, shared: Path, url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from charlm.commands.data import main; main()", f"--dest={dest}",
         f"--shared={shared}", f"--url={url}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.slow
def test_without_a_copy_or_network_make_data_fails_in_one_line_and_leaves_nothing(tmp_path):
    dest = tmp_path / "data" / "civil_mots.txt"
    out = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "data", f"CORPUS={dest}", f"SHARED_DATA={tmp_path}/none"],
        capture_output=True, text=True, timeout=300,
        env={**CLEAN_ENV, "CHARLM_CORPUS_URL": NO_NETWORK},
    )  # fmt: skip
    assert out.returncode != 0
    # One line of ours; make adds its own "make: *** [data] Error 1" (make[1] when nested).
    (line,) = [line for line in out.stderr.splitlines() if not re.match(r"make(\[\d+\])?: ", line)]
    assert line.startswith("charlm-data: error: civil_mots.txt could not be downloaded")
    assert NO_NETWORK in line and str(dest) in line
    assert not dest.exists()
    assert not dest.parent.exists()  # the folder made for it went with it


def test_a_corrupted_download_is_refused_and_not_kept(tmp_path):
    bad = tmp_path / "served" / "civil_mots.txt"
    bad.parent.mkdir()
    bad.write_text("abc\ndef\n", encoding="utf-8")
    dest = tmp_path / "data" / "civil_mots.txt"
    out = _fetch(dest, tmp_path / "none", bad.as_uri())
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "does not match the SHA-256" in out.stderr
    assert not dest.parent.exists()  # the folder made for it went with it


def test_a_changed_local_copy_is_reported_not_replaced(tmp_path):
    dest = tmp_path / "civil_mots.txt"
    dest.write_text("edited\n", encoding="utf-8")
    with pytest.raises(
        CorpusError, match="does not match the SHA-256 of civil_mots.txt.*Delete it"
    ):
        ensure_corpus(dest, url=NO_NETWORK)
    assert dest.read_text(encoding="utf-8") == "edited\n"


@pytest.mark.corpus
def test_a_good_download_or_copy_is_checked_and_placed(corpus, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "civil_mots.txt").write_bytes(corpus.read_bytes())
    downloaded = tmp_path / "a" / "civil_mots.txt"
    out = _fetch(downloaded, tmp_path / "none", (served / "civil_mots.txt").as_uri())
    assert out.returncode == 0, out.stderr
    assert "downloaded from file://" in out.stdout
    assert sha256(downloaded) == CORPUS_SHA256
    copied = tmp_path / "b" / "civil_mots.txt"
    assert ensure_corpus(copied, shared=served, url=NO_NETWORK).startswith("copied from")
    assert ensure_corpus(copied, url=NO_NETWORK) == "present"


def test_the_datamodule_checks_the_corpus_and_never_downloads(tmp_path):
    # A changed civil_mots.txt is refused before training; a missing one is named by setup
    # with the command that fetches it, and nothing is downloaded behind the user's back.
    changed = tmp_path / "civil_mots.txt"
    changed.write_text("pas\nle\nbon\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="does not match the SHA-256 of civil_mots.txt"):
        CharWindowDataModule(changed).prepare_data()
    assert changed.read_text(encoding="utf-8") == "pas\nle\nbon\n"
    missing = CharWindowDataModule(tmp_path / "none" / "civil_mots.txt")
    missing.prepare_data()
    with pytest.raises(CorpusError, match="make data"):
        missing.setup()
    assert not (tmp_path / "none").exists()
    mine = tmp_path / "my_words.txt"
    mine.write_text("pas\nle\nbon\n", encoding="utf-8")
    CharWindowDataModule(mine).prepare_data()  # a user's own list is never checked


def test_a_failed_fetch_keeps_a_folder_that_was_there(tmp_path):
    dest = tmp_path / "data" / "civil_mots.txt"
    dest.parent.mkdir()
    (dest.parent / "mine.txt").write_text("kept\n")
    out = _fetch(dest, tmp_path / "none", NO_NETWORK)
    assert out.returncode == 2
    assert sorted(p.name for p in dest.parent.iterdir()) == ["mine.txt"]
