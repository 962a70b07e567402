"""Batches of in-memory tensors, in plain torch: random minibatch chunks for training, slices
for evaluation. `StepDataModule` serves them to Lightning."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
from torch.utils.data import Dataset, IterableDataset

SPLITS = ("train", "val", "test")


class Chunk(NamedTuple):
    """`updates` minibatches of the rows of (x, y): update `i` takes rows `index[i]`, or every
    row when `index` is None. The chunk refers to the split's tensors instead of copying rows,
    so it costs only its indices. With `lengths` (padded sequences), a minibatch is cut to
    the longest of its rows."""

    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor | None
    updates: int
    lengths: torch.Tensor | None = None

    def minibatch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.index is None:
            return self.x, self.y
        rows = self.index[i]
        if self.lengths is None:
            return self.x[rows], self.y[rows]
        width = int(self.lengths[rows].max())
        return self.x[rows, :width], self.y[rows, :width]


class RandomBatches(IterableDataset):
    """Minibatches drawn with replacement, as the notebooks' `torch.randint` loops do.

    Each item is a `Chunk` of `steps_per_batch` minibatches: the training step runs one
    optimiser update per minibatch, so the Trainer's fixed cost is paid once per chunk rather
    than once per update. Chunk `c` is drawn from a generator seeded with (seed, c) alone, so a
    resumed run draws the same batches as an uninterrupted one. With `full_batch` every update
    sees all rows.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        steps_per_batch: int = 1,
        seed: int = 0,
        full_batch: bool = False,
        lengths: torch.Tensor | None = None,
    ) -> None:
        self.x, self.y, self.lengths = x, y, lengths
        self.batch_size = batch_size
        self.steps_per_batch = steps_per_batch
        self.seed = seed
        self.full_batch = full_batch
        # Chunks of the whole run (endless when None), and where iteration starts: set by the
        # DataModule so a resumed run continues the stream rather than restarting it.
        self.num_chunks: int | None = None
        self.position: Callable[[], int] = lambda: 0

    def __len__(self) -> int:
        if self.num_chunks is None:
            raise TypeError("an endless RandomBatches has no length")
        return self.num_chunks

    def __iter__(self) -> Iterator[Chunk]:
        start = self.position()
        chunks = (
            itertools.count(start) if self.num_chunks is None else range(start, self.num_chunks)
        )
        n, k, b = len(self.y), self.steps_per_batch, self.batch_size
        if self.full_batch:
            for _ in chunks:
                yield Chunk(self.x, self.y, None, k)
            return
        g = torch.Generator()
        for chunk in chunks:
            g.manual_seed((self.seed * 1_000_003 + chunk) % 2**63)
            yield Chunk(self.x, self.y, torch.randint(0, n, (k, b), generator=g), k, self.lengths)


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


class Share(Dataset):
    """Process `rank`'s share of the batches of an evaluation split, among `world` processes:
    batches rank, rank + world, ... Every batch is in exactly one share, and none is repeated
    to even them out (as torch's DistributedSampler does), so the figures summed over the
    processes are those of the whole split."""

    def __init__(self, batches: Dataset, rank: int, world: int) -> None:
        self.batches, self.rank, self.world = batches, rank, world

    def __len__(self) -> int:
        return max(0, math.ceil((len(self.batches) - self.rank) / self.world))  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> object:
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.batches[self.rank + i * self.world]
