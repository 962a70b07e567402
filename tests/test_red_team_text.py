"""Bad input and damage on the paths of running text, lines and tokens, by class: every case
ends with a right answer, or one line naming the problem and the fix, and leaves what was
already written as it was."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from commands import run_command
from conftest import compose_train

from charlm.data.encoded import encode_text

TEXT = "Le chat dort. La pluie tombe sur la ville, et le chien aboie.\n" * 30
SHORT = ("trainer.max_steps=40", "trainer.val_check_interval=20", "logger=none")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error(result, program: str) -> str:
    """The one error line of a refused command (exit 2, no traceback)."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith(f"{program}: error")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "story.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A run of the command, so that its directory holds all a run writes (`.hydra/` too)."""
    root = tmp_path_factory.mktemp("textrun")
    story = root / "story.txt"
    story.write_text(TEXT, encoding="utf-8")
    result = run_command(
        "charlm-train", "data=text", f"data.path={story}", "data.block_size=16", "model=gru",
        "model.net.hidden_size=16", "callbacks.progress_bar=null", "hydra.run.dir=run", *SHORT,
        cwd=root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = root / "run"
    assert (run / ".hydra" / "config.yaml").is_file()
    return {"metrics": json.loads((run / "metrics.json").read_text()), "dir": run, "text": story}


# --- 1. a damaged cache is encoded again, never trusted ------------------------------------


def _zeros(ids: Path) -> None:
    ids.write_bytes(bytes(ids.stat().st_size))


def _flip_one_byte(ids: Path) -> None:
    data = bytearray(ids.read_bytes())
    data[len(data) // 2] ^= 0x01
    ids.write_bytes(bytes(data))


def _out_of_range(ids: Path) -> None:
    data = bytearray(ids.read_bytes())
    data[0:2] = (60000).to_bytes(2, "little")
    ids.write_bytes(bytes(data))


def _truncated(ids: Path) -> None:
    ids.write_bytes(ids.read_bytes()[:-2])


@pytest.mark.parametrize("damage", [_zeros, _flip_one_byte, _out_of_range, _truncated],
                         ids=lambda f: f.__name__.strip("_"))  # fmt: skip
def test_a_damaged_text_cache_is_encoded_again(text_file, damage):
    first = encode_text(text_file)
    right = first.ids()[0 : first.length].copy()
    damage(first.ids_path)
    again = encode_text(text_file)
    assert (again.ids()[0 : again.length] == right).all()
    assert again.vocab == first.vocab


def test_a_changed_text_keeps_the_cache_of_its_earlier_version(text_file):
    first = encode_text(text_file)
    text_file.write_text(TEXT + "Encore.\n", encoding="utf-8")
    second = encode_text(text_file)
    assert second.ids_path != first.ids_path
    assert first.ids_path.is_file()  # a run of the earlier version still reads it


def test_a_part_file_left_by_a_killed_encoding_is_removed(text_file):
    folder = text_file.parent / ".charlm-cache"
    first = encode_text(text_file)
    first.ids_path.unlink()  # encoded again below
    dead = folder / f".{first.ids_path.name}.999999999.abc.part"
    dead.write_bytes(b"half")
    mine = folder / f".{first.ids_path.name}.{os.getpid()}.xyz.part"
    mine.write_bytes(b"being written")
    encode_text(text_file)
    assert not dead.exists() and mine.exists()


@pytest.mark.parametrize("kind", ["a regular file", "a file's child"])
def test_a_cache_dir_that_cannot_hold_the_cache_is_one_line(tmp_path, text_file, kind):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    cache = blocker if kind == "a regular file" else blocker / "sub"
    result = run_command(
        "charlm-train", "data=text", f"data.path={text_file}", f"data.cache_dir={cache}",
        "hydra.run.dir=run", *SHORT, cwd=tmp_path,
    )  # fmt: skip
    line = one_error(result, "charlm-train")
    assert f"data.cache_dir={cache}" in line and "writable folder" in line
    assert blocker.read_text() == "x"


# --- 2. what a run wrote is never replaced by a command's output -----------------------------


def _run_files(run_dir: Path) -> dict[str, str]:
    return {str(p): digest(p) for p in run_dir.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "target",
    ["checkpoint", "metrics.json", ".hydra/config.yaml", "hard link to the checkpoint",
     "symbolic link to the text"],
)  # fmt: skip
@pytest.mark.parametrize("program", ["charlm-score", "charlm-eval"])
def test_output_onto_a_file_the_run_owns_is_refused_and_changes_nothing(
    text_run, tmp_path, target, program
):
    run_dir, ckpt = text_run["dir"], text_run["dir"] / "checkpoints" / "last.ckpt"
    paths = {
        "checkpoint": ckpt,
        "metrics.json": run_dir / "metrics.json",
        ".hydra/config.yaml": run_dir / ".hydra" / "config.yaml",
    }
    if target == "hard link to the checkpoint":
        paths[target] = tmp_path / "copy.ckpt.bak"
        os.link(ckpt, paths[target])
    if target == "symbolic link to the text":
        paths[target] = tmp_path / "alias.txt"
        paths[target].symlink_to(text_run["text"])
    before = {**_run_files(run_dir), "text": digest(text_run["text"])}
    args = [f"ckpt={ckpt}", f"output={paths[target]}"]
    if program == "charlm-score":
        args.append(f"text={text_run['text']}")
    line = one_error(run_command(program, *args, cwd=tmp_path), program)
    assert "it is left as it is" in line
    assert {**_run_files(run_dir), "text": digest(text_run["text"])} == before


def test_charlm_clean_refuses_an_output_that_is_its_input_by_another_name(tmp_path, text_file):
    link = tmp_path / "hard.txt"
    os.link(text_file, link)
    before = digest(text_file)
    for output in (link, tmp_path / "missing" / "out.txt", tmp_path):
        result = run_command("charlm-clean", str(text_file), "--output", str(output))
        one_error(result, "charlm-clean")
    assert digest(text_file) == before


# --- 3. bad values of each kind of option: one line, nothing trained --------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.split=[a,b,c]", r"data.split=.*three fractions"),
        ("data.split=0.5", r"data.split=0.5: three fractions"),
        ("time_budget_s=inf", r"time_budget_s=inf: .* at most"),
        ("time_budget_s=nan", r"time_budget_s=nan"),
        ("time_budget_s=1e300", r"time_budget_s=1e\+300"),
        ("data.tokenizer.min_frequency=-1", r"min_frequency=-1: must be an integer >= 0"),
        ("data.tokenizer.min_frequency=abc", r"min_frequency='abc': must be an integer"),
        ("data.tokenizer.min_frequency=1.5", r"min_frequency=1.5: must be an integer"),
        ("data.tokenizer.end_token=[EOS]", r"end_token=\['EOS'\]: .*quoted.*\"\[EOS\]\""),
        ("data.tokenizer.end_token=[UNK]", r"end_token=\['UNK'\]"),
        ("+data.tokenizer.end_token_x=1", r"unknown key"),
    ],
)  # fmt: skip
def test_a_bad_value_on_the_lines_path_is_one_line(tmp_path, text_file, override, message):
    result = run_command(
        "charlm-train", "data=lines", f"data.path={text_file}", "data.tokenizer.vocab_size=60",
        override, "hydra.run.dir=run", *SHORT, cwd=tmp_path,
    )  # fmt: skip
    line = one_error(result, "charlm-train")
    assert re.search(message, line), line
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_an_end_token_that_is_the_unknown_token_is_refused(tmp_path, text_file):
    result = run_command(
        "charlm-train", "data=lines", f"data.path={text_file}", "data.tokenizer.vocab_size=60",
        'data.tokenizer.end_token="[UNK]"', "hydra.run.dir=run", *SHORT, cwd=tmp_path,
    )  # fmt: skip
    assert "is also its unknown token" in one_error(result, "charlm-train")


def test_a_tokenizer_without_an_unknown_token_is_refused(tmp_path, text_file):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(
        TEXT.splitlines(), trainers.BpeTrainer(vocab_size=60, special_tokens=["[EOS]", "[UNK]"])
    )
    path = tmp_path / "tok.json"
    tokenizer.save(str(path))
    result = run_command(
        "charlm-train", "data=lines", f"data.path={text_file}", f"data.tokenizer.path={path}",
        "hydra.run.dir=run", *SHORT, cwd=tmp_path,
    )  # fmt: skip
    assert "no unknown token" in one_error(result, "charlm-train")


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("rules: 5\n", r"is not a list of rules"),
        ("rules:\n- {pattern: 'a(b)', replace: '\\2'}\n", r"names group '2'"),
        ("rules:\n- {pattern: 'x', flags: DOTTALL}\n", r"unknown flag 'DOTTALL'"),
    ],
)
def test_bad_cleaning_rules_are_one_line(tmp_path, text_file, rules, message):
    path = tmp_path / "rules.yaml"
    path.write_text(rules, encoding="utf-8")
    line = one_error(run_command("charlm-clean", str(text_file), "--rules", str(path)),
                     "charlm-clean")  # fmt: skip
    assert re.search(message, line), line


def test_one_flag_given_as_a_word_works_and_a_bad_number_is_one_line(tmp_path, text_file):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n- {pattern: 'chat.', replace: 'cat', flags: DOTALL}\n")
    result = run_command("charlm-clean", str(text_file), "--rules", str(path), "--lines", "2")
    assert result.returncode == 0, result.stderr
    line = one_error(run_command("charlm-clean", str(text_file), "--lines", "abc"), "charlm-clean")
    assert "--lines" in line and "usage" not in line


# --- 4. sampled sentences of a token model are tagged as the model writes them ----------------


def test_a_token_models_sentences_are_compared_with_its_lines_as_it_writes_them(tmp_path):
    from charlm.data.lines import TextLines

    path = tmp_path / "lines.txt"
    path.write_text("\n".join(f"Le Chat {w} dort." for w in "abcdefghijklmnopqrst") + "\n")
    data = TextLines(path, units="tokens", tokenizer={"vocab_size": 80})
    data.load()
    line = data.parts["train"][0]
    written = data.vocab.decode(data.vocab.encode(line))  # lower case: NFD then lowercase
    assert written != line and written in data.novelty_splits()["train"]
    from charlm.data.kinds import novelty

    assert novelty([written], data.novelty_splits()) == ["train"]


def test_eval_of_a_changed_text_refuses_and_keeps_every_file(text_run, tmp_path):
    ckpt = text_run["dir"] / "checkpoints" / "last.ckpt"
    changed = tmp_path / "story.txt"
    changed.write_text(TEXT + "Autre.\n", encoding="utf-8")
    cache = text_run["text"].parent / ".charlm-cache"
    before = {p.name: digest(p) for p in cache.iterdir()}
    result = run_command("charlm-eval", f"ckpt={ckpt}", f"data_path={changed}",
                         f"output={tmp_path / 'e.json'}")  # fmt: skip
    assert "resplit=true" in one_error(result, "charlm-eval")
    assert {p.name: digest(p) for p in cache.iterdir()} == before
    # The changed text was not encoded: a refused command writes no cache of it either.
    assert not (tmp_path / ".charlm-cache").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["story.txt"]
    assert json.loads((text_run["dir"] / "metrics.json").read_text())["steps"] == 40


# --- 5. runs that must leave a model, and resumes that cannot go on --------------------------


@pytest.mark.parametrize("kind", ["words", "text"])
def test_a_run_without_a_validation_split_keeps_its_model(tmp_path, text_file, kind):
    words = tmp_path / "words.txt"
    words.write_text("\n".join(["emma", "olivia", "ava", "mia", "luna", "zoe"] * 3) + "\n")
    data = (f"data.path={words}",) if kind == "words" else (
        "data=text", f"data.path={text_file}", "data.block_size=16")  # fmt: skip
    result = run_command(
        "charlm-train", *data, "data.split=[0.9,0,0.1]", "trainer.val_check_interval=20",
        "hydra.run.dir=run", "callbacks.progress_bar=null", *SHORT, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "weights_only" not in result.stdout + result.stderr  # Lightning's note when unsaid
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    last = Path(metrics["last_checkpoint"])
    import torch

    assert torch.load(last, weights_only=True)["global_step"] == 40 == metrics["steps"]
    evaluated = run_command("charlm-eval", f"ckpt={last}", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr


def test_a_run_without_validation_stopped_between_its_checkpoints_keeps_its_last_weights(
    tmp_path, text_file
):
    # The time budget or Ctrl-C stops such a run after any update, not only where a
    # validation would fall (every 20 here): a callback stops it after update 30.
    import lightning as L
    import torch

    from charlm.train import train

    class StopAt30(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 30:
                trainer.should_stop = True

    cfg = compose_train(
        tmp_path, "data=text", f"data.path={text_file}", "data.block_size=16",
        "data.split=[0.9,0,0.1]", "trainer.val_check_interval=20", "data.steps_per_batch=10",
        "trainer.max_steps=100", "logger=none", "callbacks.progress_bar=null",
        output_dir=tmp_path / "run",
    )  # fmt: skip
    metrics = train(cfg, extra_callbacks=[StopAt30()])
    last = Path(metrics["last_checkpoint"])
    assert torch.load(last, weights_only=True)["global_step"] == 30 == metrics["steps"]
    assert metrics["weights_step"] == 30


def test_a_finished_one_cycle_run_asked_to_go_on_is_refused_in_one_line(text_run, tmp_path):
    ckpt = text_run["dir"] / "checkpoints" / "last.ckpt"
    before = digest(ckpt)
    result = run_command(
        "charlm-train", "data=text", f"data.path={text_run['text']}", "data.block_size=16",
        "model=gru", "model.net.hidden_size=16", "trainer.max_steps=80", f"ckpt_path={ckpt}",
        "hydra.run.dir=more", "logger=none", cwd=tmp_path,
    )  # fmt: skip
    line = one_error(result, "charlm-train")
    assert "one-cycle schedule spans 40 updates" in line and "trainer.max_steps=80" in line
    assert digest(ckpt) == before and not (tmp_path / "more" / "checkpoints").exists()


def test_an_ensemble_of_two_text_models_of_other_blocks_evaluates_scores_and_samples(
    text_run, tmp_path
):
    result = run_command(
        "charlm-train", "data=text", f"data.path={text_run['text']}", "data.block_size=24",
        "model=transformer", "trainer.max_steps=40", "trainer.val_check_interval=20",
        "logger=none", "callbacks.progress_bar=null", "hydra.run.dir=gpt", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    gpt, gru = tmp_path / "gpt/checkpoints/last.ckpt", text_run["dir"] / "checkpoints/last.ckpt"
    # Either order: the longer-block model first once read past the shorter one's positions.
    for first, second in ((gpt, gru), (gru, gpt)):
        pair = f"ckpt=[{first},{second}]"
        out = tmp_path / f"eval-{first.parent.parent.name}.json"
        for call in (
            ("charlm-eval", pair, f"output={out}"),
            ("charlm-score", pair, f"input={text_run['text']}"),
            ("charlm-sample", pair, "prompt=Le", "length=30", "n=2"),
        ):
            done = run_command(*call, cwd=tmp_path)
            assert done.returncode == 0, (call, done.stderr)
        figures = json.loads(out.read_text())["results"]
        assert set(figures) == {"train", "val", "test"}
    done = run_command("charlm-score", pair, f"input={text_run['text']}",
                       f"output={tmp_path / 'rows.txt'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Both orders read the same blocks (the shorter model's), so give the same figures.
    one, other = (json.loads((tmp_path / f"eval-{n}.json").read_text())["results"]
                  for n in ("gpt", "run"))  # fmt: skip
    assert one["test"]["loss"] == pytest.approx(other["test"]["loss"], abs=1e-5)


# --- 6. messages that say what is wrong ------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "hint"),
    [("\ufeffLe chat".encode("utf-16"), "iconv -f utf-16"), ("été".encode("latin-1"), "-f latin1")],
)
def test_a_text_in_another_encoding_is_told_how_to_convert_it(tmp_path, data, hint):
    path = tmp_path / "other.txt"
    path.write_bytes(data)
    result = run_command("charlm-train", "data=text", f"data.path={path}", "hydra.run.dir=run",
                         *SHORT, cwd=tmp_path)  # fmt: skip
    assert hint in one_error(result, "charlm-train")


def test_a_directory_or_fifo_given_as_text_is_named_as_such(text_run, tmp_path):
    ckpt = text_run["dir"] / "checkpoints" / "last.ckpt"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for given in (tmp_path, fifo):
        line = one_error(run_command("charlm-score", f"ckpt={ckpt}", f"text={given}"),
                         "charlm-score")  # fmt: skip
        assert "is not a regular file" in line


def test_several_texts_given_as_a_list_train_as_one_stream(tmp_path, text_file):
    other = tmp_path / "more.txt"
    other.write_text("Encore une ligne.\n" * 20, encoding="utf-8")
    result = run_command(
        "charlm-train", "data=text", f"data.path=[{text_file},{other}]", "data.block_size=16",
        "hydra.run.dir=run", "callbacks.progress_bar=null", *SHORT, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    chars = json.loads((tmp_path / "run" / "metrics.json").read_text())
    n = len(TEXT) + len("Encore une ligne.\n" * 20)
    assert sum(chars[s]["windows"] for s in ("train", "val", "test")) == n - 3


# --- 7. Ctrl-C from Python ------------------------------------------------------------------


def test_ctrl_c_inside_charlm_fit_returns_the_run_as_it_stands(tmp_path, text_file):
    import signal

    import lightning as L

    import charlm
    from charlm.lit import GracefulStop

    class CtrlC(L.Callback):
        """Ctrl-C after update 25, through the run's own handler (no real signal, no timing)."""

        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 25:
                stop = next(c for c in trainer.callbacks if isinstance(c, GracefulStop))
                stop._handler(signal.SIGINT, None)

    run = charlm.fit(
        None,
        ["data=text", f"data.path={text_file}", "data.block_size=16", "data.steps_per_batch=5",
         "hydra.run.dir=" + str(tmp_path / "run"), *SHORT],
        root=tmp_path, quiet=True, callbacks=[CtrlC()],
    )  # fmt: skip
    assert run.metrics["interrupted_at_step"] == 25
    assert Path(run.metrics["last_checkpoint"]).is_file()
    assert run.model is not None and run.model.sample_text("Le", 10)


