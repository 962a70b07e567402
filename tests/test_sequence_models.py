"""Sequence models: whole words, padding masked, causal, scored like the window models."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from charlm import CharWindowDataModule, Vocabulary, load_model
from charlm.data.sequences import PAD_TARGET, word_sequences
from charlm.errors import ConfigError
from charlm.inference import evaluate_words
from charlm.metrics import LMMetrics
from charlm.models import BigramLM, EnsembleLM, RecurrentLM, SequenceLM, TransformerLM
from charlm.train import train

FAMILIES = {
    "gru": lambda v: RecurrentLM(v, cell="gru", emb_size=8, hidden_size=16),
    "lstm": lambda v: RecurrentLM(v, cell="lstm", emb_size=8, hidden_size=16),
    "rnn": lambda v: RecurrentLM(v, cell="rnn", emb_size=8, hidden_size=16, num_layers=1),
    "lstm_attention": lambda v: RecurrentLM(
        v, cell="lstm", emb_size=8, hidden_size=16, attention_heads=2, attention_size=8
    ),
    "transformer": lambda v: TransformerLM(v, num_layers=2, n_head=2, emb_size=16),
    "transformer_rotary": lambda v: TransformerLM(
        v, num_layers=2, n_head=2, emb_size=16, positions="rotary"
    ),
}


@pytest.fixture(params=sorted(FAMILIES))
def model(request, tiny_words):
    torch.manual_seed(0)
    vocab = Vocabulary.from_words(tiny_words)
    net = FAMILIES[request.param](len(vocab))
    net.vocab = vocab
    return net.eval()


def test_sequences_are_start_then_word_in_and_word_then_end_out(tiny_words):
    vocab = Vocabulary.from_words(tiny_words)
    x, y = word_sequences(["ava", "emma"], vocab)
    a, v, e, m = (vocab.stoi[c] for c in "avem")
    assert x.tolist() == [[0, a, v, a, 0], [0, e, m, m, a]]
    assert y.tolist() == [[a, v, a, 0, PAD_TARGET], [e, m, m, a, 0]]


def test_padding_never_contributes_to_the_loss(model, tiny_words):
    # The same words with far more padding (one very long word in the batch) give the same
    # NLL for every word, and whatever sits in the padded positions changes nothing.
    words = tiny_words[:6]
    alone = model.word_nll(words)
    padded = model.word_nll([*words, "a" * 25])[:-1]
    torch.testing.assert_close(alone, padded)
    x, y = model.examples([*words, "a" * 25])
    noisy = x.clone()
    noisy[y == PAD_TARGET] = torch.randint(1, model.vocab_size, ((y == PAD_TARGET).sum(),))
    clean = F.cross_entropy(model(x).flatten(0, 1), y.flatten(), ignore_index=PAD_TARGET)
    dirty = F.cross_entropy(model(noisy).flatten(0, 1), y.flatten(), ignore_index=PAD_TARGET)
    torch.testing.assert_close(clean, dirty)


def test_changing_a_later_character_never_changes_an_earlier_prediction(model, tiny_words):
    x, _ = model.examples(["isabella"])
    before = model(x)
    for t in range(1, x.shape[1]):
        changed = x.clone()
        changed[0, t] = (changed[0, t] % (model.vocab_size - 1)) + 1
        after = model(changed)
        torch.testing.assert_close(after[:, :t], before[:, :t])
        assert not torch.allclose(after[:, t:], before[:, t:])


def test_a_sequence_models_log_prob_equals_the_evaluators_loss(model, tiny_words):
    for word in tiny_words[:5]:
        total, per_char = model.log_prob(word)
        evaluated = evaluate_words(model, [word])
        assert evaluated["windows"] == len(word) + 1
        assert per_char == pytest.approx(evaluated["loss"], rel=1e-5)
        assert total == pytest.approx(evaluated["loss"] * (len(word) + 1), rel=1e-5)


def test_sampling_is_deterministic_and_honours_the_prefix(model):
    def draw(**kwargs):
        return model.sample(20, generator=torch.Generator().manual_seed(7), max_len=20, **kwargs)

    assert draw() == draw()
    assert draw() != model.sample(20, generator=torch.Generator().manual_seed(8), max_len=20)
    words = draw(prefix="em", temperature=0.8, top_k=5)
    assert all(w.startswith("em") for w in words) and len(words) == 20
    # Batched and one-word-at-a-time sampling draw from the same distribution: the same
    # first character frequencies within noise over many words.
    probs = model.next_char_probs("")
    many = model.sample(3000, generator=torch.Generator().manual_seed(0), max_len=1, batched=True)
    for c in ("a", "e"):
        assert sum(w.startswith(c) for w in many) / 3000 == pytest.approx(probs[c], abs=0.03)


def test_cached_sampling_steps_give_the_full_forwards_logits(model, tiny_words):
    x, _ = model.examples(tiny_words[:8])
    full = model(x)
    logits, state = model.start(len(x))
    steps = [logits]
    for t in range(1, x.shape[1]):
        logits, state = model.advance(state, x[:, t])
        steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-5, rtol=1e-4)


class _SequenceBigram(SequenceLM):
    """A bigram as a sequence model: each position's logits are W[token]."""

    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__(weights.shape[0], 64)
        self.W = nn.Parameter(weights.clone())

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.W[idx]


