"""charlm-score: per-word scores, their split, unknown characters reported per word."""

import csv
import io
import json

import pytest
from commands import run_command

from charlm import load_model
from charlm.checkpoint import checkpoint_words
from charlm.data.scoring import arrange
from charlm.data.words import score_words, summary
from charlm.inference import evaluate_checkpoint


@pytest.fixture
def mixed(trained_run, tmp_path):
    """A word list with a training word, a held-out word, a new word and one with a 'k'."""
    model = load_model(trained_run["dir"] / "checkpoints" / "last.ckpt")
    splits = checkpoint_words(model)
    words = [splits["train"][0], splits["test"][0], "zelda", "kayak", splits["val"][0]]
    path = tmp_path / "mixed.txt"
    path.write_text("\n".join(words) + "\n", encoding="utf-8")
    expected = ["train", "held-out", "new", "new", "held-out"]
    return {"model": model, "words": words, "path": path, "splits": expected}


def test_rows_give_each_words_nll_split_and_unknown_characters(mixed):
    model = mixed["model"]
    rows = score_words(model, mixed["words"], checkpoint_words(model))
    assert [r["word"] for r in rows] == mixed["words"]
    assert [r["split"] for r in rows] == mixed["splits"]
    for row in rows:
        if row["word"] == "kayak":
            assert row["nll"] is None and row["ppl"] is None
            assert "outside the vocabulary: 'k'" in row["note"]
            continue
        total, per_char = model.log_prob(row["word"])
        assert row["nll"] == pytest.approx(total, rel=1e-5)
        assert row["nll_per_char"] == pytest.approx(per_char, rel=1e-5)
        assert row["ppl"] == pytest.approx(2.718281828**per_char, rel=1e-5)


def test_the_totals_agree_with_charlm_eval(trained_run, mixed, capsys):
    rows = score_words(mixed["model"], mixed["words"])
    totals = summary(rows)
    ckpt = trained_run["dir"] / "checkpoints" / "last.ckpt"
    evaluated = evaluate_checkpoint(ckpt, words=mixed["path"])["mixed.txt"]
    # charlm-eval skips 'kayak' and says so, instead of refusing the whole file.
    assert "skipped 1 of 5 words" in capsys.readouterr().err
    assert totals["scored"] == 4 and totals["not_scored"] == 1
    assert totals["characters"] == evaluated["windows"]
    assert totals["nll_per_char"] == pytest.approx(evaluated["loss"], rel=1e-5)


def test_sorting_and_top_keep_unscored_words_last():
    rows = [
        {"word": "a", "nll": 3.0}, {"word": "b", "nll": None}, {"word": "c", "nll": 1.0},
    ]  # fmt: skip
    assert [r["word"] for r in arrange(rows, "nll", False, None)] == ["c", "a", "b"]
    assert [r["word"] for r in arrange(rows, "nll", True, 1)] == ["a"]
    assert [r["word"] for r in arrange(rows, None, False, 2)] == ["a", "b"]


@pytest.mark.slow
def test_cli_writes_csv_json_and_a_table_from_a_file_or_stdin(mixed, trained_run):
    ckpt = trained_run["dir"] / "checkpoints" / "last.ckpt"
    out = run_command(
        "charlm.commands.score", f"ckpt={ckpt}", f"words={mixed['path']}", "format=csv"
    )
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["word"] for r in rows] == mixed["words"]
    assert [r["split"] for r in rows] == mixed["splits"]
    assert rows[3]["nll"] == "" and "'k'" in rows[3]["note"]
    for row in rows[:3]:
        assert float(row["nll"]) == pytest.approx(mixed["model"].log_prob(row["word"])[0], rel=1e-5)

    text = mixed["path"].read_text(encoding="utf-8")
    # The installed entry point, in a process of its own, reading its standard input.
    out = run_command(
        "charlm.commands.score",
        f"ckpt={ckpt}",
        "format=json",
        "sort=nll_per_char",
        stdin=text,
        process=True,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    per_char = [r["nll_per_char"] for r in result["words"]]
    assert per_char[:4] == sorted(per_char[:4]) and per_char[4] is None
    assert result["summary"]["scored"] == 4

    out = run_command("charlm.commands.score", f"ckpt={ckpt}", f"words={mixed['path']}", "sort=nll",
               "descending=true", "top=2")  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].split()[:5] == ["word", "nll", "nll_per_char", "ppl", "split"]
    assert len(lines) == 4 and lines[-1].startswith("4 of 5 words scored (1 not")


@pytest.mark.slow
def test_cli_bad_option_is_one_line(trained_run, mixed):
    ckpt = trained_run["dir"] / "checkpoints" / "last.ckpt"
    out = run_command(
        "charlm.commands.score", f"ckpt={ckpt}", f"words={mixed['path']}", "sort=length"
    )
    assert out.returncode == 2
    assert out.stderr.strip().startswith("charlm-score: error: sort='length': one of")
