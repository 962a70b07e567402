"""docs/extending.md, run: its model family, datasets and metric, added as it says, then trained."""

from __future__ import annotations

import json
import math
import re
import sys
import types
from pathlib import Path

import pytest
import torch
from conftest import TINY_WORDS, compose_train

import charlm.metrics
import charlm.models
from charlm import load_model
from charlm.checkpoint import CheckpointError, checkpoint_words
from charlm.errors import CharlmError

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
QUICK = ("debug=quick",)


def doc_blocks() -> dict[str, str]:
    """The code blocks of the guide that name a file: {path: code}."""
    return dict(re.findall(r"^```\w+ (\S+)\n(.*?)^```", DOC.read_text(), re.M | re.S))


def as_module(name: str, code: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The guide's file `code` imported as module `name` (as if it had been added to src/)."""
    module = types.ModuleType(name)
    exec(compile(code, name, "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, name, module)
    return module


@pytest.fixture
def with_doc_configs(tmp_path: Path) -> str:
    """The guide's config files in a config tree of their own, on Hydra's search path."""
    extra = tmp_path / "extra_conf"
    for path, code in doc_blocks().items():
        if path.startswith("conf/"):
            target = extra / path.removeprefix("conf/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(code)
    return f"hydra.searchpath=[file://{extra}]"


def train_run(root: Path, *overrides: str) -> dict:
    from charlm.train import train

    return train(compose_train(root, *QUICK, *overrides))


def test_the_guide_names_every_file_it_adds():
    assert set(doc_blocks()) == {
        "src/charlm/models/loglinear.py", "conf/model/loglinear.yaml", "conf/data/french.yaml",
        "src/charlm/data/csv_words.py", "conf/data/csv_words.yaml", "src/charlm/metrics.py",
    }  # fmt: skip


@pytest.mark.slow
def test_a_new_model_family_trains_loads_and_samples(
    tmp_path, tiny_corpus, with_doc_configs, monkeypatch
):
    module = as_module(
        "charlm.models.loglinear", doc_blocks()["src/charlm/models/loglinear.py"], monkeypatch
    )
    monkeypatch.setattr(charlm.models, "LogLinearLM", module.LogLinearLM, raising=False)
    net = module.LogLinearLM(5, context_size=2)
    torch.nn.init.normal_(net.W)
    x = torch.tensor([[1, 4], [0, 2]])
    expected = torch.stack([net.b + net.W[0, a] + net.W[1, b] for a, b in x.tolist()])
    assert torch.allclose(net(x), expected)

    metrics = train_run(
        tmp_path, with_doc_configs, "model=loglinear", f"data.path={tiny_corpus}",
        "data.split=[0.6,0.2,0.2]", "model.optimizer.lr=0.05",
    )  # fmt: skip
    vocab_size = len({c for w in TINY_WORDS for c in w}) + 1
    assert metrics["train"]["loss"] < math.log(vocab_size) - 0.5  # learned more than uniform
    model = load_model(metrics["last_checkpoint"])
    assert type(model).__name__ == "LogLinearLM"
    words = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert len(words) == 5 and all(set(w) <= set(model.vocab.itos) for w in words)


def test_a_word_list_config_composes_alone_and_after_an_experiment(tmp_path, with_doc_configs):
    for overrides in (["data=french"], ["experiment=gru", "data=french"]):
        cfg = compose_train(tmp_path, with_doc_configs, *overrides)
        assert cfg.data.path == "/usr/share/dict/french" and cfg.data.boundary == "#"
        assert cfg.data._target_ == "charlm.data.CharWindowDataModule"


@pytest.mark.slow
def test_a_datamodule_reading_a_csv_column_trains_and_names_what_is_missing(
    tmp_path, with_doc_configs, monkeypatch
):
    module = as_module(
        "charlm.data.csv_words", doc_blocks()["src/charlm/data/csv_words.py"], monkeypatch
    )
    (tmp_path / "data").mkdir()
    rows = [f"{w.upper()},{i}" for i, w in enumerate(TINY_WORDS)]
    (tmp_path / "data" / "names.csv").write_text("name,count\n" + "\n".join(rows) + "\n")

    metrics = train_run(
        tmp_path, with_doc_configs, "data=csv_words", "data.split=[0.6,0.2,0.2]",
        "model/optimizer=adam", "model.optimizer.lr=0.01",
    )  # fmt: skip
    ckpt = metrics["last_checkpoint"]
    data = module.CsvWordsDataModule.load_from_checkpoint(ckpt, weights_only=True)
    data.setup()
    assert data.column == "name"
    assert sorted(w for part in data.words.values() for w in part) == sorted(TINY_WORDS)
    # The sampler cannot re-read a CSV as a word list: it says so and how to go on.
    with pytest.raises(CheckpointError, match="data_path=A_WORD_LIST"):
        checkpoint_words(load_model(ckpt))

    cfg = compose_train(
        tmp_path, with_doc_configs, "data=csv_words", "data.column=nope", output_dir=tmp_path / "b"
    )
    from charlm.train import train

    with pytest.raises(CharlmError, match="no column 'nope'"):
        train(cfg)


@pytest.mark.slow
def test_a_new_metric_reaches_metrics_json_eval_and_report(tmp_path, tiny_corpus, monkeypatch):
    from charlm.inference import evaluate_checkpoint
    from charlm.metrics import format_table
    from charlm.report import columns_of

    # The guide's lines, applied to charlm.metrics.
    scratch = dict(vars(charlm.metrics), METRICS=dict(charlm.metrics.METRICS))
    exec(doc_blocks()["src/charlm/metrics.py"], scratch)
    monkeypatch.setattr(charlm.metrics, "prediction_metrics", scratch["prediction_metrics"])
    monkeypatch.setitem(charlm.metrics.METRICS, "acc5", scratch["METRICS"]["acc5"])

    metrics = train_run(tmp_path, f"data.path={tiny_corpus}", "data.split=[0.6,0.2,0.2]")
    saved = json.loads((Path(metrics["output_dir"]) / "metrics.json").read_text())
    for split in ("train", "val", "test"):
        assert saved[split]["acc"] <= saved[split]["acc5"] <= 1.0
    results = evaluate_checkpoint(metrics["last_checkpoint"])
    header = format_table(results).splitlines()[0].split()[1:]
    assert "acc5" in header and header == [m for m in charlm.metrics.METRICS if m in header]
    row = {f"{s}_{k}": v for s in ("train", "val", "test") for k, v in saved[s].items()}
    assert {"train_acc5", "val_acc5", "test_acc5"} <= set(columns_of([row]))
