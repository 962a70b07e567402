"""Data layer: vocabulary, word lists, context windows and padded sequences (plain torch), and
the DataModules that serve them to Lightning (loaded on first use, with Lightning)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from charlm._lazy import lazy_attributes

_HOMES = {
    "Chunk": "charlm.data.batches",
    "RandomBatches": "charlm.data.batches",
    "StepDataModule": "charlm.data.step_datamodule",
    "TensorSlices": "charlm.data.batches",
    "CorpusError": "charlm.data.corpus",
    "load_words": "charlm.data.corpus",
    "split_words": "charlm.data.corpus",
    "CharWindowDataModule": "charlm.data.datamodule",
    "TaskData": "charlm.data.protocol",
    "LanguageData": "charlm.data.protocol",
    "word_sequences": "charlm.data.sequences",
    "EncodedText": "charlm.data.encoded",
    "TextError": "charlm.data.encoded",
    "encode_text": "charlm.data.encoded",
    "split_bounds": "charlm.data.blocks",
    "TextDataModule": "charlm.data.datamodule",
    "LinesDataModule": "charlm.data.datamodule",
    "LanguageDataModule": "charlm.data.datamodule",
    "DataKind": "charlm.data.kinds",
    "WordList": "charlm.data.words",
    "RunningText": "charlm.data.text",
    "TextLines": "charlm.data.lines",
    "TextRecords": "charlm.data.records",
    "model_data": "charlm.data.registry",
    "Vocab": "charlm.data.vocab",
    "TokenVocabulary": "charlm.data.tokens",
    "train_tokenizer": "charlm.data.tokens",
    "TextVocabulary": "charlm.data.vocab",
    "FizzBuzzDataModule": "charlm.data.tables",
    "TableDataModule": "charlm.data.tables",
    "BOUNDARY": "charlm.data.vocab",
    "Vocabulary": "charlm.data.vocab",
    "VocabularyError": "charlm.data.vocab",
    "context_windows": "charlm.data.windows",
}
__all__ = [
    "BOUNDARY",
    "CharWindowDataModule",
    "Chunk",
    "CorpusError",
    "FizzBuzzDataModule",
    "LanguageData",
    "RandomBatches",
    "StepDataModule",
    "TableDataModule",
    "TaskData",
    "TensorSlices",
    "EncodedText",
    "TextDataModule",
    "LinesDataModule",
    "LanguageDataModule",
    "DataKind",
    "WordList",
    "RunningText",
    "TextLines",
    "TextRecords",
    "model_data",
    "Vocab",
    "TokenVocabulary",
    "train_tokenizer",
    "TextError",
    "TextVocabulary",
    "encode_text",
    "split_bounds",
    "Vocabulary",
    "VocabularyError",
    "context_windows",
    "load_words",
    "split_words",
    "word_sequences",
]
__getattr__, __dir__ = lazy_attributes(__name__, _HOMES)

if TYPE_CHECKING:
    from charlm.data.batches import Chunk, RandomBatches, TensorSlices
    from charlm.data.blocks import split_bounds
    from charlm.data.corpus import CorpusError, load_words, split_words
    from charlm.data.datamodule import (
        CharWindowDataModule,
        LanguageDataModule,
        LinesDataModule,
        TextDataModule,
    )
    from charlm.data.encoded import EncodedText, TextError, encode_text
    from charlm.data.kinds import DataKind
    from charlm.data.lines import TextLines
    from charlm.data.protocol import LanguageData, TaskData
    from charlm.data.records import TextRecords
    from charlm.data.registry import model_data
    from charlm.data.sequences import word_sequences
    from charlm.data.step_datamodule import StepDataModule
    from charlm.data.tables import FizzBuzzDataModule, TableDataModule
    from charlm.data.text import RunningText
    from charlm.data.tokens import TokenVocabulary, train_tokenizer
    from charlm.data.vocab import BOUNDARY, TextVocabulary, Vocab, Vocabulary, VocabularyError
    from charlm.data.windows import context_windows
    from charlm.data.words import WordList
