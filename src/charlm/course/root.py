"""Where a lesson, or a student's notebook made from it, finds the course's data."""

from __future__ import annotations

import os
from pathlib import Path


def racine() -> Path:
    """The folder a lesson reads `data/` from and writes `logs/` in: $CHARLM_ROOT, else the
    nearest of the working directory and its parents that has a `data/` folder (a lesson
    opened in `notebooks/` or in `build/exercises/` finds the checkout), else the parent."""
    if os.environ.get("CHARLM_ROOT"):
        return Path(os.environ["CHARLM_ROOT"])
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / "data").is_dir():
            return folder
    return here.parent
