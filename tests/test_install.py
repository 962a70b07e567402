"""charlm installs beside the torch an environment already has: the built wheel, installed into
a fresh virtual environment that holds another torch and torchvision, changes neither, and its
commands run from a folder outside the checkout.

Builds a wheel and a 5 GB environment (torch 2.14.1 and torchvision 0.29.1, which pip takes from
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


def test_the_wheel_installs_beside_another_torch_and_its_commands_run_elsewhere(tmp_path):
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, ROOT)
    (wheel,) = wheels.glob("charlm-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python, pip = venv / "bin" / "python", [venv / "bin" / "python", "-m", "pip"]
    run(*pip, "install", "--quiet", *OTHER_TORCH)
    before = versions(python)
    run(*pip, "install", "--quiet", wheel)
    assert versions(python) == before  # pip replaced neither, and torchvision still imports
    # The commands, from a folder that is not the checkout, on a word list of the user's.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "names.txt").write_text("\n".join(TINY_WORDS) + "\n")
    bin_ = venv / "bin"
    run(bin_ / "charlm-train", "data.path=names.txt", "model=gru", "model.net.hidden_size=16",
        "data.split=[0.6,0.2,0.2]", "trainer.max_steps=20", "logger=none",
        "hydra.run.dir=run", cwd=elsewhere)  # fmt: skip
    ckpt = elsewhere / "run" / "checkpoints" / "last.ckpt"
    sampled = run(bin_ / "charlm-sample", f"ckpt={ckpt}", "n=5", cwd=elsewhere)
    assert len(sampled.strip().splitlines()) == 6  # 5 words and the novelty line
    evaluated = run(bin_ / "charlm-eval", f"ckpt={ckpt}", cwd=elsewhere)
    assert "test" in evaluated
    assert str(ROOT) not in run(python, "-c", "import charlm; print(charlm.__file__)")
