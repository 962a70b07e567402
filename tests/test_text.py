"""Running text: encoding, contiguous splits, full-pass evaluation, every family on blocks,
sampling past the block, scoring, and the errors bad text gets."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from commands import run_command
from conftest import compose_train

from charlm import load_model
from charlm.data import encoded as encoded_module
from charlm.data.blocks import EvalBlocks, TextBlocks, split_bounds
from charlm.data.datamodule import TextDataModule
from charlm.data.encoded import TextError, encode_text
from charlm.data.registry import checked_data
from charlm.data.text import score_text
from charlm.data.vocab import TextVocabulary, VocabularyError
from charlm.inference import evaluate_checkpoint
from charlm.models import BengioMLP, BigramLM, RecurrentLM, TransformerLM
from charlm.train import train

BIN = Path(sys.executable).parent
WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "and",
    "saw",
    "a",
    "rat",
    "run",
    "far",
    "away",
    "from",
    "home",
]


def make_text(seed: int = 0, lines: int = 120) -> str:
    rng = random.Random(seed)
    return "".join(" ".join(rng.choices(WORDS, k=rng.randint(3, 9))) + ".\n" for _ in range(lines))


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "story.txt"
    path.write_text(make_text(), encoding="utf-8")
    return path


def _one_error(out: subprocess.CompletedProcess, program: str) -> str:
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if ": error:" in line]
    assert len(errors) == 1 and errors[0].startswith(f"{program}: error: "), out.stderr
    return errors[0]


# --- the data path ------------------------------------------------------------------------------


def test_the_split_is_contiguous_and_its_boundaries_exact():
    bounds = split_bounds(1_115_394, (0.85, 0.05, 0.10))
    # nanoGPT's shakespeare_char: train on the first int(n * 0.9), validate on the rest.
    assert bounds[2] == (1_003_854, 1_115_394)
    assert bounds[0] == (0, 948_084) and bounds[1] == (948_084, 1_003_854)
    for n in (2, 7, 1000, 12_345):
        b = split_bounds(n, (0.7, 0.2, 0.1))
        assert b[0][0] == 0 and b[-1][1] == n
        assert all(b[i][1] == b[i + 1][0] for i in range(2))


def test_the_text_is_encoded_with_every_character_newline_included(text_file, tmp_path):
    encoded = encode_text(text_file, tmp_path / "cache")
    text = text_file.read_text(encoding="utf-8")
    assert isinstance(encoded.vocab, TextVocabulary)
    assert encoded.vocab.itos == sorted(set(text)) and "\n" in encoded.vocab.itos
    assert encoded.vocab.decode(encoded.ids()[:]) == text


def test_the_encoded_file_is_reused_and_rebuilt_when_the_text_changes(
    text_file, tmp_path, monkeypatch
):
    cache = tmp_path / "cache"
    first = encode_text(text_file, cache)
    reads = []
    real = encoded_module.decoded_chunks
    monkeypatch.setattr(encoded_module, "decoded_chunks", lambda p: reads.append(p) or real(p))
    again = encode_text(text_file, cache)
    assert reads == [] and again.ids_path == first.ids_path  # read back, not decoded
    text_file.write_text(make_text(seed=1) + "Zebra!\n", encoding="utf-8")
    changed = encode_text(text_file, cache)
    assert reads and changed.ids_path != first.ids_path and "Z" in changed.vocab.itos
    assert first.ids_path.exists()  # the earlier version's ids are kept: its runs read them
    assert changed.vocab.decode(changed.ids()[:]) == text_file.read_text(encoding="utf-8")


def test_several_files_are_read_in_order(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("abc\n", encoding="utf-8")
    b.write_text("déf\n", encoding="utf-8")
    encoded = encode_text(f"{a},{b}", tmp_path / "cache")
    assert encoded.vocab.decode(encoded.ids()[:]) == "abc\ndéf\n"


def test_evaluation_scores_every_character_but_the_first_exactly_once():
    stream = np.arange(1000, dtype=np.uint16) % 50
    for bounds, block in (((0, 1000), 64), ((300, 701), 7), ((10, 12), 128)):
        blocks = EvalBlocks(stream, bounds, block, blocks_per_batch=3)
        ys = torch.cat([y.flatten() for _, y in blocks])
        xs = torch.cat([x.flatten() for x, _ in blocks])
        kept = ys != -1
        start, end = bounds
        assert ys[kept].tolist() == stream[start + 1 : end].tolist()
        assert xs[kept].tolist() == stream[start : end - 1].tolist()


def test_training_blocks_are_resumable_and_stay_inside_the_train_split():
    stream = np.arange(500, dtype=np.uint16)
    blocks = TextBlocks(stream, (0, 400), block_size=16, batch_size=8, steps_per_batch=4, seed=3)
    blocks.num_chunks = 5
    chunks = list(blocks)
    blocks.position = lambda: 2
    assert [c.starts.tolist() for c in blocks] == [c.starts.tolist() for c in chunks[2:]]
    for chunk in chunks:
        x, y = chunk.minibatch(0)
        assert x.shape == y.shape == (8, 16)
        assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
        assert int(y.max()) < 400


# --- models on blocks ---------------------------------------------------------------------------

FAMILIES = {
    "bigram": lambda v: BigramLM(v, 1, seed=0),
    "mlp": lambda v: BengioMLP(v, 4, emb_size=4, hidden_size=16),
    "gru": lambda v: RecurrentLM(v, 16, "gru", emb_size=8, hidden_size=16, num_layers=1),
    "lstm_attention": lambda v: RecurrentLM(
        v, 16, "lstm", emb_size=8, hidden_size=16, num_layers=1, attention_heads=2, attention_size=8
    ),
    "transformer": lambda v: TransformerLM(v, 16, num_layers=1, n_head=2, emb_size=16),
    "transformer_rotary": lambda v: TransformerLM(
        v, 16, num_layers=2, n_head=2, emb_size=16, positions="rotary"
    ),
}


@pytest.fixture(params=sorted(FAMILIES))
def text_model(request):
    torch.manual_seed(0)
    model = FAMILIES[request.param](12).eval()
    model.vocab = TextVocabulary("\n abcdefghij")
    return model


def test_a_later_character_never_changes_an_earlier_prediction_in_a_block(text_model):
    x = torch.randint(0, 12, (2, 16))
    before = text_model.block_logits(x)
    assert before.shape == (2, 16, 12)
    for t in (3, 9, 15):
        changed = x.clone()
        changed[:, t] = (changed[:, t] + 1) % 12
        after = text_model.block_logits(changed)
        assert torch.allclose(after[:, :t], before[:, :t], atol=1e-6)
        assert not torch.allclose(after[:, t], before[:, t])


def test_sampling_is_deterministic_honours_the_prompt_and_runs_past_the_block(text_model):
    def draw(seed: int) -> list[str]:
        g = torch.Generator().manual_seed(seed)
        return text_model.sample_text("ab c", length=60, n=3, generator=g)

    passages = draw(0)
    assert passages == draw(0) and passages != draw(1)
    assert all(len(p) == 60 and set(p) <= set(text_model.vocab.itos) for p in passages)
    # The first character follows the prompt: its distribution is the model's after "ab c".
    logits, _ = text_model.text_start(torch.tensor([text_model.vocab.encode("ab c")]))
    assert torch.allclose(
        logits, text_model.block_logits(torch.tensor([text_model.vocab.encode("ab c")]))[:, -1]
    )
    with pytest.raises(VocabularyError, match="'Z'"):
        text_model.sample_text("aZb", length=5)


def test_sampled_text_steps_give_the_full_forwards_logits(text_model):
    ids = torch.randint(0, 12, (2, 12))
    logits, state = text_model.text_start(ids[:, :4])
    full = text_model.block_logits(ids)
    assert torch.allclose(logits, full[:, 3], atol=1e-5)
    for t in range(4, 12):
        logits, state = text_model.text_advance(state, ids[:, t])
        assert torch.allclose(logits, full[:, t], atol=1e-5)


def test_a_recurrent_model_with_attention_samples_past_its_block_as_its_window_reads():
    torch.manual_seed(0)
    model = FAMILIES["lstm_attention"](12).eval()  # a window of 16
    ids = torch.randint(0, 12, (2, 50))
    logits, state = model.text_start(ids[:, :5])
    for t in range(5, 50):
        logits, state = model.text_advance(state, ids[:, t])
        # Read whole, each position sees the 16 up to itself: the cache holds the last 15.
        whole, _ = model.text_start(ids[:, : t + 1])
        assert torch.allclose(logits, whole, atol=1e-5), t
    assert state.keys.shape[2] == 15 and state.position == 50


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_a_transformer_samples_past_its_block_with_a_key_value_cache_and_the_same_windows(
    positions,
):
    torch.manual_seed(0)
    model = TransformerLM(12, 8, num_layers=2, n_head=2, emb_size=16, positions=positions)
    model.eval()
    model.vocab = TextVocabulary("\n abcdefghij")
    ids = torch.randint(0, 12, (2, 40))

    def steps(cached: bool) -> tuple[list[torch.Tensor], list[int]]:
        model.text_cache = cached
        logits, state = model.text_start(ids[:, :3])
        out, widths = [logits], [state[0].shape[1]]
        for t in range(3, 40):
            logits, state = model.text_advance(state, ids[:, t])
            out.append(logits)
            widths.append(state[0].shape[1])
        return out, widths

    cached, widths = steps(True)
    plain, plain_widths = steps(False)
    assert widths == plain_widths
    # The window runs on to the context (8), then starts again from its last 6 (3/4 of it).
    assert widths[:7] == [3, 4, 5, 6, 7, 8, 6] and min(widths[3:]) == 6 and max(widths) == 8
    for step, (a, b) in enumerate(zip(cached, plain, strict=True)):
        seen = ids[:, : step + 3]
        assert torch.allclose(b, model(seen[:, -widths[step] :])[:, -1], atol=1e-6)
        assert torch.allclose(a, b, atol=1e-5)
    passages = {}
    for cached_ in (True, False):
        model.text_cache = cached_
        passages[cached_] = model.sample_text(
            "ab", 300, n=2, generator=torch.Generator().manual_seed(3)
        )
    assert passages[True] == passages[False] and len(passages[True][0]) == 300


# --- training, checkpoints, commands ----------------------------------------------------------


SMALL = {
    "bigram": ("model=bigram",),
    "bengio_mlp": ("model=bengio_mlp", "model.net.emb_size=4", "model.net.hidden_size=32"),
    "gru": (
        "model=gru", "model.net.hidden_size=32", "model.net.emb_size=8", "model.optimizer.lr=1e-2",
    ),
    "transformer": (
        "model=transformer", "model.net.emb_size=32", "model.net.num_layers=1", "model.optimizer.lr=1e-2",
    ),
    "transformer_rotary": (
        "model=transformer", "model.net.emb_size=32", "model.net.num_layers=1", "model.optimizer.lr=1e-2",
        "model.net.positions=rotary",
    ),
    "lstm_attention": (
        "model=gru", "model.net.cell=lstm", "model.net.hidden_size=32", "model.net.emb_size=8",
        "model.optimizer.lr=1e-2", "model.net.attention_heads=1", "model.net.attention_size=16",
    ),
}  # fmt: skip


def _train_text(root: Path, text_file: Path, family: str, *extra: str) -> dict:
    cfg = compose_train(
        root, "data=text", f"data.path={text_file}", *SMALL[family], "data.block_size=32",
        "data.context_size=4", "data.batch_size=8", "data.split=[0.8,0.1,0.1]",
        "trainer.max_steps=60", "logger=none",
        *extra, output_dir=root / family,
    )  # fmt: skip
    return train(cfg)


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(SMALL))
def test_each_family_trains_on_text_and_round_trips_through_load_model(tmp_path, text_file, family):
    metrics = _train_text(tmp_path, text_file, family)
    n = len(text_file.read_text(encoding="utf-8"))
    bounds = split_bounds(n, (0.8, 0.1, 0.1))
    assert metrics["test"]["windows"] == bounds[2][1] - bounds[2][0] - 1
    assert metrics["train"]["loss"] < metrics["first_loss"] - 0.1
    model = load_model(metrics["best_checkpoint"])
    assert isinstance(model.vocab, TextVocabulary)
    # charlm-eval's figure on the reloaded model is the run's, split for split.
    results = evaluate_checkpoint(metrics["best_checkpoint"])
    for split in ("train", "val", "test"):
        assert results[split]["loss"] == pytest.approx(metrics[split]["loss"], rel=1e-4)
    # Scoring the test text gives the same NLL as the evaluation (same blocks, same context).
    data, _ = checked_data(model)
    start, end = data.bounds["test"]
    test_text = model.vocab.decode(data.stream[start:end])
    _, totals = score_text(model, test_text)
    assert totals["nll_per_char"] == pytest.approx(metrics["test"]["loss"], rel=1e-4)
    assert totals["characters"] == metrics["test"]["windows"]


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("textrun")
    story = root / "story.txt"
    story.write_text(make_text(), encoding="utf-8")
    metrics = _train_text(root, story, "transformer")
    return Path(metrics["last_checkpoint"]), story


@pytest.mark.slow
def test_charlm_sample_writes_reproducible_passages_after_the_prompt(text_run):
    ckpt, _ = text_run
    args = [f"ckpt={ckpt}", "prompt=the cat", "length=80", "n=2", "seed=3"]
    first, again = run_command("charlm-sample", *args), run_command("charlm-sample", *args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout
    passages = first.stdout.split("--- sample ")[1:]
    assert len(passages) == 2 and all("the cat" in p for p in passages)
    one = run_command("charlm-sample", f"ckpt={ckpt}", "length=30")  # one passage by default
    assert one.returncode == 0 and "--- sample" not in one.stdout and len(one.stdout) >= 30
    line = _one_error(
        run_command("charlm-sample", f"ckpt={ckpt}", "prompt=the Zoo"), "charlm-sample"
    )
    assert "'Z'" in line


@pytest.mark.slow
def test_charlm_score_gives_total_bits_and_a_row_per_line(text_run, tmp_path):
    ckpt, story = text_run
    sample = tmp_path / "sample.txt"
    sample.write_text("the cat sat.\na rat ran far.\n", encoding="utf-8")
    out = run_command("charlm-score", f"ckpt={ckpt}", f"text={sample}", "format=json")
    assert out.returncode == 0, out.stderr
    import json

    result = json.loads(out.stdout)
    assert [r["line"] for r in result["lines"]] == [1, 2]
    summary = result["summary"]
    assert summary["characters"] == len(sample.read_text()) - 1
    assert sum(r["nll"] for r in result["lines"]) == pytest.approx(summary["nll"], rel=1e-6)
    assert summary["bpc"] == pytest.approx(summary["nll_per_char"] / np.log(2))


@pytest.mark.slow
def test_bad_text_input_gets_one_line_errors(text_run, tmp_path):
    ckpt, _ = text_run
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café au lait\n".encode("latin-1"))
    overrides = ["data=text", "trainer.max_steps=5", "logger=none"]
    cases = {
        "is empty": [f"data.path={empty}"],
        "not UTF-8": [f"data.path={latin}"],
        "data.split": [f"data.path={ckpt.parent.parent.parent / 'story.txt'}",
                      "data.split=[0.5,0.2,0.2]"],
        "block_size=100000": [f"data.path={ckpt.parent.parent.parent / 'story.txt'}",
                              "data.block_size=100000"],
    }  # fmt: skip
    for i, (needle, args) in enumerate(cases.items()):
        run_dir = tmp_path / f"run{i}"
        line = _one_error(
            run_command("charlm-train", *overrides, *args, f"hydra.run.dir={run_dir}"),
            "charlm-train",
        )
        assert needle in line or needle.replace(" ", "") in line, line
    # A word model's checkpoint for a text, and a text model's for words.
    words = tmp_path / "words.txt"
    words.write_text("cat\nrat\n", encoding="utf-8")
    line = _one_error(run_command("charlm-score", f"ckpt={ckpt}", f"words={words}"), "charlm-score")
    assert "running text" in line and "text=" in line


@pytest.mark.slow
def test_a_word_model_refuses_a_text_and_resuming_across_kinds_is_refused(
    tmp_path, text_file, tiny_corpus
):
    cfg = compose_train(
        tmp_path, f"data.path={tiny_corpus}", "trainer.max_steps=20", "logger=none",
        output_dir=tmp_path / "words",
    )  # fmt: skip
    word_ckpt = train(cfg)["last_checkpoint"]
    line = _one_error(
        run_command("charlm-score", f"ckpt={word_ckpt}", f"text={text_file}"), "charlm-score"
    )
    assert "word list" in line and "words=" in line
    with pytest.raises(Exception, match="a model of a word list"):
        _train_text(tmp_path, text_file, "bengio_mlp", f"ckpt_path={word_ckpt}")


@pytest.mark.slow
def test_the_text_configs_compose(make_cfg):
    for overrides in (
        ("data=shakespeare",),
        ("experiment=shakespeare_gru",),
        ("experiment=shakespeare_transformer",),
        ("experiment=shakespeare_best",),
    ):
        cfg = make_cfg(*overrides)
        assert cfg.data._target_ == "charlm.data.TextDataModule"
        assert cfg.data.path.endswith("tinyshakespeare.txt")
        assert list(cfg.data.split) == [0.85, 0.05, 0.10]
        if "experiment" in overrides[0]:
            assert cfg.time_budget_s == 600
            assert cfg.model.scheduler._target_.endswith("TimeBudgetLR")


def test_nanogpts_protocol_trains_on_the_first_90_percent_and_reports_the_last_10(make_cfg):
    best, nano = make_cfg("experiment=shakespeare_best"), make_cfg("experiment=shakespeare_nanogpt")
    assert list(nano.data.split) == [0.9, 0.0, 0.1] and list(nano.final_eval) == ["train", "test"]
    # The recipe is shakespeare_best's, chosen on its split (an inner split of the first 90%:
    # train on 85%, validate on 85-90%): shakespeare_gru's with an LSTM, dropout, weight decay
    # on the weight matrices and longer blocks.
    for key in ("time_budget_s", "trainer", "seed"):
        assert nano[key] == best[key]
    assert nano.model == best.model
    assert (best.model.net.cell, best.model.net.dropout) == ("lstm", 0.3)
    gru = make_cfg("experiment=shakespeare_gru")
    assert (best.model.optimizer.weight_decay, gru.model.optimizer.weight_decay) == (0.2, 0.01)
    assert best.model.weight_decay_on == "matrices" and best.model.net.attention_heads == 0
    assert (best.data.block_size, best.data.batch_size) == (256, 16)
    assert best.data.block_size * best.data.batch_size == gru.data.block_size * gru.data.batch_size
    assert {k: v for k, v in nano.data.items() if k != "split"} == {
        k: v for k, v in best.data.items() if k != "split"
    }


def test_nanogpts_protocol_has_a_transformer_recipe_chosen_on_the_inner_split(make_cfg):
    base = make_cfg("experiment=shakespeare_transformer")
    nano = make_cfg("experiment=shakespeare_nanogpt_transformer")
    assert list(nano.data.split) == [0.9, 0.0, 0.1] and list(nano.final_eval) == ["train", "test"]
    assert nano.model.net.positions == "rotary" and base.model.net.positions == "learned"
    assert nano.callbacks.ema._target_.endswith("EMAWeightAveraging")
    assert (nano.model.optimizer.weight_decay, base.model.optimizer.weight_decay) == (0.2, 0.01)
    assert {k: v for k, v in nano.model.net.items() if k != "positions"} == {
        k: v for k, v in base.model.net.items() if k != "positions"
    }
    for key in ("time_budget_s", "trainer", "seed"):
        assert nano[key] == base[key]


EMA = (
    "+callbacks.ema._target_=lightning.pytorch.callbacks.EMAWeightAveraging",
    "+callbacks.ema.decay=0.9",
    "data.steps_per_batch=5",
    "model/scheduler=none",
)


def test_an_average_of_the_weights_is_what_a_run_scores_and_resumes_with(tmp_path, text_file):
    """shakespeare_best's `callbacks.ema`: the checkpoints hold the average as the model's
    weights (what load_model, charlm-eval and metrics.json read) beside the running weights,
    and a run resumed from one goes on averaging where it stopped."""
    metrics = _train_text(tmp_path, text_file, "gru", *EMA)
    saved = torch.load(metrics["last_checkpoint"], map_location="cpu", weights_only=True)
    assert int(saved["averaging_state"]["n_averaged"]) == 60 // 5  # one a chunk of updates
    average, running = saved["state_dict"], saved["current_model_state"]
    assert any(not torch.equal(average[k], running[k]) for k in average)
    model = load_model(metrics["last_checkpoint"])
    for name, weight in model.named_parameters():
        assert torch.equal(weight, average[f"net.{name}"]), name
    results = evaluate_checkpoint(metrics["best_checkpoint"])
    assert results["test"]["loss"] == pytest.approx(metrics["test"]["loss"], rel=1e-4)
    more = _train_text(
        tmp_path / "more", text_file, "gru", *EMA, "trainer.max_steps=80",
        f"ckpt_path={metrics['last_checkpoint']}",
    )  # fmt: skip
    resumed = torch.load(more["last_checkpoint"], map_location="cpu", weights_only=True)
    assert int(resumed["averaging_state"]["n_averaged"]) == 80 // 5


def test_text_data_module_gives_each_family_its_input(text_file):
    data = TextDataModule(text_file, block_size=16, context_size=3, contract="windows")
    assert data.net_kwargs()["context_size"] == 3
    data = TextDataModule(text_file, block_size=16, contract="sequences")
    assert data.net_kwargs()["context_size"] == 16
    with pytest.raises(TextError, match="add up"):
        TextDataModule(text_file, split=(0.5, 0.1, 0.1)).setup()


# --- runs bounded by time -----------------------------------------------------------------------


def test_the_time_budget_schedule_spans_the_budget_not_a_count_of_updates(monkeypatch):
    from charlm.lit import schedule

    now = [100.0]
    monkeypatch.setattr(schedule.time, "monotonic", lambda: now[0])
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    lr = schedule.TimeBudgetLR(opt, budget_s=60, warmup_steps=4, final_ratio=0.1)

    def step(seconds: float) -> float:
        now[0] += seconds
        opt.step()
        lr.step()
        return opt.param_groups[0]["lr"]

    assert opt.param_groups[0]["lr"] == pytest.approx(1 / 5)  # warming up
    rates = [step(0.0) for _ in range(4)]
    assert rates[-1] == pytest.approx(1.0)  # warmed up, no time spent yet
    assert step(30.0) == pytest.approx(0.1 + 0.9 * 0.5)  # half the budget: half-way down
    assert step(30.0) == pytest.approx(0.1)  # budget spent: the floor
    assert step(30.0) == pytest.approx(0.1)
    state = lr.state_dict()
    assert state["elapsed_s"] == pytest.approx(90.0) and state["_clock"] is None


@pytest.mark.slow
def test_a_run_bounded_by_time_stops_and_ends_with_its_last_weights_saved(tmp_path, text_file):
    metrics = _train_text(
        tmp_path, text_file, "gru", "time_budget_s=1", "model/scheduler=time_budget",
        "trainer.max_steps=1000000", "trainer.val_check_interval=1000",
    )  # fmt: skip
    assert 0 < metrics["steps"] < 1_000_000  # stopped by the clock
    last = torch.load(metrics["last_checkpoint"], weights_only=True)
    assert last["global_step"] == metrics["steps"]  # the last weights were saved


def test_impossible_text_run_settings_are_refused(make_cfg):
    from charlm.errors import ConfigError
    from charlm.validate import validate_config

    for bad in ("time_budget_s=0", "time_budget_s=-5", "final_eval=[train,dev]", "final_eval=[]"):
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            validate_config(make_cfg("data=shakespeare", bad))


# --- other ways to read a split: sliding blocks, a carried state -----------------------------


def _scored(batches) -> tuple[list[int], list[int]]:
    """The targets a split's batches score, in order, and the place of each in its block."""
    from charlm.data.sequences import PAD_TARGET

    targets, places = [], []
    for x, y in batches:
        inside = (y[:, :-1] != PAD_TARGET) & (y[:, 1:] != PAD_TARGET)
        assert torch.equal(x[:, 1:][inside], y[:, :-1][inside])  # targets: the inputs shifted
        rows, cols = torch.nonzero(y != PAD_TARGET, as_tuple=True)
        order = sorted(zip(rows.tolist(), cols.tolist(), strict=True))
        targets += [int(y[r, c]) for r, c in order]
        places += [c for _, c in order]
    return targets, places


