"""The students' notebooks: the lessons with each solution replaced by a stub.

The lessons (`notebooks/NN_*.py`) are the one source. A cell a student writes holds its
solution between nbgrader's delimiters, `### BEGIN SOLUTION` and `### END SOLUTION`, and is
tagged `exercice`, as is the cell of its check. `make exercises` (this module's `main`) turns
each lesson into `build/exercises/NN_*.ipynb` through nbgrader's own `ClearSolutions`
preprocessor, so a teacher may also hand the lessons to nbgrader itself: the cells carry the
metadata nbgrader reads (a solution cell, a locked check cell).
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


def build_exercises(lessons: Path, out: Path) -> list[Path]:
    """Write the handed-out notebook of every lesson `lessons/NN_*.py` to `out/NN_*.ipynb`."""
    import nbformat

    paths = sorted(lessons.glob("[0-9][0-9]_*.py"))
    if not paths:
        raise CharlmError(f"{lessons}: no lesson (NN_*.py) to build exercises from")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for lesson in paths:
        target = out / f"{lesson.stem}.ipynb"
        nbformat.write(student_notebook(lesson), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m charlm.course.exercises",
        description="Build the students' notebooks from the lessons (solutions replaced by stubs).",
    )
    parser.add_argument("--lessons", type=Path, default=Path("notebooks"))
    parser.add_argument("--out", type=Path, default=Path("build/exercises"))
    args = parser.parse_args(argv)
    try:
        written = build_exercises(args.lessons, args.out)
    except CharlmError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
