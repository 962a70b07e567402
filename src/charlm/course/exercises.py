"""The students' notebooks: the lessons with each solution replaced by a stub.

The lessons (`notebooks/NN_*.py`) are the one source. A cell a student writes holds its
solution between nbgrader's delimiters, `### BEGIN SOLUTION` and `### END SOLUTION`, and is
tagged `exercice`, as is the cell of its check. `make exercises` (this module's `main`) turns
each lesson into `build/exercises/NN_*.ipynb` through nbgrader's own `ClearSolutions`
preprocessor, so a teacher may also hand the lessons to nbgrader itself: the cells carry the
metadata nbgrader reads (a solution cell, a locked check cell).

A notebook already in the folder is the students' to write in: building again never writes
over one whose cells differ from the lesson's fresh stubs (a student's answers, say). It is
kept, and the command says so and how to rebuild it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from charlm.errors import CharlmError

TAG = "exercice"
STUB = "# VOTRE CODE ICI\nraise NotImplementedError()"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def student_notebook(lesson: Path) -> Any:
    """The handed-out notebook of `lesson` (a jupytext percent script): every solution
    region replaced by the French stub, outputs cleared, nbgrader's metadata set."""
    import jupytext

    try:
        from nbgrader.preprocessors import ClearOutput, ClearSolutions
    except ImportError as err:
        raise CharlmError(
            f"building exercises needs nbgrader ({err}): pip install 'charlm[course]'"
        ) from None
    notebook = jupytext.read(lesson)
    notebook.metadata["kernelspec"] = KERNELSPEC
    notebook.metadata.pop("jupytext", None)
    for i, cell in enumerate(notebook.cells):
        _check_regions(lesson, i, cell.source)
        if cell.cell_type != "code" or TAG not in cell.metadata.get("tags", []):
            if BEGIN in cell.source:
                raise CharlmError(
                    f"{lesson.name}, cell {i + 1}: a solution region in a cell not tagged "
                    f'{TAG!r}; write the cell as `# %% tags=["{TAG}"]`'
                )
            continue
        solution = BEGIN in cell.source
        cell.metadata["nbgrader"] = {
            "grade_id": f"{lesson.stem}_{i + 1}",
            "solution": solution,
            "grade": False,
            "locked": not solution,
            "task": False,
            "schema_version": 3,
        }
    resources: dict[str, Any] = {}
    clear = ClearSolutions(code_stub={"python": STUB}, enforce_metadata=True)
    notebook, resources = clear.preprocess(notebook, resources)
    notebook, resources = ClearOutput().preprocess(notebook, resources)
    return notebook


def _check_regions(lesson: Path, index: int, source: str) -> None:
    """Each `### BEGIN SOLUTION` of a cell closed by its `### END SOLUTION`, in order: else
    nbgrader stops with an error that names neither the lesson nor the cell."""
    depth = 0
    for line in source.splitlines():
        if line.strip() == BEGIN:
            depth += 1
        elif line.strip() == END:
            depth -= 1
        if depth not in (0, 1):
            break
    if depth:
        word = "opens" if depth > 0 else "closes"
        other = END if depth > 0 else BEGIN
        raise CharlmError(
            f"{lesson}, cell {index + 1}: a solution region {word} without its `{other}`; "
            f"put each solution between `{BEGIN}` and `{END}`"
        )


def _sources(notebook: Any) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in notebook.cells]


def build_exercises(
    lessons: Path, out: Path, install: str | None = None
) -> tuple[list[Path], list[Path]]:
    """Write the handed-out notebook of every lesson `lessons/NN_*.py` to `out/NN_*.ipynb`,
    with `install`'s first cell (`charlm.course.install`) where a source is given.

    Returns the notebooks written and those kept: a notebook already there whose cells are not
    the fresh stubs' (a student wrote in it) is never written over."""
    import nbformat

    from charlm.course.install import install_cell

    try:
        cell = install_cell(install) if install is not None else None
    except ValueError as err:
        raise CharlmError(str(err)) from None

    paths = sorted(lessons.glob("[0-9][0-9]_*.py")) if lessons.is_dir() else []
    if not paths:
        raise CharlmError(f"{lessons}: no lesson (NN_*.py) to build exercises from")
    if out.exists() and not out.is_dir():
        raise CharlmError(f"--out {out}: a file, not a folder; give a folder for the notebooks")
    notebooks = {lesson: student_notebook(lesson) for lesson in paths}  # all, or none on error
    if cell is not None:
        for notebook in notebooks.values():
            notebook.cells.insert(0, nbformat.v4.new_code_cell(cell))
    out.mkdir(parents=True, exist_ok=True)
    written, kept = [], []
    for lesson, notebook in notebooks.items():
        target = out / f"{lesson.stem}.ipynb"
        if target.exists():
            try:
                there = nbformat.read(target, as_version=4)
            except Exception:  # noqa: BLE001 (unreadable: kept as it is, all the same)
                there = None
            if there is not None and _sources(there) == _sources(notebook):
                written.append(target)  # already this build (its outputs may go on)
            else:
                kept.append(target)
            continue
        nbformat.write(notebook, target)
        written.append(target)
    return written, kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m charlm.course.exercises",
        description="Build the students' notebooks from the lessons (solutions replaced by stubs).",
    )
    parser.add_argument("--lessons", type=Path, default=Path("notebooks"))
    parser.add_argument("--out", type=Path, default=Path("build/exercises"))
    parser.add_argument(
        "--install",
        metavar="SOURCE",
        help="first cell: install charlm from SOURCE (a wheel's URL, a git URL) when the kernel "
        "lacks it, leaving its torch alone, and fetch the data (Colab, JupyterHub)",
    )
    args = parser.parse_args(argv)
    try:
        written, kept = build_exercises(args.lessons, args.out, args.install)
    except CharlmError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    for path in kept:
        print(
            f"kept {path}: it differs from the lesson's stubs (a student's work?); move it "
            "away to build it again, or give --out another folder",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
