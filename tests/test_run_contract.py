"""What every run promises: its final weights checkpointed and validated, intervals in updates,
one update path (hooks, clipping, loss scaling on every update), reloadable tasks, valid JSON."""

import functools
import json
import logging
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.plugins.precision import MixedPrecision
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from charlm import CharWindowDataModule, load_model
from charlm.errors import ConfigError
from charlm.lit import LanguageModelTask
from charlm.lit.schedule import UpdateSchedule
from charlm.metrics import finite_json
from charlm.models import BengioMLP
from charlm.train import train

SPLIT = "data.split=[0.6,0.2,0.2]"


def _scalars(run: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    return acc.Reload()


def _step(path: Path) -> int:
    return torch.load(path, weights_only=True)["global_step"]


# --- every run ends with its final weights checkpointed ---------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("max_steps", "val_every", "val_steps"),
    [(250, 1000, [250]), (350, 200, [200, 350]), (400, 200, [200, 400])],
)
def test_every_run_ends_with_a_validation_and_last_ckpt_of_its_final_update(
    make_cfg, tiny_corpus, max_steps, val_every, val_steps
):
    # Chunks of 100 updates: a run shorter than one validation interval, or ending between two,
    # still validates and checkpoints its last update, and reports the step it scored.
    cfg = make_cfg(
        f"data.path={tiny_corpus}", SPLIT, "data.steps_per_batch=100",
        f"trainer.max_steps={max_steps}", f"trainer.val_check_interval={val_every}",
    )  # fmt: skip
    metrics = train(cfg)
    run = Path(cfg.paths.output_dir)
    last = run / "checkpoints" / "last.ckpt"
    assert _step(last) == max_steps
    assert metrics["steps"] == max_steps
    assert metrics["weights"] == "best"
    assert metrics["weights_step"] == _step(Path(metrics["best_checkpoint"]))
    assert metrics["weights_step"] in val_steps
    assert [e.step for e in _scalars(run).Scalars("val/loss")] == val_steps
    words = load_model(last).sample(3, generator=torch.Generator().manual_seed(0))
    assert len(words) == 3 and all(isinstance(w, str) for w in words)


