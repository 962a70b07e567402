"""Shared fixtures: tiny word lists and composed Hydra configs that write under tmp_path."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig, open_dict

from charlm.runs import QUIET_OVERRIDES, compose_config

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "civil_mots.txt"

TINY_WORDS = [
    "emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper",
    "evelyn", "abigail", "emily", "elizabeth", "mila", "ella", "avery", "sofia", "camila",
    "aria", "scarlett", "victoria", "madison", "luna", "grace", "chloe", "penelope", "layla",
    "riley", "zoey", "nora", "lily", "eleanor", "hannah", "lillian", "addison", "aubrey",
    "ellie", "stella", "natalie", "zoe",
]  # fmt: skip


@pytest.fixture
def tiny_words() -> list[str]:
    return list(TINY_WORDS)


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "words.txt"
    path.write_text("\n".join(TINY_WORDS) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_file():
        pytest.skip("data/civil_mots.txt is missing: run `make data`")
    return CORPUS


def pytest_configure(config: pytest.Config) -> None:
    """charlm's cache (a machine's measured bfloat16 speed) goes to a folder of the test run's,
    not the home folder's.

    Under pytest-xdist (`make test` runs a worker per core), each keeps to cores of its own.

    Runs with num_threads=auto then take one thread per core of their worker, whatever the
    other worker is doing, so a test's thread count (and its floating-point results) does not
    depend on which tests happen to run beside it; subprocesses inherit the mask.
    """
    if "CHARLM_CACHE_DIR" not in os.environ:
        import tempfile

        os.environ["CHARLM_CACHE_DIR"] = tempfile.mkdtemp(prefix="charlm-cache-")
    worker, count = (
        os.environ.get("PYTEST_XDIST_WORKER"),
        os.environ.get("PYTEST_XDIST_WORKER_COUNT"),
    )
    if not worker or not count or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < int(count):
        return
    mine = set(cores[int(worker.removeprefix("gw")) :: int(count)])
    os.sched_setaffinity(0, mine)
    os.environ["OMP_NUM_THREADS"] = str(len(mine))
    import torch

    torch.set_num_threads(len(mine))


def _shared_fixture_group(item: pytest.Item) -> str | None:
    """The first module or session fixture of this suite that `item` uses, as a group name."""
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    for name in item.fixturenames:
        for d in definitions.get(name, ()):
            ours = d.func.__module__.startswith(("conftest", "test_"))
            if ours and d.scope in ("module", "session"):
                return f"{item.module.__name__ if d.scope == 'module' else 'session'}.{name}"
    return None


def pytest_itemcollected(item: pytest.Item) -> None:
    """Under pytest-xdist's `--dist loadgroup` (`make test`), the tests that share one of this
    suite's module or session fixtures (a reference run, executed notebooks) go to the same
    worker, so the shared run is made once, not once per worker. (Marked here, as items are
    collected: xdist reads the marks in its own pytest_collection_modifyitems.)"""
    # A worker sees --dist=loadgroup as the `loadgroup` option pytest-xdist gives it.
    if getattr(item.config.option, "loadgroup", False):
        group = _shared_fixture_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup`, the groups are handed out first, so the longest pieces of work
    do not come last (a stable sort: the order is kept otherwise).

    Tests marked `install` (environments of several GB) run only where `-m` names them
    (`make test-compat`); every other run deselects them."""
    if "install" not in (config.option.markexpr or ""):
        kept = [item for item in items if item.get_closest_marker("install") is None]
        if len(kept) != len(items):
            config.hook.pytest_deselected(items=[i for i in items if i not in kept])
            items[:] = kept
    if getattr(config.option, "loadgroup", False):
        items.sort(key=lambda item: item.get_closest_marker("xdist_group") is None)


def compose_train(root: Path, *overrides: str, output_dir: Path | None = None) -> DictConfig:
    """Compose `train.yaml` with overrides as `charlm.fit(..., quiet=True)` does (no progress
    bar, no model summary, unless an override sets them), writing under `root`."""
    given = {o.lstrip("+").split("=", 1)[0] for o in overrides}
    quiet = [o for o in QUIET_OVERRIDES if o.lstrip("+").split("=", 1)[0] not in given]
    cfg = compose_config([*quiet, *overrides])
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.paths.root_dir = str(root)
        cfg.paths.output_dir = str(output_dir or root / "run")
    return cfg


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """Compose `train.yaml` with overrides; paths point into tmp_path."""

    def _make(*overrides: str, output_dir: Path | None = None) -> DictConfig:
        return compose_train(tmp_path, *overrides, output_dir=output_dir)

    return _make


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One short training run on the tiny word list, shared by the tests that read its outputs."""
    from charlm.train import train

    root = tmp_path_factory.mktemp("trained")
    corpus = root / "words.txt"
    corpus.write_text("\n".join(TINY_WORDS) + "\n", encoding="utf-8")
    cfg = compose_train(
        root,
        f"data.path={corpus}",
        "data.split=[0.6,0.2,0.2]",
        "trainer.max_steps=600",
        "trainer.val_check_interval=300",
        "model/optimizer=adam",
        "model.optimizer.lr=0.01",
        "model.net.emb_size=4",
    )
    metrics = train(cfg)
    return {"cfg": cfg, "metrics": metrics, "corpus": corpus, "dir": Path(cfg.paths.output_dir)}


@pytest.fixture(scope="session")
def converged_bigram(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The neural bigram trained to convergence on the tiny word list (no penalty, Adam, full
    batch), shared by the tests that compare it with the counts."""
    from charlm.train import train

    root = tmp_path_factory.mktemp("bigram")
    corpus = root / "words.txt"
    corpus.write_text("\n".join(TINY_WORDS) + "\n", encoding="utf-8")
    cfg = compose_train(
        root,
        "experiment=bigram",
        f"data.path={corpus}",
        "model.net.penalty=0",
        "model/optimizer=adam",
        "model.optimizer.lr=0.1",
        "trainer.max_steps=3000",
    )
    return train(cfg)
