import pytest
import torch
import torch.nn.functional as F

from charlm import BengioMLP, BigramLM, FeedForwardLM, Vocabulary
from charlm.models import MLPClassifier
from charlm.models.layers import Dropout


def test_bengio_mlp_shapes_and_notebook_parameter_count():
    model = BengioMLP(41, context_size=3, emb_size=2, hidden_size=100, seed=2147483647)
    x = torch.randint(0, 41, (32, 3))
    assert model(x).shape == (32, 41)
    assert sum(p.numel() for p in model.parameters()) == 4923


def test_bengio_mlp_is_the_equation():
    model = BengioMLP(7, context_size=2, emb_size=3, hidden_size=5, seed=0)
    x = torch.tensor([[0, 4], [6, 1]])
    emb = torch.cat([model.C[x[:, 0]], model.C[x[:, 1]]], dim=1)
    expected = torch.tanh(emb @ model.W1 + model.b1) @ model.W2 + model.b2
    torch.testing.assert_close(model(x), expected)


def test_same_seed_same_initialisation():
    a, b = BengioMLP(10, seed=3), BengioMLP(10, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_bigram_is_one_hot_times_w():
    model = BigramLM(5, seed=0)
    x = torch.tensor([[0], [3], [4]])
    expected = F.one_hot(x[:, 0], 5).float() @ model.W
    torch.testing.assert_close(model(x), expected)


def test_bigram_penalty_is_mean_square_of_w():
    model = BigramLM(5, penalty=0.01, seed=0)
    torch.testing.assert_close(model.regularization(), 0.01 * (model.W**2).mean())
    assert float(BigramLM(5).regularization()) == 0


def test_bigram_reads_only_the_last_token_of_a_longer_context():
    model = BigramLM(5, context_size=3, seed=0)
    torch.testing.assert_close(model(torch.tensor([[1, 2, 4]])), model.W[[4]])


@pytest.mark.parametrize("kwargs", [{"hidden_size": 0}, {"emb_size": -1}, {"context_size": 0}])
def test_impossible_sizes_are_refused(kwargs):
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        BengioMLP(10, **kwargs)


def test_models_sample_words_of_the_vocabulary(tiny_words):
    vocab = Vocabulary.from_words(tiny_words)
    model = BengioMLP(len(vocab), seed=0)
    model.vocab = vocab
    words = model.sample(5, generator=torch.Generator().manual_seed(0), max_len=20)
    assert len(words) == 5
    assert all(set(w) <= set(vocab.chars) and len(w) <= 20 for w in words)


def test_feedforward_shapes_and_layers():
    net = FeedForwardLM(41, context_size=10, emb_size=4, hidden_sizes=(16, 8), emb_dropout=0.2)
    x = torch.randint(0, 41, (5, 10))
    assert net(x).shape == (5, 41)
    linears = [m for m in net.hidden if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(40, 16), (16, 8)]


def test_feedforward_embedding_dropout_acts_in_training_only():
    torch.manual_seed(0)
    net = FeedForwardLM(41, context_size=6, emb_size=8, hidden_sizes=(32,), emb_dropout=0.5)
    x = torch.randint(0, 41, (64, 6))
    net.eval()
    assert torch.equal(net(x), net(x))
    # Evaluation sees the embeddings whole: as if there were no embedding dropout at all.
    plain = FeedForwardLM(41, context_size=6, emb_size=8, hidden_sizes=(32,))
    plain.load_state_dict(net.state_dict())
    plain.eval()
    torch.testing.assert_close(net(x), plain(x))
    net.train()
    seen = []
    net.emb_dropout.register_forward_hook(lambda m, i, out: seen.append(out))
    net(x)
    zeros = (seen[0] == 0).float().mean().item()
    assert 0.4 < zeros < 0.6


@pytest.mark.parametrize("key", ["dropout", "emb_dropout"])
def test_feedforward_dropout_outside_zero_one_is_refused(key):
    with pytest.raises(ValueError, match=rf"^{key}=1\.0: must be in \[0, 1\)"):
        FeedForwardLM(41, **{key: 1.0})


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_zeroes_a_fraction_p_and_scales_the_rest(p):
    torch.manual_seed(0)
    drop = Dropout(p)
    x = torch.rand(256, 512) + 1.0  # no zeros of its own
    x.requires_grad_(True)
    out = drop(x)
    kept = out != 0
    assert abs(1 - kept.float().mean().item() - p) < 0.01
    torch.testing.assert_close(out[kept], x[kept] / (1 - p))
    # The gradient flows through the kept elements only, with the same scale.
    out.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / (1 - p))
    drop.eval()
    assert torch.equal(drop(x), x)


