"""The neural bigram reproduces the count-based bigram (notebook "bigram")."""

import pytest
import torch
import torch.nn.functional as F

from charlm import Vocabulary, context_windows, load_words
from charlm.train import train


def _count_model(words: list[str]) -> tuple[torch.Tensor, float]:
    """Normalised bigram counts over all words and their NLL (no smoothing)."""
    vocab = Vocabulary.from_words(words)
    x, y = context_windows(words, vocab, 1)
    counts = torch.zeros(len(vocab), len(vocab))
    counts.index_put_((x[:, 0], y), torch.ones(len(y)), accumulate=True)
    probs = counts / counts.sum(1, keepdim=True).clamp(min=1)
    nll = -probs[x[:, 0], y].log().mean().item()
    return probs, nll


@pytest.mark.slow
def test_trained_softmax_w_rows_are_the_normalised_counts(converged_bigram, tiny_words):
    metrics = converged_bigram
    probs, nll = _count_model(tiny_words)
    ckpt = torch.load(metrics["last_checkpoint"], weights_only=True)
    softmax_w = F.softmax(ckpt["state_dict"]["net.W"], dim=1)
    seen = probs.sum(1) > 0  # rows of characters that precede something
    torch.testing.assert_close(softmax_w[seen], probs[seen], atol=2e-3, rtol=0)
    assert metrics["train"]["loss"] == pytest.approx(nll, abs=1e-3)


@pytest.mark.slow
@pytest.mark.corpus
def test_converged_recipe_reaches_the_count_optimum_on_civil_mots(make_cfg, corpus):
    _, optimum = _count_model(load_words(corpus))
    assert optimum == pytest.approx(2.3438, abs=1e-4)
    cfg = make_cfg("experiment=bigram_converged", f"data.path={corpus}")
    metrics = train(cfg)
    assert metrics["steps"] == 1000
    assert metrics["train"]["windows"] == 67652
    assert abs(metrics["train"]["loss"] - optimum) <= 0.01
