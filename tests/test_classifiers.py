"""The course's toy classifiers: tables, perceptrons, and each experiment in shortened form."""

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from charlm.data import FizzBuzzDataModule, TableDataModule
from charlm.data.tables import binary_encode, fizzbuzz_label, fizzbuzz_text, gate_table
from charlm.errors import CharlmError
from charlm.models import (
    LinearClassifier,
    MLPClassifier,
    Perceptron,
    SigmoidMLP,
    XORNetwork,
)
from charlm.models.classifiers import AND_WEIGHTS, NOT_WEIGHTS, OR_WEIGHTS
from charlm.train import train

BITS = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])


def test_hand_weighted_perceptrons_compute_the_gates_exactly():
    assert Perceptron(AND_WEIGHTS)(BITS).tolist() == [0, 0, 0, 1]
    assert Perceptron(OR_WEIGHTS)(BITS).tolist() == [0, 1, 1, 1]
    assert Perceptron(NOT_WEIGHTS)(torch.tensor([[0], [1]])).tolist() == [1, 0]


def test_network_of_perceptrons_computes_xor():
    assert XORNetwork()(BITS).tolist() == [0, 1, 1, 0]


def test_gate_tables():
    x, y = gate_table("xor")
    assert x.tolist() == BITS.float().tolist() and y.tolist() == [0, 1, 1, 0]
    assert gate_table("and")[1].tolist() == [0, 0, 0, 1]
    with pytest.raises(CharlmError, match="data.gate='xnor'"):
        gate_table("xnor")


def test_token_table_is_the_notebooks():
    dm = TableDataModule(table="token", token="xor")
    x, y = dm.splits["train"]
    assert x.tolist() == [[2, 2], [2, 3], [3, 2], [3, 3]] and y.tolist() == [0, 1, 1, 0]
    assert dm.net_kwargs() == {"in_features": 2, "num_classes": 2}


def test_fizzbuzz_splits_and_encoding():
    dm = FizzBuzzDataModule()
    train_n, val_n, test_n = (dm.numbers[s] for s in ("train", "val", "test"))
    assert test_n == list(range(1, 101))
    assert len(val_n) == 100 and len(train_n) == 823
    assert set(train_n) | set(val_n) == set(range(101, 1024)) and not set(train_n) & set(val_n)
    assert binary_encode([3], 10).tolist() == [[1, 1, 0, 0, 0, 0, 0, 0, 0, 0]]
    assert [fizzbuzz_label(n) for n in (1, 3, 5, 15)] == [0, 1, 2, 3]
    assert [fizzbuzz_text(n, fizzbuzz_label(n)) for n in (1, 3, 5, 15)] == [
        "1", "fizz", "buzz", "fizzbuzz",
    ]  # fmt: skip


def test_predict_returns_logits_probabilities_and_argmax():
    torch.manual_seed(0)
    for net in (LinearClassifier(2, 2), MLPClassifier(2, 2), SigmoidMLP()):
        pred = net.predict(BITS.float())
        assert pred.probs.shape == (4, 2)
        torch.testing.assert_close(pred.probs.sum(1), torch.ones(4))
        assert torch.equal(pred.labels, pred.probs.argmax(1))


def _run(make_cfg, *overrides):
    cfg = make_cfg(*overrides)
    return train(cfg), cfg


@pytest.mark.slow
def test_linear_model_cannot_learn_the_xor_like_table(make_cfg):
    metrics, _ = _run(make_cfg, "experiment=token_linear")
    assert metrics["test"]["acc"] <= 0.75
    assert metrics["test"]["loss"] == pytest.approx(0.693, abs=0.05)


@pytest.mark.slow
def test_six_relus_learn_the_xor_like_table_in_200_steps(make_cfg):
    metrics, cfg = _run(make_cfg, "experiment=token_xor", "seed=1")
    assert metrics["steps"] == 200
    assert metrics["test"]["acc"] == 1.0
    events = EventAccumulator(f"{cfg.paths.output_dir}/tensorboard").Reload()
    assert "decision_boundary" in events.Tags()["images"]
    assert {"train/acc", "val/acc", "test/acc"} <= set(events.Tags()["scalars"])


@pytest.mark.slow
@pytest.mark.parametrize(("gate", "learnable"), [("and", True), ("or", True), ("xor", False)])
def test_a_linear_unit_learns_separable_gates_only(make_cfg, gate, learnable):
    metrics, _ = _run(make_cfg, "experiment=logic_gates", f"data.gate={gate}")
    assert (metrics["test"]["acc"] == 1.0) is learnable
    if not learnable:
        assert metrics["test"]["acc"] <= 0.75


@pytest.mark.slow
def test_sigmoid_network_learns_xor(make_cfg):
    metrics, cfg = _run(make_cfg, "experiment=xor_sigmoid")
    assert metrics["test"]["acc"] == 1.0
    ckpt = torch.load(metrics["last_checkpoint"], weights_only=True)
    net = SigmoidMLP()
    net.load_state_dict({k[4:]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")})
    p1 = net.predict(BITS.float()).probs[:, 1]
    assert ((p1 > 0.5).long() == torch.tensor([0, 1, 1, 0])).all()


@pytest.mark.slow
def test_fizzbuzz_short_run_logs_its_report(make_cfg):
    metrics, cfg = _run(make_cfg, "experiment=fizzbuzz", "trainer.max_steps=600")
    assert metrics["test"]["acc"] > 0.53  # better than always answering the number
    events = EventAccumulator(
        f"{cfg.paths.output_dir}/tensorboard", size_guidance={"tensors": 0}
    ).Reload()
    assert "fizzbuzz/confusion_matrix" in events.Tags()["images"]
    text = events.Tensors("fizzbuzz/predicted/text_summary")[-1].tensor_proto.string_val[0].decode()
    assert len(text.split()) == 100 and text.split()[0] in {"1", "fizz", "buzz", "fizzbuzz"}
