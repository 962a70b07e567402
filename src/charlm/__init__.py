"""charlm: character-level language models (bigram, Bengio et al. 2003 MLP) with Lightning."""

from charlm.data import (
    CharWindowDataModule,
    CorpusError,
    Vocabulary,
    VocabularyError,
    context_windows,
    load_words,
    split_words,
)
from charlm.evaluation import evaluate_lm
from charlm.models import BengioMLP, BigramLM, CharLM

__all__ = [
    "BengioMLP",
    "BigramLM",
    "CharLM",
    "CharWindowDataModule",
    "CorpusError",
    "Vocabulary",
    "VocabularyError",
    "context_windows",
    "evaluate_lm",
    "load_words",
    "split_words",
]
__version__ = "0.1.0"