@pytest.mark.parametrize("length", [2, 17, 40, 101])
def test_sliding_blocks_score_every_character_once_each_after_half_a_block(length):
    from charlm.data.blocks import SlidingBlocks

    stream = np.arange(1000, dtype=np.int64) % 997
    start = 5
    batches = SlidingBlocks(stream, (start, start + length), block_size=16, blocks_per_batch=3)
    targets, places = _scored(batches)
    assert targets == stream[start + 1 : start + length].tolist()
    # After the first block, every character is read with at least 8 before it in its block.
    assert all(p >= 8 for p in places[16:])


@pytest.mark.parametrize(("length", "rows"), [(2, 4), (50, 4), (101, 16), (64, 1)])
def test_carried_rows_score_every_character_once_in_row_order(length, rows):
    from charlm.data.blocks import CarriedRows
    from charlm.data.sequences import PAD_TARGET

    stream = np.arange(1000, dtype=np.int64) % 997
    batches = CarriedRows(stream, (3, 3 + length), block_size=8, rows=rows)
    per_row: dict[int, list[int]] = {}
    for x, y in batches:
        assert x.shape[0] == batches.rows
        for r in range(batches.rows):
            per_row.setdefault(r, []).extend(int(t) for t in y[r] if t != PAD_TARGET)
    joined = [t for r in sorted(per_row) for t in per_row[r]]
    assert joined == stream[4 : 3 + length].tolist()


