"""num_threads=auto: runs that share a machine share its cores (bench/threads.py measures it)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from charlm.errors import ConfigError
from charlm.lit.threads import (
    SMALL_MODEL_PARAMETERS,
    RunRegistry,
    ThreadShare,
    model_cap,
    thread_share,
    usable_cores,
)
from charlm.validate import validate_config


def test_a_run_takes_its_share_of_the_cores():
    assert thread_share(8, 1) == 8
    assert thread_share(8, 2) == 4
    assert thread_share(8, 3) == 2
    assert thread_share(2, 5) == 1  # never below one
    assert thread_share(8, 1, cap=1) == 1  # never more than the model can use
    assert thread_share(8, 0) == 8  # not registered yet: counted as one
    assert model_cap(SMALL_MODEL_PARAMETERS - 1, 8) == 1
    assert model_cap(SMALL_MODEL_PARAMETERS, 8) == 8


@pytest.fixture
def other_run():
    """Another live process, standing for a second run on the machine."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


def test_the_registry_counts_live_runs_and_forgets_ended_ones(tmp_path, other_run):
    registry = RunRegistry(tmp_path)
    assert registry.live() == 0
    registry.register()
    registry.register(other_run.pid)
    (tmp_path / "notes.txt").write_text("not a run")
    assert registry.live() == 2
    other_run.kill()
    other_run.wait()
    assert registry.live() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["notes.txt", str(_pid())])
    registry.unregister()
    registry.unregister()  # twice: harmless
    assert registry.live() == 0


def _pid() -> int:
    import os

    return os.getpid()


def test_thread_share_shrinks_when_another_run_starts_and_restores_at_the_end(tmp_path, other_run):
    before = torch.get_num_threads()
    registry = RunRegistry(tmp_path)
    big = torch.nn.Linear(400, 400)  # 160,400 parameters: may use every core
    with ThreadShare(registry, check_every_s=0) as share:
        share.cores = 4  # a 4-core machine, whatever this one has
        share.setup(None, big, "fit")
        assert torch.get_num_threads() == 4 and share.used == [4]
        registry.register(other_run.pid)  # a second run starts
        assert share.rebalance() == 2 and torch.get_num_threads() == 2
        other_run.kill()
        other_run.wait()
        assert share.rebalance() == 4  # it ended: this run grows back
        assert share.used == [4, 2, 4]
        small = torch.nn.Linear(10, 10)
        share.setup(None, small, "test")
        assert torch.get_num_threads() == 1  # too small to use a second thread
    assert torch.get_num_threads() == before
    assert registry.live() == 0


@pytest.mark.slow
def test_num_threads_accepts_auto_an_integer_or_null(make_cfg):
    for value in ("auto", 1, None):
        validate_config(make_cfg("num_threads=" + ("null" if value is None else str(value))))
    for bad in ("0", "many", "true"):
        with pytest.raises(ConfigError, match="num_threads=.*auto"):
            validate_config(make_cfg(f"num_threads={bad}"))


def test_a_run_records_its_threads(trained_run):
    metrics = json.loads((trained_run["dir"] / "metrics.json").read_text())
    assert metrics["threads"] == [1]  # the shared tiny run's model is far below the cap
    assert usable_cores() >= 1
