"""What a model has learnt, shown: the attention and hidden-unit figures hold the model's own
numbers, and the interactive views (ipywidgets) redraw reproducibly when a widget moves."""

from __future__ import annotations

import pytest
import torch

from charlm.course.views import AttentionView, HiddenUnitsView, SamplerView, next_char_distribution
from charlm.data.vocab import TextVocabulary, Vocabulary
from charlm.figures import attention_figure, attention_maps, hidden_activations, hidden_units_figure
from charlm.models import RecurrentLM, TransformerLM

TEXT = "Le code civil.\nLa loi dispose pour l'avenir ; elle n'a point d'effet rétroactif.\n"


@pytest.fixture
def transformer(tiny_words) -> TransformerLM:
    torch.manual_seed(0)
    model = TransformerLM(
        len(Vocabulary.from_words(tiny_words)), 16, num_layers=2, n_head=2, emb_size=16
    )
    model.vocab = Vocabulary.from_words(tiny_words)
    return model.eval()


@pytest.fixture
def text_rnn() -> RecurrentLM:
    torch.manual_seed(0)
    vocab = TextVocabulary(TEXT)
    model = RecurrentLM(len(vocab), 64, cell="gru", emb_size=8, hidden_size=12, num_layers=1)
    model.vocab = vocab
    return model.eval()


def test_attention_is_causal_and_what_the_model_computes(transformer, tiny_words):
    word = tiny_words[0][:6]
    maps, labels = attention_maps(transformer, word)
    t = len(word) + 1  # the boundary token first
    assert maps.shape == (2, 2, t, t) and labels == ["."] + list(word)
    assert torch.allclose(maps.sum(-1), torch.ones(2, 2, t))
    assert float(maps.triu(1).abs().max()) == 0.0  # no weight on a later position
    assert torch.allclose(maps[:, :, 0, 0], torch.ones(2, 2))  # the first sees only itself
    # The weights times the values are the attention's own output (its fused kernel).
    block = transformer.blocks[0]
    ids = torch.tensor([[0, *transformer.vocab.encode(word)]])
    x = block.ln1(transformer.tok(ids) + transformer.pos(torch.arange(t)))
    with torch.no_grad():
        out, (_, v) = block.attn(x)
        mixed = (maps[0][None] @ v).transpose(1, 2).reshape(1, t, -1)
        assert torch.allclose(block.attn.proj(mixed), out, atol=1e-5)


def test_attention_figure_draws_one_map_per_layer_and_head(transformer, tiny_words):
    word = tiny_words[1][:5]
    fig = attention_figure(transformer, word)
    assert len(fig.axes) == 4
    maps, _ = attention_maps(transformer, word)
    image = fig.axes[3].images[0].get_array()
    assert torch.allclose(torch.as_tensor(image.data), maps[1, 1])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["."] + list(word)
    (one,) = attention_figure(transformer, word, layers=[1], heads=[0]).axes
    assert torch.allclose(torch.as_tensor(one.images[0].get_array().data), maps[1, 0])
    with pytest.raises(ValueError, match="at most 16"):
        attention_maps(transformer, "a" * 20)


def test_hidden_units_figure_shows_the_chosen_units_activations(text_rnn):
    passage = TEXT[:30]
    states, labels = hidden_activations(text_rnn, passage)
    assert states.shape == (30, 12) and labels == list(passage)
    with torch.no_grad():
        h, _ = text_rnn.rnn(text_rnn.C(torch.tensor([text_rnn.vocab.encode(passage)])))
    assert torch.allclose(states, h[0])
    fig = hidden_units_figure(text_rnn, passage, units=[3, 7])
    (ax,) = fig.axes
    assert torch.allclose(torch.as_tensor(ax.images[0].get_array().data), states[:, [3, 7]].T)
    assert len(ax.texts) == 2 * 30
    with pytest.raises(ValueError, match="from 0 to 11"):
        hidden_units_figure(text_rnn, passage, units=[12])