def test_a_window_and_a_sequence_model_of_the_same_distribution_score_the_same(tiny_corpus):
    # The leaderboard compares families with one measure: NLL per character, end included.
    windows = CharWindowDataModule(tiny_corpus, context_size=1, split=(0.6, 0.2, 0.2))
    sequences = CharWindowDataModule(tiny_corpus, split=(0.6, 0.2, 0.2), contract="sequences")
    windows.setup()
    sequences.setup()
    torch.manual_seed(0)
    bigram = BigramLM(len(windows.vocab), penalty=0.0)
    twin = _SequenceBigram(bigram.W.detach())
    bigram.vocab = twin.vocab = windows.vocab

    def score(net, data):
        metrics = LMMetrics(len(data.vocab))
        with torch.no_grad():
            for x, y in data.eval_dataloader("val"):
                metrics.update(net(x), y)
        return metrics.compute()

    a, b = score(bigram, windows), score(twin, sequences)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)
    assert a["acc"] == pytest.approx(b["acc"], rel=1e-6)
    words = windows.words["val"]
    torch.testing.assert_close(bigram.word_nll(words), twin.word_nll(words))


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gru", "transformer"])
def test_each_family_trains_and_round_trips_through_load_model(make_cfg, tiny_corpus, family):
    small = {
        "gru": ("model.net.hidden_size=32", "model.net.emb_size=8"),
        "transformer": ("model.net.emb_size=32", "model.net.num_layers=2"),
    }[family]
    cfg = make_cfg(
        f"model={family}", *small, f"data.path={tiny_corpus}", "data.split=[0.6,0.2,0.2]",
        "data.batch_size=16", "trainer.max_steps=200",
        "model.optimizer.lr=1e-2", "trainer.gradient_clip_val=1.0",
    )  # fmt: skip
    metrics = train(cfg)
    assert metrics["train"]["loss"] < 2.8  # uniform over the tiny vocabulary is ~3.1
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    model = load_model(last)
    assert model.data_contract == "sequences"
    # The reloaded model scores the test split as the run did.
    data = CharWindowDataModule(tiny_corpus, split=(0.6, 0.2, 0.2), contract="sequences")
    data.setup()
    best = load_model(metrics["best_checkpoint"])
    assert evaluate_words(best, data.words["test"])["loss"] == pytest.approx(
        metrics["test"]["loss"], rel=1e-5
    )
    words = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert words == model.sample(5, generator=torch.Generator().manual_seed(0))


def test_a_sequence_model_too_short_for_the_longest_word_is_refused(make_cfg, tiny_corpus):
    cfg = make_cfg("model=transformer", "model.net.context_size=5", f"data.path={tiny_corpus}")
    with pytest.raises(
        ConfigError, match=r"model\.net\.context_size=5: the longest sequence .* needs 10"
    ):
        train(cfg)


