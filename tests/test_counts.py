"""The count-based bigram and its equivalence with the trained neural bigram (notebook "bigram")."""

import pytest
import torch

from charlm import BigramCounts, Vocabulary, evaluate_lm, load_model, load_words
from charlm.data.batches import TensorSlices
from charlm.data.windows import context_windows


def test_counts_are_the_bigram_table(tiny_words):
    vocab = Vocabulary.from_words(tiny_words)
    model = BigramCounts.from_words(["emma"], vocab, alpha=0)
    e, m, a = vocab.stoi["e"], vocab.stoi["m"], vocab.stoi["a"]
    assert model.counts[0, e] == 1 and model.counts[e, m] == 1 and model.counts[m, m] == 1
    assert model.counts[m, a] == 1 and model.counts[a, 0] == 1
    assert model.counts.sum() == 5
    assert model.probs[m, m] == pytest.approx(0.5)


def test_smoothing_gives_every_bigram_some_probability(tiny_words):
    vocab = Vocabulary.from_words(tiny_words)
    model = BigramCounts.from_words(tiny_words, vocab, alpha=1.0)
    assert (model.probs > 0).all()
    torch.testing.assert_close(model.probs.sum(1), torch.ones(len(vocab)))


def test_counts_model_works_as_a_language_model(tiny_words):
    vocab = Vocabulary.from_words(tiny_words)
    model = BigramCounts.from_words(tiny_words, vocab, alpha=0.5)
    words = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert len(words) == 5
    x, y = context_windows(tiny_words, vocab, 1)
    metrics = evaluate_lm(model, TensorSlices(x, y, batch_size=100))
    total = sum(model.log_prob(w)[0] for w in tiny_words)
    assert metrics["loss"] == pytest.approx(total / len(y), rel=1e-5)


@pytest.mark.slow
def test_converged_neural_bigram_samples_the_same_words_as_the_counts(converged_bigram, tiny_words):
    neural = load_model(converged_bigram["last_checkpoint"])
    counts = BigramCounts.from_words(tiny_words, neural.vocab, alpha=0)
    seed = 2147483647
    expected = counts.sample(20, generator=torch.Generator().manual_seed(seed))
    assert neural.sample(20, generator=torch.Generator().manual_seed(seed)) == expected


@pytest.mark.corpus
def test_counts_model_samples_the_notebooks_words(corpus):
    words = load_words(corpus)
    model = BigramCounts.from_words(words, Vocabulary.from_words(words), alpha=1.0)
    samples = model.sample(5, generator=torch.Generator().manual_seed(2147483647))
    assert samples == ["éssanée", "mexcororér", "monts", "ex", "moût"]
