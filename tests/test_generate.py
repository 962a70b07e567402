"""Generation with constraints (`charlm.generate`, `charlm-sample`): nucleus sampling, a
suffix, a pattern, a length range, novel and unique words, exactly n of them by bounded
rejection sampling, each with its NLL per character and novelty, as text, CSV or JSON Lines;
and for running text a prompt file, a stop string and top_p."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter

import pytest
import torch
from commands import run_command
from conftest import TINY_WORDS

from charlm.data.vocab import Vocabulary
from charlm.generate import Constraints, GenerationError, generate_words
from charlm.models import BengioMLP, EnsembleLM, RecurrentLM, TransformerLM
from charlm.models.sampling import nucleus

# Untrained models over a few symbols: every word is likely enough to be drawn.
ALPHABET = ["abc"]
FAMILIES = {
    "mlp": lambda v: BengioMLP(v, 3, emb_size=4, hidden_size=8),
    "gru": lambda v: RecurrentLM(v, 64, "gru", emb_size=4, hidden_size=8, num_layers=1),
    "transformer": lambda v: TransformerLM(v, 64, num_layers=1, n_head=2, emb_size=8),
    "ensemble": lambda v: EnsembleLM([
        RecurrentLM(v, 64, "gru", emb_size=4, hidden_size=8, num_layers=1),
        TransformerLM(v, 64, num_layers=1, n_head=2, emb_size=8),
    ]),
}  # fmt: skip


def _model(family: str):
    torch.manual_seed(0)
    vocab = Vocabulary.from_words(ALPHABET)
    model = FAMILIES[family](len(vocab))
    model.vocab = vocab
    for member in getattr(model, "members", []):
        member.vocab = vocab
    return model.eval()


def test_the_nucleus_keeps_the_likeliest_ids_up_to_top_p():
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3]])
    assert torch.allclose(nucleus(probs, 0.7), torch.tensor([[0, 0.625, 0, 0.375]]))
    assert torch.equal(nucleus(probs, 0.5), torch.tensor([[0.0, 1.0, 0.0, 0.0]]))
    assert torch.allclose(nucleus(probs, 0.96), torch.tensor([[0.05, 0.5, 0.15, 0.3]]))


def test_a_tiny_top_p_draws_the_likeliest_character_as_top_k_1_does():
    model = _model("gru")
    tiny = model.sample(5, torch.Generator().manual_seed(3), top_p=1e-9, max_len=8)
    greedy = model.sample(5, torch.Generator().manual_seed(3), top_k=1, max_len=8)
    assert tiny == greedy
    with pytest.raises(ValueError, match=r"top_p=1.5: the nucleus's probability mass"):
        model.sample(2, top_p=1.5)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_gives_exactly_n_words_meeting_every_constraint(family):
    model = _model(family)
    rule = Constraints(prefix="b", suffix="a", pattern=r"b[abc]*a", min_len=3, max_len=6,
                       novel=True, unique=True)  # fmt: skip
    known = {"train": ["bca", "bba"], "val": ["baa"], "test": []}

    def words(seed: int) -> list:
        rounds = generate_words(model, 6, rule, torch.Generator().manual_seed(seed), known)
        return [row for found in rounds for row in found]

    rows = words(0)
    assert len(rows) == 6 and len({r.word for r in rows}) == 6
    for r in rows:
        assert r.word.startswith("b") and r.word.endswith("a") and 3 <= len(r.word) <= 6
        assert r.word not in ("bca", "bba", "baa") and r.novelty == "new"
        assert r.nll_per_char == pytest.approx(model.log_prob(r.word)[1], rel=1e-5)
    assert [r.word for r in words(0)] == [r.word for r in rows]  # one seed, the same words
    assert [r.word for r in words(1)] != [r.word for r in rows]


def test_a_suffix_returns_the_models_own_distribution_conditioned_on_it():
    """Rejection sampling is exact: over words of at most 2 characters ending in 'a', the
    frequencies drawn match P(w) / P(the constraints) from the model's own scores."""
    model = _model("gru")
    rule = Constraints(suffix="a", max_len=2)
    rounds = generate_words(model, 4000, rule, torch.Generator().manual_seed(0))
    drawn = Counter(row.word for found in rounds for row in found)
    words = ["a", "aa", "ba", "ca"]
    p = torch.tensor([math.exp(-float(model.word_nll([w])[0])) for w in words])
    expected = p / p.sum()
    for w, share in zip(words, expected.tolist(), strict=True):
        assert drawn[w] / 4000 == pytest.approx(share, abs=0.03), (w, drawn, expected)


