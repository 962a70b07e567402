"""The course's lessons (notebooks/*.py, jupytext percent scripts) run in a kernel with their
short settings, offline; a cell that errors, or a key figure's `assert`, fails the suite."""

from __future__ import annotations

import ast
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jupytext
import nbformat
import pytest
from conftest import ROOT
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from charlm.course.exercises import BEGIN, TAG

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


def execute(paths: list[Path], root: Path) -> dict[str, tuple[object, str]]:
    """Run lessons one after the other in one kernel, its namespace emptied before each (a
    kernel's start, importing torch, Lightning and Hydra, costs more than most QUICK lessons):
    {lesson: (the executed notebook, the error or '')}."""
    done, first = {}, None
    for path in paths:
        if first is not None:
            _run(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(RESET)]), first, root)
        notebook = jupytext.read(path)
        client = _run(notebook, first, root)
        done[path.stem] = notebook, client.error
        first = first or client
    if first is not None:
        first._cleanup_kernel()
    return done


# Between two lessons: no name of the last one is left, and no open figure.
RESET = "%reset -f\nimport matplotlib.pyplot\nmatplotlib.pyplot.close('all')"


def _run(notebook, kernel_of: NotebookClient | None, root: Path) -> NotebookClient:
    """Execute `notebook` in the kernel of `kernel_of`, or in a new one that stays up."""
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", km=kernel_of and kernel_of.km,
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    )  # fmt: skip
    client.kc, client.error = kernel_of and kernel_of.kc, ""
    try:
        client.execute(env=ENV | {"CHARLM_ROOT": str(root)}, cleanup_kc=False)
    except CellExecutionError as err:  # a cell that raised, an assert included
        client.error = str(err)
    return client


# The short settings, and one torch thread per kernel: two kernels run lessons at once, one per
# core of a 2-core machine (one at a time, the suite would spend twice as long in them).
ENV = {**os.environ, "CHARLM_QUICK": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[object, str]]:
    """Every lesson whose data is there, in two kernels side by side, under a temporary root
    whose data/ is the checkout's."""
    root = tmp_path_factory.mktemp("course")
    (root / "data").symlink_to(ROOT / "data")
    runnable = [p for p in NOTEBOOKS if _missing(p) is None]
    with ThreadPoolExecutor(max_workers=2) as pool:
        halves = pool.map(lambda paths: execute(paths, root), [runnable[::2], runnable[1::2]])
        return {stem: result for half in halves for stem, result in half.items()}


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
    # With its solutions (the lesson itself), every exercise's check is right.
    for cell in notebook.cells:
        if TAG in cell.metadata.get("tags", []) and BEGIN not in cell.source:
            shown = "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)
            assert shown.startswith("✅ Juste."), (path.name, cell.source, shown)