def test_models_use_the_fast_dropout():
    for net, count in [
        (FeedForwardLM(41, hidden_sizes=(8,), dropout=0.5, emb_dropout=0.2), 2),
        (MLPClassifier(2, 2, hidden_sizes=(6, 6), dropout=0.1), 2),
    ]:
        drops = [m for m in net.modules() if isinstance(m, torch.nn.Dropout)]
        assert len(drops) == count and all(type(m) is Dropout for m in drops)


def test_every_family_takes_the_shared_hyperparameter_names():
    """emb_size, hidden_size and num_layers mean the same in every family that has them, so
    that one sweep sets the same key for all; the transformer's old names still load."""
    from charlm import FeedForwardLM, RecurrentLM, TransformerLM

    ff = FeedForwardLM(10, 3, emb_size=4, hidden_size=16, num_layers=3)
    assert [m.out_features for m in ff.hidden if isinstance(m, torch.nn.Linear)] == [16, 16, 16]
    assert ff.C.embedding_dim == 4
    gru = RecurrentLM(10, 8, emb_size=4, hidden_size=16, num_layers=3)
    assert gru.rnn.num_layers == 3 and gru.rnn.hidden_size == 16
    new = TransformerLM(10, 8, num_layers=3, n_head=2, emb_size=16)
    old = TransformerLM(10, 8, n_layer=3, n_head=2, n_embd=16)
    assert len(new.blocks) == len(old.blocks) == 3
    assert new.state_dict().keys() == old.state_dict().keys()
    assert new.tok.embedding_dim == 16
    old.load_state_dict(new.state_dict())  # same shapes under either name


def test_a_checkpoint_whose_config_has_the_old_transformer_names_loads(tmp_path, tiny_words):
    import yaml

    from charlm import TransformerLM, load_model

    vocab = Vocabulary.from_words(tiny_words)
    net = TransformerLM(len(vocab), 16, num_layers=2, n_head=2, emb_size=8)
    old_config = {"model": {"net": {
        "_target_": "charlm.models.TransformerLM", "vocab_size": len(vocab), "context_size": 16,
        "n_layer": 2, "n_head": 2, "n_embd": 8,
    }}}  # fmt: skip
    path = tmp_path / "old.ckpt"
    torch.save({
        "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
        "charlm": {"vocab": vocab.to_string(), "config": yaml.safe_dump(old_config)},
    }, path)  # fmt: skip
    loaded = load_model(path)
    assert len(loaded.blocks) == 2
    x = torch.tensor([[0, 3, 4]])
    torch.testing.assert_close(loaded.eval()(x), net.eval()(x))


def test_rotary_attention_depends_on_how_far_apart_two_positions_are_not_where():
    from charlm.models.transformer import Rotary

    rotary = Rotary(8, 64)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(at_q: int, at_k: int) -> torch.Tensor:
        return (rotary(q, at_q) * rotary(k, at_k)).sum()

    torch.testing.assert_close(score(5, 2), score(40, 37))
    torch.testing.assert_close(score(0, 0), (q * k).sum())  # position 0: no turn
    assert not torch.allclose(score(5, 2), score(5, 4))
    # A rotation keeps each vector's length.
    torch.testing.assert_close(rotary(q, 17).norm(), q.norm())


def test_a_rotary_transformer_has_no_position_table_and_reads_positions_by_rotation():
    from charlm import TransformerLM

    torch.manual_seed(0)
    net = TransformerLM(10, 8, num_layers=2, n_head=2, emb_size=16, positions="rotary").eval()
    assert net.pos is None and not any("pos" in k or "rot" in k for k in net.state_dict())
    for block in net.blocks:  # queries and keys large enough for attention to pick
        torch.nn.init.normal_(block.attn.qkv.weight, std=1.0)
    # Without positions, attention could not tell "ab" from "ba" before the last character.
    x = torch.tensor([[3, 4, 5], [4, 3, 5]])
    logits = net(x)
    # The same weights without the rotation see only a bag of earlier characters: the two
    # orders differ by the rounding of sums taken in another order.
    net.rotary = None
    for block in net.blocks:
        block.attn.rotary = None
    bag = net(x)
    assert (bag[0, -1] - bag[1, -1]).abs().max() < 1e-3
    assert (logits[0, -1] - logits[1, -1]).abs().max() > 0.01


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"positions": "absolute"}, r"positions='absolute': one of \['learned', 'rotary'\]"),
        ({"positions": "rotary", "emb_size": 6, "n_head": 2}, "rotary positions need an even"),
    ],
)
def test_a_transformer_refuses_unknown_positions_and_odd_rotary_heads(kwargs, message):
    from charlm import TransformerLM
    from charlm.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        TransformerLM(10, 8, **{"num_layers": 1, "n_head": 2, "emb_size": 8, **kwargs})
