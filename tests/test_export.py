"""A trained model out of charlm: `charlm-export format=safetensors` writes its weights, config,
vocabulary and model card; `load_model(folder)` reads them with no pickle and gives the
checkpoint's own logits, figures and samples."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from commands import run_command
from conftest import TINY_WORDS

from charlm import load_model
from charlm.inference import evaluate_checkpoint

# Each trains runs and starts commands: in `make test`, not the edit-test loop.
pytestmark = pytest.mark.slow

TEXT = "Le chat dort. La pluie tombe sur la ville.\n" * 30
RUNS = {
    "words": ("model=gru", "model.net.hidden_size=16", "data.split=[0.6,0.2,0.2]"),
    "text": ("data=text", "data.block_size=16", "model=transformer", "model.net.emb_size=16",
             "model.net.num_layers=1"),
}  # fmt: skip


@pytest.fixture(scope="module", params=sorted(RUNS))
def exported(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"export-{request.param}")
    data = root / ("story.txt" if request.param == "text" else "words.txt")
    data.write_text(TEXT if request.param == "text" else "\n".join(TINY_WORDS) + "\n")
    done = run_command("charlm-train", f"data.path={data}", *RUNS[request.param],
                       "trainer.max_steps=40", "model/scheduler=none", "logger=none",
                       "hydra.run.dir=run", cwd=root)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    ckpt = root / "run" / "checkpoints" / "last.ckpt"
    out = run_command("charlm-export", f"ckpt={ckpt}", f"output={root / 'model'}", cwd=root)
    assert out.returncode == 0, out.stderr
    return {"kind": request.param, "ckpt": ckpt, "folder": root / "model", "root": root}


def test_the_folder_holds_weights_config_vocabulary_and_a_card(exported):
    folder = exported["folder"]
    names = {p.name for p in folder.iterdir()}
    assert names == {"model.safetensors", "config.json", "vocab.json", "README.md"}
    config = json.loads((folder / "config.json").read_text())
    assert config["format"] == "charlm-export/1" and config["global_step"] == 40
    card = (folder / "README.md").read_text()
    assert "## Français" in card and "## English" in card and "charlm-train" in card
    metrics = json.loads((exported["root"] / "run" / "metrics.json").read_text())
    assert f"{metrics['test']['loss']:.4f}" in card  # the run's figure, with its reading


def test_a_folder_loads_with_no_pickle_to_the_checkpoints_logits(exported, monkeypatch):
    reference = load_model(exported["ckpt"])

    def refused(*args, **kwargs):
        raise AssertionError("unpickling while loading an exported folder")

    monkeypatch.setattr(pickle, "load", refused)
    monkeypatch.setattr(pickle, "loads", refused)
    monkeypatch.setattr(torch, "load", refused)
    model = load_model(exported["folder"])
    monkeypatch.undo()
    ids = torch.randint(1, len(model.vocab), (3, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model.block_logits(ids), reference.block_logits(ids))
    if exported["kind"] == "words":
        draw = lambda m: m.sample(5, generator=torch.Generator().manual_seed(1))  # noqa: E731
    else:
        draw = lambda m: m.sample_text("Le", 40, generator=torch.Generator().manual_seed(1))  # noqa: E731
    assert draw(model) == draw(reference)


def test_an_exported_folder_gives_the_checkpoints_figures(exported):
    assert evaluate_checkpoint(str(exported["folder"])) == evaluate_checkpoint(
        str(exported["ckpt"])
    )


def test_an_export_that_would_replace_files_or_is_not_a_language_model_is_one_line(
    exported, tmp_path
):
    ckpt = exported["ckpt"]
    for args, message in [
        ((f"output={exported['folder']}",), "exists and is not an empty folder"),
        (
            ("format=tflite", f"output={tmp_path / 'x'}"),
            "format='tflite': charlm-export writes safetensors, onnx, web",
        ),
        (
            ("quantize=int8", f"output={tmp_path / 'x'}"),
            "quantize='int8' applies to the ONNX graphs: add format=onnx or format=web",
        ),
        ((), None),
    ]:
        done = run_command("charlm-export", f"ckpt={ckpt}", *args, cwd=tmp_path)
        if message is None:  # the default folder beside the checkpoint
            assert done.returncode == 0 and (ckpt.parent / "last-safetensors").is_dir()
            continue
        errors = [line for line in done.stderr.splitlines() if "error" in line]
        assert done.returncode == 2 and len(errors) == 1 and message in errors[0], done.stderr
    assert not (tmp_path / "x").exists()
    (exported["folder"] / "config.json").rename(tmp_path / "config.json")
    try:
        done = run_command("charlm-eval", f"ckpt={exported['folder']}", cwd=tmp_path)
        assert done.returncode == 2 and "holds model.safetensors but no config.json" in done.stderr
    finally:
        (tmp_path / "config.json").rename(exported["folder"] / "config.json")
