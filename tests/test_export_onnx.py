"""A trained model out of charlm as ONNX: every family's forward graph, the step graph of
cached decoding, onnxruntime's logits equal to torch's to 1e-4 on words and on a passage,
the same words drawn for a seed, and int8 quantisation in torch and in onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from commands import run_command
from conftest import TINY_WORDS

import charlm.export_onnx as export_onnx_module
from charlm import load_model, load_onnx, quantize_int8
from charlm.data.vocab import TextVocabulary, Vocabulary
from charlm.errors import CharlmError
from charlm.export import ExportError
from charlm.export_onnx import export_onnx
from charlm.models import BengioMLP, BigramLM, FeedForwardLM, RecurrentLM, TransformerLM

# Each exports graphs with torch.onnx (seconds each): in `make test`, not the edit-test loop.
pytestmark = pytest.mark.slow

TEXT = "Le chat dort. La pluie tombe sur la ville, et le vent souffle.\n" * 4
# Each family (and option that changes its graph): its class and arguments besides vocab_size.
FAMILIES = {
    "bigram": (BigramLM, {}),
    "mlp": (BengioMLP, {"context_size": 3, "emb_size": 4, "hidden_size": 16}),
    "feedforward": (FeedForwardLM, {"context_size": 4, "emb_size": 8, "hidden_sizes": [32]}),
    "rnn": (RecurrentLM, {"context_size": 16, "cell": "rnn", "emb_size": 8, "hidden_size": 16,
                          "num_layers": 1}),
    "gru": (RecurrentLM, {"context_size": 16, "cell": "gru", "emb_size": 8, "hidden_size": 16,
                          "num_layers": 2}),
    "lstm": (RecurrentLM, {"context_size": 16, "cell": "lstm", "emb_size": 8,
                           "hidden_size": 16, "num_layers": 2}),
    "gru_attention": (RecurrentLM, {"context_size": 16, "cell": "gru", "emb_size": 8,
                                    "hidden_size": 16, "num_layers": 1, "attention_heads": 2,
                                    "attention_size": 8}),
    "transformer": (TransformerLM, {"context_size": 16, "num_layers": 2, "n_head": 2,
                                    "emb_size": 16}),
    "transformer_rotary": (TransformerLM, {"context_size": 16, "num_layers": 2, "n_head": 2,
                                           "emb_size": 16, "positions": "rotary"}),
}  # fmt: skip
# The families whose cached state is a fixed set of tensors have a step graph.
NO_STEP = {"gru_attention"}


def build(name: str, vocab) -> torch.nn.Module:
    cls, kwargs = FAMILIES[name]
    return cls(len(vocab), **kwargs)


def checkpoint_of(name: str, vocab, kind: str) -> dict:
    """What charlm-train stores for a model of family `name`, written here without training
    (its weights random)."""
    cls, kwargs = FAMILIES[name]
    net = cls(len(vocab), **kwargs)
    target = f"charlm.models.{cls.__name__}"
    config = {"model": {"net": {"_target_": target, "vocab_size": len(vocab), **kwargs}},
              "data": {"path": f"tiny.{'txt' if kind == 'words' else 'text'}"}}  # fmt: skip
    return {
        "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
        "charlm": {
            "vocab": vocab.to_string(),
            "vocab_kind": kind,
            "config": yaml.safe_dump(config),
            "data": {"kind": kind},
        },  # fmt: skip
        "global_step": 0,
    }


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def exported(request, tmp_path_factory):
    torch.manual_seed(0)
    vocab = Vocabulary.from_words(TINY_WORDS)
    root = tmp_path_factory.mktemp(f"onnx-{request.param}")
    source = root / "run" / "checkpoints" / "last.ckpt"
    folder = export_onnx(checkpoint_of(request.param, vocab, "words"), source, root / "model",
                         "int8")  # fmt: skip
    return {"name": request.param, "folder": folder, "torch": load_model(folder)}


def word_batch(vocab, words):
    """[0, ids...] of each word, padded with 0 to the longest: the rows the forward graph reads."""
    rows = [[0, *vocab.encode(w)] for w in words]
    longest = max(len(r) for r in rows)
    return torch.tensor([r + [0] * (longest - len(r)) for r in rows])


def test_the_folder_holds_the_graphs_and_says_how_to_run_them(exported):
    folder, name = exported["folder"], exported["name"]
    graphs = json.loads((folder / "config.json").read_text())["onnx"]
    assert (folder / graphs["forward"]).is_file() and graphs["forward"] == "model.onnx"
    if name in NO_STEP:
        assert graphs["step"] is None and graphs["state"] == []
    else:
        assert graphs["step"] == "step.onnx" and (folder / "step.onnx").is_file()
        assert graphs["state"] and all("batch_axis" in s for s in graphs["state"])
    assert graphs["int8"]["forward"] == "model.int8.onnx"
    assert graphs["contract"] == exported["torch"].data_contract
    # The model card and the weights of format=safetensors are there too.
    assert {"README.md", "model.safetensors", "vocab.json"} <= {p.name for p in folder.iterdir()}


def test_onnxruntime_gives_torchs_logits_on_words_and_on_a_passage(exported):
    model, runtime = exported["torch"], load_onnx(exported["folder"])
    words = ["emma", "isabella", "zoe", "a"]
    x = word_batch(model.vocab, words)
    with torch.no_grad():
        expected = model.block_logits(x)
    got = runtime.block_logits(x)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() < 1e-4
    # A passage: one long row of characters, cut to the model's block where it has one.
    passage = torch.tensor([model.vocab.encode("emmaolivialunagracezoeellastella")])
    passage = passage[:, : model.context_size] if model.data_contract == "sequences" else passage
    with torch.no_grad():
        assert (runtime.block_logits(passage) - model.block_logits(passage)).abs().max() < 1e-4
    # Scores are read from the same logits.
    assert (runtime.word_nll(words) - model.word_nll(words)).abs().max() < 1e-4


def test_a_seed_draws_the_same_words_in_onnxruntime_as_in_torch(exported):
    model, runtime = exported["torch"], load_onnx(exported["folder"])
    # A family with no step graph reads each word whole, within its block.
    reach = {"max_len": model.context_size - 1} if exported["name"] in NO_STEP else {}
    for options in ({}, {"prefix": "e", "top_k": 5}, {"temperature": 0.7, "top_p": 0.9}):

        def draw(m, options=options):
            return m.sample(12, generator=torch.Generator().manual_seed(3), **options, **reach)

        assert draw(runtime) == draw(model), options


def test_the_int8_graphs_score_near_the_float_ones_and_draw_from_the_alphabet(exported):
    model = exported["torch"]
    int8 = load_onnx(exported["folder"], int8=True)
    words = ["emma", "isabella", "zoe"]
    gap = (int8.word_nll(words) - model.word_nll(words)).abs().max()
    assert gap < 0.05 * model.word_nll(words).abs().max()
    drawn = int8.sample(20, generator=torch.Generator().manual_seed(0))
    assert all(set(w) <= set(model.vocab.chars) for w in drawn)


def test_a_text_model_exports_and_reads_a_passage(tmp_path):
    torch.manual_seed(0)
    vocab = TextVocabulary(TEXT)
    for kind in ("gru", "transformer"):
        folder = export_onnx(checkpoint_of(kind, vocab, "text"), tmp_path / kind / "x.ckpt",
                             tmp_path / kind / "model")  # fmt: skip
        model, runtime = load_model(folder), load_onnx(folder)
        ids = torch.tensor([vocab.encode(TEXT[:16]), vocab.encode(TEXT[16:32])])
        with torch.no_grad():
            assert (runtime.block_logits(ids) - model.block_logits(ids)).abs().max() < 1e-4
        passage = runtime.sample_text("Le ", 40, generator=torch.Generator().manual_seed(0))[0]
        assert len(passage) == 40 and set(passage) <= set(vocab.itos)


def test_an_export_whose_graph_disagrees_with_torch_is_refused(tmp_path, monkeypatch):
    vocab = Vocabulary.from_words(TINY_WORDS)
    monkeypatch.setattr(export_onnx_module, "TOLERANCE", -1.0)  # every gap is too large
    with pytest.raises(ExportError, match="onnxruntime's logits differ from torch's by"):
        export_onnx(checkpoint_of("mlp", vocab, "words"),
                    tmp_path / "x.ckpt", tmp_path / "model")  # fmt: skip
    assert not (tmp_path / "model").exists()  # no half-written folder left
    (tmp_path / "mine").mkdir()  # a folder of the user's, empty: kept, and left empty
    with pytest.raises(ExportError):
        export_onnx(checkpoint_of("mlp", vocab, "words"), tmp_path / "x.ckpt", tmp_path / "mine")
    assert (tmp_path / "mine").is_dir() and not any((tmp_path / "mine").iterdir())


def test_int8_in_torch_replaces_the_layers_and_keeps_the_figures_near(tmp_path):
    torch.manual_seed(0)
    vocab = Vocabulary.from_words(TINY_WORDS)
    for name in ("gru", "lstm", "transformer", "feedforward"):
        model = build(name, vocab).eval()
        model.vocab = vocab
        quantized = quantize_int8(model)
        kinds = {type(m).__module__ for m in quantized.modules()}
        assert any("quantized" in k for k in kinds), kinds
        assert not any("quantized" in type(m).__module__ for m in model.modules())  # a copy
        words = ["emma", "isabella", "zoe"]
        gap = (quantized.word_nll(words) - model.word_nll(words)).abs().max()
        assert 0 < gap < 0.05 * model.word_nll(words).abs().max(), (name, gap)
    for name in ("bigram", "mlp"):  # the notebooks' plain tensors: nothing to quantise
        with pytest.raises(CharlmError, match="no nn.Linear or recurrent layer to quantise"):
            quantize_int8(build(name, vocab))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx-command")
    (root / "words.txt").write_text("\n".join(TINY_WORDS) + "\n")
    done = run_command("charlm-train", f"data.path={root / 'words.txt'}", "model=gru",
                       "model.net.hidden_size=16", "data.split=[0.6,0.2,0.2]",
                       "trainer.max_steps=20", "model/scheduler=none", "logger=none",
                       "hydra.run.dir=run", cwd=root)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return root


def test_the_commands_export_then_sample_and_score_in_onnxruntime_and_in_int8(trained):
    ckpt = trained / "run" / "checkpoints" / "last.ckpt"
    done = run_command("charlm-export", f"ckpt={ckpt}", "format=onnx", "quantize=int8",
                       "output=onnx", cwd=trained)  # fmt: skip
    assert done.returncode == 0 and "charlm.load_onnx" in done.stdout, done.stderr
    assert done.stderr.strip() == ""  # the exporter's progress messages stay out
    words = {}
    for name, args in {
        "torch": (f"ckpt={ckpt}",),
        "onnx": ("ckpt=onnx", "runtime=onnx"),
        "torch-int8": (f"ckpt={ckpt}", "quantize=int8"),
        "onnx-int8": ("ckpt=onnx", "runtime=onnx", "quantize=int8"),
    }.items():
        sampled = run_command("charlm-sample", *args, "n=8", "seed=5", "format=csv", cwd=trained)
        assert sampled.returncode == 0, (name, sampled.stderr)
        words[name] = [row.split(",")[0] for row in sampled.stdout.splitlines()[1:]]
        scored = run_command("charlm-score", *args, f"input={trained / 'words.txt'}",
                             "format=json", cwd=trained)  # fmt: skip
        assert scored.returncode == 0, (name, scored.stderr)
    assert words["onnx"] == words["torch"] and len(words["torch"]) == 8
    for args, message in [
        (("runtime=onnx", f"ckpt={ckpt}"), "runtime=onnx reads an exported folder"),
        (("runtime=jax", f"ckpt={ckpt}"), "runtime='jax': one of torch, onnx"),
        (("quantize=int4", f"ckpt={ckpt}"), "quantize='int4': one of int8"),
        (("quantize=int8", "device=cuda", f"ckpt={ckpt}"), "quantize=int8 runs on the CPU"),
        (("runtime=onnx", "device=cuda:0", "ckpt=onnx"), "runtime=onnx runs on the CPU"),
    ]:
        done = run_command("charlm-sample", *args, cwd=trained)
        assert done.returncode == 2 and message in done.stderr, done.stderr


def test_an_onnx_folder_without_int8_graphs_says_how_to_make_them(trained, tmp_path):
    ckpt = trained / "run" / "checkpoints" / "last.ckpt"
    done = run_command("charlm-export", f"ckpt={ckpt}", "format=onnx", f"output={tmp_path / 'f'}")
    assert done.returncode == 0, done.stderr
    done = run_command("charlm-sample", f"ckpt={tmp_path / 'f'}", "runtime=onnx",
                       "quantize=int8", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and "format=onnx quantize=int8" in done.stderr, done.stderr
    assert Path(tmp_path / "f" / "model.onnx").is_file()
    assert np.isfinite(load_onnx(tmp_path / "f").word_nll(["emma"]).numpy()).all()
