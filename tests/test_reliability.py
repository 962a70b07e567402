"""Bad input gets a clear error, interrupted runs resume exactly, checkpoints load safely."""

import hashlib
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from commands import run_command
from conftest import TINY_WORDS, compose_train
from lightning.pytorch.callbacks import ModelCheckpoint

from charlm import CheckpointError, CorpusError, Vocabulary, VocabularyError, load_model, load_words
from charlm.errors import CharlmError
from charlm.lit import GracefulStop, NonFiniteLossError
from charlm.train import RunInterrupted, train
from charlm.validate import ConfigError

CLEAN = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "ella"]


# --- corpus files -----------------------------------------------------------------------------


def test_missing_corpus_names_the_path_and_the_fix(tmp_path):
    with pytest.raises(CorpusError, match=r"not found: .*absent\.txt.*make data.*data\.path"):
        load_words(tmp_path / "absent.txt")


@pytest.mark.parametrize("content", ["", "\n\n  \n", "\ufeff\r\n"])
def test_empty_corpus_is_refused(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match="holds no words"):
        load_words(path)


def test_crlf_bom_spaces_and_blank_lines_are_normalised(tmp_path):
    messy = tmp_path / "messy.txt"
    messy.write_bytes(
        b"\xef\xbb\xbf"
        + "\r\n".join(f"  {w} " if i % 2 else w for i, w in enumerate(CLEAN)).encode()
        + b"\r\n\r\n   \r\n"
    )
    words = load_words(messy)
    assert words == CLEAN
    assert Vocabulary.from_words(words) == Vocabulary.from_words(CLEAN)


def test_non_utf8_corpus_names_the_file_and_the_encoding(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("été\nnoël\n".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin1\.txt is not valid UTF-8"):
        load_words(path)


def test_word_with_the_boundary_token_is_refused_or_a_boundary_is_chosen(tmp_path):
    with pytest.raises(VocabularyError, match=r"contain the boundary token '\.'.*data\.boundary"):
        Vocabulary.from_words(["emma", "j.r.r"])
    vocab = Vocabulary.from_words(["emma", "j.r.r"], boundary="#")
    assert vocab.itos[0] == "#" and "." in vocab.stoi


def test_training_on_a_missing_corpus_fails_before_anything_is_written(make_cfg, tmp_path):
    cfg = make_cfg(f"data.path={tmp_path}/nowhere.txt")
    with pytest.raises(CorpusError, match="nowhere.txt"):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.context_size=0", "data.context_size=0: must be an integer >= 1"),
        ("model.net.emb_size=0", "model.net.emb_size=0: must be an integer >= 1"),
        ("model.net.hidden_size=-5", "model.net.hidden_size=-5: must be an integer >= 1"),
        ("data.batch_size=0", "data.batch_size=0: must be an integer >= 1"),
        ("trainer.max_steps=0", "trainer.max_steps=0: must be an integer >= 1"),
        ("model.optimizer.lr=0", "model.optimizer.lr=0: the learning rate must be a number > 0"),
        ("model.optimizer.lr=-0.1", "model.optimizer.lr=-0.1: the learning rate"),
        ("data.split=[0.8,0.3,0.1]", r"sums to 1.2; the fractions must sum to 1"),
        ("data.split=[1.5,-0.25,-0.25]", r"train fraction must be in \(0, 1\]"),
    ],
)
def test_impossible_config_values_are_named_before_training(
    make_cfg, tiny_corpus, override, message
):
    cfg = make_cfg(f"data.path={tiny_corpus}", override)
    with pytest.raises(ConfigError, match=message):
        train(cfg)
    assert not Path(cfg.paths.output_dir).exists()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_command("charlm-train", *args, cwd=cwd)