@pytest.mark.slow
@pytest.mark.corpus
def test_a_3000_step_bengio2003_run_leaves_last_ckpt_at_3000(make_cfg, corpus):
    cfg = make_cfg(
        "experiment=bengio2003", f"data.path={corpus}", "trainer.max_steps=3000", "logger=none"
    )
    metrics = train(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert _step(last) == metrics["steps"] == 3000
    assert len(load_model(last).sample(5, generator=torch.Generator().manual_seed(1))) == 5


# --- intervals count updates --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("steps_per_batch", [1, 7, 100])
def test_validation_and_logging_intervals_count_updates_whatever_the_chunk(
    make_cfg, tiny_corpus, steps_per_batch
):
    cfg = make_cfg(
        f"data.path={tiny_corpus}", SPLIT, f"data.steps_per_batch={steps_per_batch}",
        "trainer.max_steps=180", "trainer.val_check_interval=60", "trainer.log_every_n_steps=30",
    )  # fmt: skip
    train(cfg)
    events = _scalars(Path(cfg.paths.output_dir))
    assert [e.step for e in events.Scalars("val/loss")] == [60, 120, 180]
    assert [e.step for e in events.Scalars("train/loss")] == [30, 60, 90, 120, 150, 180]
    assert [e.step for e in events.Scalars("train/lr")] == [30, 60, 90, 120, 150, 180]
    # Everything is plotted against updates: no Lightning epoch or batch counters.
    assert "epoch" not in events.Tags()["scalars"]


def test_the_default_interval_validates_a_run_of_any_length_about_20_times():
    assert UpdateSchedule.plan(200_000, 1000).val_every == 10_000
    assert UpdateSchedule.plan(3000, 1000).val_every == 1000
    assert UpdateSchedule.plan(2000, 100).val_every == 100
    assert UpdateSchedule.plan(50, 100).val_every == 50
    # An interval the chunk does not divide shrinks the chunk, not the interval.
    plan = UpdateSchedule.plan(1000, 100, 150)
    assert (plan.val_every, plan.chunk) == (150, 50)
    assert UpdateSchedule.plan(1000, 100, 0.25).val_every == 250


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.val_check_interval=0", r"^trainer\.val_check_interval=0: must be a number"),
        ("trainer.log_every_n_steps=0", r"^trainer\.log_every_n_steps=0: must be an integer >= 1"),
        ("trainer.accumulate_grad_batches=4", r"^trainer\.accumulate_grad_batches=4 is not supported: .*data\.batch_size"),
        ("trainer.max_epochs=3", r"^trainer\.max_epochs=3 is not supported: .*trainer\.max_steps"),
        ("trainer.check_val_every_n_epoch=1", r"^trainer\.check_val_every_n_epoch=1 is not supported: .*val_check_interval"),
        ("trainer.gradient_clip_algorithm=max", r"^trainer\.gradient_clip_algorithm='max': 'norm' or 'value'"),
        ("data.steps_per_batch=0", r"^data\.steps_per_batch=0: must be an integer >= 1"),
        ("model.net.hidden_size=0", r"^model\.net\.hidden_size=0: must be an integer >= 1"),
    ],
)  # fmt: skip
def test_options_the_loop_cannot_honour_or_bad_values_name_the_real_key(
    make_cfg, tiny_corpus, override, message
):
    cfg = make_cfg(f"data.path={tiny_corpus}", SPLIT, override)
    with pytest.raises(ConfigError, match=message):
        train(cfg)
    assert not Path(cfg.paths.output_dir).exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("experiment=bigram", "model.net.penalty=-1"), r"^model\.net\.penalty=-1: must be >= 0"),
        (("model=feedforward", "model.net.norm=group"), r"^model\.net\.norm='group': one of"),
        (("model=feedforward", "model.net.dropout=1.5"), r"^model\.net\.dropout=1\.5: must be in"),
        (
            ("model=feedforward", "model.net.hidden_sizes=[8,0]"),
            r"^model\.net\.hidden_sizes=0: must",
        ),
    ],
)
def test_model_errors_name_the_key_under_model_net(make_cfg, tiny_corpus, overrides, message):
    cfg = make_cfg(f"data.path={tiny_corpus}", SPLIT, *overrides)
    with pytest.raises(ConfigError, match=message):
        train(cfg)


# --- one update path ----------------------------------------------------------------------------


class _CountUpdateHooks(L.Callback):
    def __init__(self) -> None:
        self.calls = {
            "on_before_backward": 0,
            "on_after_backward": 0,
            "on_before_optimizer_step": 0,
        }

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        self.calls["on_before_backward"] += 1

    def on_after_backward(self, trainer, pl_module) -> None:
        self.calls["on_after_backward"] += 1

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.calls["on_before_optimizer_step"] += 1


def test_callbacks_update_hooks_run_on_every_update(make_cfg, tiny_corpus):
    counter = _CountUpdateHooks()
    cfg = make_cfg(f"data.path={tiny_corpus}", SPLIT, "data.steps_per_batch=50",
                   "trainer.max_steps=230", "logger=none")  # fmt: skip
    metrics = train(cfg, extra_callbacks=[counter])
    assert metrics["steps"] == 230
    assert counter.calls == dict.fromkeys(counter.calls, 230)


class _Snapshot(L.Callback):
    def on_train_start(self, trainer, pl_module) -> None:
        self.start = {k: v.detach().clone() for k, v in pl_module.net.state_dict().items()}

    def on_train_end(self, trainer, pl_module) -> None:
        self.end = {k: v.detach().clone() for k, v in pl_module.net.state_dict().items()}

    def distance(self) -> float:
        return sum(float((self.end[k] - self.start[k]).norm() ** 2) for k in self.start) ** 0.5


def _distance_travelled(make_cfg, corpus: Path, tmp_path: Path, clip: str, listen: bool) -> float:
    cfg = make_cfg(
        f"data.path={corpus}", "data.split=[0.6,0.2,0.2]", "data.steps_per_batch=10", "trainer.max_steps=50",
        "model.optimizer.lr=1.0", "model/scheduler=none", "logger=none", "callbacks=none",
        f"trainer.gradient_clip_val={clip}", output_dir=tmp_path / f"clip{clip}",
    )  # fmt: skip
    snapshot = _Snapshot()
    # A callback listening to the update hooks sends every update through Lightning's own
    # backward and optimiser step; without one the update runs directly. Both must clip.
    train(cfg, extra_callbacks=[snapshot, *([_CountUpdateHooks()] if listen else [])])
    return snapshot.distance()


