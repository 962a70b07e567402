"""The course's figures as functions: each returns a Figure with the course's axes and labels,
and leaves matplotlib's backend alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from matplotlib.figure import Figure

from charlm.data.vocab import Vocabulary
from charlm.figures import (
    bigram_figure,
    confusion_figure,
    decision_boundary_figure,
    embedding_figure,
    loss_curves_figure,
    next_char_figure,
)
from charlm.models import BengioMLP, BigramCounts, BigramLM, Perceptron
from charlm.models.classifiers import LinearClassifier


@pytest.fixture
def vocab(tiny_words) -> Vocabulary:
    return Vocabulary.from_words(tiny_words)


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_bigram_figure_writes_each_pair_and_its_count(vocab, tiny_words):
    counts = BigramCounts.from_words(tiny_words, vocab)
    fig = bigram_figure(counts)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    size = len(vocab)
    texts = _texts(ax)
    assert len(texts) == size * size  # the pair and its count in every cell
    a, m = vocab.stoi["a"], vocab.stoi["m"]
    assert texts[a * size + m] == f"am\n{int(counts.counts[a, m])}"
    assert ax.get_xlabel() == "next character" and ax.get_ylabel() == "previous character"
    assert ax.get_title() == "bigram counts N"
    assert [t.get_text() for t in ax.get_xticklabels()] == list(vocab.itos)
    probs = bigram_figure(counts, probabilities=True).axes[0]
    assert probs.get_title() == "P(next | previous)"
    assert _texts(probs)[a * size + m] == f"am\n{float(counts.probs[a, m]):.2f}"


def test_bigram_figure_of_the_neural_bigram_shows_softmax_of_w(vocab):
    net = BigramLM(len(vocab), 1)
    net.vocab = vocab
    ax = bigram_figure(net).axes[0]
    expected = net.W.softmax(1)[0, 1].item()
    assert _texts(ax)[1] == f"{vocab.itos[0]}{vocab.itos[1]}\n{expected:.2f}"
    with pytest.raises(ValueError, match="itos"):
        bigram_figure(torch.ones(3, 3))
    with pytest.raises(ValueError, match="3 x 3"):
        bigram_figure(torch.ones(2, 2), itos=["a", "b", "c"])


def test_embedding_figure_labels_each_character_and_projects_wide_tables(vocab):
    net = BengioMLP(len(vocab), 3, emb_size=2, hidden_size=8)
    net.vocab = vocab
    ax = embedding_figure(net).axes[0]
    assert sorted(_texts(ax)) == sorted(vocab.itos)
    assert ax.get_xlabel() == "dimension 0"
    x, y = ax.collections[0].get_offsets()[vocab.stoi["e"]]
    assert (x, y) == pytest.approx(tuple(net.embeddings[vocab.stoi["e"]].tolist()))
    wide = torch.randn(len(vocab), 10, generator=torch.Generator().manual_seed(0))
    ax = embedding_figure(wide, vocab.itos).axes[0]
    assert ax.get_xlabel().startswith("principal component 1")
    points = torch.tensor(ax.collections[0].get_offsets())
    assert points.var(0)[0] >= points.var(0)[1]  # the first component spreads the most


def test_loss_curves_figure_draws_a_line_per_run_and_metric():
    one = {"train/loss": [(1, 3.0), (2, 2.5), (3, 2.2)], "val/loss": [(2, 2.6), (3, 2.4)]}
    other = {"train/loss": [(1, 3.1), (2, 2.9)], "val/loss": []}
    ax = loss_curves_figure(one).axes[0]
    assert [line.get_label() for line in ax.lines] == ["train/loss", "val/loss"]
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3]
    assert ax.get_xlabel() == "update" and ax.get_ylabel() == "loss (NLL)"
    ax = loss_curves_figure({"a": one, "b": other}).axes[0]
    assert [line.get_label() for line in ax.lines] == ["a train/loss", "a val/loss", "b train/loss"]
    assert ax.lines[0].get_color() == ax.lines[1].get_color() != ax.lines[2].get_color()


def test_decision_boundary_figure_for_a_classifier_and_a_perceptron():
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([0, 0, 0, 1])
    fig = decision_boundary_figure(Perceptron([-0.6, 0.5, 0.5]), x, y, resolution=20)
    ax = fig.axes[0]
    image = ax.images[0].get_array()
    assert image[0, 0] == 0 and image[-1, -1] == 1  # AND: 1 only near (1, 1)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1", "x2")
    assert fig.axes[1].get_ylabel() == "P(class 1)"  # the colour bar
    net = LinearClassifier(2)
    fig = decision_boundary_figure(net, x, y, resolution=10)
    probs = net.predict(torch.tensor([[-0.5, -0.5]])).probs[0, 1]
    assert float(fig.axes[0].images[0].get_array()[0, 0]) == pytest.approx(float(probs), abs=1e-6)


def test_confusion_figure_counts_each_pair():
    fig = confusion_figure([0, 1, 1, 2], [0, 1, 2, 2], ["a", "b", "c"])
    ax = fig.axes[0]
    assert _texts(ax) == ["1", "0", "0", "0", "1", "0", "0", "1", "1"]
    assert ax.get_title() == "confusion matrix (3 of 4 right)"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")


def test_next_char_figure_sorts_the_model_distribution(vocab, tiny_words):
    model = BigramCounts.from_words(tiny_words, vocab)
    fig = next_char_figure(model, "emm", top=5)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 5 and heights == sorted(heights, reverse=True)
    probs = model.next_char_probs("emm")
    assert heights[0] == pytest.approx(max(probs.values()))
    assert ax.get_xticklabels()[0].get_text() == max(probs, key=probs.get)
    assert ax.get_title() == "P(next character | 'emm')"


@pytest.mark.slow
def test_figure_functions_leave_the_backend_and_pyplot_alone():
    code = (
        "import sys, matplotlib, torch\n"
        "from charlm import figures\n"
        "from charlm.models import Perceptron\n"
        "x = torch.tensor([[0., 0.], [1., 1.]])\n"
        "figs = [figures.bigram_figure(torch.ones(2, 2), ['a', 'b']),\n"
        "        figures.embedding_figure(torch.ones(2, 2), ['a', 'b']),\n"
        "        figures.loss_curves_figure({'train/loss': [(1, 1.0)]}),\n"
        "        figures.decision_boundary_figure(Perceptron([0., 1., 1.]), x, torch.tensor([0, 1])),\n"
        "        figures.confusion_figure([0, 1], [0, 1], ['a', 'b'])]\n"
        "print('matplotlib.pyplot' in sys.modules, len(figs), matplotlib.get_backend())"
    )
    env = {**os.environ, "MPLBACKEND": "svg"}  # the user's choice, which must stay
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["False", "5", "svg"]
