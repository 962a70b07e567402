"""The package's shape: light imports, no side effects on the user's process, declared
contracts (DataModule protocol, model bases), tables that follow the metric catalogue."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from commands import run_command

import charlm
from charlm.data.protocol import LanguageData, TaskData, missing_members
from charlm.metrics import METRICS, ClassifierMetrics, LMMetrics, format_metric, metric_names

HEAVY = ("lightning", "hydra", "torchmetrics", "matplotlib")


def _run_python(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    return out.stdout.splitlines()


@pytest.mark.slow
def test_import_charlm_loads_neither_lightning_nor_hydra():
    lines = _run_python(
        "import sys, charlm\n"
        "charlm.BengioMLP, charlm.Vocabulary, charlm.load_model, charlm.TransformerLM\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
        # Commands that compute no metric start without torchmetrics (3 s of imports).
        "import charlm.commands.sample, charlm.commands.score, charlm.report\n"
        "print([m for m in ('lightning', 'torchmetrics', 'matplotlib') if m in sys.modules])"
    )
    assert lines == ["[]", "[]"]


@pytest.mark.slow
def test_load_model_sample_and_log_prob_run_without_lightning_or_hydra(trained_run):
    ckpt = Path(trained_run["metrics"]["last_checkpoint"])
    lines = _run_python(
        "import sys, torch, charlm\n"
        f"model = charlm.load_model({str(ckpt)!r})\n"
        "print(len(model.sample(3, generator=torch.Generator().manual_seed(0))))\n"
        "print(model.log_prob('emma')[0] > 0)\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    assert lines == ["3", "True", "[]"]


def test_every_public_name_resolves_and_unknown_names_raise():
    for package in (charlm, charlm.data):
        assert sorted(package.__all__) == sorted(package._HOMES)
        for name in package.__all__:
            assert getattr(package, name) is not None, name
            assert name in dir(package)
    assert charlm.load_model.__module__ == "charlm.checkpoint"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        charlm.nope  # noqa: B018


@pytest.mark.slow
def test_importing_every_module_leaves_warning_filters_and_matplotlib_backend_alone():
    lines = _run_python(
        # The libraries first: they set filters of their own, which are not charlm's doing.
        "import warnings, pkgutil, importlib, matplotlib, torch, lightning, torchmetrics\n"
        "import hydra, omegaconf, yaml, torch.utils.tensorboard, matplotlib.figure\n"
        "before, backend = list(warnings.filters), matplotlib.get_backend()\n"
        "import charlm\n"
        "for m in pkgutil.walk_packages(charlm.__path__, 'charlm.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(list(warnings.filters) == before, matplotlib.get_backend() == backend)"
    )
    assert lines == ["True True"]


def test_the_datamodules_meet_the_declared_protocols(tiny_corpus):
    from charlm.data import CharWindowDataModule, FizzBuzzDataModule, TableDataModule

    words = CharWindowDataModule(tiny_corpus)
    assert isinstance(words, LanguageData) and missing_members(words, LanguageData) == []
    for table in (TableDataModule(), FizzBuzzDataModule()):
        assert isinstance(table, TaskData) and not isinstance(table, LanguageData)
        assert missing_members(table, LanguageData) == [
            "contract",
            "longest_example",
            "path",
            "vocab",
        ]


def test_charlm_train_refuses_a_datamodule_lacking_the_protocol_naming_what_is_missing(
    make_cfg, tiny_corpus
):
    from charlm.errors import ConfigError
    from charlm.train import train

    cfg = make_cfg(f"data.path={tiny_corpus}", f"data._target_={__name__}.Incomplete")
    with pytest.raises(ConfigError, match=r"Incomplete lacks .*net_kwargs.*LanguageData"):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


class Incomplete:
    """A DataModule of a user's own that forgot most of what training needs."""

    def __init__(self, path: str, **_: object) -> None:
        self.path = path

    def setup(self, stage: str | None = None) -> None: ...


def test_the_model_bases_say_what_a_subclass_must_implement():
    from charlm.models import CharLM, Classifier

    with pytest.raises(NotImplementedError, match="CharLM must implement forward"):
        CharLM(5, 3)(torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(NotImplementedError, match="Classifier must implement forward"):
        Classifier()(torch.zeros(1, 2))


def test_every_computed_metric_is_in_the_catalogue():
    lm = LMMetrics(4)
    lm.update(torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1]))
    clf = ClassifierMetrics(3)
    clf.update(torch.tensor(0.5), torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1]))
    assert set(lm.compute()) <= set(METRICS) and set(clf.compute()) <= set(METRICS)
    assert clf.compute()["acc"] == pytest.approx(2 / 3)


