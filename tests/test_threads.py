"""num_threads=auto: runs that share a machine share its cores (bench/threads.py measures it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
    with ThreadShare(registry, check_every_s=0, others=lambda: 0.0) as share:
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


def test_cores_other_processes_keep_busy_are_left_to_them():
    assert thread_share(2, 1, others_busy=0.2) == 2  # background noise
    assert thread_share(2, 1, others_busy=1.0) == 1  # one busy process
    assert thread_share(2, 1, others_busy=2.0) == 1  # two: still one thread, never none
    assert thread_share(8, 2, others_busy=5.0) == 3
    assert thread_share(8, 1, cap=1, others_busy=0.0) == 1


def test_a_run_beside_busy_processes_shrinks_and_grows_back(tmp_path):
    busy = iter([2.0, 2.0, 0.0])
    big = torch.nn.Linear(400, 400)
    before = torch.get_num_threads()
    with ThreadShare(RunRegistry(tmp_path), check_every_s=0, others=lambda: next(busy)) as share:
        share.cores = 4
        share.setup(None, big, "fit")  # two cores busy elsewhere: two left
        assert torch.get_num_threads() == 2
        assert share.rebalance() == 2
        assert share.rebalance() == 4  # they ended
        assert share.used == [2, 4]
    assert torch.get_num_threads() == before


def test_the_cores_other_processes_use_are_read_from_the_machines_cpu_time(tmp_path, monkeypatch):
    import os
    import types

    from charlm.lit import threads

    cores = os.cpu_count()
    tick = os.sysconf("SC_CLK_TCK")
    clock = {"wall": 1000.0, "own": 5.0, "busy": 100.0}

    def write_stat():
        busy = int(clock["busy"] * tick)
        lines = [f"cpu  {busy} 0 0 {10**6} 0 0 0 0 0 0"]
        lines += [f"cpu{i} 0 0 0 0 0 0 0 0 0 0" for i in range(cores)]
        (tmp_path / "stat").write_text("\n".join([*lines, "intr 0"]) + "\n")

    fake_time = types.SimpleNamespace(monotonic=lambda: clock["wall"],
                                      process_time=lambda: clock["own"])  # fmt: skip
    monkeypatch.setattr(threads, "time", fake_time)
    monkeypatch.setattr(threads.OtherProcesses, "stat_path", str(tmp_path / "stat"))
    write_stat()
    others = threads.OtherProcesses(cores)
    clock.update(wall=1002.0, own=7.0, busy=105.0)  # 5 CPU-seconds in 2 s, 2 of them this run's
    write_stat()
    assert others() == pytest.approx(1.5)
    clock.update(wall=1003.0, own=8.0, busy=106.0)  # only this run
    write_stat()
    assert others() == pytest.approx(0.0)
    assert threads.OtherProcesses(cores + 1)() == 0.0  # /proc/stat counts other cores: no say


@pytest.mark.parametrize(
    "recipe",
    sorted(p.stem for p in (Path(__file__).parents[1] / "conf" / "experiment").glob("*.yaml")),
)
def test_every_recipe_leaves_its_threads_to_the_policy(make_cfg, recipe):
    # A recipe that pins num_threads takes every core it names whatever else runs beside it.
    assert make_cfg(f"experiment={recipe}").num_threads == "auto"