def test_ctrl_c_while_a_text_is_read_is_one_line(tmp_path, text_file, monkeypatch):
    from charlm.data import text as text_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as Ctrl-C lands while a large text is encoded

    monkeypatch.setattr(text_module, "encode_text", interrupted)
    result = run_command("charlm-train", "data=text", f"data.path={text_file}",
                         "hydra.run.dir=run", *SHORT, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 130
    assert result.stderr.strip().splitlines()[-1] == "charlm-train: interrupted"
    assert "Traceback" not in result.stderr


# --- 8. accepted silently no more ------------------------------------------------------------


def test_a_text_run_resumed_on_another_text_of_the_same_characters_is_refused(text_run, tmp_path):
    ckpt = text_run["dir"] / "checkpoints" / "last.ckpt"
    other = tmp_path / "shuffled.txt"
    other.write_text("".join(reversed(TEXT)), encoding="utf-8")  # the same characters
    result = run_command(
        "charlm-train", "data=text", f"data.path={other}", "data.block_size=16", "model=gru",
        "model.net.hidden_size=16", f"ckpt_path={ckpt}", "hydra.run.dir=again", *SHORT,
        cwd=tmp_path,
    )  # fmt: skip
    assert "was trained on other data" in one_error(result, "charlm-train")
    assert not (tmp_path / ".charlm-cache").exists()  # refused before it was encoded


@pytest.mark.parametrize(
    ("content", "overrides", "message"),
    [
        ("\n\n", (), r"the \w+ split of .* holds 0 character|holds 1 character"),
        ("Le chat dort.\n" * 3, ("data.block_size=64",), r"data.block_size=64: the train split"),
    ],
)
def test_a_text_too_short_for_its_split_or_block_is_refused_before_it_is_encoded(
    tmp_path, content, overrides, message
):
    short = tmp_path / "short.txt"
    short.write_text(content, encoding="utf-8")
    result = run_command("charlm-train", "data=text", f"data.path={short}", "model=gru",
                         *overrides, "hydra.run.dir=run", *SHORT, cwd=tmp_path)  # fmt: skip
    assert __import__("re").search(message, one_error(result, "charlm-train"))
    assert not (tmp_path / ".charlm-cache").exists()


def test_a_vocabulary_smaller_than_the_alphabet_is_said(tmp_path, text_file, caplog):
    from charlm.data.lines import TextLines

    data = TextLines(text_file, units="tokens", tokenizer={"vocab_size": 10})
    with caplog.at_level("WARNING", logger="charlm.data.lines"):
        data.load()
    assert len(data.vocab) > 10
    assert f"vocab_size=10 is below what the tokenizer must hold: {len(data.vocab)}" in caplog.text


# --- 9. two runs into one directory at once ---------------------------------------------------


@pytest.fixture
def held_run_dir(tmp_path):
    """A run directory locked as a running charlm run holds it: no timing, no second process."""
    import fcntl

    run_dir = tmp_path / "shared"
    run_dir.mkdir()
    (run_dir / "note.txt").write_text("left by the first run\n")
    fd = os.open(run_dir, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    yield run_dir
    os.close(fd)


def test_a_second_run_into_a_directory_a_run_is_training_into_is_refused(
    held_run_dir, tmp_path, text_file
):
    args = ("data=text", f"data.path={text_file}", "data.block_size=16", "model=gru",
            "model.net.hidden_size=16", f"hydra.run.dir={held_run_dir}", *SHORT)  # fmt: skip
    result = run_command("charlm-train", *args, cwd=tmp_path)
    assert "another charlm run is training into this directory now" in one_error(
        result, "charlm-train"
    )
    assert sorted(p.name for p in held_run_dir.iterdir()) == ["note.txt"]  # no .hydra/, no log

    import charlm
    from charlm.errors import ConfigError

    with pytest.raises(ConfigError, match="another charlm run is training into"):
        charlm.fit(None, list(args), root=tmp_path, quiet=True)
    assert sorted(p.name for p in held_run_dir.iterdir()) == ["note.txt"]


def test_a_run_directory_is_free_again_once_its_run_has_ended(tmp_path, text_file):
    import fcntl

    import charlm

    run_dir = tmp_path / "run"
    args = ["data=text", f"data.path={text_file}", "data.block_size=16", "model=gru",
            "model.net.hidden_size=16", f"hydra.run.dir={run_dir}", *SHORT]  # fmt: skip
    result = run_command("charlm-train", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    fd = os.open(run_dir, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if the ended run still held it
    os.close(fd)
    # The ended run's checkpoints still refuse a new run there, by the earlier check.
    with pytest.raises(Exception, match="already holds checkpoints"):
        charlm.fit(None, args, root=tmp_path, quiet=True)
    charlm.fit(None, [*args[:-4], f"hydra.run.dir={tmp_path / 'fit'}", *SHORT], root=tmp_path,
               quiet=True)  # fmt: skip
    fd = os.open(tmp_path / "fit", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


# --- 10. a classifier's checkpoint -----------------------------------------------------------


@pytest.fixture(scope="module")
def classifier_ckpt(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("classifier")
    result = run_command("charlm-train", "experiment=xor_sigmoid", "trainer.max_steps=100",
                         "logger=none", "hydra.run.dir=run", cwd=root)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return root / "run" / "checkpoints" / "last.ckpt"


def test_charlm_inspect_draws_a_classifiers_diagnostics(classifier_ckpt, tmp_path):
    before = digest(classifier_ckpt)
    out = tmp_path / "xor.png"
    result = run_command("charlm-inspect", f"ckpt={classifier_ckpt}", f"output={out}")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert digest(classifier_ckpt) == before


@pytest.mark.parametrize("program", ["charlm-sample", "charlm-eval", "charlm-score"])
def test_a_language_model_command_names_a_classifier_as_such(classifier_ckpt, program):
    result = run_command(program, f"ckpt={classifier_ckpt}", stdin="chat\n")
    line = one_error(result, program)
    assert "holds a classifier (SigmoidMLP), not a character language model" in line
    assert "not written by charlm-train" not in line


# --- 11. a prompt as a shell passes it -------------------------------------------------------


@pytest.mark.parametrize("prompt", ["Le chat ", "la ville, et le", "dort. La pluie"])
def test_a_prompt_with_spaces_and_commas_unquoted_by_the_shell_is_sampled_after(text_run, prompt):
    ckpt = text_run["dir"] / "checkpoints" / "last.ckpt"
    typed = run_command("charlm-sample", f"ckpt={ckpt}", f"prompt={prompt}", "length=20")
    assert typed.returncode == 0, typed.stderr
    assert typed.stdout.startswith(prompt)
    quoted = run_command("charlm-sample", f"ckpt={ckpt}", f"prompt='{prompt}'", "length=20")
    assert typed.stdout == quoted.stdout


@pytest.mark.parametrize(
    "text", ["it's", 'say "hi"', "${foo}", "a\\b", "a\\", "\\'", "x\\${y}", "a=b,c", "[1]", "",
             " \n\t", "null!", "ends with '"],
)  # fmt: skip
def test_free_text_reaches_the_config_exactly_as_typed(text):
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    from charlm.config import quote_free_text

    override = OverridesParser.create().parse_overrides(
        [quote_free_text(f"prompt={text}", ("prompt",))]
    )
    cfg = OmegaConf.create({"prompt": None})
    cfg.prompt = override[0].value()
    assert cfg.prompt == text


# --- 12. a long passage streams ---------------------------------------------------------------


def test_a_passage_of_a_billion_characters_is_written_out_as_it_is_drawn(text_run):
    from charlm.checkpoint import load_model
    from charlm.data.registry import model_data

    model = load_model(text_run["dir"] / "checkpoints" / "last.ckpt")
    pieces = model_data(model).sample(model, {"prompt": "Le", "length": 10**9, "seed": 3})
    first = [next(pieces) for _ in range(4)]  # the prompt, then three pieces: no wait for 1e9
    pieces.close()
    assert first[0] == "Le" and all(0 < len(p) <= 1024 for p in first[1:])
    assert "".join(first[1:]) == model.sample_text("Le", 3072, 1, torch_seed(3))[0]


def test_pieces_and_whole_passages_are_the_same_characters(text_run):
    ckpt = text_run["dir"] / "checkpoints" / "last.ckpt"
    from charlm.checkpoint import load_model

    model = load_model(ckpt)
    result = run_command("charlm-sample", f"ckpt={ckpt}", "prompt=Le", "length=2500", "seed=5")
    assert result.stdout == "Le" + model.sample_text("Le", 2500, 1, torch_seed(5))[0] + "\n"
    two = run_command("charlm-sample", f"ckpt={ckpt}", "prompt=Le", "length=1500", "n=2", "seed=5")
    a, b = model.sample_text("Le", 1500, 2, torch_seed(5))
    assert two.stdout == f"--- sample 1 of 2 ---\nLe{a}\n--- sample 2 of 2 ---\nLe{b}\n"


def torch_seed(seed: int):
    import torch

    return torch.Generator().manual_seed(seed)


# --- 13. a time budget is kept inside a chunk ------------------------------------------------


@pytest.mark.parametrize("kind", ["words", "text"])
def test_a_time_budget_spent_inside_a_chunk_stops_the_run_at_that_update(tmp_path, text_file, kind):
    import lightning as L
    from lightning.pytorch.callbacks import Timer

    import charlm

    class BudgetSpent(L.Callback):
        """The budget runs out as the third chunk starts: no clock to wait for, on any machine."""

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if batch_idx == 2:
                timer = next(c for c in trainer.callbacks if isinstance(c, Timer))
                timer._duration = timer.time_elapsed()

    words = tmp_path / "words.txt"
    words.write_text("\n".join(TEXT.replace(",", "").replace(".", "").lower().split()) + "\n")
    data = [f"data.path={words}"] if kind == "words" else ["data=text", f"data.path={text_file}",
                                                           "data.block_size=16"]  # fmt: skip
    run = charlm.fit(
        None,
        [*data, "model=gru", "model.net.hidden_size=16", "model/scheduler=cosine",
         "time_budget_s=3600", "trainer.max_steps=100000", "data.steps_per_batch=50",
         "trainer.val_check_interval=1000", "logger=none",
         f"hydra.run.dir={tmp_path / 'run'}"],
        root=tmp_path, quiet=True, callbacks=[BudgetSpent()],
    )  # fmt: skip
    assert run.metrics["steps"] == 2 * 50 + 1  # one update of the third chunk, not fifty
    import torch

    last = torch.load(run.metrics["last_checkpoint"], weights_only=True)
    assert last["global_step"] == run.metrics["steps"]


# --- 14. a run started from another folder ----------------------------------------------------


def test_a_fetch_that_fails_leaves_no_empty_data_folder_where_the_run_started(
    tmp_path, monkeypatch
):
    import urllib.error
    import urllib.request

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    started = tmp_path / "elsewhere"
    started.mkdir()
    result = run_command("charlm-train", "data=shakespeare", f"data.shared_dir={tmp_path}/none",
                         "hydra.run.dir=run", *SHORT, cwd=started)  # fmt: skip
    assert "could not be downloaded (no network)" in one_error(result, "charlm-train")
    assert not (started / "data").exists()


# --- 15. a file that exists and cannot be read ------------------------------------------------


@pytest.fixture
def unreadable(monkeypatch):
    """Make reading `path` fail as a file without read permission does (root reads any file,
    so the permission bits cannot stand in for it on these machines)."""

    def make(path: Path) -> Path:
        real_open = Path.open

        def guarded(self, *args, **kwargs):
            if Path(self).resolve() == path.resolve():
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", guarded)
        return path

    return make


@pytest.mark.parametrize("kind", ["words", "text", "lines", "score text="])
def test_a_file_that_cannot_be_read_is_one_line(tmp_path, text_file, text_run, unreadable, kind):
    if kind == "words":
        path = tmp_path / "words.txt"
        path.write_text("emma\nolivia\nava\n")
        call = ("charlm-train", f"data.path={path}", "hydra.run.dir=run", *SHORT)
    elif kind == "score text=":
        path = text_file
        call = ("charlm-score", f"ckpt={text_run['dir'] / 'checkpoints/last.ckpt'}", f"text={path}")
    else:
        path = text_file
        call = ("charlm-train", f"data={'text' if kind == 'text' else 'lines'}", f"data.path={path}",
                "hydra.run.dir=run", *SHORT)  # fmt: skip
    unreadable(path)
    line = one_error(run_command(*call, cwd=tmp_path), call[0])
    assert f"{path} cannot be read (Permission denied)" in line and "chmod" in line
    assert not (tmp_path / "run" / "checkpoints").exists()
