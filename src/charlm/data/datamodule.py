"""LightningDataModule serving (context, next character) windows of a word list."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from charlm.data.batches import SPLITS
from charlm.data.corpus import distinct_words, load_words, split_words, words_digest
from charlm.data.fetch import CORPUS_NAME, check_corpus
from charlm.data.sequences import word_sequences
from charlm.data.step_datamodule import StepDataModule
from charlm.data.vocab import BOUNDARY, Vocabulary
from charlm.data.windows import context_windows
from charlm.errors import check_choice, check_positive_ints

CONTRACTS = ("windows", "sequences")

log = logging.getLogger(__name__)


class CharWindowDataModule(StepDataModule):
    """Train/val/test examples of a word list, split by words as in the notebooks.

    `contract` is what the model reads (`CharLM.data_contract`; charlm-train sets it from the
    model): "windows", the `context_size` previous characters of each character, or
    "sequences", whole padded words (`word_sequences`), `batch_size` words a minibatch.
    `split` is (train, val, test), cut after shuffling with `random.seed(split_seed)`.
    """

    def __init__(
        self,
        path: str | Path,
        context_size: int = 3,
        batch_size: int = 32,
        split: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 42,
        boundary: str = BOUNDARY,
        steps_per_batch: int = 1,
        full_batch: bool = False,
        eval_batch_size: int = 1024,
        seed: int = 0,
        contract: str = "windows",
    ) -> None:
        super().__init__(batch_size, steps_per_batch, full_batch, eval_batch_size, seed)
        check_positive_ints(context_size=context_size)
        check_choice("contract", contract, CONTRACTS)
        self.contract = contract
        self.path = Path(path)
        self.context_size = context_size
        self.split = tuple(float(f) for f in split)
        self.split_seed = split_seed
        self.boundary = boundary
        self.vocab: Vocabulary | None = None
        self.words: dict[str, list[str]] = {}
        self._identity: dict[str, Any] = {}
        # Plain values only, so `CharWindowDataModule.load_from_checkpoint(path)` rebuilds it
        # from a checkpoint read with weights_only=True.
        self.save_hyperparameters(
            {
                "path": str(path),
                "context_size": context_size,
                "batch_size": batch_size,
                "split": list(self.split),
                "split_seed": split_seed,
                "boundary": boundary,
                "steps_per_batch": steps_per_batch,
                "full_batch": full_batch,
                "eval_batch_size": eval_batch_size,
                "seed": seed,
                "contract": contract,
            }
        )

    def prepare_data(self) -> None:
        """Check civil_mots.txt against its SHA-256 when `path` names it.

        A changed copy is refused: the course's figures and the notebook's split are those of
        the original. A missing one is reported by `setup`, with the command that fetches it.
        """
        if self.path.name == CORPUS_NAME and self.path.is_file():
            check_corpus(self.path)

    def setup(self, stage: str | None = None) -> None:
        """Read, split and window the corpus once; later calls are free."""
        if self.vocab is not None:
            return
        words, repeats = distinct_words(self.read_words())
        if repeats:
            log.warning(
                "%s: %d repeated words dropped (%d distinct kept): each word is split once, so "
                "no held-out word is a copy of a training word",
                self.path, repeats, len(words),
            )  # fmt: skip
        spaced = [w for w in words if any(c.isspace() for c in w)]
        if spaced:
            log.warning(
                "%s: %d lines hold spaces or tabs (e.g. %r): each line is one word, so the "
                "space or tab is trained as a character; give one word per line",
                self.path, len(spaced), spaced[0],
            )  # fmt: skip
        self._identity = {
            "words_sha256": words_digest(words),
            "words": len(words),
        }
        self.vocab = Vocabulary.from_words(words, boundary=self.boundary)
        parts = split_words(words, self.split, self.split_seed)
        for name, part in zip(SPLITS, parts, strict=True):
            self.words[name] = part
            if self.contract == "windows":
                self.splits[name] = context_windows(part, self.vocab, self.context_size)
            else:
                self.splits[name] = word_sequences(part, self.vocab)
                # Each minibatch of words is cut to its longest one.
                self.lengths[name] = torch.tensor([len(w) + 1 for w in part])

    def data_identity(self) -> dict[str, Any]:
        """What the run's split was drawn from: the SHA-256 of its distinct words, their count,
        and the size of each split. Stored in checkpoints, so that evaluation refuses a word
        list changed since (`charlm.checkpoint.checkpoint_words`)."""
        self.setup()
        return {**self._identity, "split_sizes": [len(self.words[name]) for name in SPLITS]}

    def read_words(self) -> list[str]:
        """The words to split, from `path` (one per line). Override for words kept otherwise."""
        return load_words(self.path)

    def predict_dataloader(self) -> DataLoader:
        """The test split's words (every word when there is no test split), in batches."""
        self.setup()
        words = self.words["test"] or self.words["train"]
        return DataLoader(words, batch_size=self.eval_batch_size, collate_fn=list)

    def net_kwargs(self) -> dict[str, int]:
        """Sizes the network must be built with to fit this data."""
        self.setup()
        if self.contract == "sequences":
            return {"vocab_size": len(self.vocab)}
        return {"vocab_size": len(self.vocab), "context_size": self.context_size}

    def longest_example(self) -> int:
        """Positions of the longest example: the window, or the longest word + 1."""
        self.setup()
        if self.contract == "windows":
            return self.context_size
        return max(len(w) + 1 for part in self.words.values() for w in part)
