"""Tokens and sentences: BPE tokenizers, lines of a text as sequences, figures per character,
cleaning rules, and a run of tokens that keeps its tokenizer."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from commands import run_command
from conftest import compose_train

from charlm import load_model
from charlm.commands.clean import main as clean_main
from charlm.data.clean import clean_rules, clean_text, text_lines
from charlm.data.datamodule import LinesDataModule
from charlm.data.lines import score_lines
from charlm.data.registry import checked_data
from charlm.data.sequences import PAD_TARGET
from charlm.data.tokens import (
    TokenizerError,
    TokenVocabulary,
    load_tokenizer,
    train_tokenizer,
)
from charlm.data.vocab import Vocabulary
from charlm.data.windows import context_windows
from charlm.inference import evaluate_checkpoint
from charlm.metrics import evaluate_lm, per_character
from charlm.models import BengioMLP, RecurrentLM
from charlm.train import train

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "and",
    "saw",
    "a",
    "rat",
    "run",
    "far",
    "away",
    "from",
    "home",
]


def make_lines(seed: int = 0, n: int = 150) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(2, 7))).capitalize() + "." for _ in range(n)]


@pytest.fixture
def lines_file(tmp_path: Path) -> Path:
    path = tmp_path / "story.txt"
    path.write_text("\n".join(make_lines()) + "\n\n", encoding="utf-8")
    return path


# --- the tokenizer -------------------------------------------------------------------------


def test_a_tokenizer_trained_on_a_tiny_text_round_trips_it():
    lines = make_lines()
    exact = TokenVocabulary(train_tokenizer(lines, vocab_size=80, min_frequency=2, normalizer=[]))
    for line in lines[:30]:
        ids = exact.encode(line)
        assert 0 not in ids  # id 0 is the end token, never inside a line
        assert exact.decode(ids) == line
    # The course's normalisation: the text comes back lower-cased.
    course = TokenVocabulary(train_tokenizer(lines, vocab_size=80, min_frequency=2))
    assert course.decode(course.encode("The cat sat.")) == "the cat sat."
    # At most vocab_size tokens: a tiny text runs out of pairs to merge before that.
    assert course.itos[0] == "[EOS]" and len(WORDS) < len(course) <= 80
    # Merges were learnt: whole words are single tokens.
    assert len(exact.encode(lines[0])) < len(lines[0])


def test_the_same_lines_train_the_same_tokenizer():
    # A resumed run trains its tokenizer again and must find the checkpoint's vocabulary.
    lines = make_lines(2, 400)
    first = train_tokenizer(lines, vocab_size=90, min_frequency=1).to_str()
    assert train_tokenizer(lines, vocab_size=90, min_frequency=1).to_str() == first
    assert train_tokenizer(lines[:-50], vocab_size=90, min_frequency=1).to_str() != first


def test_the_end_token_becomes_id_0_wherever_the_tokenizer_put_it():
    lines = make_lines()
    tokenizer = train_tokenizer(
        lines, vocab_size=60, normalizer=[], special_tokens=["[UNK]", "[PAD]", "[EOS]"]
    )
    assert tokenizer.token_to_id("[EOS]") == 2
    vocab = TokenVocabulary(tokenizer)
    assert vocab.itos[0] == "[EOS]" and vocab.itos[2] == "[UNK]" and vocab.unk_id == 2
    ids = vocab.encode(lines[3])
    assert 0 not in ids and vocab.decode(ids) == lines[3]
    assert vocab.decode([0]) == "[EOS]"


def test_unknown_input_becomes_unk_and_is_counted(lines_file: Path, tmp_path: Path):
    tokenizer = train_tokenizer(make_lines(), vocab_size=60, normalizer=[])
    vocab = TokenVocabulary(tokenizer)
    odd = "Quiz: 42 zebras!"
    unseen = {c for c in odd if c != " " and c not in "".join(make_lines())}
    # One [UNK] for each occurrence of an unseen character (`z` twice).
    occurrences = sum(c in unseen for c in odd)
    assert unseen and vocab.unknown_count([vocab.encode(odd)]) == occurrences
    assert vocab.unknown_count([vocab.encode("The cat sat.")]) == 0
    # Lines holding characters the tokenizer never saw: their [UNK] are counted, split by
    # split, and recorded with the run, not dropped.
    tokenizer.save(str(tmp_path / "tok.json"))
    text = lines_file.read_text(encoding="utf-8")
    lines_file.write_text(text + (odd + "\n") * 12, encoding="utf-8")
    dm = LinesDataModule(lines_file, tokenizer={"path": str(tmp_path / "tok.json")})
    dm.setup()
    per_split = {name: sum(line == odd for line in part) for name, part in dm.lines.items()}
    assert dm.data_identity()["unknown_tokens"] == [
        per_split[name] * occurrences for name in ("train", "val", "test")
    ]


def test_bad_tokenizer_options_get_one_line_errors(tmp_path: Path):
    with pytest.raises(TokenizerError, match="unknown step"):
        train_tokenizer(["a b"], vocab_size=40, normalizer=["upper"])
    with pytest.raises(TokenizerError, match="must exceed"):
        train_tokenizer(["a b"], vocab_size=3)
    with pytest.raises(TokenizerError, match="not found"):
        load_tokenizer(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(TokenizerError, match="is not a tokenizer JSON file"):
        load_tokenizer(tmp_path / "bad.json")
    tokenizer = train_tokenizer(["a b c"], vocab_size=20, special_tokens=["[UNK]"])
    with pytest.raises(TokenizerError, match=r"no end token '\[EOS\]'"):
        TokenVocabulary(tokenizer)
    with pytest.raises(Exception, match="data.tokenizer: unknown key"):
        LinesDataModule("x.txt", tokenizer={"size": 10})


# --- lines as sequences --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("units", ["chars", "tokens"])
def test_lines_become_sequences_ending_with_the_end_token(lines_file: Path, units: str):
    kw = {"units": units, "tokenizer": {"vocab_size": 70, "normalizer": []}}
    seqs = LinesDataModule(lines_file, contract="sequences", **kw)
    wins = LinesDataModule(lines_file, contract="windows", context_size=3, **kw)
    seqs.setup()
    wins.setup()
    vocab = seqs.vocab
    x, y = seqs.splits["train"]
    for row, line in enumerate(seqs.lines["train"][:20]):
        ids = vocab.encode(line)
        n = len(ids)
        assert x[row, 0] == 0 and x[row, 1 : n + 1].tolist() == ids
        assert y[row, :n].tolist() == ids and y[row, n] == 0  # the end token closes the line
        assert (y[row, n + 1 :] == PAD_TARGET).all()  # then only padding
    # The same predictions either way: windows count each line's units and its end once.
    predictions = int((y != PAD_TARGET).sum())
    assert predictions == len(wins.splits["train"][1])
    # Padding never counts: the mean NLL over padded sequences is the mean over the windows.
    torch.manual_seed(0)
    net = RecurrentLM(len(vocab), context_size=seqs.longest_example(), emb_size=8, hidden_size=16)
    net.vocab = vocab
    padded = evaluate_lm(net, seqs.eval_dataloader("val"))
    per_line = net.word_nll(seqs.lines["val"])
    units = sum(vocab.units(line) + 1 for line in seqs.lines["val"])
    assert padded["windows"] == units
    assert padded["loss"] == pytest.approx(float(per_line.sum()) / units, rel=1e-5)


def test_a_large_vocabulary_evaluates_fewer_predictions_a_batch(lines_file: Path, monkeypatch):
    from charlm.data import lines as lines_module

    dm = LinesDataModule(lines_file, tokenizer={"vocab_size": 70}, eval_batch_size=4096)
    dm.setup()
    assert dm.eval_predictions() == 4096  # 70 x 4096 logits fit
    # A batch's logits stay within the bound: here 10 predictions of len(vocab) logits each.
    monkeypatch.setattr(lines_module, "LOGITS_PER_BATCH", 10 * len(dm.vocab))
    sizes = [len(y) for _, y in dm.eval_dataloader("val")]
    assert max(sizes) == 10 and sum(sizes) == len(dm.splits["val"][1])


def test_a_character_model_s_figures_per_character_are_its_figures(lines_file: Path):
    dm = LinesDataModule(lines_file, units="chars", context_size=3)
    dm.setup()
    # The same windows as a word list's, the newline ending each line as `.` ends a word.
    vocab = Vocabulary(dm.vocab.chars, boundary="\n")
    x, y = context_windows(dm.lines["val"], vocab, 3)
    assert torch.equal(x, dm.splits["val"][0]) and torch.equal(y, dm.splits["val"][1])
    torch.manual_seed(0)
    net = BengioMLP(len(vocab), 3, emb_size=4, hidden_size=16)
    values = evaluate_lm(net, dm.eval_dataloader("val"))
    figures = per_character(values, dm.split_characters("val"))
    assert figures["chars"] == values["windows"]
    assert figures["char_loss"] == pytest.approx(values["loss"], rel=1e-6)
    assert figures["bpc"] == pytest.approx(values["loss"] / math.log(2), rel=1e-6)
    # And the loss is the notebooks' one: cross-entropy over every window.
    direct = F.cross_entropy(net(x), y).item()
    assert values["loss"] == pytest.approx(direct, rel=1e-5)


def test_a_token_model_s_bits_per_character_divide_by_the_characters(lines_file: Path):
    dm = LinesDataModule(lines_file, tokenizer={"vocab_size": 70, "normalizer": []})
    dm.setup()
    assert dm.split_characters("val") == sum(len(line) + 1 for line in dm.lines["val"])
    values = {"loss": 2.0, "windows": 100}
    figures = per_character(values, 400)
    assert figures["char_loss"] == pytest.approx(0.5)
    assert figures["bpc"] == pytest.approx(0.5 / math.log(2))


# --- cleaning ------------------------------------------------------------------------------

COURSE_SAMPLE = """---
title: Code rural et de la pêche maritime
date: 2024-01-01
---
# Partie législative
## Livre Ier : Aménagement et équipement de l'espace rural
<div class="article">
Article L. 111-1
L'aménagement et le développement durable de l'espace rural constituent une priorité.
Les dispositions de l'article L. 111-2 s'appliquent :
1° Aux communes rurales ;
2° Aux zones de montagne.


