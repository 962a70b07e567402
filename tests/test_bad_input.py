"""No silent wrong answers and no tracebacks: bad input, by class, to every command."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from commands import run_command
from conftest import TINY_WORDS, compose_train

from charlm import load_model
from charlm.checkpoint import CheckpointError, DataChangedError, checkpoint_words
from charlm.data.corpus import CorpusError
from charlm.errors import CharlmError, ConfigError, check_options

BIN = Path(sys.executable).parent


def _one_error_line(out: subprocess.CompletedProcess, program: str) -> str:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if ": error:" in line]
    assert len(errors) == 1 and errors[0].startswith(f"{program}: error: "), out.stderr
    return errors[0]


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory) -> Path:
    """A tiny Transformer that reads words of at most 11 characters."""
    from charlm.train import train

    root = tmp_path_factory.mktemp("gpt")
    corpus = root / "words.txt"
    corpus.write_text("\n".join(TINY_WORDS) + "\n", encoding="utf-8")
    cfg = compose_train(
        root, "experiment=transformer", f"data.path={corpus}", "data.split=[0.6,0.2,0.2]",
        "trainer.max_steps=40", "logger=none",
        "model.net.num_layers=1", "model.net.emb_size=16", "model.net.context_size=12",
    )  # fmt: skip
    return Path(train(cfg)["last_checkpoint"])


# --- 1. a run knows the data it was split from ------------------------------------------------


@pytest.mark.slow
def test_a_changed_word_list_is_refused_or_resplit_only_when_asked(trained_run, tmp_path, capsys):
    ckpt = trained_run["dir"] / "checkpoints" / "last.ckpt"
    model = load_model(ckpt)
    assert model.data_identity["words"] == len(TINY_WORDS)
    assert sum(model.data_identity["split_sizes"]) == len(TINY_WORDS)
    changed = tmp_path / "changed.txt"
    changed.write_text("\n".join(TINY_WORDS[1:]) + "\n", encoding="utf-8")
    with pytest.raises(DataChangedError, match="not the word list this model was split from"):
        checkpoint_words(model, changed)
    assert checkpoint_words(model, changed, resplit=True)["train"]
    same = tmp_path / "same.txt"  # the same words, written with CRLF and a BOM: accepted
    same.write_bytes(("\ufeff" + "\r\n".join(TINY_WORDS) + "\r\n").encode("utf-8"))
    assert checkpoint_words(model, same) == checkpoint_words(model)
    out = run_command("charlm-sample", f"ckpt={ckpt}", f"data_path={changed}")
    assert "resplit=true" in _one_error_line(out, "charlm-sample")
    from charlm.inference import evaluate_checkpoint

    with pytest.raises(DataChangedError):
        evaluate_checkpoint(ckpt, data_path=changed)
    assert evaluate_checkpoint(ckpt, data_path=changed, resplit=True)["train"]["loss"] > 0
    assert "split again as asked" in capsys.readouterr().err


def test_a_civil_mots_txt_that_fails_its_hash_is_not_trained_on(make_cfg, tmp_path):
    from charlm.train import train

    edited = tmp_path / "civil_mots.txt"
    edited.write_text("\n".join(TINY_WORDS) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="does not match the SHA-256 of civil_mots.txt"):
        train(make_cfg(f"data.path={edited}", "trainer.max_steps=5"))
    assert not (tmp_path / "run").exists() or not list((tmp_path / "run").rglob("*.ckpt"))


# --- 2. tracebacks where one line belongs ----------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["experiment=mlp_fast", "trainer.max_steps=20"], "warm-up of 1 update"),
        (["experiment=gru", "trainer.max_steps=10"], "warm-up of 0.5 update"),
        (["model=feedforward", "model.scheduler.pct_start=1.5"], "pct_start=1.5"),
    ],
)
def test_a_one_cycle_schedule_too_short_to_warm_up_is_one_line(
    make_cfg, tiny_corpus, overrides, message
):
    from charlm.train import train

    with pytest.raises(ConfigError, match=message):
        train(make_cfg(f"data.path={tiny_corpus}", *overrides))


def _corrupt_checkpoints(good: Path, root: Path) -> dict[str, tuple[Path, str]]:
    """Damaged checkpoints of every kind, and what the error must say of each."""
    cases = {}

    def case(name: str, data: bytes | None, message: str, obj: object = None) -> None:
        path = root / f"{name}.ckpt"
        if obj is not None:
            torch.save(obj, path)
        else:
            path.write_bytes(data)
        cases[name] = (path, message)

    case("random", random.Random(0).randbytes(5000), "not a readable checkpoint")
    case("text", b"hello, not a checkpoint\n", "not a readable checkpoint")
    case("empty", b"", "not a readable checkpoint")
    case("truncated", good.read_bytes()[:4000], "not a readable checkpoint")
    case("list", None, "not a Lightning checkpoint", obj=[1, 2, 3])
    case("no_state", None, "not a Lightning checkpoint", obj={"epoch": 1})
    case("not_charlm", None, "not written by charlm-train", obj={"state_dict": {}})
    saved = torch.load(good, weights_only=True)
    damaged = {**saved, "charlm": {**saved["charlm"], "config": "model: [unclosed"}}
    case("config", None, "stored run config is damaged", obj=damaged)
    resized = {**saved, "state_dict": {**saved["state_dict"], "net.W1": torch.zeros(3, 3)}}
    case("shapes", None, "do not fit BengioMLP: net.W1|W1 is (3, 3) there", obj=resized)
    case("unsafe", None, "could run code when unpickled", obj={"state_dict": {}, "x": Path("/")})
    return cases


@pytest.mark.slow
def test_corrupt_checkpoints_of_every_kind_are_one_line(trained_run, tmp_path):
    good = trained_run["dir"] / "checkpoints" / "last.ckpt"
    for name, (path, message) in _corrupt_checkpoints(good, tmp_path).items():
        with pytest.raises(CheckpointError) as err:
            load_model(path)
        text = str(err.value)
        assert "\n" not in text and len(text) < 400, (name, text)
        assert any(m in text for m in message.split("|")), (name, text)
        if name != "unsafe":
            assert "could run code" not in text, name
    with pytest.raises(CheckpointError, match="is a directory"):
        load_model(good.parent)
    out = run_command("charlm-sample", f"ckpt={tmp_path / 'truncated.ckpt'}")
    assert "not a readable checkpoint" in _one_error_line(out, "charlm-sample")


@pytest.mark.parametrize(
    ("kind", "overrides", "message"),
    [
        ("missing file", ["ckpt_path={root}/nope.ckpt"], "checkpoint not found"),
        ("corrupt file", ["ckpt_path={root}/junk.ckpt"], "not a readable checkpoint"),
        ("other sizes", ["model.net.hidden_size=7", "ckpt_path={ckpt}"], "holds another model"),
        (
            "other family",
            ["experiment=gru", "trainer.max_steps=40", "ckpt_path={ckpt}"],
            "holds another model",
        ),
        (
            # Told before the other list is read in full: its SHA-256 is not the run's.
            "other vocabulary",
            ["data.path={root}/other.txt", "ckpt_path={ckpt}"],
            "was trained on other data than .*other.txt",
        ),
    ],
)
def test_resuming_a_checkpoint_that_does_not_fit_is_one_line(
    trained_run, make_cfg, tiny_corpus, tmp_path, kind, overrides, message
):
    from charlm.train import train

    (tmp_path / "junk.ckpt").write_text("junk")
    (tmp_path / "other.txt").write_text("\n".join(w.upper() for w in TINY_WORDS) + "\n")
    ckpt = trained_run["dir"] / "checkpoints" / "last.ckpt"
    values = {"root": tmp_path, "ckpt": ckpt}
    cfg = make_cfg(
        f"data.path={tiny_corpus}", "data.split=[0.6,0.2,0.2]", "model.net.emb_size=4",
        *[o.format(**values) for o in overrides],
    )  # fmt: skip
    before = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    with pytest.raises(CharlmError, match=message) as err:
        train(cfg)
    assert "\n" not in str(err.value) and len(str(err.value)) < 500
    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() == before


@pytest.mark.slow
@pytest.mark.parametrize(
    ("program", "args"),
    [
        ("charlm-eval", ["output={out}"]),
        ("charlm-score", ["words=-", "output={out}"]),
        ("charlm-inspect", ["output={out}"]),
    ],
)
def test_output_in_a_missing_directory_is_refused_before_any_work(
    trained_run, tmp_path, program, args
):
    ckpt = trained_run["dir"] / "checkpoints" / "last.ckpt"
    out_path = tmp_path / "no" / "such" / "file.out"
    out = run_command(
        program, f"ckpt={ckpt}", *[a.format(out=out_path) for a in args], stdin="emma\n"
    )
    assert "does not exist; create it first" in _one_error_line(out, program)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"n": "abc"}, "n='abc': must be an integer >= 1"),
        ({"n": 0}, "n=0: must be an integer >= 1"),
        ({"n": True}, "n=True: must be an integer >= 1"),
        ({"temperature": "abc"}, "temperature='abc': must be a finite number > 0"),
        ({"temperature": 0}, "temperature=0: must be a finite number > 0"),
        ({"temperature": float("nan")}, "temperature=nan"),
        ({"top_k": 1.5}, "top_k=1.5: must be an integer >= 1, or null"),
        ({"max_len": "x"}, "max_len='x'"),
        ({"seed": "abc"}, "seed='abc': must be an integer"),
        ({"batched": "maybe"}, "batched='maybe': must be true or false, or null"),
        ({"novelty": 1}, "novelty=1: must be true or false"),
        ({"resplit": "yes"}, "resplit='yes'"),
    ],
)
def test_sampling_options_of_the_wrong_type_are_named(values, message):
    from charlm.commands.sample import SAMPLE_OPTIONS

    good = {"n": 5, "seed": 0, "temperature": 1.0, "top_k": None, "prefix": "", "max_len": 50,
            "batched": None, "novelty": True, "data_path": None, "resplit": False,
            "prompt": None, "length": 500}  # fmt: skip
    check_options(good, SAMPLE_OPTIONS)
    with pytest.raises(CharlmError) as err:
        check_options({**good, **values}, SAMPLE_OPTIONS)
    assert str(err.value).startswith(message)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("program", "option"),
    [
        ("charlm-sample", "temperature=abc"),
        ("charlm-score", "descending=maybe"),
        ("charlm-eval", "resplit=2"),
    ],
)
def test_options_of_the_wrong_type_end_in_one_line_from_every_command(trained_run, program, option):
    ckpt = trained_run["dir"] / "checkpoints" / "last.ckpt"
    out = run_command(program, f"ckpt={ckpt}", option, stdin="emma\n")
    assert option.split("=")[0] in _one_error_line(out, program)


# --- 3. nothing already written is changed ----------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.slow
def test_a_refused_run_leaves_the_old_run_as_it_was(trained_run, tmp_path):
    run = trained_run["dir"]
    work = tmp_path / "elsewhere"
    work.mkdir()
    before = _tree(run)
    out = run_command("charlm-train", f"data.path={trained_run['corpus']}", f"hydra.run.dir={run}")
    assert "already holds checkpoints" in _one_error_line(out, "charlm-train")
    assert _tree(run) == before
    # Started from a folder without data: one line saying `make data`, and no ./data, no
    # ./logs left behind.
    out = run_command("charlm-train", cwd=work)
    assert "make data" in _one_error_line(out, "charlm-train")
    assert list(work.iterdir()) == []


@pytest.mark.slow
def test_a_failed_run_says_why_in_its_own_log(tmp_path, tiny_corpus):
    run = tmp_path / "run"
    out = run_command(
        "charlm-train", f"data.path={tiny_corpus}", f"hydra.run.dir={run}", "model.net.emb_size=0"
    )
    line = _one_error_line(out, "charlm-train")
    assert "model.net.emb_size=0" in line
    assert line in (run / "train.log").read_text()


# --- 4. accepted silently no more ------------------------------------------------------------


def test_repeated_words_are_split_once_and_counted(tmp_path, caplog):
    from charlm.data import CharWindowDataModule

    path = tmp_path / "words.txt"
    path.write_text("\n".join(TINY_WORDS + ["bonjour"] * 200) + "\n", encoding="utf-8")
    dm = CharWindowDataModule(path, split=[0.6, 0.2, 0.2])
    with caplog.at_level("WARNING"):
        dm.setup()
    assert "199 repeated words dropped (41 distinct kept)" in caplog.text
    held_out = set(dm.words["val"]) | set(dm.words["test"])
    assert not held_out & set(dm.words["train"])
    assert sum(len(dm.words[s]) for s in ("train", "val", "test")) == len(TINY_WORDS) + 1


def test_lines_holding_spaces_or_tabs_are_counted_once(tmp_path, caplog):
    from charlm.data import CharWindowDataModule

    path = tmp_path / "words.txt"
    path.write_text("\n".join([*TINY_WORDS, "deux mots", "a\ttab"]) + "\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        CharWindowDataModule(path, split=[0.6, 0.2, 0.2]).setup()
    warnings = [r for r in caplog.records if "spaces or tabs" in r.getMessage()]
    assert len(warnings) == 1 and "2 lines hold spaces or tabs" in warnings[0].getMessage()


@pytest.mark.slow
def test_prefixes_the_model_cannot_extend_are_refused(trained_run, transformer_run):
    mlp, gpt = (
        load_model(trained_run["dir"] / "checkpoints" / "last.ckpt"),
        load_model(transformer_run),
    )
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="max_len=4: every word would be the prefix itself"):
        mlp.sample(2, generator=g, prefix="emma", max_len=4)
    with pytest.raises(ValueError, match="reads words of at most 11 characters"):
        gpt.sample(2, generator=g, prefix="a" * 11)
    words = gpt.sample(3, generator=g, prefix="a" * 10)
    assert all(w.startswith("a" * 10) and len(w) <= 11 for w in words)
    out = run_command("charlm-sample", f"ckpt={transformer_run}", "prefix=" + "a" * 20)
    assert "at most 11 characters" in _one_error_line(out, "charlm-sample")


@pytest.mark.slow
def test_a_word_longer_than_the_model_reads_gets_a_row_note(transformer_run, trained_run, tmp_path):
    from charlm.data.words import score_words
    from charlm.inference import evaluate_checkpoint

    gpt = load_model(transformer_run)
    long_word = "ab" * 12
    rows = score_words(gpt, ["emma", long_word])
    assert rows[0]["nll"] is not None
    assert (
        rows[1]["nll"] is None and "24 characters; this model reads at most 11" in rows[1]["note"]
    )
    words = tmp_path / "w.txt"
    words.write_text(f"emma\n{long_word}\n")
    result = evaluate_checkpoint(transformer_run, words=words)
    assert result["w.txt"]["windows"] == 5  # emma and its end token only
    out = run_command("charlm-score", f"ckpt={transformer_run}", f"words={words}")
    assert out.returncode == 0 and "this model reads at most 11" in out.stdout
    assert long_word not in out.stderr
    # A window model reads a word of any length.
    mlp = load_model(trained_run["dir"] / "checkpoints" / "last.ckpt")
    assert score_words(mlp, [long_word])[0]["nll"] is not None


@pytest.mark.slow
def test_the_printed_config_is_the_one_the_run_uses(make_cfg):
    assert make_cfg("experiment=gru").data.contract == "sequences"
    assert make_cfg("experiment=transformer").data.contract == "sequences"
    assert make_cfg("experiment=bengio2003").data.contract == "windows"
    out = run_command("charlm-train", "experiment=gru", "--cfg", "job", "--resolve")
    assert out.returncode == 0 and "contract: sequences" in out.stdout


# --- 5. what a newcomer trips on -------------------------------------------------------------


@pytest.mark.slow
def test_a_run_speaks_in_updates_and_ends_with_a_short_table(tmp_path, tiny_corpus):
    run = tmp_path / "run"
    out = run_command("charlm-train", f"data.path={tiny_corpus}", f"hydra.run.dir={run}",
               "data.split=[0.6,0.2,0.2]", "trainer.max_steps=60", "logger=none")  # fmt: skip
    assert out.returncode == 0, out.stderr
    both = out.stdout + out.stderr
    for noise in ("litlogger", "LeafSpec", "validation will run after every batch", "┃ test/"):
        assert noise not in both, noise
    assert "60/60" in both and "updates" in both and "Epoch 0" not in both
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == f"run directory: {run}"
    assert lines[-2].startswith("60 updates in ")
    assert [line.split()[0] for line in lines[-5:-2]] == ["train", "val", "test"]


def test_missing_data_says_make_data_and_a_directory_is_named(tmp_path, capsys):
    from charlm.data.corpus import load_words

    with pytest.raises(CorpusError, match="is a directory"):
        load_words(tmp_path)
    from omegaconf import OmegaConf

    from charlm.config import Preflight

    cfg = OmegaConf.create(
        {
            "hydra": {"run": {"dir": str(tmp_path / "run")}},
            "data": {"path": str(tmp_path / "none.txt")},
        }
    )
    with pytest.raises(SystemExit) as stop:
        Preflight().on_run_start(config=cfg)
    assert stop.value.code == 2
    assert "none.txt: no such file. Run `make data`" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_text_config_without_its_path_is_refused_before_hydra_writes(tmp_path, capsys):
    from omegaconf import OmegaConf

    from charlm.config import Preflight

    # data=text and data=lines leave data.path to the user (`???`).
    cfg = OmegaConf.create({"hydra": {"run": {"dir": str(tmp_path / "run")}},
                            "data": {"path": "???"}})  # fmt: skip
    with pytest.raises(SystemExit) as stop:
        Preflight().on_run_start(config=cfg)
    assert stop.value.code == 2
    assert "data.path is required: give the file to train on" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_charlm_report_prints_and_leaves_report_csv_alone(tmp_path, capsys):
    from charlm.commands.report import main as report

    job = tmp_path / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- seed=1\n")
    (job / "metrics.json").write_text('{"val": {"loss": 1.5}, "steps": 3}')
    (tmp_path / "report.csv").write_text("kept\n")
    report([str(tmp_path)])
    out = capsys.readouterr().out
    assert "1.5" in out and "written" not in out
    assert (tmp_path / "report.csv").read_text() == "kept\n"
    report([str(tmp_path), "--csv", str(tmp_path / "r.csv")])
    assert (tmp_path / "r.csv").read_text().startswith("job,")


def test_make_help_prints_no_make_variable():
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(["make", "-s", "-C", str(root), "help"], capture_output=True, text=True,
                         env={**os.environ, "MAKEFLAGS": ""})  # fmt: skip
    assert out.returncode == 0 and "$(" not in out.stdout and "make data" in out.stdout


@pytest.mark.slow
def test_many_samples_stream_out_in_chunks(trained_run, monkeypatch):
    from charlm.data import kinds

    model = load_model(trained_run["dir"] / "checkpoints" / "last.ckpt")
    one = model.sample(7, generator=torch.Generator().manual_seed(3))
    monkeypatch.setattr(kinds, "WORDS_PER_CHUNK", 3)
    chunks = list(kinds.sample_chunks(model, 7, torch.Generator().manual_seed(3)))
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert [w for c in chunks for w in c] == one  # one word at a time: the same stream
    ckpt = trained_run["dir"] / "checkpoints" / "last.ckpt"
    out = run_command("charlm-sample", f"ckpt={ckpt}", "n=30", "progress=true")
    assert out.returncode == 0
    assert out.stdout.strip().splitlines()[-1].startswith("novelty of 30 samples")
    assert len(out.stdout.splitlines()) == 31
    assert "30/30" in out.stderr  # the progress bar, asked for: stderr is no terminal here


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("trainer.accumulate_grad_batches=true",), r"accumulate_grad_batches=True is not supported"),
        (("trainer.devices=true",), r"trainer.devices=True: a count"),
        (("+trainer.num_nodes=true",), r"trainer.num_nodes=True: a count"),
        (("data.split_seed=true",), r"data.split_seed=True: an integer"),
        (("model=gru", "model/scheduler=none", "model.net.attention_heads=true"), r"attention_heads=True: a whole number"),
        (("model.net.context_size=true",), r"model.net.context_size=True: a window model reads"),
        (("model.net.context_size=5",), r"give data.context_size= instead"),
    ],
)  # fmt: skip
def test_a_bool_for_a_count_or_a_value_lost_on_the_way_is_refused(make_cfg, tiny_corpus, overrides,
                                                                message):  # fmt: skip
    from charlm.train import train

    cfg = make_cfg(f"data.path={tiny_corpus}", "trainer.max_steps=4", *overrides)
    with pytest.raises(ConfigError, match=message):
        train(cfg)
    assert not (tiny_corpus.parent / "run" / "checkpoints").exists()
