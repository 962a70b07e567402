"""`make exercises`: the lessons handed out with stubs in place of their solutions. As handed
out, every check answers with its French message (no traceback); with the solutions, the
lessons themselves pass every check (tests/test_notebooks.py runs them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from nbclient import NotebookClient

from charlm.course.exercises import BEGIN, END, STUB, TAG, build_exercises, student_notebook
from charlm.errors import CharlmError

LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
# The lessons whose exercises read the course's word list.
NEEDS_CORPUS = {"04_bigram", "05_bengio_mlp", "06_sequence_models"}


def test_every_lesson_is_built_and_only_its_solutions_change(tmp_path):
    import jupytext

    written, kept = build_exercises(ROOT / "notebooks", tmp_path)
    assert not kept
    assert [p.name for p in written] == [f"{p.stem}.ipynb" for p in LESSONS]
    solutions = 0
    for lesson, path in zip(LESSONS, written, strict=True):
        teacher, student = jupytext.read(lesson), nbformat.read(path, as_version=4)
        nbformat.validate(student)
        assert len(student.cells) == len(teacher.cells)
        for mine, theirs in zip(student.cells, teacher.cells, strict=True):
            assert BEGIN not in mine.source and END not in mine.source
            assert not mine.get("outputs")
            if BEGIN not in theirs.source:
                assert mine.source == theirs.source
                continue
            solutions += 1
            assert mine.metadata["nbgrader"]["solution"] is True
            assert all(f"    {line}" in mine.source for line in STUB.splitlines())
            # What is left of the cell is the lesson's cell, its solution lines taken out.
            kept = [
                line for line in mine.source.splitlines() if line.strip() not in STUB.splitlines()
            ]
            lines = iter(theirs.source.splitlines())
            assert all(any(line == other for other in lines) for line in kept)
    assert solutions >= 10  # the cells a student writes, one lesson or more each


def test_a_solution_outside_an_exercise_cell_is_refused(tmp_path):
    lesson = tmp_path / "01_x.py"
    lesson.write_text(f"# %%\ndef f():\n    {BEGIN}\n    return 1\n    {END}\n")
    with pytest.raises(CharlmError, match=f"not tagged '{TAG}'"):
        student_notebook(lesson)


@pytest.mark.slow
def test_the_command_builds_or_fails_in_one_line(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"}
    ok = subprocess.run(
        [sys.executable, "-m", "charlm.course.exercises", "--out", str(tmp_path / "ex")],
        cwd=ROOT, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert len(list((tmp_path / "ex").glob("*.ipynb"))) == len(LESSONS)
    bad = subprocess.run(
        [sys.executable, "-m", "charlm.course.exercises", "--lessons", str(tmp_path / "none")],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "no lesson" in bad.stderr


def exercise_cells(notebook) -> list:
    """The first code cell (imports, ROOT) and every exercise cell: the handed-out exercises
    need nothing else, so they run in seconds without the lesson's training."""
    code = [c for c in notebook.cells if c.cell_type == "code"]
    return [code[0]] + [c for c in code[1:] if TAG in c.metadata.get("tags", [])]


@pytest.mark.slow
def test_as_handed_out_every_check_fails_with_its_french_message(tmp_path):
    if not (ROOT / "data" / "civil_mots.txt").is_file():
        pytest.skip("data/civil_mots.txt is missing: run `make data`")
    cells = []
    for path in build_exercises(ROOT / "notebooks", tmp_path / "ex")[0]:
        cells += exercise_cells(nbformat.read(path, as_version=4))
    notebook = nbformat.v4.new_notebook(cells=cells)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(tmp_path / "ex")}},
    ).execute(env={**os.environ, "OMP_NUM_THREADS": "1", "CHARLM_ROOT": str(ROOT)})  # fmt: skip
    checks = 0
    for cell in notebook.cells:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, (cell.source, errors[0]["ename"], errors[0]["evalue"])
        if cell.metadata.get("nbgrader", {}).get("solution") is False:
            shown = "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)
            assert shown.startswith("❌ ") and "pas encore écrite" in shown, (cell.source, shown)
            checks += 1
    assert checks >= 18


def _build(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "charlm.course.exercises", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_building_again_never_writes_over_a_students_answers(tmp_path):
    out = tmp_path / "ex"
    assert _build("--out", str(out)).returncode == 0
    student = out / "04_bigram.ipynb"
    notebook = nbformat.read(student, as_version=4)
    cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution"))
    cell.source = cell.source.replace("raise NotImplementedError()", "return 'ma réponse'")
    nbformat.write(notebook, student)
    answered, untouched = student.read_bytes(), (out / "05_bengio_mlp.ipynb").read_bytes()
    again = _build("--out", str(out))
    assert again.returncode == 0, again.stderr
    assert student.read_bytes() == answered  # the student's answer is still there
    assert (out / "05_bengio_mlp.ipynb").read_bytes() == untouched
    assert again.stderr.count("\n") == 1 and f"kept {student}" in again.stderr
    assert str(student) not in again.stdout


@pytest.mark.slow
def test_an_out_that_is_a_file_or_an_unclosed_solution_is_one_line(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mes notes")
    bad = _build("--out", str(target))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert "a file, not a folder" in bad.stderr and target.read_text() == "mes notes"
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    (lessons / "01_broken.py").write_text(
        f'# %%\nimport torch\n\n# %% tags=["{TAG}"]\ndef f():\n    {BEGIN}\n    return 1\n'
    )
    bad = _build("--lessons", str(lessons), "--out", str(tmp_path / "ex"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert (
        "01_broken.py, cell 2: a solution region opens without its `### END SOLUTION`" in bad.stderr
    )
    assert not (tmp_path / "ex").exists()


def test_every_lesson_hands_out_one_exercise_at_least():
    import jupytext

    for lesson in LESSONS:
        cells = jupytext.read(lesson).cells
        assert any(BEGIN in c.source for c in cells), f"{lesson.name} has no exercise"
        assert any("verifier_" in c.source and TAG in c.metadata.get("tags", []) for c in cells)


@pytest.mark.slow
def test_the_install_cell_comes_first_and_runs_where_charlm_is_there(tmp_path):
    """`--install SOURCE`: every notebook starts with the cell that installs charlm in Colab or
    JupyterHub (run in a fresh kernel with another torch by tests/test_install.py); where
    charlm and the data are there, the cell installs and fetches nothing."""
    from charlm.course.install import MARK

    source = "https://example.org/charlm-0.1.0-py3-none-any.whl"
    written, _ = build_exercises(ROOT / "notebooks", tmp_path / "out", install=source)
    assert written
    for path in written:
        first = nbformat.read(path, as_version=4).cells[0]
        assert first.cell_type == "code" and first.source.startswith(MARK)
        assert repr(source) in first.source
    compile(first.source, "cell", "exec")
    done = subprocess.run([sys.executable, "-c", first.source], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "CHARLM_ROOT": str(ROOT)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("charlm ") and "| torch" in done.stdout
    assert not (tmp_path / "data").exists()  # CHARLM_ROOT's data was there: nothing fetched
    with pytest.raises(CharlmError, match="one line naming a wheel"):
        build_exercises(ROOT / "notebooks", tmp_path / "other", install="a\nb")