def test_weight_decay_on_matrices_leaves_biases_norms_and_embeddings_alone(make_cfg, tiny_corpus):
    from hydra.utils import instantiate

    cfg = make_cfg("model=transformer", "model.weight_decay_on=matrices")
    task = instantiate(cfg.model, net={"vocab_size": 20})
    optimizer = task.configure_optimizers()["optimizer"]
    decayed, kept = optimizer.param_groups
    assert decayed["weight_decay"] == cfg.model.optimizer.weight_decay > 0
    assert kept["weight_decay"] == 0.0
    names = {id(p): n for n, p in task.net.named_parameters()}
    assert all(p.ndim == 2 for p in decayed["params"])
    kept_names = {names[id(p)] for p in kept["params"]}
    assert {"tok.weight", "pos.weight", "ln_f.weight", "head.bias"} <= kept_names
    assert "head.weight" in {names[id(p)] for p in decayed["params"]}


def test_batched_sampling_takes_one_step_per_position_for_all_words(model):
    # bench/sampling.py measures the speed; here, the count of model steps: one per character
    # position for all the words together, against one per character of each word.
    calls = []
    for name in ("start", "advance"):
        step = getattr(model, name)
        setattr(model, name, lambda *a, _step=step: calls.append(1) or _step(*a))
    draw = {"generator": torch.Generator().manual_seed(0), "max_len": 15}
    one_by_one = model.sample(20, batched=False, **draw)
    assert len(calls) == sum(1 + len(w) for w in one_by_one)
    calls.clear()
    batched = model.sample(20, batched=True, **draw)
    assert len(calls) == 1 + max(len(w) for w in batched)


def test_an_ensemble_averages_its_members_probabilities(tiny_words):
    vocab = Vocabulary.from_words(tiny_words)
    torch.manual_seed(0)
    window = BigramLM(len(vocab), penalty=0.0)
    sequence = FAMILIES["gru"](len(vocab))
    for net in (window, sequence):
        net.vocab = vocab
        net.eval()
    words = tiny_words[:10]
    # A window model read as a sequence model scores each word as it does itself.
    torch.testing.assert_close(EnsembleLM([window]).word_nll(words), window.word_nll(words))
    torch.testing.assert_close(
        EnsembleLM([sequence, sequence]).word_nll(words), sequence.word_nll(words)
    )
    both = EnsembleLM([window, sequence])
    x, y = both.examples(words)
    probs = (
        F.softmax(window.block_logits(x), -1) + F.softmax(sequence(x), -1)
    ) / 2  # fmt: skip
    expected = -probs.gather(-1, y.clamp(min=0)[..., None])[..., 0].log()
    expected = (expected * (y != PAD_TARGET)).sum(1)
    torch.testing.assert_close(both.word_nll(words), expected)
    draw = both.sample(10, generator=torch.Generator().manual_seed(3), prefix="a")
    assert draw == both.sample(10, generator=torch.Generator().manual_seed(3), prefix="a")
    assert all(w.startswith("a") for w in draw)


def test_several_checkpoints_load_as_one_ensemble(trained_run):
    last = trained_run["dir"] / "checkpoints" / "last.ckpt"
    best = Path(trained_run["metrics"]["best_checkpoint"])
    for spec in ([last, best], f"{last},{best}"):
        model = load_model(spec)
        assert isinstance(model, EnsembleLM) and len(model.members) == 2
    single = load_model(last)
    torch.testing.assert_close(
        load_model([last, last]).word_nll(["emma"]), single.word_nll(["emma"])
    )


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_weight_dropout_drops_recurrent_weights_in_training_only(cell):
    """`weight_dropout` trains through a dropped copy of every hidden-to-hidden matrix: the
    output is the stack's with that copy, the dropped entries get no gradient, and evaluation
    reads the whole matrices."""
    torch.manual_seed(0)
    net = RecurrentLM(7, 12, cell=cell, emb_size=5, hidden_size=8, num_layers=2, weight_dropout=0.5)
    idx = torch.randint(0, 7, (3, 12))
    net.train()
    torch.manual_seed(1)
    logits = net(idx)
    torch.manual_seed(1)  # the same masks, drawn in the same order
    dropped = {
        name: F.dropout(w.detach(), 0.5)
        for name, w in net.rnn.named_parameters()
        if name.startswith("weight_hh")
    }
    expected = net.output(torch.func.functional_call(net.rnn, dropped, (net.C(idx),))[0])
    torch.testing.assert_close(logits, expected)
    logits.sum().backward()
    for name, w in net.rnn.named_parameters():
        if name.startswith("weight_hh"):
            zeros = dropped[name] == 0
            assert zeros.any() and (~zeros).any()
            assert torch.equal(w.grad[zeros], torch.zeros_like(w.grad[zeros]))
            assert w.grad[~zeros].abs().sum() > 0
    net.eval()
    with torch.no_grad():
        whole = net.output(net.rnn(net.C(idx))[0])
        torch.testing.assert_close(net(idx), whole)
        assert not torch.allclose(whole, expected)