def test_tables_follow_the_metrics_they_are_given(tmp_path):
    from charlm.metrics import format_table
    from charlm.report import write_report

    results = {"val": {"loss": 1.5, "acc": 0.4, "novel": 0.25, "windows": 10}}
    assert metric_names(results.values()) == ["loss", "acc", "windows", "novel"]
    header, _, row = format_table(results).splitlines()
    assert header.split() == ["words", "loss", "acc", "windows", "novel"]
    assert row.split() == ["val", "1.5000", "0.4000", "10", "0.2500"]
    assert format_metric("windows", 10.0) == "10" and format_metric("loss", None) == "-"

    # A sweep whose runs report a metric charlm-report has never heard of.
    for job, loss in (("0", 2.0), ("1", 1.0)):
        run = tmp_path / job
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "overrides.yaml").write_text(f"- seed={job}\n")
        split = {"loss": loss, "acc": 0.5, "novel": 0.1}
        (run / "metrics.json").write_text(json.dumps({"val": split, "test": split, "steps": 5}))
    table, path = write_report(tmp_path)
    assert table.splitlines()[0].split() == [
        "job", "status", "overrides", "val_loss", "test_loss", "test_acc", "steps", "params",
        "train_s",
    ]  # fmt: skip
    assert table.splitlines()[1].split()[:4] == ["1", "ok", "seed=1", "1.0000"]
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert {"val_novel", "test_novel", "val_acc"} <= set(rows[0])


@pytest.mark.slow
def test_charlm_report_parses_its_arguments_with_argparse(tmp_path):
    # The installed entry point, in a process of its own, then in this one.
    shown = run_command("charlm-report", "--help", process=True)
    assert shown.returncode == 0 and "usage: charlm-report" in shown.stdout
    missing = run_command("charlm-report", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].endswith("nope is not a directory")
    empty = run_command("charlm-report", str(tmp_path))
    assert empty.returncode == 2 and "no runs" in empty.stderr


# Each layer may import its own and those before it, never one after it.
LAYERS = [
    ("charlm._lazy", "charlm.errors", "charlm.launch"),
    ("charlm.data",),
    ("charlm.models",),
    ("charlm.metrics", "charlm.diagnostics", "charlm.figures", "charlm.precision"),
    ("charlm.export", "charlm.checkpoint", "charlm.inference", "charlm.generate",
     "charlm.export_onnx", "charlm.export_web", "charlm.onnx_model", "charlm.runtimes",
     "charlm.web"),
    ("charlm.lit", "charlm.config"),
    ("charlm.train", "charlm.run_record", "charlm.report", "charlm.validate", "charlm.runs"),
    ("charlm.commands", "charlm.course"),
]  # fmt: skip


def _layer(module: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def test_no_module_imports_a_layer_above_its_own():
    import ast

    source = Path(charlm.__file__).parent
    upward = []
    for path in sorted(source.rglob("*.py")):
        parts = path.relative_to(source.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if module == "charlm":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.startswith("charlm.") and name not in ("charlm",):
                    try:
                        rank = _layer(name)
                    except AssertionError:
                        continue  # an attribute of a module, e.g. charlm.data.vocab.Vocabulary
                    if rank > _layer(module):
                        upward.append(f"{module} imports {name}")
    assert upward == []


def test_no_command_imports_another_command():
    """A console script's module uses the library (charlm.inference, charlm.checkpoint, ...),
    never another command's module."""
    import ast

    import tomllib

    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    commands = {t.split(":")[0] for t in scripts["project"]["scripts"].values()}
    assert {
        "charlm.commands.train",
        "charlm.commands.evaluate",
        "charlm.commands.score",
    } <= commands
    assert all(c.startswith("charlm.commands.") for c in commands)  # every command in one place
    source = Path(charlm.__file__).parent
    found = []
    for name in sorted(commands):
        path = source.joinpath(*name.split(".")[1:]).with_suffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in commands - {name}:
                found.append(f"{name} imports {node.module}")
    assert found == []
