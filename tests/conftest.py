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


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """Compose `train.yaml` with overrides; paths point into tmp_path."""
    register_resolvers()

    def _make(*overrides: str, config_name: str = "train", output_dir: Path | None = None):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=list(overrides))
        with open_dict(cfg):
            cfg.paths.root_dir = str(tmp_path)
            cfg.paths.output_dir = str(output_dir or tmp_path / "run")
        return cfg

    yield _make
    GlobalHydra.instance().clear()
