"""LightningDataModule serving (context, next character) windows of a word list."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from charlm.data.corpus import load_words, split_words
from charlm.data.vocab import BOUNDARY, Vocabulary
from charlm.data.windows import context_windows

SPLITS = ("train", "val", "test")


class RandomWindowBatches(IterableDataset):
    """Endless minibatches drawn with replacement, as the notebook's `torch.randint` loop does.

    Each item is a chunk of `steps_per_batch` minibatches, shaped (steps, batch, context) and
    (steps, batch): the training step runs one optimiser update per minibatch, so the Trainer's
    fixed cost is paid once per chunk rather than once per update. Chunk `c` is drawn from a
    generator seeded with (seed, c) alone, so a resumed run draws the same batches as an
    uninterrupted one.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        steps_per_batch: int = 1,
        seed: int = 0,
        full_batch: bool = False,
    ) -> None:
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.steps_per_batch = steps_per_batch
        self.seed = seed
        self.full_batch = full_batch
        self.start_chunk = 0
        self.num_chunks: int | None = None  # endless when None

    def __len__(self) -> int:
        if self.num_chunks is None:
            raise TypeError("an endless RandomWindowBatches has no length")
        return self.num_chunks

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        chunks = itertools.count() if self.num_chunks is None else range(self.num_chunks)
        n, k, b = len(self.y), self.steps_per_batch, self.batch_size
        if self.full_batch:
            # Every update sees all windows: views of the same tensors, no copies.
            x, y = self.x.expand(k, *self.x.shape), self.y.expand(k, n)
            for _ in chunks:
                yield x, y
            return
        g = torch.Generator()
        for i in chunks:
            g.manual_seed((self.seed * 1_000_003 + self.start_chunk + i) % 2**63)
            ix = torch.randint(0, n, (k * b,), generator=g)
            yield self.x[ix].view(k, b, -1), self.y[ix].view(k, b)


class TensorSlices(Dataset):
    """Consecutive slices of tensors: whole batches without per-sample indexing and collation."""

    def __init__(self, *tensors: torch.Tensor, batch_size: int) -> None:
        self.tensors = tensors
        self.batch_size = batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.tensors[0]) / self.batch_size)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        window = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return tuple(t[window] for t in self.tensors)


class CharWindowDataModule(L.LightningDataModule):
    """Train/val/test context windows of a word list, split by words as in the notebooks.

    `context_size` is the number of previous characters a model sees (1 for the bigram).
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
        eval_batch_size: int = 8192,
        seed: int = 0,
    ) -> None:
        super().__init__()
        _check_positive(
            context_size=context_size,
            batch_size=batch_size,
            steps_per_batch=steps_per_batch,
            eval_batch_size=eval_batch_size,
        )
        self.path = Path(path)
        self.context_size = context_size
        self.batch_size = batch_size
        self.split = tuple(float(f) for f in split)
        self.split_seed = split_seed
        self.boundary = boundary
        self.steps_per_batch = steps_per_batch
        self.full_batch = full_batch
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self.vocab: Vocabulary | None = None
        self.words: dict[str, list[str]] = {}
        self.windows: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def setup(self, stage: str | None = None) -> None:
        """Read, split and window the corpus once; later calls are free."""
        if self.vocab is not None:
            return
        words = load_words(self.path)
        self.vocab = Vocabulary.from_words(words, boundary=self.boundary)
        parts = split_words(words, self.split, self.split_seed)
        for name, part in zip(SPLITS, parts, strict=True):
            self.words[name] = part
            self.windows[name] = context_windows(part, self.vocab, self.context_size)

    def net_kwargs(self) -> dict[str, int]:
        """Sizes the network must be built with to fit this data."""
        self.setup()
        return {"vocab_size": len(self.vocab), "context_size": self.context_size}

    def has_split(self, name: str) -> bool:
        """Whether the split holds any word (a 1/0/0 split trains on everything)."""
        self.setup()
        return len(self.words[name]) > 0

    def train_dataloader(self) -> DataLoader:
        x, y = self.windows["train"]
        dataset = RandomWindowBatches(
            x, y, self.batch_size, self.steps_per_batch, self.seed, self.full_batch
        )
        trainer = self.trainer
        if trainer is not None:
            per_chunk = self.steps_per_batch
            # Resuming: start from the chunk after the last one the restored run consumed.
            dataset.start_chunk = trainer.global_step // per_chunk
            if trainer.max_steps > 0:
                # One epoch is the whole run, so the progress bar knows its total.
                dataset.num_chunks = math.ceil(
                    (trainer.max_steps - trainer.global_step) / per_chunk
                )
        return DataLoader(dataset, batch_size=None)

    def eval_dataloader(self, name: str) -> DataLoader:
        """Windows of one split in order, in batches of `eval_batch_size`."""
        x, y = self.windows[name]
        return DataLoader(TensorSlices(x, y, batch_size=self.eval_batch_size), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return self.eval_dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.eval_dataloader("test")


def _check_positive(**values: int) -> None:
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"data.{key}={value!r}: must be an integer >= 1")