def test_the_sampler_view_redraws_reproducibly_as_its_sliders_move(transformer):
    view = SamplerView(transformer, n=6, seed=3)
    first, first_probs = list(view.samples), dict(view.probs)
    assert len(first) == 6 and view.figure is not None
    view.temperature.value = 0.3  # the observer redraws
    cold = list(view.samples)
    assert cold != first
    # Colder is peakier: the likeliest next character gains.
    top = max(first_probs, key=first_probs.get)
    assert view.probs[top] > first_probs[top]
    view.top_k.value = 2
    assert sum(p > 0 for p in view.probs.values()) == 2
    assert abs(sum(view.probs.values()) - 1) < 1e-6
    view.top_k.value = view.top_k.max
    view.temperature.value = 1.0
    assert view.samples == first  # the same seed and settings, the same samples
    view.seed.value = 4
    assert view.samples != first
    view.prefix.value = transformer.vocab.itos[1]
    assert all(s.startswith(transformer.vocab.itos[1]) for s in view.samples)
    assert view.samples == transformer.sample(
        6, torch.Generator().manual_seed(4), prefix=transformer.vocab.itos[1]
    )


def test_the_sampler_view_of_running_text_and_a_bad_prefix(text_rnn):
    view = SamplerView(text_rnn, n=2, length=40)
    assert view.prefix.value == "\n" and all(len(s) == 40 for s in view.samples)
    probs = next_char_distribution(text_rnn, "\n")
    assert view.probs == pytest.approx(probs)
    shown = list(view.samples)
    view.prefix.value = "Le ¤"  # a character the model has never seen
    assert "¤" in view.message.value and view.samples == shown  # told, nothing redrawn


def test_attention_and_hidden_unit_views_follow_their_widgets(transformer, text_rnn, tiny_words):
    view = AttentionView(transformer, tiny_words[0][:5])
    assert len(view.figure.axes) == 4
    view.layer.value, view.head.value = 1, 0
    assert len(view.figure.axes) == 1 and view.figure.axes[0].get_title() == "layer 1, head 0"
    units = HiddenUnitsView(text_rnn, TEXT[:20], units=[0, 5])
    assert units.figure.axes[0].images[0].get_array().shape == (2, 20)
    units.units.value = "1, 2, 3"
    assert units.figure.axes[0].images[0].get_array().shape == (3, 20)
    units.units.value = "99"
    assert "from 0 to 11" in units.message.value


@pytest.fixture
def attentive_rnn(tiny_words) -> RecurrentLM:
    torch.manual_seed(0)
    vocab = Vocabulary.from_words(tiny_words)
    model = RecurrentLM(len(vocab), 16, cell="gru", emb_size=8, hidden_size=12,
                        attention_heads=2, attention_size=8)  # fmt: skip
    model.vocab = vocab
    return model.eval()


def test_a_recurrent_models_attention_layer_has_its_view(attentive_rnn, tiny_words):
    word = tiny_words[0][:5]
    maps, labels = attention_maps(attentive_rnn, word)
    assert maps.shape == (1, 2, len(labels), len(labels))
    assert torch.allclose(maps.sum(-1), torch.ones(1, 2, len(labels)))
    assert bool((maps.triu(1) == 0).all())  # causal
    view = AttentionView(attentive_rnn, word)
    assert [o[1] for o in view.head.options] == [-1, 0, 1]
    assert [o[1] for o in view.layer.options] == [-1, 0]
    assert view.figure is not None and view.message.value == ""


@pytest.mark.parametrize("which", ["plain_gru", "mlp", "ensemble", "classifier", "tensor"])
def test_a_view_of_a_model_that_cannot_show_it_is_one_line(which, text_rnn, transformer):
    from charlm.models import EnsembleLM, FeedForwardLM
    from charlm.models.classifiers import MLPClassifier

    vocab = transformer.vocab
    mlp = FeedForwardLM(len(vocab), 3)
    mlp.vocab = vocab
    model = {
        "plain_gru": text_rnn,
        "mlp": mlp,
        "ensemble": EnsembleLM([transformer, mlp]),
        "classifier": MLPClassifier(2, 2),
        "tensor": torch.zeros(3),
    }[which]
    with pytest.raises(ValueError, match=r"attention|not a language model") as err:
        AttentionView(model, "ab")
    assert "\n" not in str(err.value)
    if which in ("classifier", "tensor"):
        with pytest.raises(ValueError, match=r"SamplerView: .* is not a language model"):
            SamplerView(model)
    if which != "plain_gru":
        with pytest.raises(ValueError, match=r"hidden state|not a language model"):
            HiddenUnitsView(model, "ab")
