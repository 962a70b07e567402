"""Data layer: vocabulary, word lists, context windows and DataModules."""

from charlm.data.batches import Chunk, RandomBatches, StepDataModule, TensorSlices
from charlm.data.corpus import CorpusError, load_words, split_words
from charlm.data.datamodule import CharWindowDataModule
from charlm.data.tables import FizzBuzzDataModule, TableDataModule
from charlm.data.vocab import BOUNDARY, Vocabulary, VocabularyError
from charlm.data.windows import context_windows

__all__ = [
    "BOUNDARY",
    "CharWindowDataModule",
    "Chunk",
    "CorpusError",
    "FizzBuzzDataModule",
    "RandomBatches",
    "StepDataModule",
    "TableDataModule",
    "TensorSlices",
    "Vocabulary",
    "VocabularyError",
    "context_windows",
    "load_words",
    "split_words",
]