def test_weight_dropout_outside_0_1_is_refused():
    with pytest.raises(ConfigError, match="weight_dropout=1.0: must be in"):
        RecurrentLM(7, 12, weight_dropout=1.0)


def _recurrence_of_the_input_only(net: RecurrentLM) -> RecurrentLM:
    """`net` (a plain RNN: h_t = tanh(W x_t + U h_t-1 + b)) with U zeroed: each position's
    recurrent output depends on its own character only, so whatever else it sees comes
    through attention. (A GRU's or LSTM's gates would still carry the state.)"""
    with torch.no_grad():
        for name, w in net.rnn.named_parameters():
            if name.startswith("weight_hh"):
                w.zero_()
    return net


def test_a_recurrent_models_attention_sees_context_size_positions_and_no_further():
    torch.manual_seed(0)
    net = RecurrentLM(
        7, 6, cell="rnn", emb_size=5, hidden_size=8, num_layers=1,
        attention_heads=2, attention_size=8,
    ).eval()  # fmt: skip
    net = _recurrence_of_the_input_only(net)
    ids = torch.randint(1, 7, (1, 20))
    whole, _ = net.text_start(ids)  # 20 characters read by a window of 6
    for back, seen in ((5, True), (6, False), (12, False)):
        changed = ids.clone()
        changed[0, -1 - back] = changed[0, -1 - back] % 6 + 1
        after, _ = net.text_start(changed)
        assert (after - whole).abs().max() > 1e-4 if seen else torch.allclose(after, whole)
    # Without attention the same recurrence sees nothing before the last character.
    net.attn = None
    changed = ids.clone()
    changed[0, -2] = changed[0, -2] % 6 + 1
    assert torch.allclose(net.text_start(changed)[0], net.text_start(ids)[0])


def test_a_recurrent_model_whose_attention_adds_nothing_is_the_plain_model():
    torch.manual_seed(0)
    plain = RecurrentLM(7, 12, cell="lstm", emb_size=5, hidden_size=8, num_layers=2).eval()
    attended = RecurrentLM(
        7, 12, cell="lstm", emb_size=5, hidden_size=8, num_layers=2, attention_heads=1
    ).eval()
    missing = attended.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith(("attn.", "attn_norm.")) for k in missing)
    idx = torch.randint(0, 7, (3, 12))
    assert not torch.allclose(attended(idx), plain(idx))
    with torch.no_grad():  # the residual branch's output projection zeroed
        attended.attn.proj.weight.zero_()
        attended.attn.proj.bias.zero_()
    torch.testing.assert_close(attended(idx), plain(idx))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attention_heads": -1}, "attention_heads=-1: a whole number >= 0"),
        (
            {"attention_heads": 3, "attention_size": 8},
            "attention_heads=3: must divide attention_size=8",
        ),
        (
            {"attention_heads": 1, "attention_size": 7},
            "attention_size / attention_heads = 7: rotary",
        ),
        ({"attention_heads": 1, "attention_size": 0}, "attention_size"),
    ],
)
def test_a_recurrent_models_impossible_attention_is_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RecurrentLM(7, 12, hidden_size=8, **kwargs)
