"""charlm installs beside the torch an environment already has: the built wheel, installed into
a fresh virtual environment that holds another torch and torchvision, changes neither, and its
commands run from a folder outside the checkout; the students' notebooks' first cell does the
same in a fresh Jupyter kernel of such an environment (Colab, JupyterHub).

Builds a wheel and, for each test, a 5 GB environment (torch 2.14.1 and torchvision 0.29.1, which pip takes from
this project's machines' disk; charlm's other dependencies come from the package index, as
`make install` gets them): `make test-compat` runs it (`-m install`); `make test` does not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_WORDS

pytestmark = [pytest.mark.install, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
OTHER_TORCH = os.environ.get("CHARLM_OTHER_TORCH", "torch==2.14.1 torchvision==0.29.1").split()


def run(*args: str | Path, cwd: Path | None = None, timeout: int = 1800) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    assert done.returncode == 0, f"{args}: {done.stderr[-3000:]}"
    return done.stdout


def versions(python: Path) -> str:
    return run(python, "-c", "import torch, torchvision; print(torch.__version__, "
               "torchvision.__version__)")  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, ROOT)
    (built,) = wheels.glob("charlm-*.whl")
    return built


def other_torch(venv: Path, *extra: str) -> Path:
    """A fresh virtual environment at `venv` holding another torch and torchvision; its python."""
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", *OTHER_TORCH, *extra)
    return python


def test_the_wheel_installs_beside_another_torch_and_its_commands_run_elsewhere(tmp_path, wheel):
    venv = tmp_path / "venv"
    python = other_torch(venv)
    pip = [python, "-m", "pip"]
    before = versions(python)
    run(*pip, "install", "--quiet", wheel)
    assert versions(python) == before  # pip replaced neither, and torchvision still imports
    # The commands, from a folder that is not the checkout, on a word list of the user's.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "names.txt").write_text("\n".join(TINY_WORDS) + "\n")
    bin_ = venv / "bin"
    run(bin_ / "charlm-train", "data.path=names.txt", "model=gru", "model.net.hidden_size=16",
        "data.split=[0.6,0.2,0.2]", "trainer.max_steps=20", "model/scheduler=none", "logger=none",
        "hydra.run.dir=run", cwd=elsewhere)  # fmt: skip
    ckpt = elsewhere / "run" / "checkpoints" / "last.ckpt"
    sampled = run(bin_ / "charlm-sample", f"ckpt={ckpt}", "n=5", cwd=elsewhere)
    assert len(sampled.strip().splitlines()) == 6  # 5 words and the novelty line
    evaluated = run(bin_ / "charlm-eval", f"ckpt={ckpt}", cwd=elsewhere)
    assert "test" in evaluated
    assert str(ROOT) not in run(python, "-c", "import charlm; print(charlm.__file__)")


def test_the_notebooks_first_cell_installs_charlm_into_a_fresh_kernel_and_keeps_its_torch(
    tmp_path, wheel, monkeypatch
):
    import nbformat
    from nbclient import NotebookClient

    from charlm.course.install import install_cell

    venv = tmp_path / "venv"
    python = other_torch(venv, "ipykernel")
    run(python, "-m", "ipykernel", "install", "--prefix", venv, "--name", "fresh")
    monkeypatch.setenv("JUPYTER_PATH", str(venv / "share" / "jupyter"))
    before = versions(python)
    # A class folder with the data's copies beside it, as ../shared/data is beside a checkout.
    work = tmp_path / "class" / "work"
    work.mkdir(parents=True)
    (tmp_path / "class" / "shared").symlink_to(ROOT.parent / "shared")
    monkeypatch.delenv("CHARLM_ROOT", raising=False)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(install_cell(str(wheel))),
        nbformat.v4.new_code_cell(
            "import charlm, torch; print(charlm.__file__, torch.__version__)"
        ),
    ]
    NotebookClient(notebook, kernel_name="fresh", timeout=1800,
                   resources={"metadata": {"path": str(work)}}).execute()  # fmt: skip
    printed = [o.get("text", "") for c in notebook.cells for o in c.outputs]
    assert versions(python) == before  # the kernel's torch and torchvision, untouched
    assert str(venv) in printed[-1] and before.split()[0] in printed[-1]
    assert (work / "data" / "civil_mots.txt").is_file()
    assert (work / "data" / "tinyshakespeare.txt").is_file()
