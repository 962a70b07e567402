"""Using a trained model from Python: load_model, sample, log_prob, next_char_probs."""

import math

import pytest
import torch

from charlm import BengioMLP, CheckpointError, Vocabulary, VocabularyError, load_model
from charlm.checkpoint import checkpoint_words
from charlm.inference import evaluate_checkpoint, evaluate_words


def _last(run) -> str:
    return str(run["dir"] / "checkpoints" / "last.ckpt")


@pytest.mark.slow
def test_load_model_returns_the_trained_network(trained_run):
    model = load_model(_last(trained_run))
    assert isinstance(model, BengioMLP)
    assert not model.training
    assert model.emb_size == 4
    assert model.vocab.itos[0] == "."
    assert model.config["data"]["path"] == str(trained_run["corpus"])
    ckpt = torch.load(_last(trained_run), weights_only=True)
    assert torch.equal(model.C, ckpt["state_dict"]["net.C"])


def test_sampling_is_deterministic_for_a_seed(trained_run):
    model = load_model(_last(trained_run))
    a = model.sample(20, generator=torch.Generator().manual_seed(7))
    b = model.sample(20, generator=torch.Generator().manual_seed(7))
    c = model.sample(20, generator=torch.Generator().manual_seed(8))
    assert a == b
    assert a != c


def test_prefix_completion_starts_every_word_with_the_prefix(trained_run):
    model = load_model(_last(trained_run))
    words = model.sample(30, generator=torch.Generator().manual_seed(0), prefix="el")
    assert all(w.startswith("el") for w in words)
    assert any(len(w) > 2 for w in words)


def test_top_k_one_is_greedy_and_a_cold_temperature_agrees(trained_run):
    model = load_model(_last(trained_run))

    def draw(seed, **kwargs):
        return model.sample(3, generator=torch.Generator().manual_seed(seed), max_len=12, **kwargs)

    greedy = {tuple(draw(s, top_k=1)) for s in range(3)}
    assert len(greedy) == 1  # no randomness left
    assert tuple(draw(5, temperature=1e-3)) in greedy


def test_max_len_caps_the_words(trained_run):
    model = load_model(_last(trained_run))
    words = model.sample(20, generator=torch.Generator().manual_seed(0), max_len=3)
    assert all(len(w) <= 3 for w in words)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n=0"),
        ({"temperature": 0}, "temperature=0"),
        ({"top_k": 0}, "top_k=0"),
        ({"prefix": "éq"}, "outside the vocabulary: 'éq'"),
    ],
)
def test_bad_sampling_options_get_clear_errors(trained_run, kwargs, message):
    model = load_model(_last(trained_run))
    with pytest.raises(ValueError, match=message):
        model.sample(**{"n": 1, **kwargs})


def test_log_prob_equals_the_evaluators_loss(trained_run):
    model = load_model(_last(trained_run))
    words = checkpoint_words(model)["test"]
    totals = [model.log_prob(w)[0] for w in words]
    windows = sum(len(w) + 1 for w in words)
    evaluated = evaluate_words(model, words)
    assert sum(totals) / windows == pytest.approx(evaluated["loss"], rel=1e-5)
    reported = evaluate_checkpoint(_last(trained_run))["test"]["loss"]
    assert reported == pytest.approx(evaluated["loss"], rel=1e-6)
    total, per_char = model.log_prob("emma")
    assert per_char == pytest.approx(total / 5)


def test_next_char_probs_is_a_distribution_over_the_vocabulary(trained_run):
    model = load_model(_last(trained_run))
    probs = model.next_char_probs("em")
    assert set(probs) == set(model.vocab.itos)
    assert math.isclose(sum(probs.values()), 1.0, rel_tol=1e-5)
    with pytest.raises(VocabularyError):
        model.next_char_probs("q!")


def test_a_model_without_vocabulary_says_how_to_attach_one():
    with pytest.raises(RuntimeError, match="no vocabulary"):
        BengioMLP(5).sample(1)


def test_checkpoint_used_with_other_data_names_the_differing_characters(trained_run, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("emma\nzoë\nchloé\n", encoding="utf-8")
    model = load_model(_last(trained_run))
    with pytest.raises(CheckpointError, match="not the word list this model was split from"):
        checkpoint_words(model, other)
    with pytest.raises(VocabularyError, match="'éë'"):
        checkpoint_words(model, other, resplit=True)
    with pytest.raises(VocabularyError, match="'éë'"):
        evaluate_checkpoint(_last(trained_run), words=other, unknown="error")
    # By default such words are skipped, and reported: only 'emma' is scored.
    assert evaluate_checkpoint(_last(trained_run), words=other)["other.txt"]["windows"] == 5


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found: .*nope.ckpt"):
        load_model(tmp_path / "nope.ckpt")


def test_vocabulary_round_trip_through_checkpoint(trained_run):
    model = load_model(_last(trained_run))
    words = trained_run["corpus"].read_text().split()
    assert model.vocab == Vocabulary.from_words(words)
