"""charlm: character-level language models (bigram, Bengio et al. 2003 MLP, GRU, Transformer).

The names below load on first use: `import charlm`, the models, `load_model`, `sample` and
`log_prob` never import Lightning, Hydra or torchmetrics; training (`charlm.fit`) and the
DataModules do. The course's figures are functions of `charlm.figures`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from charlm._lazy import lazy_attributes

_HOMES = {
    "CheckpointError": "charlm.checkpoint",
    "load_model": "charlm.checkpoint",
    "load_onnx": "charlm.onnx_model",
    "quantize_int8": "charlm.runtimes",
    "CharWindowDataModule": "charlm.data.datamodule",
    "CorpusError": "charlm.data.corpus",
    "load_words": "charlm.data.corpus",
    "split_words": "charlm.data.corpus",
    "Vocabulary": "charlm.data.vocab",
    "VocabularyError": "charlm.data.vocab",
    "context_windows": "charlm.data.windows",
    "CharlmError": "charlm.errors",
    "evaluate_lm": "charlm.metrics",
    "Run": "charlm.runs",
    "fit": "charlm.runs",
    "loss_curves": "charlm.runs",
    "BengioMLP": "charlm.models.mlp",
    "BigramCounts": "charlm.models.counts",
    "BigramLM": "charlm.models.bigram",
    "CharLM": "charlm.models.base",
    "EnsembleLM": "charlm.models.ensemble",
    "FeedForwardLM": "charlm.models.feedforward",
    "RecurrentLM": "charlm.models.recurrent",
    "TransformerLM": "charlm.models.transformer",
}
__all__ = [
    "BengioMLP",
    "BigramCounts",
    "BigramLM",
    "CharLM",
    "CharWindowDataModule",
    "CharlmError",
    "CheckpointError",
    "CorpusError",
    "EnsembleLM",
    "FeedForwardLM",
    "RecurrentLM",
    "Run",
    "TransformerLM",
    "Vocabulary",
    "VocabularyError",
    "context_windows",
    "evaluate_lm",
    "fit",
    "load_model",
    "load_onnx",
    "loss_curves",
    "load_words",
    "quantize_int8",
    "split_words",
]
__getattr__, __dir__ = lazy_attributes(__name__, _HOMES)

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from charlm.checkpoint import CheckpointError, load_model
    from charlm.data.corpus import CorpusError, load_words, split_words
    from charlm.data.datamodule import CharWindowDataModule
    from charlm.data.vocab import Vocabulary, VocabularyError
    from charlm.data.windows import context_windows
    from charlm.errors import CharlmError
    from charlm.metrics import evaluate_lm
    from charlm.models.base import CharLM
    from charlm.models.bigram import BigramLM
    from charlm.models.counts import BigramCounts
    from charlm.models.ensemble import EnsembleLM
    from charlm.models.feedforward import FeedForwardLM
    from charlm.models.mlp import BengioMLP
    from charlm.models.recurrent import RecurrentLM
    from charlm.models.transformer import TransformerLM
    from charlm.onnx_model import load_onnx
    from charlm.runs import Run, fit, loss_curves
    from charlm.runtimes import quantize_int8

try:  # the version is written once, in pyproject.toml
    __version__ = _version("charlm")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"