def test_a_carried_state_reads_a_split_as_one_pass_of_the_recurrent_model_over_it():
    from charlm.data.blocks import CarriedRows
    from charlm.metrics import evaluate_lm
    from charlm.models.recurrent import CarriedState

    torch.manual_seed(0)
    model = RecurrentLM(12, 16, "gru", emb_size=8, hidden_size=16, num_layers=1).eval()
    stream = torch.randint(0, 12, (100,)).numpy()
    carried = evaluate_lm(CarriedState(model), CarriedRows(stream, (0, 100), 16, rows=1))
    ids = torch.from_numpy(stream)
    whole = torch.nn.functional.cross_entropy(model(ids[None, :-1])[0], ids[1:])
    assert carried["loss"] == pytest.approx(float(whole), rel=1e-5)
    assert carried["windows"] == 99


def test_charlm_eval_reads_a_text_in_blocks_sliding_or_carried_and_says_which(tmp_path, text_file):
    import json

    gru = Path(_train_text(tmp_path, text_file, "gru")["last_checkpoint"])
    metrics = json.loads((gru.parents[1] / "metrics.json").read_text())
    assert metrics["evaluation"] == "blocks"
    figures = {}
    for mode in ("blocks", "sliding", "carried"):
        out = tmp_path / f"{mode}.json"
        done = run_command("charlm-eval", f"ckpt={gru}", f"mode={mode}", f"output={out}")
        assert done.returncode == 0, done.stderr
        assert f"splits read as: {mode}" in done.stdout
        saved = json.loads(out.read_text())
        assert saved["evaluation"] == mode
        figures[mode] = saved["results"]
    assert figures["blocks"]["test"]["loss"] == pytest.approx(metrics["test"]["loss"], rel=1e-5)
    for mode in ("sliding", "carried"):  # the same characters scored, with more before them
        assert figures[mode]["test"]["windows"] == figures["blocks"]["test"]["windows"]
        assert figures[mode]["test"]["loss"] != figures["blocks"]["test"]["loss"]
    transformer = Path(_train_text(tmp_path, text_file, "transformer")["last_checkpoint"])
    line = _one_error(run_command("charlm-eval", f"ckpt={transformer}", "mode=carried"),
                      "charlm-eval")  # fmt: skip
    assert "mode=carried" in line and "TransformerLM" in line and "mode=sliding" in line
    line = _one_error(run_command("charlm-eval", f"ckpt={gru}", "mode=diagonal"), "charlm-eval")
    assert "mode='diagonal': one of ['blocks', 'sliding', 'carried', 'dynamic']" in line