@pytest.mark.slow
def test_cli_reports_a_bad_value_in_one_line(tmp_path, tiny_corpus):
    out = _cli(f"data.path={tiny_corpus}", "data.context_size=0", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == "charlm-train: error: data.context_size=0: must be an integer >= 1"


@pytest.mark.slow
@pytest.mark.parametrize("group", ["model", "experiment"])
def test_cli_unknown_model_or_experiment_lists_the_choices(tmp_path, group):
    out = _cli(f"{group}=nope", cwd=tmp_path)
    assert out.returncode != 0
    assert f"Could not find '{group}/nope'" in out.stderr
    assert f"Available options in '{group}'" in out.stderr
    assert "Traceback" not in out.stderr


# --- training ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_non_finite_loss_stops_at_once_and_keeps_the_good_checkpoints(make_cfg, tiny_corpus):
    # The learning rate doubles every step: fine for a while, then the loss or the weights
    # overflow. Where depends on the CPU's rounding: the loss of an update, the weights at a
    # chunk's end, or the logits at the validation after it (tests/test_non_finite.py forces
    # each place); every one ends the same way.
    cfg = make_cfg(
        f"data.path={tiny_corpus}", "data.split=[0.6,0.2,0.2]", "data.steps_per_batch=5",
        "trainer.val_check_interval=5", "trainer.max_steps=400", "model.optimizer.lr=0.05",
        "model/scheduler=none",
        "+model.scheduler._target_=torch.optim.lr_scheduler.ExponentialLR",
        "+model.scheduler._partial_=true", "+model.scheduler.gamma=2.0",
    )  # fmt: skip
    pattern = r"became (nan|inf|-inf|non-finite) at step (\d+)"
    with pytest.raises(NonFiniteLossError, match=pattern) as err:
        train(cfg)
    assert "\n" not in str(err.value)
    step = int(re.search(pattern, str(err.value)).group(2))
    assert 5 < step < 400
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert str(last) in str(err.value)
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["global_step"] < step
    for path in last.parent.glob("*.ckpt"):
        saved = torch.load(path, weights_only=True)["state_dict"]
        assert all(torch.isfinite(t).all() for t in saved.values()), path


def test_a_run_never_overwrites_an_earlier_runs_checkpoints(make_cfg, tiny_corpus, tmp_path):
    out = tmp_path / "same"
    args = (f"data.path={tiny_corpus}", "trainer.max_steps=100", "trainer.val_check_interval=100")
    train(make_cfg(*args, output_dir=out))
    before = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (out / "checkpoints").iterdir()
    }
    with pytest.raises(ConfigError, match="already holds checkpoints of an earlier run"):
        train(make_cfg(*args, "seed=1", output_dir=out))
    after = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (out / "checkpoints").iterdir()
    }
    assert after == before


RUN = ("trainer.max_steps=1200", "trainer.val_check_interval=100", "data.steps_per_batch=10",
       "callbacks.progress_bar=null", "logger=none", "data.split=[0.6,0.2,0.2]")  # fmt: skip


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The uninterrupted run of RUN (seed 5) on the tiny list, trained once for every resume
    test of this file to compare with."""
    root = tmp_path_factory.mktemp("straight")
    corpus = root / "words.txt"
    corpus.write_text("\n".join(TINY_WORDS) + "\n", encoding="utf-8")
    return train(compose_train(root, f"data.path={corpus}", "seed=5", *RUN))


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, tiny_corpus, signum, straight):
    common = (f"data.path={tiny_corpus}", f"paths.root_dir={tmp_path}", "seed=5", *RUN)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "charlm.commands.train", *common, "hydra.run.dir=interrupted"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    last = tmp_path / "interrupted" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out
    assert "interrupted at step" in out
    stopped_at = torch.load(last, weights_only=True)["global_step"]
    assert 0 < stopped_at < 1200

    resumed = _cli(*common, f"ckpt_path={last}", "hydra.run.dir=resumed", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr

    a = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert a["steps"] == straight["steps"] == 1200
    for split in ("train", "val", "test"):
        assert a[split]["loss"] == pytest.approx(straight[split]["loss"], rel=1e-6)
    wa = torch.load(tmp_path / "resumed/checkpoints/last.ckpt", weights_only=True)["state_dict"]
    wb = torch.load(straight["last_checkpoint"], weights_only=True)["state_dict"]
    for key in wb:
        torch.testing.assert_close(wa[key], wb[key])


class _StopAt(L.Callback):
    """Write last.ckpt and stop at a given step, as an interruption after the best one does."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if trainer.global_step == self.step:
            trainer.save_checkpoint(Path(trainer.default_root_dir) / "stopped.ckpt")
            trainer.should_stop = True


@pytest.mark.slow
def test_resumed_run_keeps_the_best_checkpoint_of_the_interrupted_one(
    make_cfg, tiny_corpus, tmp_path, straight
):
    # On this list the validation loss is lowest at step 200 and rises after it. A run resumed
    # (into a directory of its own) from step 400 must not take its first validation for the best.
    common = (f"data.path={tiny_corpus}", "seed=5", *RUN)
    assert Path(straight["best_checkpoint"]).name == "best-step200.ckpt"

    train(make_cfg(*common, output_dir=tmp_path / "a"), extra_callbacks=[_StopAt(400)])
    stopped = tmp_path / "a" / "stopped.ckpt"
    assert torch.load(stopped, weights_only=True)["global_step"] == 400
    before = {p.name: p.read_bytes() for p in (tmp_path / "a" / "checkpoints").glob("*.ckpt")}

    resumed = train(make_cfg(*common, f"ckpt_path={stopped}", output_dir=tmp_path / "b"))
    assert Path(resumed["best_checkpoint"]) == tmp_path / "b" / "checkpoints" / "best-step200.ckpt"
    for split in ("train", "val", "test"):
        assert resumed[split]["loss"] == pytest.approx(straight[split]["loss"], rel=1e-6)
    # The interrupted run's files are untouched.
    after = {p.name: p.read_bytes() for p in (tmp_path / "a" / "checkpoints").glob("*.ckpt")}
    assert after == before


