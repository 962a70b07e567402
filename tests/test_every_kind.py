"""Every kind of data through every command with the same calls: a word list, running text,
lines of characters, lines of tokens and records of a CSV file are trained, loaded,
evaluated, scored, sampled and inspected alike, and each command's answer is the data's own."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from commands import run_command
from conftest import TINY_WORDS, compose_train

from charlm import load_model
from charlm.data.registry import KINDS, checked_data
from charlm.inference import evaluate_checkpoint
from charlm.train import train

LINES = [
    "Le chat dort sur le tapis.", "La pluie tombe sur la ville.", "Le chien aboie dans la cour.",
    "Un oiseau chante dans l'arbre.", "La mer est calme ce matin.", "Le vent souffle fort.",
    "Les enfants jouent dans le parc.", "Le soleil brille sur les toits.",
] * 4  # fmt: skip
SHORT = ("trainer.max_steps=30", "trainer.val_check_interval=15", "logger=none",
         "model/optimizer=adam", "model.optimizer.lr=0.01")  # fmt: skip


def _files(root: Path) -> dict[str, Path]:
    words = root / "words.txt"
    words.write_text("\n".join(TINY_WORDS) + "\n", encoding="utf-8")
    text = root / "text.txt"
    text.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    records = root / "names.csv"
    records.write_text(
        "id,name,note\n" + "".join(f"{i},{w},x\n" for i, w in enumerate(TINY_WORDS)),
        encoding="utf-8",
    )
    return {"words": words, "text": text, "records": records}


# kind -> (data file, overrides, what charlm-score reads)
KIND_RUNS = {
    "words": ("words", ("model.net.hidden_size=16", "data.split=[0.6,0.2,0.2]"), "words"),
    "text": ("text", ("data=text", "model=gru", "data.block_size=16", "data.batch_size=4",
                      "model.net.hidden_size=16"), "text"),
    "lines_chars": ("text", ("data=lines", "data.units=chars", "model=gru",
                             "model.net.hidden_size=16", "model.net.context_size=40"), "text"),
    "lines_tokens": ("text", ("data=lines", "data.tokenizer.vocab_size=60",
                              "model.net.hidden_size=16"), "text"),
    "records": ("records", ("data=records", "data.field=name", "model.net.hidden_size=16",
                            "data.split=[0.6,0.2,0.2]"), "words"),
}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """One tiny run of each kind, trained with the same library call."""
    root = tmp_path_factory.mktemp("kinds")
    files = _files(root)
    out = {}
    for name, (data, overrides, scored) in KIND_RUNS.items():
        cfg = compose_train(
            root, f"data.path={files[data]}", *SHORT, *overrides, output_dir=root / name
        )
        metrics = train(cfg)
        out[name] = {"metrics": metrics, "ckpt": root / name / "checkpoints" / "last.ckpt",
                     "input": files["words" if scored == "words" else "text"], "dir": root}  # fmt: skip
    return out


def test_every_kind_shipped_is_walked():
    assert {"words", "text", "lines", "records"} == set(KINDS)


@pytest.mark.parametrize("name", sorted(KIND_RUNS))
def test_each_kind_loads_evaluates_scores_samples_and_inspects_with_the_same_calls(
    runs, name, tmp_path
):
    run = runs[name]
    ckpt, metrics = run["ckpt"], run["metrics"]
    model = load_model(ckpt)
    kind = model.data_identity["kind"]
    assert kind == name.split("_")[0]
    # The data rebuilt from the checkpoint alone is the run's, split as it was.
    data, changed = checked_data(model)
    assert not changed and data.identity() == model.data_identity

    # charlm-eval: the run's own figures again, split by split.
    result = run_command("charlm-eval", f"ckpt={ckpt}", f"output={tmp_path / 'eval.json'}")
    assert result.returncode == 0, result.stderr
    figures = json.loads((tmp_path / "eval.json").read_text())["results"]
    assert figures == evaluate_checkpoint(ckpt)
    if metrics["weights"] == "last":
        for split in ("train", "val", "test"):
            assert figures[split]["loss"] == pytest.approx(metrics[split]["loss"], rel=1e-5)

    # charlm-score: the file the kind reads, given the same way for every kind.
    result = run_command("charlm-score", f"ckpt={ckpt}", f"input={run['input']}", "format=json")
    assert result.returncode == 0, result.stderr
    scored = json.loads(result.stdout)
    rows = next(v for k, v in scored.items() if k != "summary")
    assert rows and all(r["nll"] is None or math.isfinite(r["nll"]) for r in rows)
    assert scored["summary"]["nll_per_char"] > 0

    # charlm-sample: words or lines tagged by the run's split, or a passage of text.
    result = run_command("charlm-sample", f"ckpt={ckpt}", "n=4", "seed=0", "length=40")
    assert result.returncode == 0, result.stderr
    again = run_command("charlm-sample", f"ckpt={ckpt}", "n=4", "seed=0", "length=40")
    assert result.stdout == again.stdout and result.stdout.strip()
    if kind == "text":
        assert result.stdout.count("--- sample") == 4
    else:
        assert result.stdout.strip().splitlines()[-1].startswith("novelty of 4 samples")

    # charlm-inspect: the diagnostics figure from the run's own training examples.
    png = tmp_path / "inspect.png"
    result = run_command("charlm-inspect", f"ckpt={ckpt}", f"output={png}", "batch_size=8")
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_records_are_the_field_of_each_record_split_as_words_are(runs):
    model = load_model(runs["records"]["ckpt"])
    data, _ = checked_data(model)
    assert sorted(w for part in data.parts.values() for w in part) == sorted(set(TINY_WORDS))
    # The same words, split by the same seed, as a word list of them is.
    words = load_model(runs["words"]["ckpt"])
    assert data.parts == checked_data(words)[0].parts
    assert model.sample(3, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("id,title\n1,emma\n", ".csv", r"data.field='name': .* has no such field; its fields are \['id', 'title'\]"),
        ('{"name": "emma"}\nnot json\n', ".jsonl", r"line 2: not JSON"),
        ("emma\n", ".txt", r"records are read from \.csv, \.tsv, \.jsonl, \.json files"),
        ("id,name\n1,\n", ".csv", r"no record has a non-empty 'name' field"),
    ],
)  # fmt: skip
def test_bad_records_get_one_line_naming_the_file_and_the_fix(tmp_path, content, suffix, message):
    path = tmp_path / f"names{suffix}"
    path.write_text(content, encoding="utf-8")
    result = run_command(
        "charlm-train", "data=records", f"data.path={path}", "data.field=name",
        "hydra.run.dir=run", *SHORT, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert __import__("re").search(message, errors[0]), errors[0]
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_json_lines_records_train_like_csv_ones(tmp_path):
    path = tmp_path / "names.jsonl"
    path.write_text("".join(json.dumps({"name": w, "n": i}) + "\n" for i, w in
                    enumerate(TINY_WORDS)), encoding="utf-8")  # fmt: skip
    cfg = compose_train(tmp_path, "data=records", f"data.path={path}", "data.field=name", *SHORT)
    metrics = train(cfg)
    assert metrics["train"]["loss"] < metrics["first_loss"]


def test_the_data_contract_follows_the_model_and_a_contrary_one_is_refused(make_cfg, tiny_corpus):
    from charlm.errors import ConfigError

    assert make_cfg("model=gru").data.contract == "sequences"
    assert make_cfg().data.contract == "windows"
    cfg = make_cfg(f"data.path={tiny_corpus}", "data.contract=sequences")
    with pytest.raises(ConfigError, match=r"data.contract=sequences: model.net reads windows"):
        train(cfg)
    assert not (tiny_corpus.parent / "run").exists()


def test_a_datamodule_over_a_kind_already_read_serves_its_splits(runs):
    from charlm.data.datamodule import LanguageDataModule

    model = load_model(runs["lines_chars"]["ckpt"])
    data, _ = checked_data(model)  # read already
    dm = LanguageDataModule(data, contract="sequences")
    assert dm.has_split("val")
    x, y = dm.splits["val"]
    assert x.shape == data.examples("val", "sequences", 3)[0].shape
    assert sum(int((b[1] >= 0).sum()) for b in dm.eval_dataloader("val")) == int((y >= 0).sum())
