"""LightningDataModule serving running text: random blocks for training, whole splits once."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from torch.utils.data import DataLoader

from charlm.data.batches import SPLITS
from charlm.data.fetch import KNOWN_FILES, ensure_corpus
from charlm.data.text import (
    BlockChunk,
    EvalBlocks,
    TextBlocks,
    TextError,
    as_paths,
    encode_text,
    split_bounds,
)
from charlm.data.vocab import TextVocabulary
from charlm.errors import CharlmError, check_choice, check_positive_ints

CONTRACTS = ("windows", "sequences")


def as_is(item: Any) -> Any:
    """The DataLoader's conversion of an item: none."""
    return item


class TextDataModule(L.LightningDataModule):
    """One text file or several (read in order) as a stream of characters, split contiguously.

    Every model reads blocks of `block_size` characters and predicts each next one: sequence
    models (`contract="sequences"`) read the whole block, window models (`"windows"`) the
    `context_size` characters before each position. `split` gives the fractions of the stream
    (train, val, test) in order. `fetch=true` gets a missing file that charlm knows
    (tinyshakespeare.txt) the way `make data` does: from `shared_dir`, or downloaded.
    """

    def __init__(
        self,
        path: str | Sequence[str],
        block_size: int = 128,
        context_size: int = 8,
        batch_size: int = 32,
        split: Sequence[float] = (0.85, 0.05, 0.10),
        steps_per_batch: int = 20,
        eval_batch_size: int = 16384,
        seed: int = 0,
        contract: str = "sequences",
        cache_dir: str | None = None,
        fetch: bool = False,
        shared_dir: str | None = None,
    ) -> None:
        super().__init__()
        check_positive_ints(
            block_size=block_size,
            context_size=context_size,
            batch_size=batch_size,
            steps_per_batch=steps_per_batch,
            eval_batch_size=eval_batch_size,
        )
        check_choice("contract", contract, CONTRACTS)
        self.paths = as_paths(path if isinstance(path, str | Path) else list(path))
        self.path = self.paths[0] if self.paths else Path(str(path))
        self.block_size, self.context_size = block_size, context_size
        self.batch_size, self.steps_per_batch = batch_size, steps_per_batch
        self.split = tuple(split)
        self.eval_batch_size, self.seed, self.contract = eval_batch_size, seed, contract
        self.cache_dir, self.fetch, self.shared_dir = cache_dir, fetch, shared_dir
        self.vocab: TextVocabulary | None = None
        self.bounds: dict[str, tuple[int, int]] = {}
        self.stream: np.ndarray | None = None
        self._identity: dict[str, Any] = {}

    def prepare_data(self) -> None:
        """Fetch a missing known file when asked, check a present one against its SHA-256."""
        for p in self.paths:
            if p.name in KNOWN_FILES and (self.fetch or p.is_file()):
                ensure_corpus(p, self.shared_dir, name=p.name)

    def connect(self, *, steps_per_batch: int) -> None:
        """What only the run knows, given once before training (by `charlm.train.build_run`):
        the updates per Lightning batch its validation schedule allows."""
        self.steps_per_batch = steps_per_batch

    def setup(self, stage: str | None = None) -> None:
        """Encode (or find the encoded) text, split it; later calls are free."""
        if self.vocab is not None:
            return
        encoded = encode_text(self.paths, self.cache_dir)
        bounds = split_bounds(encoded.length, self.split)
        short = [
            (name, end - start)
            for name, (start, end) in zip(SPLITS, bounds, strict=True)
            if 0 < end - start < 2
        ]
        if short:
            raise TextError(
                f"data.split={list(self.split)}: the {short[0][0]} split of {self.path} holds "
                f"{short[0][1]} character; give it at least 2 characters or 0"
            )
        start, end = bounds[0]
        if end - start < self.block_size + 1:
            raise CharlmError(
                f"data.block_size={self.block_size}: the train split of {self.path} holds "
                f"{end - start} characters, and a block needs block_size + 1; lower "
                "data.block_size or give more text"
            )
        self.stream = encoded.ids()
        self.vocab = encoded.vocab
        self.bounds = dict(zip(SPLITS, bounds, strict=True))
        self._identity = {
            "kind": "text",
            "text_sha256": encoded.sha256,
            "characters": encoded.length,
            "sources": [p.name for p in self.paths],
        }

    def data_identity(self) -> dict[str, Any]:
        """What the run's split was drawn from: the text's SHA-256, its length, the splits'
        (start, end). Stored in checkpoints, so evaluation can refuse a changed text."""
        self.setup()
        return {**self._identity, "split_bounds": [list(self.bounds[s]) for s in SPLITS]}

    def has_split(self, name: str) -> bool:
        self.setup()
        start, end = self.bounds[name]
        return end - start >= 2

    def net_kwargs(self) -> dict[str, int]:
        """A sequence model reads a whole block; a window model its `context_size`."""
        self.setup()
        size = self.block_size if self.contract == "sequences" else self.context_size
        return {"vocab_size": len(self.vocab), "context_size": size}

    def longest_example(self) -> int:
        return self.block_size if self.contract == "sequences" else self.context_size

    def train_dataloader(self) -> DataLoader:
        self.setup()
        trainer = getattr(self, "trainer", None)
        rank = trainer.global_rank if trainer is not None else 0
        blocks = TextBlocks(
            self.stream, self.bounds["train"], self.block_size, self.batch_size,
            self.steps_per_batch, self.seed + rank,
        )  # fmt: skip
        if trainer is not None:
            blocks.position = lambda: trainer.global_step // self.steps_per_batch
            if trainer.max_steps > 0:
                blocks.num_chunks = math.ceil(trainer.max_steps / self.steps_per_batch)
        # Chunks as they are: the default conversion would turn the stream they
        # refer to into a tensor.
        return DataLoader(blocks, batch_size=None, collate_fn=as_is)

    def transfer_batch_to_device(self, batch: Any, device: Any, dataloader_idx: int) -> Any:
        """A chunk reads its blocks when trained on: they go straight to `device`."""
        if isinstance(batch, BlockChunk):
            return batch._replace(device=str(device))
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def eval_dataloader(self, name: str) -> DataLoader:
        """Split `name` read once in non-overlapping blocks (`EvalBlocks`)."""
        self.setup()
        rows = max(1, self.eval_batch_size // self.block_size)
        blocks = EvalBlocks(self.stream, self.bounds[name], self.block_size, rows)
        return DataLoader(blocks, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return self.eval_dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.eval_dataloader("test")
