"""Shared fixtures: tiny word lists and composed Hydra configs that write under tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from charlm.config import config_dir, register_resolvers

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "civil_mots.txt"

TINY_WORDS = [
    "emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper",
    "evelyn", "abigail", "emily", "elizabeth", "mila", "ella", "avery", "sofia", "camila",
    "aria", "scarlett", "victoria", "madison", "luna", "grace", "chloe", "penelope", "layla",
    "riley", "zoey", "nora", "lily", "eleanor", "hannah", "lillian", "addison", "aubrey",
    "ellie", "stella", "natalie", "zoe",
]  # fmt: skip


# The neural bigram trained to convergence on a word list (no penalty, Adam, full batch).
CONVERGED_BIGRAM = (
    "experiment=bigram",
    "model.net.penalty=0",
    "model/optimizer=adam",
    "model.optimizer.lr=0.1",
    "trainer.max_steps=3000",
    "callbacks.progress_bar=null",
)


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


def compose_train(root: Path, *overrides: str, output_dir: Path | None = None) -> DictConfig:
    """Compose `train.yaml` with overrides, writing under `root`."""
    register_resolvers()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose(config_name="train", overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()
    with open_dict(cfg):
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
        "callbacks.progress_bar=null",
        "model/optimizer=adam",
        "model.optimizer.lr=0.01",
        "model.net.emb_size=4",
    )
    metrics = train(cfg)
    return {"cfg": cfg, "metrics": metrics, "corpus": corpus, "dir": Path(cfg.paths.output_dir)}