@pytest.mark.slow
@pytest.mark.parametrize("listen", [False, True], ids=["direct", "through-lightning"])
def test_gradient_clipping_applies_to_every_update(make_cfg, tiny_corpus, tmp_path, listen):
    # SGD with lr 1: an update moves the weights by its gradient, so 50 updates clipped to a
    # norm of 0.01 move them by at most 0.5. Clipping once per chunk would let 45 through.
    clipped = _distance_travelled(make_cfg, tiny_corpus, tmp_path, "0.01", listen)
    free = _distance_travelled(make_cfg, tiny_corpus, tmp_path, "null", listen)
    assert clipped <= 50 * 0.01 + 1e-4
    assert free > 10 * clipped


def test_a_loss_scaling_precision_plugin_scales_every_update(tiny_corpus):
    # 16-mixed's gradient scaler (here fp16 autocast on the CPU) must see every update.
    plugin = MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))
    updates = []
    plugin.scaler.update = functools.partial(
        lambda update, *a, **k: (updates.append(1), update(*a, **k))[1], plugin.scaler.update
    )
    data = CharWindowDataModule(tiny_corpus, split=(0.6, 0.2, 0.2), steps_per_batch=10)
    data.setup()
    task = LanguageModelTask(
        BengioMLP(len(data.vocab), 3, 4, 32, seed=0),
        functools.partial(torch.optim.Adam, lr=0.01),
    )
    trainer = L.Trainer(
        max_steps=40, plugins=[plugin], logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, val_check_interval=2,
        check_val_every_n_epoch=None,
    )  # fmt: skip
    trainer.fit(task, datamodule=data)
    assert trainer.global_step == 40
    assert len(updates) == 40


# --- reloading a task the Lightning way ---------------------------------------------------------


def test_load_from_checkpoint_then_test_and_predict_from_another_script(trained_run):
    best = Path(trained_run["metrics"]["best_checkpoint"])
    task = LanguageModelTask.load_from_checkpoint(best, weights_only=True)
    data = CharWindowDataModule.load_from_checkpoint(best, weights_only=True)
    data.setup()
    assert task.net.vocab == data.vocab
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    (tested,) = trainer.test(task, datamodule=data, verbose=False)
    assert tested["test/loss"] == pytest.approx(trained_run["metrics"]["test"]["loss"], rel=1e-5)

    batches = trainer.predict(task, datamodule=data)
    rows = [row for batch in batches for row in batch]
    assert [r["word"] for r in rows] == data.words["test"]
    model = load_model(best)
    for row in rows:
        total, per_char = model.log_prob(row["word"])
        assert row["nll"] == pytest.approx(total, rel=1e-5)
        assert row["nll_per_char"] == pytest.approx(per_char, rel=1e-5)
    # The optimiser came back too: the reloaded task trains on.
    assert task.configure_optimizers()


# --- figures that JSON can hold -----------------------------------------------------------------


def test_a_diverging_run_says_so_and_writes_valid_json(make_cfg, tiny_corpus, caplog):
    cfg = make_cfg(f"data.path={tiny_corpus}", SPLIT, "trainer.max_steps=300",
                   "trainer.log_every_n_steps=20", "model.optimizer.lr=1e6")  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="charlm"):
        metrics = train(cfg)
    assert "the run is diverging" in caplog.text

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    on_disk = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text(),
                         parse_constant=refuse)  # fmt: skip
    assert on_disk == metrics


def test_non_finite_figures_become_null_with_a_note():
    cleaned = finite_json({"test": {"loss": 7.6e5, "ppl": float("inf")}, "steps": 3})
    assert cleaned["test"] == {"loss": 7.6e5, "ppl": None}
    assert cleaned["notes"] == ["test.ppl was inf (written as null)"]
    json.dumps(cleaned, allow_nan=False)
