"""The first cell of a notebook handed out in Colab or JupyterHub: it installs charlm into the
running kernel when it is missing, from the source the teacher gives (a wheel's URL or path, a
git URL), without touching the kernel's torch, then fetches the data.

The cell imports nothing of charlm before installing it, and pins the kernel's own torch while
pip installs (a constraint `torch==<its version>`), so pip either keeps that torch or stops
with its error: it never replaces it. `python -m charlm.course.exercises --install SOURCE`
(`make exercises INSTALL=SOURCE`) puts it first in every notebook it builds.
"""

from __future__ import annotations

MARK = "# charlm: installation"

CELL = """{mark}
# Installe charlm dans ce noyau s'il n'y est pas (Colab, JupyterHub), sans toucher à son torch,
# puis récupère les données. / Installs charlm into this kernel when it is missing, leaving its
# torch alone, then fetches the data.
import importlib.util, os, subprocess, sys, tempfile
from importlib.metadata import version

CHARLM_SOURCE = {source!r}
if importlib.util.find_spec("charlm") is None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", CHARLM_SOURCE]
    if importlib.util.find_spec("torch") is not None:  # keep the kernel's own torch
        pins = os.path.join(tempfile.mkdtemp(), "torch.txt")
        with open(pins, "w") as f:
            f.write(f"torch=={{version('torch')}}\\n")
        command += ["--constraint", pins]
    subprocess.run(command, check=True)
    importlib.invalidate_caches()
root = os.environ.get("CHARLM_ROOT", ".")
for name in ("civil_mots.txt", "tinyshakespeare.txt"):
    if not os.path.exists(os.path.join(root, "data", name)):
        subprocess.run([sys.executable, "-m", "charlm.commands.data",
                        "--dest", os.path.join(root, "data", name)], check=True)
print("charlm", version("charlm"), "| torch", version("torch"))"""


def install_cell(source: str) -> str:
    """The cell's code, installing charlm from `source` (a wheel's URL or path, a git URL such
    as git+https://host/charlm.git, or a package name)."""
    if not source or any(c in source for c in "\n\r"):
        raise ValueError(f"--install {source!r}: one line naming a wheel, a git URL or a path")
    return CELL.format(mark=MARK, source=source)
