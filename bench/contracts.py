"""How large the package's contracts are: the figures a newcomer meets when extending charlm.

Counts, over `src/charlm` (or `--root`'s):
- the methods `CharLM` declares, and the lines of `models/base.py`;
- `getattr`/`hasattr` calls outside `models/`: all of them, and those whose first argument is
  named like a model (`model`, `net`, `self.net`, `member`, `m`, `task.net`, ...);
- `isinstance` checks of values (every `isinstance(...)` call outside `models/` and `data/` type
  dispatch is counted: the count is of calls, as a reader meets them);
- source files over 350 lines;
- lines of Python;
- the charlm modules imported before the first update of a run (`experiment=mlp_fast` on a
  small word list,
  update), read from `sys.modules` in a subprocess.

    .venv/bin/python bench/contracts.py [--root PATH] [--no-run]
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import tempfile
from pathlib import Path

MODEL_NAMES = {"model", "net", "member", "m", "module", "network", "pl_module", "lm"}


def _is_model(node: ast.AST) -> bool:
    """Whether the first argument of a getattr/hasattr reads like a model."""
    if isinstance(node, ast.Name):
        return node.id in MODEL_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr in MODEL_NAMES or node.attr == "net"
    return False


def count(root: Path) -> dict[str, object]:
    package = root / "src" / "charlm"
    files = sorted(package.rglob("*.py"))
    lines = {p: len(p.read_text().splitlines()) for p in files}
    probes_all = probes_models = isinstances = 0
    methods = None
    for path in files:
        tree = ast.parse(path.read_text())
        inside_models = path.parent.name == "models"
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == "CharLM":
                methods = sum(isinstance(n, ast.FunctionDef) for n in node.body)
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            if node.func.id in ("getattr", "hasattr") and not inside_models:
                probes_all += 1
                probes_models += bool(node.args) and _is_model(node.args[0])
            if node.func.id == "isinstance":
                isinstances += 1
    base = package / "models" / "base.py"
    return {
        "CharLM methods": methods,
        "models/base.py lines": lines.get(base),
        "getattr/hasattr on models outside models/": probes_models,
        "getattr/hasattr outside models/": probes_all,
        "isinstance calls": isinstances,
        "files over 350 lines": sorted(
            f"{p.relative_to(package)} ({n})" for p, n in lines.items() if n > 350
        ),
        "lines in src/charlm": sum(lines.values()),
    }


PROBE = """
import sys, lightning as L
from charlm.train import train
from charlm.runs import compose_config
from omegaconf import open_dict
seen = {}
class First(L.Callback):
    def on_train_batch_start(self, *a):
        if not seen:
            seen["modules"] = sorted(m for m in sys.modules if m.startswith("charlm"))
cfg = compose_config(["experiment=mlp_fast", "trainer.max_steps=30", "logger=none",
                      "callbacks.progress_bar=null", "data.path=%(words)s"])
with open_dict(cfg):
    del cfg["hydra"]
    cfg.paths.output_dir = "%(out)s"
train(cfg, extra_callbacks=[First()])
print(len(seen["modules"]))
"""


def modules_before_first_update(root: Path) -> int | None:
    with tempfile.TemporaryDirectory() as tmp:
        words = Path(tmp) / "words.txt"
        words.write_text("\n".join(f"mot{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(200)))
        script = PROBE % {"words": words, "out": Path(tmp) / "run"}
        out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True,
                             text=True, env={"PYTHONPATH": str(root / "src"), "PATH": ""})  # fmt: skip
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            return None
        return int(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--no-run", action="store_true", help="skip the run that counts modules")
    args = parser.parse_args()
    figures = count(args.root)
    if not args.no_run:
        figures["charlm modules before the first update"] = modules_before_first_update(args.root)
    for name, value in figures.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
