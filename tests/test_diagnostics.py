"""The course's lesson on initialisation, activations and BatchNorm, and the diagnostics."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from commands import run_command
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn

from charlm.data.vocab import Vocabulary
from charlm.diagnostics import (
    Probe,
    Snapshot,
    diagnostics_figure,
    first_loss_note,
    histogram,
    update_ratio,
)
from charlm.errors import ConfigError
from charlm.lit.diagnostics import Diagnostics
from charlm.models import BengioMLP, FeedForwardLM

V = 41
LN_V = math.log(V)


def _first_loss(net: nn.Module, seed: int = 0) -> float:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, V, (32, 3), generator=g)
    y = torch.randint(0, V, (32,), generator=g)
    net.train()
    with torch.no_grad():
        return float(F.cross_entropy(net(x), y))


@pytest.mark.parametrize("norm", ["none", "batch"])
@pytest.mark.parametrize("init", ["randn", "output_scaled", "tanh_scaled", "kaiming"])
def test_the_first_loss_of_each_initialisation(init, norm):
    net = BengioMLP(V, 3, 10, 200, seed=2147483647, init=init, norm=norm)
    loss = _first_loss(net)
    if init == "randn":
        assert loss > 15, loss  # the notebook's 30.49: large logits, confidently wrong
    else:
        assert abs(loss - LN_V) < 0.1, loss


def test_each_initialisation_scales_what_the_lesson_says():
    nets = {
        i: BengioMLP(V, 3, 10, 200, seed=1, init=i)
        for i in ("randn", "output_scaled", "tanh_scaled", "kaiming")
    }
    base = nets["randn"]
    # The same standard-normal draw underneath, in the notebook's order.
    assert torch.equal(nets["kaiming"].C, base.C)
    assert torch.allclose(nets["output_scaled"].W2, base.W2 * 0.01)
    assert torch.equal(nets["output_scaled"].b2, torch.zeros(V))
    assert torch.equal(nets["output_scaled"].W1, base.W1)
    assert torch.allclose(nets["tanh_scaled"].W1, base.W1 * 0.2)
    assert torch.allclose(nets["tanh_scaled"].b1, base.b1 * 0.01)
    assert torch.allclose(nets["kaiming"].W1, base.W1 * (5 / 3) / math.sqrt(30))
    with pytest.raises(ConfigError, match="init='xavier'"):
        BengioMLP(V, 3, init="xavier")


def test_the_lesson_deep_network_starts_at_the_uniform_loss():
    deep = FeedForwardLM(V, 3, 10, [100] * 5, activation="tanh", norm="none", init="kaiming")
    assert abs(_first_loss(deep) - LN_V) < 0.1
    linears = [m for m in deep.hidden if isinstance(m, nn.Linear)]
    assert len(linears) == 5 and all(m.bias is not None for m in linears)
    # Kaiming: std gain / sqrt(fan_in) for every hidden layer.
    assert abs(float(linears[1].weight.std()) - (5 / 3) / 10) < 0.02
    normed = FeedForwardLM(V, 3, 10, [100] * 5, activation="tanh", norm="batch", init="randn")
    assert all(m.bias is None for m in normed.hidden if isinstance(m, nn.Linear))
    assert _first_loss(normed) > 3 * LN_V


def test_batchnorm_uses_running_statistics_in_evaluation_and_sampling(tiny_words):
    vocab = Vocabulary.from_words(tiny_words)
    net = BengioMLP(len(vocab), 3, 4, 16, seed=0, init="kaiming", norm="batch", bn_momentum=0.5)
    assert net.b1 is None and "b1" not in dict(net.named_parameters())
    net.vocab = vocab
    x, _ = net.examples(tiny_words)
    net.train()
    net(x[:64])  # batch statistics, and the running ones move
    mean, var = net.bn.running_mean.clone(), net.bn.running_var.clone()
    assert not torch.allclose(mean, torch.zeros_like(mean))

    net.eval()
    h = net.C[x[:5]].flatten(1) @ net.W1
    expected = (
        torch.tanh((h - mean) / torch.sqrt(var + net.bn.eps) * net.bn.weight + net.bn.bias) @ net.W2
        + net.b2
    )
    with torch.no_grad():
        assert torch.allclose(net(x[:5]), expected, atol=1e-5)
        # In evaluation a row's logits do not depend on the rest of its batch.
        assert torch.allclose(net(x[:1]), net(x[:5])[:1], atol=1e-6)
    net.train()
    words = net.sample(5, generator=torch.Generator().manual_seed(0), max_len=10)
    assert len(words) == 5
    assert net.training  # sampling restores the mode it found
    assert torch.equal(net.bn.running_mean, mean) and torch.equal(net.bn.running_var, var)
    nll, _ = net.log_prob(tiny_words[0])
    assert math.isfinite(nll)
    assert torch.equal(net.bn.running_mean, mean)


def test_saturation_and_ratios_against_values_computed_by_hand():
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[3.0, 0.0], [0.1, 0.0], [-5.0, 0.0]]))
        net[0].bias.zero_()
        net[2].weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
        net[2].bias.zero_()
    probe = Probe(net)
    assert [name for name, _, _ in probe.layers] == ["1"]
    probe.start()
    # Pre-activations (3, 0.1, -5) and (1.5, 0.05, -2.5): tanh 0.995, 0.0997, -1.000 and
    # 0.905, 0.05, -0.987 -> |t| > 0.97 for 3 of 6.
    out = net(torch.tensor([[1.0, 0.0], [0.5, 0.0]]))
    out.sum().backward()
    before = net[2].weight.detach().clone()
    with torch.no_grad():
        for p in net.parameters():
            p -= 0.1 * p.grad
    snap = probe.finish()
    assert snap.layer_stats["1"]["saturated"] == pytest.approx(3 / 6)
    # Update of the output matrix: -0.1 * grad, grad = ones(2, 1) @ sum of tanh rows.
    tanh_sum = torch.tanh(torch.tensor([3.0, 0.1, -5.0])) + torch.tanh(
        torch.tensor([1.5, 0.05, -2.5])
    )
    change = -0.1 * tanh_sum.expand(2, 3)
    after = before + change
    expected = float(change.std() / after.std())
    assert snap.weight_stats["2.weight"]["update_to_weight_log10"] == pytest.approx(
        math.log10(expected), rel=1e-5
    )
    assert snap.weight_stats["2.weight"]["grad_to_weight"] == pytest.approx(
        float(tanh_sum.expand(2, 3).std() / after.std()), rel=1e-5
    )
    # By hand: before [1, 2], after [1, 4]: std of the change (0, 2) / std of (1, 4).
    assert update_ratio(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0])) == pytest.approx(
        math.sqrt(2) / (3 / math.sqrt(2))
    )
    # The hooks are gone once the update is measured.
    assert not net[1]._forward_hooks


def test_the_update_ratio_is_the_optimisers_real_change():
    # Adam's first step moves every weight by lr * sign(grad), whatever the gradient's size:
    # the ratio is that change, not lr * grad.
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    probe = Probe(net)
    probe.start()
    before = net[2].weight.detach().clone()
    (net(torch.randn(16, 4)) ** 2).mean().backward()
    grad = net[2].weight.grad.clone()
    opt.step()
    snap = probe.finish()
    change = net[2].weight.detach() - before
    assert torch.allclose(change, -0.01 * grad.sign(), atol=1e-6)
    expected = float(change.std() / net[2].weight.detach().std())
    assert 10 ** snap.weight_stats["2.weight"]["update_to_weight_log10"] == pytest.approx(
        expected, rel=1e-4
    )


@pytest.mark.slow
def test_a_non_finite_tensor_is_skipped_with_a_note(tmp_path, caplog):
    bad = torch.tensor([1.0, float("nan"), 2.0])
    assert histogram(bad) is None
    assert histogram(torch.tensor([1.0, 2.0, 3.0])) is not None
    snap = Snapshot(
        activations={"act": bad, "ok": torch.randn(100)},
        activation_grads={"act": None, "ok": torch.randn(100)},
        weight_grads={"W": torch.tensor([[float("inf"), 1.0]])},
        layer_stats={
            "act": {
                "activation_mean": float("nan"),
                "activation_std": float("nan"),
                "saturated": 0.0,
            },
            "ok": {"activation_mean": 0.0, "activation_std": 1.0, "saturated": 0.0},
        },
        weight_stats={"W": {"grad_to_weight": float("inf")}},
    )
    assert "diagnostics/activation_mean/act" not in snap.scalars()
    assert snap.scalars()["diagnostics/activation_std/ok"] == 1.0
    fig = diagnostics_figure(snap, {"W": [(1, -3.0)]})
    assert (
        "non-finite, not drawn: activations of act, weight gradients of W"
        in fig._suptitle.get_text()
    )
    fig.savefig(tmp_path / "fig.png")

    logger = TensorBoardLogger(str(tmp_path), name="tb")
    callback = Diagnostics()
    callback._trainer = SimpleNamespace(loggers=[logger], is_global_zero=True)
    with caplog.at_level("WARNING"):
        callback._histograms(snap, 1)
    assert "diagnostics/activations/act holds non-finite values" in caplog.text
    logger.experiment.flush()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(logger.log_dir, size_guidance={"histograms": 0})
    events.Reload()
    assert events.Tags()["histograms"] == [
        "diagnostics/activations/ok",
        "diagnostics/activation_grads/ok",
    ]


def test_first_loss_note_names_the_output_layer():
    note, far = first_loss_note(30.49, 41, "W2")
    assert far and "W2" in note and "3.7136" in note
    note, far = first_loss_note(3.73, 41, "W2")
    assert not far


FAMILIES = {
    "bengio_mlp": ("model=bengio_mlp", "model.net.hidden_size=16", ["act"]),
    "deep_tanh": (
        "model=feedforward",
        "model.net.hidden_sizes=[16,16,16]",
        ["hidden.1", "hidden.3", "hidden.5"],
    ),
    "gru": ("experiment=gru", "model.net.hidden_size=16", ["rnn"]),
    "transformer": ("experiment=transformer", "model.net.emb_size=16", ["blocks.0.mlp.1"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_diagnostics_on_each_family(family, make_cfg, tiny_corpus, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from charlm.train import train

    model, size, layers = FAMILIES[family]
    extra = (
        [
            "model.net.activation=tanh",
            "model.net.norm=none",
            "model.net.init=kaiming",
            "model.net.dropout=0",
        ]
        if family == "deep_tanh"
        else []
    )
    cfg = make_cfg(
        model,
        size,
        *extra,
        f"data.path={tiny_corpus}",
        "data.split=[0.6,0.2,0.2]",
        "trainer.max_steps=40",
        "trainer.val_check_interval=20",
        "diagnostics=on",
        "callbacks.diagnostics.every_n_steps=10",
        "callbacks.diagnostics.histogram_every_n_steps=20",
    )
    if family == "transformer":
        cfg.model.net.num_layers = 1
    metrics = train(cfg)
    run = Path(metrics["output_dir"])
    assert (run / "diagnostics.png").stat().st_size > 10_000
    events = EventAccumulator(
        str(run / "tensorboard"), size_guidance={"histograms": 0, "images": 0, "scalars": 0}
    )
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    for layer in layers:
        for stat in ("activation_mean", "activation_std", "saturated"):
            assert f"diagnostics/{stat}/{layer}" in scalars
        assert f"diagnostics/activations/{layer}" in events.Tags()["histograms"]
    # Measured at the first update and every 10: 1, 10, 20, 30, 40.
    steps = [e.step for e in events.Scalars(f"diagnostics/saturated/{layers[0]}")]
    assert steps == [1, 10, 20, 30, 40]
    ratios = [t for t in scalars if t.startswith("diagnostics/update_to_weight_log10/")]
    values = [[e.value for e in events.Scalars(t)] for t in ratios]
    assert ratios and all(max(v) < 1 and max(v) > -6 for v in values)
    assert "diagnostics/first_loss" in scalars
    assert "diagnostics/figure" in events.Tags()["images"]


def test_diagnostics_off_adds_no_callback_and_watches_nothing(make_cfg, tiny_corpus):
    from charlm.config import instantiate_group

    cfg = make_cfg(f"data.path={tiny_corpus}")
    assert "diagnostics" not in cfg.callbacks
    assert not any(isinstance(c, Diagnostics) for c in instantiate_group(cfg.callbacks))
    on = make_cfg(f"data.path={tiny_corpus}", "diagnostics=on")
    assert any(isinstance(c, Diagnostics) for c in instantiate_group(on.callbacks))


@pytest.mark.slow
def test_course_ffn_with_randn_shows_the_large_first_loss(make_cfg, tiny_corpus, tmp_path):
    from charlm.train import train

    for init, check in (("randn", lambda x: x > 10), ("kaiming", lambda x: x < 4)):
        cfg = make_cfg(
            "experiment=course_ffn",
            f"model.net.init={init}",
            "trainer.max_steps=1",
            f"data.path={tiny_corpus}",
            output_dir=tmp_path / init,
        )
        metrics = train(cfg)
        assert check(metrics["first_loss"]), (init, metrics["first_loss"])
        assert cfg.model.net.init == init and cfg.model.net.norm == "batch"


@pytest.mark.slow
def test_the_lesson_steps_compose_as_the_lesson_builds_them(make_cfg):
    from omegaconf import OmegaConf

    from charlm.config import config_dir

    lesson = OmegaConf.load(config_dir() / "experiment" / "activations_lesson.yaml")
    assert lesson.hydra.mode == "MULTIRUN"
    steps = lesson.hydra.sweeper.params["+lesson_step"].split(",")
    assert steps == ["original", "output_fixed", "tanh_fixed", "kaiming", "batchnorm"]
    nets = [make_cfg(f"+lesson_step={s}").model.net for s in steps]
    assert [(n.init, n.norm) for n in nets] == [
        ("randn", "none"),
        ("output_scaled", "none"),
        ("tanh_scaled", "none"),
        ("kaiming", "none"),
        ("kaiming", "batch"),
    ]
    ffn = make_cfg("experiment=course_ffn")
    assert (ffn.model.net.emb_size, ffn.model.net.hidden_size, ffn.data.batch_size) == (10, 200, 32)
    assert ffn.model.optimizer.lr == 0.2 and ffn.trainer.max_steps == 200000


@pytest.mark.slow
def test_charlm_inspect_writes_the_figure_of_a_checkpoint(trained_run, tmp_path):
    from charlm.inference import inspect_checkpoint

    ckpt = Path(trained_run["metrics"]["last_checkpoint"])
    out = inspect_checkpoint(ckpt, tmp_path / "fig.png", batch_size=64)
    assert out == tmp_path / "fig.png" and out.stat().st_size > 10_000
    cli = [
        sys.executable,
        "-m",
        "charlm.commands.inspect",
        f"ckpt={ckpt}",
        f"output={tmp_path / 'cli.png'}",
    ]
    done = run_command(*cli[2:], process=True)  # the installed entry point, in its own process
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"diagnostics figure written to {tmp_path / 'cli.png'}"
    assert (tmp_path / "cli.png").is_file()
    done = run_command(*cli[2:4], "batch_size=0")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("batch_size=0: must be an integer >= 1")
