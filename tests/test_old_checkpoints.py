"""Checkpoints written by earlier releases (tests/fixtures/checkpoints/, one tiny run of each
kind of data) keep loading, and charlm-eval gives them the figures it gave then.

The figures are compared to float32 rounding, not bit for bit: another CPU sums the same
float32 values in another order (its vector width), and moves the last digits."""

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
    assert flat(written).keys() == flat(EXPECTED[kind]).keys()
    for key, value in flat(EXPECTED[kind]).items():
        if isinstance(value, float):
            assert flat(written)[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
        else:
            assert flat(written)[key] == value, key


def flat(results: dict, prefix: str = "") -> dict:
    """{'test/loss': 2.93, ...} of nested results."""
    out = {}
    for key, value in results.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out