class _SignalAt(L.Callback):
    """Delivers a stop request to GracefulStop as the batch ending at `step` finishes."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if trainer.global_step == self.step:
            stop = next(c for c in trainer.callbacks if isinstance(c, GracefulStop))
            stop._handler(signal.SIGINT, None)


@pytest.mark.slow
@pytest.mark.parametrize("step", [150, 200])
def test_a_stop_requested_when_a_validation_is_due_waits_for_it(
    make_cfg, tiny_corpus, tmp_path, step, straight
):
    # Validation (and the best checkpoint, step 200 on this list) falls after every 100 steps.
    # Stopping before that validation would resume as if it had run, and lose it.
    common = (f"data.path={tiny_corpus}", "seed=5", *RUN)
    # Lightning turns the KeyboardInterrupt into exit status 1; `train` says where it stopped.
    with pytest.raises(RunInterrupted) as stopped:
        train(make_cfg(*common, output_dir=tmp_path / "a"), extra_callbacks=[_SignalAt(step)])
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    assert stopped.value.last == last and stopped.value.step == step
    assert torch.load(last, weights_only=True)["global_step"] == step
    best = sorted(p.name for p in (tmp_path / "a" / "checkpoints").glob("best-*.ckpt"))
    assert best == (["best-step200.ckpt"] if step == 200 else ["best-step100.ckpt"])

    resumed = train(make_cfg(*common, f"ckpt_path={last}", output_dir=tmp_path / "b"))
    assert Path(resumed["best_checkpoint"]).name == "best-step200.ckpt"
    for split in ("train", "val", "test"):
        assert resumed[split]["loss"] == pytest.approx(straight[split]["loss"], rel=1e-6)


def test_graceful_stop_listed_before_a_model_checkpoint_is_refused(make_cfg, tiny_corpus):
    # Its last.ckpt would be written before the model checkpoints had saved theirs.
    cfg = make_cfg(f"data.path={tiny_corpus}", "trainer.max_steps=10", "callbacks=none")
    stop = GracefulStop()
    with pytest.raises(CharlmError, match="graceful_stop must come after the model checkpoint"):
        train(cfg, extra_callbacks=[stop, ModelCheckpoint(monitor=None)])


# --- checkpoints ------------------------------------------------------------------------------


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_that_would_run_code_is_refused_and_the_code_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "charlm": _Payload(str(marker))}, evil)
    with pytest.raises(CheckpointError, match=r"refused to load .*evil\.ckpt"):
        load_model(evil)
    assert not marker.exists()
    # and the same payload as a bare pickle
    evil.write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(CheckpointError, match="evil.ckpt"):
        load_model(evil)
    assert not marker.exists()


def test_truncated_or_corrupt_checkpoint_names_the_file(trained_run, tmp_path):
    good = (trained_run["dir"] / "checkpoints" / "last.ckpt").read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.ckpt is not a readable checkpoint"):
        load_model(cut)
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"junk\.ckpt"):
        load_model(junk)


class _DieAt(L.Callback):
    """The process dies (as under kill -9: no checkpoint written) after update `step`."""

    def __init__(self, step: int, hook: str) -> None:
        self.step, self.hook = step, hook

    def _maybe_die(self, trainer) -> None:
        if trainer.global_step == self.step and not trainer.sanity_checking:
            raise RuntimeError("killed")

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if self.hook == "train":
            self._maybe_die(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.hook == "validation":
            self._maybe_die(trainer)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("step", "hook"), [(750, "train"), (800, "validation"), (1200, "validation")]
)
def test_a_killed_run_resumes_from_last_ckpt_to_the_same_result(
    make_cfg, tiny_corpus, tmp_path, step, hook, straight
):
    # Killed between validations, or as a validation ends (before its checkpoints are written:
    # Lightning runs checkpoint callbacks last), the final one included.
    common = (f"data.path={tiny_corpus}", "seed=5", *RUN)
    with pytest.raises(RuntimeError, match="killed"):
        train(make_cfg(*common, output_dir=tmp_path / "a"), extra_callbacks=[_DieAt(step, hook)])
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)["global_step"]
    assert saved == (step - 1) // 100 * 100

    resumed = train(make_cfg(*common, f"ckpt_path={last}", output_dir=tmp_path / "b"))
    assert resumed["steps"] == straight["steps"] == 1200
    assert resumed["weights_step"] == straight["weights_step"]
    for split in ("train", "val", "test"):
        assert resumed[split]["loss"] == pytest.approx(straight[split]["loss"], rel=1e-6)
