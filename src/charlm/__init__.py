"""charlm: character-level language models (bigram, Bengio et al. 2003 MLP) with Lightning."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from charlm.checkpoint import CheckpointError, load_model
from charlm.data import (
    CharWindowDataModule,
    CorpusError,
    Vocabulary,
    VocabularyError,
    context_windows,
    load_words,
    split_words,
)
from charlm.errors import CharlmError
from charlm.metrics import evaluate_lm
from charlm.models import BengioMLP, BigramCounts, BigramLM, CharLM, FeedForwardLM

__all__ = [
    "BengioMLP",
    "BigramCounts",
    "BigramLM",
    "CharlmError",
    "CheckpointError",
    "CharLM",
    "CharWindowDataModule",
    "CorpusError",
    "FeedForwardLM",
    "Vocabulary",
    "VocabularyError",
    "context_windows",
    "evaluate_lm",
    "load_model",
    "load_words",
    "split_words",
]
try:  # the version is written once, in pyproject.toml
    __version__ = _version("charlm")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"
