"""Serving in-memory tensors to Lightning: random minibatch chunks for training, slices for eval."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from charlm.errors import CharlmError, check_positive_ints

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


class StepDataModule(L.LightningDataModule):
    """Train/val/test tensors in memory, trained by steps (optimiser updates), not epochs.

    Subclasses fill `self.splits[name] = (x, y)` in `setup`.
    """

    def __init__(
        self,
        batch_size: int = 32,
        steps_per_batch: int = 1,
        full_batch: bool = False,
        eval_batch_size: int = 1024,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_positive_ints(
            batch_size=batch_size,
            steps_per_batch=steps_per_batch,
            eval_batch_size=eval_batch_size,
        )
        self.batch_size = batch_size
        self.steps_per_batch = steps_per_batch
        self.full_batch = full_batch
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        # Per-row lengths of padded sequences, by split (none for fixed-size rows).
        self.lengths: dict[str, torch.Tensor] = {}
        # The training split on the accelerator, copied once: (device, source x, x, y there).
        self._on_device: tuple[torch.device, torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def setup(self, stage: str | None = None) -> None:
        """Build `self.splits`; tables built in `__init__` have nothing left to do."""

    def has_split(self, name: str) -> bool:
        """Whether the split holds any row (a 1/0/0 split trains on everything)."""
        self.setup()
        return name in self.splits and len(self.splits[name][1]) > 0

    def train_dataloader(self) -> DataLoader:
        x, y = self.splits["train"]
        # Each process of a multi-process run draws its own batches.
        rank = self.trainer.global_rank if self._has_trainer() else 0
        dataset = RandomBatches(
            x, y, self.batch_size, self.steps_per_batch, self.seed + rank, self.full_batch,
            self.lengths.get("train"),
        )  # fmt: skip
        if self._has_trainer():
            trainer = self.trainer
            if trainer.world_size > 1 and self.steps_per_batch > 1:
                raise CharlmError(
                    f"data.steps_per_batch={self.steps_per_batch}: multi-process training "
                    "(trainer=ddp, ddp_sim) takes one update per batch; add data.steps_per_batch=1"
                )
            # Each iteration starts after the last chunk the run has consumed (a resumed run too).
            dataset.position = lambda: trainer.global_step // self.steps_per_batch
            if trainer.max_steps > 0:
                # One epoch is the whole run, so the progress bar knows its total.
                dataset.num_chunks = math.ceil(trainer.max_steps / self.steps_per_batch)
        return DataLoader(dataset, batch_size=None)

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        """Chunks refer to the whole training split: move it to `device` once, not per chunk."""
        if not isinstance(batch, Chunk) or batch.x.device == device:
            return super().transfer_batch_to_device(batch, device, dataloader_idx)
        cached = self._on_device
        if cached is None or cached[0] != device or cached[1] is not batch.x:
            cached = self._on_device = (device, batch.x, batch.x.to(device), batch.y.to(device))
        x, y = cached[2], cached[3]
        index = batch.index.to(device) if batch.index is not None else None
        lengths = batch.lengths.to(device) if batch.lengths is not None else None
        return batch._replace(x=x, y=y, index=index, lengths=lengths)

    def _has_trainer(self) -> bool:
        return getattr(self, "trainer", None) is not None

    def eval_dataloader(self, name: str) -> DataLoader:
        """One split in order, in batches of `eval_batch_size`."""
        x, y = self.splits[name]
        # eval_batch_size counts predictions: a row of a padded sequence holds several.
        rows = max(1, self.eval_batch_size // y[0].numel()) if len(y) else 1
        return DataLoader(TensorSlices(x, y, batch_size=rows), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return self.eval_dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.eval_dataloader("test")
