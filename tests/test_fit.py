"""charlm.fit: one call trains as charlm-train does, from a script or a notebook."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import nbformat
import pytest
import torch
from commands import run_command
from conftest import TINY_WORDS
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from nbclient import NotebookClient

import charlm
from charlm.errors import ConfigError

QUICK = (
    "trainer.max_steps=60",
    "trainer.val_check_interval=30",
    "trainer.log_every_n_steps=10",
    "data.split=[0.6,0.2,0.2]",
    "model.net.emb_size=4",
    "callbacks.progress_bar=null",
    "seed=3",
)


@pytest.fixture
def words(tmp_path: Path) -> Path:
    path = tmp_path / "words.txt"
    path.write_text("\n".join(TINY_WORDS) + "\n", encoding="utf-8")
    return path


def _layout(run_dir: Path) -> list[str]:
    return sorted(
        str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if "events.out" not in p.name
    )


@pytest.mark.slow
def test_fit_gives_charlm_train_s_metrics_and_run_directory(tmp_path, words):
    overrides = [f"data.path={words}", *QUICK]
    cli_dir, fit_dir = tmp_path / "cli", tmp_path / "fit"
    done = run_command(
        "charlm-train", *overrides, f"hydra.run.dir={cli_dir}", cwd=tmp_path,
        env={"CHARLM_ROOT": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = charlm.fit(None, [*overrides, f"hydra.run.dir={fit_dir}"], root=tmp_path)
    cli = json.loads((cli_dir / "metrics.json").read_text())
    # The same call from a notebook, in a kernel of its own.
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        "import charlm\n"
        f"run = charlm.fit(None, {[*overrides, f'hydra.run.dir={tmp_path}/nb']!r}, "
        f"root={str(tmp_path)!r})\n"
        "print(run.run_dir)"
    )]  # fmt: skip
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    kernel = json.loads((tmp_path / "nb" / "metrics.json").read_text())
    assert run.run_dir == fit_dir
    assert run.metrics == json.loads((fit_dir / "metrics.json").read_text())
    for split in ("train", "val", "test"):
        assert run.metrics[split] == pytest.approx(cli[split], rel=1e-6), split
        assert kernel[split] == pytest.approx(cli[split], rel=1e-6), split
    assert run.metrics["steps"] == cli["steps"] == 60
    assert _layout(fit_dir) == _layout(cli_dir)
    assert (fit_dir / ".hydra" / "overrides.yaml").read_text().count("data.path") == 1
    for log in (cli_dir / "train.log", fit_dir / "train.log"):  # the run's messages, kept
        assert "data.steps_per_batch=100 lowered to 10" in log.read_text()


@pytest.mark.slow
def test_fit_twice_in_one_process_keeps_the_caller_s_hydra_and_returns_a_model(tmp_path, words):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "app.yaml").write_text("x: 1\n")
    with initialize_config_dir(config_dir=str(tmp_path / "mine"), version_base="1.3"):
        runs = [
            charlm.fit(None, [f"data.path={words}", *QUICK, f"seed={seed}"], root=tmp_path)
            for seed in (0, 1)
        ]
        assert compose("app").x == 1  # the caller's Hydra, still there
    assert not GlobalHydra.instance().is_initialized()
    first, second = runs
    assert first.run_dir != second.run_dir
    assert first.run_dir.parent == tmp_path / "logs" / "train" / "runs"
    assert first.metrics["val"]["loss"] != second.metrics["val"]["loss"]  # seeds differ
    words_drawn = first.model.sample(4, generator=torch.Generator().manual_seed(0))
    assert len(words_drawn) == 4 and all(set(w) <= set(first.model.vocab.itos) for w in words_drawn)
    assert not first.model.training
    # The weights metrics.json scores: their validation loss is the reported one.
    assert charlm.load_model(first.metrics["best_checkpoint"]).state_dict().keys() == (
        first.model.state_dict().keys()
    )
    curves = first.curves()
    assert [step for step, _ in curves["val/loss"]] == [30, 60]
    assert [step for step, _ in curves["train/loss"]][:2] == [10, 20]
    loaded = charlm.Run.load(first.run_dir)
    assert loaded.metrics == first.metrics
    assert torch.equal(loaded.model.embeddings, first.model.embeddings)
    assert first.figure().axes[0].get_xlabel() == "update"


def test_fit_refuses_bad_input_in_one_line_and_writes_nothing(tmp_path, words):
    with pytest.raises(ConfigError, match="Could not find 'experiment/nope'"):
        charlm.fit("nope", root=tmp_path)
    with pytest.raises(ConfigError, match="emb_size=0"):
        charlm.fit(None, [f"data.path={words}", "model.net.emb_size=0"], root=tmp_path)
    with pytest.raises(ConfigError, match="no such file"):
        charlm.fit(None, [f"data.path={tmp_path}/none.txt"], root=tmp_path)
    with pytest.raises(ConfigError, match="multirun"):
        charlm.fit("lm_best", root=tmp_path)
    assert not (tmp_path / "logs" / "train" / "runs").exists() or not any(
        (tmp_path / "logs" / "train" / "runs").glob("*/checkpoints/*")
    )
    used = tmp_path / "used"
    (used / "checkpoints").mkdir(parents=True)
    (used / "checkpoints" / "last.ckpt").write_bytes(b"kept")
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        charlm.fit(None, [f"data.path={words}", f"hydra.run.dir={used}"], root=tmp_path)
    assert (used / "checkpoints" / "last.ckpt").read_bytes() == b"kept"
    assert sorted(p.name for p in used.iterdir()) == ["checkpoints"]


def test_a_run_without_tensorboard_records_says_how_to_get_curves(tmp_path, words):
    run = charlm.fit(None, [f"data.path={words}", *QUICK, "logger=none"], root=tmp_path)
    with pytest.raises(charlm.CharlmError, match="logger=tensorboard"):
        run.curves()
    with pytest.raises(charlm.CharlmError, match="no metrics.json"):
        charlm.Run.load(tmp_path)


class Seen(L.Callback):
    """The updates at which validations ran, and the one at which fit ended."""

    def __init__(self) -> None:
        self.validated_at, self.ended_at = [], None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.validated_at.append(trainer.global_step)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.ended_at = trainer.global_step


@pytest.mark.slow
def test_quiet_fit_keeps_lightning_s_console_messages_out_and_restores_its_handler(tmp_path, words):
    import io
    import logging

    # Where the root logger has no handler (a Jupyter kernel), Lightning prints through a
    # console handler of its own and does not propagate: the red boxes quiet=True removes.
    console = io.StringIO()
    handler = logging.StreamHandler(console)
    lightning_logger = logging.getLogger("lightning.pytorch")
    lightning_logger.addHandler(handler)
    try:
        loud = charlm.fit(None, [f"data.path={words}", *QUICK], root=tmp_path)
        assert "GPU available" in console.getvalue()
        console.seek(0)
        console.truncate()
        seen = Seen()
        quiet = charlm.fit(
            None, [f"data.path={words}", *QUICK], root=tmp_path, quiet=True, callbacks=[seen]
        )
        assert console.getvalue() == ""
        # A callback of the caller's joins the run's own.
        assert seen.validated_at == [30, 60] and seen.ended_at == 60
        assert handler.level == logging.NOTSET  # given back as it was
    finally:
        lightning_logger.removeHandler(handler)
    assert loud.config.trainer.enable_model_summary is not False
    assert quiet.config.trainer.enable_model_summary is False
    assert quiet.config.trainer.enable_progress_bar is False
    assert quiet.metrics["val"] == pytest.approx(loud.metrics["val"], rel=1e-6)