def _blocks_of(stream: np.ndarray, block: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    from charlm.data.blocks import CarriedRows

    return list(CarriedRows(stream, (0, len(stream)), block, rows=1))


@pytest.mark.parametrize("family", ["gru", "transformer"])
def test_dynamic_evaluation_scores_each_block_before_learning_from_it(family):
    from charlm.metrics import evaluate_dynamic, evaluate_lm
    from charlm.models.recurrent import CarriedState

    torch.manual_seed(0)
    model = FAMILIES[family](12).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    random = torch.randint(0, 12, (17,)).numpy()
    repeated = np.concatenate([random, random[1:], random[1:], random[1:]])  # 4 blocks of 16
    batches = _blocks_of(repeated, 16)
    reader = CarriedState(model) if family == "gru" else model
    static = evaluate_lm(reader, batches)
    # The first block is scored by the weights as they were: nothing learned before it. (The
    # pass with gradients may take other kernels than evaluation's: equal to rounding.)
    first = evaluate_dynamic(model, batches[:1], lr=1.0)
    assert first["loss"] == pytest.approx(evaluate_lm(reader, batches[:1])["loss"], rel=1e-3)
    # Steps so small they change nothing: the same pass as the static one.
    still = evaluate_dynamic(model, batches, lr=1e-12)
    assert still["loss"] == pytest.approx(static["loss"], rel=1e-3)
    assert still["windows"] == static["windows"] == 64
    # Each later block repeats the first: having learned it, the model scores it better.
    learned = evaluate_dynamic(model, batches, lr=1.0)
    assert learned["loss"] < static["loss"] - 0.1
    # The steps changed a copy: the model keeps its weights.
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_dynamic_evaluation_scores_a_block_with_the_weights_one_step_after_the_one_before():
    import copy

    from charlm.metrics import evaluate_dynamic, evaluate_lm

    torch.manual_seed(0)
    model = FAMILIES["transformer"](12).eval()
    first, second = _blocks_of(torch.randint(0, 12, (33,)).numpy(), 16)
    both = evaluate_dynamic(model, [first, second], lr=0.5)
    # By hand: score the first block, take one SGD step on it, score the second.
    stepped = copy.deepcopy(model)
    x, y = first
    loss = torch.nn.functional.cross_entropy(stepped(x).flatten(0, 1), y.flatten())
    loss.backward()
    with torch.no_grad():
        for p in stepped.parameters():
            p -= 0.5 * p.grad
    with torch.enable_grad():  # the same kernels as the dynamic pass's
        by_hand = (evaluate_lm(model, [first])["loss"] + evaluate_lm(stepped, [second])["loss"]) / 2
    assert both["loss"] == pytest.approx(by_hand, rel=1e-5)


def test_charlm_eval_learns_from_the_text_in_mode_dynamic_and_leaves_the_checkpoint(
    tmp_path, text_file
):
    import json

    gru = Path(_train_text(tmp_path, text_file, "gru")["last_checkpoint"])
    saved = gru.read_bytes()
    figures = {}
    for mode, extra in (("carried", []), ("dynamic", ["dynamic_lr=0.5"])):
        out = tmp_path / f"{mode}.json"
        done = run_command("charlm-eval", f"ckpt={gru}", f"mode={mode}", f"output={out}", *extra)
        assert done.returncode == 0, done.stderr
        figures[mode] = json.loads(out.read_text())
    dynamic = figures["dynamic"]
    assert dynamic["evaluation"] == "dynamic" and dynamic["dynamic_lr"] == 0.5
    assert "dynamic_lr" not in figures["carried"]
    for split in ("train", "val", "test"):
        carried = figures["carried"]["results"][split]
        assert dynamic["results"][split]["windows"] == carried["windows"]
    # The training split is the text the model learned least of its own copy of; reading it
    # again with steps of 0.5 on so small a model lowers its NLL.
    assert dynamic["results"]["train"]["loss"] < figures["carried"]["results"]["train"]["loss"]
    assert gru.read_bytes() == saved
    line = _one_error(
        run_command("charlm-eval", f"ckpt={gru}", "mode=dynamic", "dynamic_lr=-1"), "charlm-eval"
    )
    assert "dynamic_lr=-1: must be a finite number > 0" in line
    for lr in ("1e300", "1e30", "11"):
        done = run_command("charlm-eval", f"ckpt={gru}", "mode=dynamic", f"dynamic_lr={lr}")
        assert "the step size must be at most 10" in _one_error(done, "charlm-eval")
    line = _one_error(run_command("charlm-eval", f"ckpt={gru}", "dynamic_lr=0.5"), "charlm-eval")
    assert "dynamic_lr=0.5: only mode=dynamic takes steps; add mode=dynamic" in line
    assert gru.read_bytes() == saved


def test_dynamic_evaluation_whose_steps_overflow_the_weights_is_refused(monkeypatch):
    from charlm.errors import NonFiniteError
    from charlm.metrics import evaluate_dynamic

    torch.manual_seed(0)
    model = FAMILIES["gru"](12).eval()
    step = torch.optim.SGD.step

    def overflowing(self, *args, **kwargs):  # a step that leaves an infinite weight
        out = step(self, *args, **kwargs)
        with torch.no_grad():
            self.param_groups[0]["params"][0][0, 0] = float("inf")
        return out

    monkeypatch.setattr(torch.optim.SGD, "step", overflowing)
    batches = _blocks_of(torch.randint(0, 12, (49,)).numpy(), 16)
    with pytest.raises(NonFiniteError, match="diverged .* give a smaller dynamic_lr"):
        evaluate_dynamic(model, batches, lr=0.1)
    assert torch.isfinite(model.C.weight).all()  # the model's own weights untouched


def test_dynamic_evaluation_far_worse_than_a_uniform_guess_is_refused_not_reported(monkeypatch):
    """Steps that leave the weights finite but the model far worse than guessing (as a step
    size too large for the model does) are a divergence, not a figure."""
    from charlm.errors import NonFiniteError
    from charlm.metrics import evaluate_dynamic

    torch.manual_seed(0)
    model = FAMILIES["gru"](12).eval()
    step = torch.optim.SGD.step

    def confident_and_wrong(self, *args, **kwargs):  # every logit pushed onto one character
        out = step(self, *args, **kwargs)
        with torch.no_grad():
            bias = [p for p in self.param_groups[0]["params"] if p.dim() == 1][-1]
            bias.copy_(torch.tensor([1e4] + [0.0] * (len(bias) - 1)))
        return out

    monkeypatch.setattr(torch.optim.SGD, "step", confident_and_wrong)
    batches = _blocks_of((torch.arange(49) % 11 + 1).numpy(), 16)  # never character 0
    with pytest.raises(
        NonFiniteError, match=r"above twice a uniform guess's, 4\.9698.*e\.g\. 0\.01"
    ):
        evaluate_dynamic(model, batches, lr=0.1)
