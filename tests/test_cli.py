"""The console scripts charlm-sample and charlm-eval, the learning-rate finder, and how the suite
runs commands."""

import json
import logging
import os
import signal
import subprocess
import sys

import pytest
import torch
from commands import run_command
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from charlm.inference import novelty, novelty_summary
from charlm.train import train


def test_novelty_on_a_known_split():
    splits = {"train": ["emma", "ava"], "val": ["mia"], "test": ["zoe"]}
    tags = novelty(["emma", "mia", "zoe", "emmy", "ava", "x"], splits)
    assert tags == ["train", "held-out", "held-out", "new", "train", "new"]
    assert novelty_summary(tags) == (
        "novelty of 6 samples: 2 train (33%), 2 held-out (33%), 2 new (33%)"
    )


@pytest.mark.slow
def test_charlm_sample_prints_n_words_the_same_for_a_seed(trained_run):
    ckpt = trained_run["dir"] / "checkpoints" / "last.ckpt"
    args = (f"ckpt={ckpt}", "n=7", "seed=3", "novelty=false")
    first, second = (
        run_command("charlm.commands.sample", *args),
        run_command("charlm.commands.sample", *args),
    )
    assert first.returncode == 0, first.stderr
    words = first.stdout.split("\n")[:-1]
    assert len(words) == 7
    assert first.stdout == second.stdout


@pytest.mark.slow
def test_charlm_sample_tags_novelty_and_completes_prefixes(trained_run):
    ckpt = trained_run["dir"] / "checkpoints" / "last.ckpt"
    out = run_command(
        "charlm.commands.sample", f"ckpt={ckpt}", "n=10", "prefix=ma", "temperature=0.8"
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().split("\n")
    assert len(lines) == 11
    words = trained_run["corpus"].read_text().split()
    for line in lines[:-1]:
        word, tag = line.split()
        assert word.startswith("ma")
        assert tag in {"train", "held-out", "new"}
        assert (tag == "new") == (word not in words)
    assert lines[-1].startswith("novelty of 10 samples:")


@pytest.mark.slow
def test_charlm_sample_unknown_prefix_is_one_clear_line(trained_run):
    ckpt = trained_run["dir"] / "checkpoints" / "last.ckpt"
    out = run_command(
        "charlm.commands.sample", f"ckpt={ckpt}", 'prefix="qué"'
    )  # accents need quotes
    assert out.returncode == 2
    assert "outside the vocabulary: 'qé'" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_charlm_eval_table_and_json(trained_run, tmp_path):
    ckpt = trained_run["dir"] / "checkpoints" / "last.ckpt"
    extra = tmp_path / "more.txt"
    extra.write_text("emma\nmila\nava\n", encoding="utf-8")
    output = tmp_path / "eval.json"
    # The installed entry point, in a process of its own.
    out = run_command(
        "charlm.commands.evaluate",
        f"ckpt={ckpt}",
        f"words={extra}",
        f"output={output}",
        process=True,
    )
    assert out.returncode == 0, out.stderr
    for row in ("train", "val", "test", "more.txt"):
        assert any(line.startswith(row) for line in out.stdout.splitlines())
    results = json.loads(output.read_text())["results"]
    assert results["more.txt"]["windows"] == 5 + 5 + 4
    for split in ("train", "val", "test"):
        m = results[split]
        assert m["ppl"] == pytest.approx(2.718281828 ** m["loss"], rel=1e-6)
        assert m["bpc"] == pytest.approx(m["loss"] / 0.693147181, rel=1e-6)
    assert results["test"]["loss"] == pytest.approx(trained_run["metrics"]["test"]["loss"], abs=0.2)


def test_lr_finder_writes_its_curve(make_cfg, tiny_corpus):
    cfg = make_cfg(
        f"data.path={tiny_corpus}",
        "lr_find.enabled=true",
        "lr_find.num_training=60",
        "lr_find.skip_begin=5",
    )
    result = train(cfg)
    out = cfg.paths.output_dir
    assert 1e-3 <= result["suggested_lr"] <= 1.0
    assert len(result["lr"]) == len(result["loss"]) > 10
    assert result["lr"][0] == pytest.approx(1e-3, rel=0.2) and result["lr"][-1] <= 1.0
    with open(f"{out}/lr_find.png", "rb") as png:
        assert png.read(8) == b"\x89PNG\r\n\x1a\n"
    events = EventAccumulator(f"{out}/tensorboard").Reload()
    assert "lr_find" in events.Tags()["images"]


@pytest.mark.slow
def test_output_cut_short_by_its_reader_ends_quietly(trained_run):
    """`charlm-sample ... | head -1`: the sampler stops without a traceback when head leaves."""
    ckpt = trained_run["dir"] / "checkpoints" / "last.ckpt"
    # Far more output than a pipe holds, so the sampler is still writing when the reader goes.
    args = [f"ckpt={ckpt}", "n=200000", "batched=true", "novelty=false", "max_len=8"]
    sampler = subprocess.Popen(
        [sys.executable, "-m", "charlm.commands.sample", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = sampler.stdout.readline()
    sampler.stdout.close()
    errors = sampler.stderr.read()
    assert sampler.wait(timeout=120) == 1
    assert first.strip() and errors == ""


@pytest.mark.slow
def test_a_command_run_in_the_test_process_answers_as_its_process_would_and_leaves_no_trace(
    tmp_path, tiny_corpus
):
    # The suite runs most commands in its own process (tests/commands.py): they must answer as
    # the installed entry point does, and leave the process as they found it.
    refused = (f"data.path={tiny_corpus}", "data.context_size=0")
    here = run_command("charlm-train", *refused, cwd=tmp_path)
    there = run_command("charlm-train", *refused, cwd=tmp_path, process=True)
    assert (here.returncode, here.stdout, here.stderr) == (
        there.returncode, there.stdout, there.stderr,
    )  # fmt: skip
    assert here.returncode == 2 and here.stderr.startswith("charlm-train: error: data.context")

    before = (
        logging.getLogger().handlers[:], logging.getLogger().level, torch.get_num_threads(),
        dict(os.environ), signal.getsignal(signal.SIGINT), os.getcwd(), sys.argv[:],
    )  # fmt: skip
    done = run_command(
        "charlm-train", f"data.path={tiny_corpus}", "trainer.max_steps=5", "logger=none",
        "data.split=[0.6,0.2,0.2]", "callbacks.progress_bar=null", "hydra.run.dir=run",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"run directory: {tmp_path / 'run'}" in done.stdout
    # Lightning's own console lines, from a handler made before the command ran.
    assert "`Trainer.fit` stopped: `max_steps=5` reached." in done.stderr
    assert "lowered to 5" in (tmp_path / "run" / "train.log").read_text()
    after = (
        logging.getLogger().handlers[:], logging.getLogger().level, torch.get_num_threads(),
        dict(os.environ), signal.getsignal(signal.SIGINT), os.getcwd(), sys.argv[:],
    )  # fmt: skip
    assert after == before
