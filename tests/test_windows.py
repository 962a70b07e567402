import random

import pytest
import torch

from charlm.data import (
    RandomBatches,
    StepDataModule,
    Vocabulary,
    context_windows,
    load_words,
    split_words,
)
from charlm.data.corpus import CorpusError


def test_windows_of_one_word(tiny_words):
    vocab = Vocabulary.from_words(tiny_words)
    x, y = context_windows(["emma"], vocab, 3)
    e, m, a = vocab.stoi["e"], vocab.stoi["m"], vocab.stoi["a"]
    assert x.tolist() == [[0, 0, 0], [0, 0, e], [0, e, m], [e, m, m], [m, m, a]]
    assert y.tolist() == [e, m, m, a, 0]


def test_window_count_is_characters_plus_words(tiny_words):
    vocab = Vocabulary.from_words(tiny_words)
    for k in (1, 3, 8):
        x, y = context_windows(tiny_words, vocab, k)
        assert x.shape == (sum(len(w) + 1 for w in tiny_words), k)
        assert y.shape == (x.shape[0],)
        # Compact rows (half of int64) for the windows; cross-entropy wants int64 targets.
        assert x.dtype == torch.int32 and y.dtype == torch.long


@pytest.mark.parametrize("k", [1, 2, 3, 5, 12])
def test_windows_are_the_notebooks_build_dataset_row_by_row(tiny_words, k):
    vocab = Vocabulary.from_words(tiny_words)
    words = [*tiny_words, "a", "zoe"]
    xs, ys = [], []
    for w in words:  # the notebook's loop
        context = [0] * k
        for ch in w + ".":
            ix = vocab.stoi[ch]
            xs.append(context)
            ys.append(ix)
            context = context[1:] + [ix]
    x, y = context_windows(words, vocab, k)
    assert x.tolist() == xs and y.tolist() == ys


def test_split_reproduces_random_seed_shuffle(tiny_words):
    train, val, test = split_words(tiny_words, (0.8, 0.1, 0.1), seed=42)
    expected = list(tiny_words)
    random.seed(42)
    random.shuffle(expected)
    n1, n2 = int(0.8 * len(expected)), int(0.9 * len(expected))
    assert (train, val, test) == (expected[:n1], expected[n1:n2], expected[n2:])


def test_split_of_too_few_words_says_how_many_are_needed():
    with pytest.raises(CorpusError, match=r"3 words are too few .* at least 6 words"):
        split_words(["a", "b", "c"], (0.8, 0.1, 0.1))


@pytest.mark.parametrize(
    "fractions", [(0.8, 0.1, 0.2), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1), (0.5, 0.5)]
)
def test_impossible_split_fractions_are_refused(tiny_words, fractions):
    with pytest.raises(CorpusError, match="data.split"):
        split_words(tiny_words, fractions)


@pytest.mark.corpus
def test_civil_mots_windows_match_the_notebook(corpus):
    words = load_words(corpus)
    assert len(words) == 7223
    vocab = Vocabulary.from_words(words)
    x, _ = context_windows(words, vocab, 3)
    assert x.shape == (67652, 3)
    x5, y5 = context_windows(words[40:45], vocab, 3)
    assert x5.shape == (51, 3) and y5.shape == (51,)


@pytest.mark.corpus
def test_civil_mots_split_sizes(corpus):
    words = load_words(corpus)
    train, val, test = split_words(words)
    assert (len(train), len(val), len(test)) == (5778, 722, 723)
    assert sorted(train + val + test) == sorted(words)


def test_training_chunks_hold_indices_into_the_split_not_copies():
    x, y = torch.arange(200).view(100, 2), torch.arange(100)
    batches = RandomBatches(x, y, batch_size=8, steps_per_batch=5, seed=3)
    batches.num_chunks = 4
    chunks = list(batches)
    assert len(chunks) == 4
    for chunk in chunks:
        assert chunk.x.data_ptr() == x.data_ptr() and chunk.y.data_ptr() == y.data_ptr()
        assert chunk.index.shape == (5, 8) and chunk.updates == 5
        xb, yb = chunk.minibatch(2)
        assert torch.equal(xb, x[chunk.index[2]]) and torch.equal(yb, y[chunk.index[2]])
    assert not torch.equal(chunks[0].index, chunks[1].index)
    # A stream that starts at chunk 2 (a resumed run) draws what the whole stream drew there.
    batches.position = lambda: 2
    assert [c.index.tolist() for c in batches] == [c.index.tolist() for c in chunks[2:]]


def test_full_batch_chunks_give_every_row_to_every_update():
    x, y = torch.arange(20).view(10, 2), torch.arange(10)
    batches = RandomBatches(x, y, batch_size=4, steps_per_batch=3, full_batch=True)
    batches.num_chunks = 1
    (chunk,) = list(batches)
    assert chunk.index is None and chunk.updates == 3
    xb, yb = chunk.minibatch(1)
    assert xb is x and yb is y


def test_a_chunk_moved_to_a_device_brings_the_split_once():
    x, y = torch.arange(200).view(100, 2), torch.arange(100)
    dm = StepDataModule(batch_size=4, steps_per_batch=3)
    batches = RandomBatches(x, y, batch_size=4, steps_per_batch=3)
    batches.num_chunks = 2
    first, second = (dm.transfer_batch_to_device(c, torch.device("meta"), 0) for c in batches)
    assert first.x.device.type == "meta" and first.index.device.type == "meta"
    assert first.x is second.x and first.y is second.y
    assert first.index.shape == (3, 4)
    # On the split's own device nothing is copied.
    (chunk,) = list(batches)[:1]
    assert dm.transfer_batch_to_device(chunk, torch.device("cpu"), 0).x is x
