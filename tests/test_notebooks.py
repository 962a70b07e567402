"""The course's lessons (notebooks/*.py, jupytext percent scripts) run in a clean kernel with
their short settings, offline; a cell that errors, or a key figure's `assert`, fails the suite."""

from __future__ import annotations

import ast
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jupytext
import pytest
from conftest import ROOT
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
LESSONS = [
    "01_token_xor", "02_fizzbuzz", "03_perceptrons", "04_bigram", "05_bengio_mlp",
    "06_sequence_models", "07_activations", "08_tokens",
]  # fmt: skip
# The lessons that read the course's data (after `make data`).
NEEDS = {
    "04_bigram": "civil_mots.txt", "05_bengio_mlp": "civil_mots.txt",
    "06_sequence_models": "civil_mots.txt", "07_activations": "civil_mots.txt",
    "08_tokens": "tinyshakespeare.txt",
}  # fmt: skip


def test_every_lesson_is_a_notebook_that_checks_its_key_figure():
    assert [p.stem for p in NOTEBOOKS] == LESSONS
    for path in NOTEBOOKS:
        notebook = jupytext.read(path)
        # The percent script is plain Python (its magics are comments).
        asserts = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Assert)]
        assert asserts, f"{path.name} checks none of its figures"
        assert "charlm.fit(" in path.read_text(), f"{path.name} trains nothing with charlm"
        assert notebook.cells[0].cell_type == "markdown"


def execute(path: Path, root: Path) -> tuple[object, str]:
    """Run one lesson in a clean kernel of its own: (the executed notebook, the error or '')."""
    notebook = jupytext.read(path)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )  # fmt: skip
    try:
        client.execute(env=ENV | {"CHARLM_ROOT": str(root)})
    except CellExecutionError as err:  # a cell that raised, an assert included
        return notebook, str(err)
    return notebook, ""


# The short settings, and one torch thread per kernel: two lessons run at once, one per core
# of a 2-core machine (one at a time, the suite would spend twice as long in them).
ENV = {**os.environ, "CHARLM_QUICK": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[object, str]]:
    """Every lesson whose data is there, executed two at a time under a temporary root whose
    data/ is the checkout's."""
    root = tmp_path_factory.mktemp("course")
    (root / "data").symlink_to(ROOT / "data")
    runnable = [p for p in NOTEBOOKS if _missing(p) is None]
    # Longest first, so that the two workers finish together.
    runnable.sort(key=lambda p: p.stem not in ("04_bigram", "07_activations", "08_tokens"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip([p.stem for p in runnable], pool.map(lambda p: execute(p, root), runnable),
                        strict=True))  # fmt: skip
    return done


def _missing(path: Path) -> str | None:
    needed = NEEDS.get(path.stem)
    return needed if needed and not (ROOT / "data" / needed).is_file() else None


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_lesson_runs_and_shows_its_figures(path, executed):
    if _missing(path):
        pytest.skip(f"data/{_missing(path)} is missing: run `make data`")
    notebook, error = executed[path.stem]
    assert not error, error
    images = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert images, f"{path.name} showed no figure"
