"""Checkpoints written by earlier releases (tests/fixtures/checkpoints/, one tiny run of each
kind of data) keep loading, and charlm-eval gives them the figures it gave then, bit for bit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from commands import run_command

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
DATA = {"words": "words.txt", "text": "text.txt", "lines_chars": "lines.txt",
        "lines_tokens": "lines.txt"}  # fmt: skip


@pytest.fixture
def fixtures(tmp_path: Path) -> Path:
    """A copy of the fixtures, so that nothing (a text's cache) is written into the checkout."""
    return Path(shutil.copytree(FIXTURES, tmp_path / "checkpoints"))


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_an_earlier_releases_checkpoint_evaluates_to_the_same_figures(fixtures, kind):
    ckpt, data = fixtures / f"{kind}.pt", fixtures / DATA[kind]
    result = run_command("charlm-eval", f"ckpt={ckpt}", f"data_path={data}", cwd=fixtures)
    assert result.returncode == 0, result.stderr
    written = json.loads((fixtures / f"eval-{kind}.json").read_text())["results"]
    assert written == EXPECTED[kind]
