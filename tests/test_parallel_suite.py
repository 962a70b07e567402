"""`make test` runs on pytest-xdist workers: a shared fixture is made once, each worker keeps to
its own cores (tests/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SUITE = """
import os

import pytest


@pytest.fixture(scope="module")
def reference_run():
    with open(os.environ["SEEN"], "a") as f:
        f.write("setup " + os.environ["PYTEST_XDIST_WORKER"] + "\\n")
    return 1


@pytest.mark.parametrize("i", range(6))
def test_shares_the_run(i, reference_run):
    pass


@pytest.mark.parametrize("i", range(6))
def test_alone(i):
    pass
"""

# Each worker says which cores it keeps to as its session starts, whatever tests it is given.
RECORDER = """
import os


def pytest_sessionstart(session):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        with open(os.environ["SEEN"], "a") as f:
            f.write(f"cores {worker} {sorted(os.sched_getaffinity(0))}\\n")
"""


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores for two workers")
def test_two_workers_make_a_shared_run_once_and_keep_to_their_own_cores(pytester, monkeypatch):
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_suite=SUITE, recorder=RECORDER)
    seen = pytester.path / "seen.txt"
    monkeypatch.setenv("SEEN", str(seen))
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT"):  # this run's, not theirs
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONPATH", str(pytester.path), prepend=os.pathsep)
    # Under `make test` this test's own worker keeps to one core: the suite inside gets them all.
    machine, mine = set(range(os.cpu_count() or 1)), os.sched_getaffinity(0)
    os.sched_setaffinity(0, machine)
    try:
        result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadgroup", "-p", "recorder")
    finally:
        os.sched_setaffinity(0, mine)
    result.assert_outcomes(passed=12)
    lines = seen.read_text().splitlines()
    assert len([line for line in lines if line.startswith("setup")]) == 1
    cores = dict(line.split(" ", 2)[1:] for line in lines if line.startswith("cores"))
    assert len(cores) == 2 and len(set(cores.values())) == 2  # no two workers on the same cores
    assert all(c.count(",") == len(machine) // 2 - 1 for c in cores.values())