def test_constraints_that_cannot_be_met_are_one_line_within_the_draws_allowed():
    model = _model("transformer")
    rounds = generate_words(model, 5, Constraints(pattern=r"c{5}"), torch.Generator().manual_seed(0),
                            max_draws=300)  # fmt: skip
    with pytest.raises(GenerationError, match=r"found \d of n=5 words .* in 300 draws: pattern "
                       r"refused \d+ of them; loosen pattern, or raise max_draws=300"):  # fmt: skip
        list(rounds)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_len": 5, "max_len": 3}, "min_len=5 is above max_len=3"),
        ({"prefix": "abc", "suffix": "cab", "max_len": 5}, "hold 6 characters, above max_len=5"),
        ({"pattern": "[a-"}, "is not a regular expression"),
        ({"min_len": True}, "min_len=True: a whole number"),
        ({"unique": "yes"}, "unique='yes': true or false"),
    ],
)
def test_impossible_or_malformed_constraints_are_refused_at_once(options, message):
    with pytest.raises(GenerationError, match=re.escape(message)):
        Constraints(**options)


@pytest.fixture(scope="module")
def word_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    words = root / "words.txt"
    words.write_text("\n".join(TINY_WORDS) + "\n", encoding="utf-8")
    done = run_command(
        "charlm-train", f"data.path={words}", "model=gru", "model.net.hidden_size=16",
        "data.split=[0.6,0.2,0.2]", "trainer.max_steps=60", "model/scheduler=none",
        "logger=none", "hydra.run.dir=run", cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return root / "run" / "checkpoints" / "last.ckpt"


@pytest.mark.slow
def test_one_command_writes_n_new_words_of_a_length_and_ending_as_csv(word_run, tmp_path):
    done = run_command("charlm-sample", f"ckpt={word_run}", "n=12", "suffix=a", "min_len=4",
                       "max_len=9", "novel=true", "unique=true", "format=csv", "seed=1",
                       cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(rows) == 12 and len({r["word"] for r in rows}) == 12
    for r in rows:
        assert r["word"].endswith("a") and 4 <= len(r["word"]) <= 9 and r["novelty"] == "new"
        assert r["word"] not in TINY_WORDS and float(r["nll_per_char"]) > 0
    again = run_command("charlm-sample", f"ckpt={word_run}", "n=3", "format=jsonl", "seed=1",
                        cwd=tmp_path)  # fmt: skip
    lines = [json.loads(line) for line in again.stdout.splitlines()]
    assert len(lines) == 3 and set(lines[0]) == {"word", "nll_per_char", "novelty"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pattern=zzz+", "max_draws=200"), r"found 0 of n=20 words .* loosen pattern"),
        (("format=xml",), r"format='xml': one of text, csv, jsonl"),
        (("min_len=9", "max_len=4"), r"min_len=9 is above max_len=4"),
        (("top_p=2",), r"top_p=2"),
    ],
)
def test_a_sample_that_cannot_be_made_is_one_line(word_run, tmp_path, args, message):
    done = run_command("charlm-sample", f"ckpt={word_run}", *args, cwd=tmp_path)
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert done.returncode == 2 and len(errors) == 1, done.stderr
    assert re.search(message, errors[0]), errors[0]
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_running_text_takes_a_prompt_file_a_stop_string_and_top_p(tmp_path):
    text = tmp_path / "story.txt"
    text.write_text("Le chat dort. La pluie tombe sur la ville.\n" * 30, encoding="utf-8")
    done = run_command("charlm-train", "data=text", f"data.path={text}", "data.block_size=16",
                       "model=gru", "model.net.hidden_size=16", "trainer.max_steps=60",
                       "model/scheduler=none", "logger=none", "hydra.run.dir=run",
                       cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("La pluie", encoding="utf-8")
    full = run_command("charlm-sample", f"ckpt={ckpt}", f"prompt_file={prompt}", "length=200",
                       "top_p=0.9", "seed=4", cwd=tmp_path)  # fmt: skip
    assert full.returncode == 0 and full.stdout.startswith("La pluie"), full.stderr
    drawn = full.stdout[len("La pluie") :].rstrip("\n")
    stopped = run_command("charlm-sample", f"ckpt={ckpt}", f"prompt_file={prompt}", "length=200",
                          "top_p=0.9", "seed=4", "stop=.", cwd=tmp_path)  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr
    assert "." in drawn  # the model writes a full stop within 200 characters
    assert stopped.stdout == "La pluie" + drawn[: drawn.index(".")] + "\n"
    refused = run_command("charlm-sample", f"ckpt={ckpt}", "suffix=a", cwd=tmp_path)
    assert refused.returncode == 2 and "suffix='a' constrains words" in refused.stderr