a) Pour les exploitations agricoles ;
II. — Le présent article est applicable.
"""


def course_rules():
    import yaml

    from charlm.config import config_dir

    return clean_rules(yaml.safe_load((config_dir() / "data/clean/course.yaml").read_text()))


def test_the_course_s_cleaning_rules_on_a_sample_of_its_format():
    lines = text_lines(clean_text(COURSE_SAMPLE, course_rules()))
    assert lines == [
        "Article",
        "L'aménagement et le développement durable de l'espace rural constituent une priorité.",
        "Les dispositions de l'article  s'appliquent :Aux communes rurales ;Aux zones de montagne.",
        "Pour les exploitations agricoles ;Le présent article est applicable.",
    ]
    assert not any("---" in s or "#" in s or "<div" in s for s in lines)


def test_a_dry_run_prints_what_each_rule_removes(tmp_path: Path, capsys):
    source = tmp_path / "rural.md"
    source.write_text(COURSE_SAMPLE, encoding="utf-8")
    clean_main([str(source), "--lines", "8"])
    out = capsys.readouterr().out
    assert "header" in out and "'<div class=\"article\">\\n'" in out
    assert "' L. 111-1'" in out and "' L. 111-2'" not in out  # only the first 8 lines
    assert source.read_text(encoding="utf-8") == COURSE_SAMPLE  # a dry run writes nothing
    clean_main([str(source), "--output", str(tmp_path / "clean.txt")])
    assert (tmp_path / "clean.txt").read_text(encoding="utf-8").startswith("\nArticle \nL'am")


@pytest.mark.slow
def test_bad_cleaning_rules_get_one_line_errors(tmp_path: Path):
    with pytest.raises(Exception, match="is not a regular expression"):
        clean_rules([{"pattern": "(unclosed"}])
    with pytest.raises(Exception, match="unknown flag"):
        clean_rules([{"pattern": "a", "flags": ["NOPE"]}])
    out = run_command("charlm-clean", str(tmp_path / "none.md"), process=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().startswith("charlm-clean: error: ")


# --- a run of tokens -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def token_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("tokens")
    text = root / "story.txt"
    text.write_text("\n".join(make_lines(1, 300)) + "\n", encoding="utf-8")
    cfg = compose_train(
        root,
        "data=lines",
        f"data.path={text}",
        "data.tokenizer.vocab_size=70",
        "data.tokenizer.min_frequency=1",
        "data.steps_per_batch=20",
        "model=bengio_mlp",
        "model.net.emb_size=8",
        "model.net.hidden_size=32",
        "model.net.init=kaiming",
        "trainer.max_steps=200",
        "trainer.val_check_interval=100",
        "logger=none",
    )
    metrics = train(cfg)
    return {"metrics": metrics, "text": text, "run": Path(cfg.paths.output_dir)}


def test_a_run_of_tokens_reports_per_token_and_per_character(token_run: dict):
    m = token_run["metrics"]
    for split in ("train", "val", "test"):
        figures = m[split]
        assert figures["chars"] > figures["windows"]  # a token covers several characters
        assert figures["char_loss"] == pytest.approx(
            figures["loss"] * figures["windows"] / figures["chars"]
        )
        assert figures["bpc"] == pytest.approx(figures["char_loss"] / math.log(2))
    assert m["val"]["loss"] < math.log(70)  # it learnt something


def test_a_checkpoint_carries_its_tokenizer(token_run: dict, tmp_path: Path):
    run = token_run["run"]
    assert (run / "tokenizer.json").is_file()
    saved = load_tokenizer(run / "tokenizer.json")
    # The tokenizer file is not needed: the checkpoint holds the tokenizer.
    (run / "tokenizer.json").unlink()
    model = load_model(run / "checkpoints" / "last.ckpt")
    assert isinstance(model.vocab, TokenVocabulary) and model.data_identity["kind"] == "lines"
    assert model.vocab.tokenizer.to_str() == saved.to_str()
    line = "The cat sat on a mat."
    assert model.vocab.decode(model.vocab.encode(line)) == "the cat sat on a mat."
    sentences = model.sample(4, generator=torch.Generator().manual_seed(0), max_len=40)
    assert len(sentences) == 4 and all(isinstance(s, str) for s in sentences)
    assert any(" " in s for s in sentences)  # whole sentences of words, decoded
    # charlm-eval gives the run's own figures again, from the checkpoint alone.
    results = evaluate_checkpoint(str(run / "checkpoints" / "last.ckpt"))
    best = token_run["metrics"]
    if best["weights"] == "last":
        assert results["test"]["loss"] == pytest.approx(best["test"]["loss"], rel=1e-5)
        assert results["test"]["bpc"] == pytest.approx(best["test"]["bpc"], rel=1e-5)
    assert results["val"]["chars"] == best["val"]["chars"]
    data, changed = checked_data(model)
    assert not changed and data.vocab is model.vocab


@pytest.mark.slow
def test_scoring_a_text_in_bits_per_character(token_run: dict, tmp_path: Path):
    model = load_model(token_run["run"] / "checkpoints" / "last.ckpt")
    rows, totals = score_lines(model, "The cat sat.\n\n  A rat ran far!  \n")
    assert [r["text"] for r in rows] == ["The cat sat.", "A rat ran far!"]
    assert rows[0]["characters"] == len("the cat sat.") + 1
    assert rows[1]["unknown"] >= 1  # '!' was never in the training text
    total = sum(float(model.word_nll([r["text"]])[0]) for r in rows)
    assert totals["nll"] == pytest.approx(total, rel=1e-5)
    assert totals["bpc"] == pytest.approx(total / totals["characters"] / math.log(2))
    text = tmp_path / "two.txt"
    text.write_text("The cat sat.\nA rat ran.\n", encoding="utf-8")
    ckpt = str(token_run["run"] / "checkpoints" / "last.ckpt")
    out = run_command("charlm-score", f"ckpt={ckpt}", f"text={text}", "format=json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)["summary"]
    assert summary["lines"] == 2 and summary["unit_name"] == "tokens" and summary["bpc"] > 0
    out = run_command("charlm-sample", f"ckpt={ckpt}", "n=3")
    assert out.returncode == 0, out.stderr
    rows = out.stdout.splitlines()[:3]
    assert len(rows) == 3 and all(r.split()[0] in ("train", "held-out", "new") for r in rows)


def test_a_checkpoint_of_tokens_is_inspected_from_its_own_lines(token_run: dict, tmp_path: Path):
    from charlm.inference import inspect_checkpoint

    out = inspect_checkpoint(
        token_run["run"] / "checkpoints" / "last.ckpt", output=tmp_path / "d.png", batch_size=16
    )
    assert out == tmp_path / "d.png" and out.stat().st_size > 10_000
