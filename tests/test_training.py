"""Training runs end to end on a tiny word list: loss goes down, files and TensorBoard data appear."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from charlm.lit.update import plain_sgd_update
from charlm.train import train

SHORT = ("trainer.max_steps=400", "trainer.val_check_interval=200")


def _events(run_dir: Path) -> EventAccumulator:
    files = list(run_dir.glob("tensorboard/events.out.tfevents.*"))
    assert files, f"no TensorBoard event file under {run_dir}"
    acc = EventAccumulator(str(files[0].parent), size_guidance={"scalars": 0, "tensors": 0})
    return acc.Reload()


def test_a_short_run_lowers_the_loss_and_writes_its_files(make_cfg, tiny_corpus, tmp_path):
    cfg = make_cfg(f"data.path={tiny_corpus}", "data.split=[0.6,0.2,0.2]", *SHORT)
    metrics = train(cfg)
    run = Path(cfg.paths.output_dir)

    # The untrained model is near uniform (ln 27 ~ 3.3) or worse; training must beat 2.6.
    assert metrics["train"]["loss"] < 2.6
    assert metrics["steps"] == 400
    on_disk = json.loads((run / "metrics.json").read_text())
    assert set(on_disk) >= {"train", "val", "test"}
    assert on_disk["test"]["loss"] == pytest.approx(metrics["test"]["loss"])

    ckpts = {p.name for p in (run / "checkpoints").glob("*.ckpt")}
    assert "last.ckpt" in ckpts and any(name.startswith("best") for name in ckpts)
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["charlm"]["vocab"].startswith(".")

    events = _events(run)
    scalars = set(events.Tags()["scalars"])
    for tag in ("train/loss", "val/loss", "val/ppl", "val/bpc", "test/loss", "test/ppl"):
        assert tag in scalars, f"{tag} missing from {sorted(scalars)}"
    val = events.Scalars("val/loss")
    assert [e.step for e in val] == [200, 400]  # logged against optimiser updates
    assert "samples/text_summary" in events.Tags()["tensors"]
    assert "embeddings" in events.Tags()["images"]


def test_bigram_full_batch_trains_on_every_word(make_cfg, tiny_corpus):
    cfg = make_cfg("experiment=bigram", f"data.path={tiny_corpus}", "trainer.max_steps=50")
    metrics = train(cfg)
    assert set(metrics) & {"train", "val", "test"} == {"train"}
    assert metrics["train"]["windows"] == sum(len(w) + 1 for w in tiny_corpus.read_text().split())
    assert metrics["train"]["loss"] < 3.0


def _cli(tmp_path: Path, corpus: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable, "-m", "charlm.commands.train", f"data.path={corpus}",
            f"paths.root_dir={tmp_path}", "trainer.max_steps=200", "trainer.val_check_interval=100",
            "callbacks.progress_bar=null",
        ],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip


@pytest.mark.slow
def test_cli_runs_started_together_get_their_own_directories(tmp_path, tiny_corpus):
    procs = [_cli(tmp_path, tiny_corpus) for _ in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out
    runs = sorted((tmp_path / "logs" / "train" / "runs").iterdir())
    assert len(runs) == 2
    for run in runs:
        assert (run / ".hydra" / "config.yaml").is_file()
        assert (run / "metrics.json").is_file()
        assert (run / "checkpoints" / "last.ckpt").is_file()
        assert "train/loss" in _events(run).Tags()["scalars"]


def _two_param_sets():
    torch.manual_seed(0)
    a = [torch.randn(4, 3, requires_grad=True), torch.randn(3, requires_grad=True)]
    b = [p.detach().clone().requires_grad_() for p in a]
    return a, b


# The scheduler warns that SGD.step was never called: here the direct update stands in for it.
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`")
def test_plain_sgd_update_is_what_sgd_step_computes():
    a, b = _two_param_sets()
    opt_a = torch.optim.SGD(a, lr=0.3)
    opt_b = torch.optim.SGD(b, lr=0.3)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(opt_b, milestones=[2], gamma=0.1)
    direct = plain_sgd_update(opt_b)
    assert direct is not None
    x = torch.randn(5, 4)
    for _ in range(4):
        for params, update in ((a, opt_a.step), (b, direct)):
            for p in params:
                p.grad = None
            ((x @ params[0] + params[1]) ** 2).mean().backward()
            update()
        scheduler.step()
        opt_a.param_groups[0]["lr"] = opt_b.param_groups[0]["lr"]  # the same schedule
        for pa, pb in zip(a, b, strict=True):
            torch.testing.assert_close(pa, pb)
    assert opt_b.param_groups[0]["lr"] == pytest.approx(0.03)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01),
        lambda p: torch.optim.AdamW(p, lr=0.1),
    ],
)
def test_other_optimisers_keep_their_own_step(make):
    assert plain_sgd_update(make(_two_param_sets()[0])) is None


@pytest.mark.slow
def test_bf16_mixed_precision_reaches_every_update(make_cfg, tiny_corpus):
    """trainer.precision=bf16-mixed: every update's matrix products run in bfloat16."""
    seen: list[tuple[str, torch.dtype]] = []

    def record(module, args, output):
        if isinstance(module, torch.nn.Linear) and module.training:
            seen.append((module.out_features, output.dtype))

    cfg = make_cfg(
        "model=feedforward",
        "model.net.hidden_sizes=[16,16]",
        f"data.path={tiny_corpus}",
        "data.split=[0.6,0.2,0.2]",
        "trainer.precision=bf16-mixed",
        *SHORT,
    )
    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        metrics = train(cfg)
    finally:
        handle.remove()
    hidden = [dtype for width, dtype in seen if width == 16]
    # Two hidden layers per update, bare updates and Lightning's alike.
    assert len(hidden) == 2 * 400
    assert set(hidden) == {torch.bfloat16}
    assert metrics["train"]["loss"] < 2.6


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_the_direct_update_and_lightnings_give_identical_weights(
    make_cfg, tiny_corpus, tmp_path, optimizer
):
    """lightning_update=true runs every update through Lightning's manual_backward and
    LightningOptimizer.step; the direct path must compute the very same weights."""
    common = (
        f"data.path={tiny_corpus}", f"model/optimizer={optimizer}", "trainer.max_steps=300",
        "trainer.val_check_interval=100", "trainer.gradient_clip_val=0.5", "seed=3", "logger=none",
    )  # fmt: skip
    weights = {}
    for through in ("false", "true"):
        metrics = train(
            make_cfg(*common, f"lightning_update={through}", output_dir=tmp_path / through)
        )
        assert metrics["steps"] == 300
        weights[through] = torch.load(metrics["last_checkpoint"], weights_only=True)["state_dict"]
    assert weights["false"].keys() == weights["true"].keys()
    for key, value in weights["false"].items():
        assert torch.equal(value, weights["true"][key]), key


def test_a_lightning_that_moved_its_update_counter_is_named_with_the_way_out():
    from types import SimpleNamespace

    from charlm.errors import CharlmError
    from charlm.lit.update import update_counter

    moved = SimpleNamespace(fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace()))
    with pytest.raises(CharlmError, match="lightning_update=true"):
        update_counter(moved)
