"""The Lightning DataModule that serves in-memory splits by updates: `Chunk`s for training,
`TensorSlices` for evaluation."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from charlm.data.batches import Chunk, RandomBatches, TensorSlices
from charlm.errors import CharlmError, check_positive_ints


def as_is(item: Any) -> Any:
    """The DataLoader's conversion of an item: none."""
    return item


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

    def connect(self, *, steps_per_batch: int) -> None:
        """What only the run knows, given once before training (by `charlm.train.build_run`):
        the updates per Lightning batch its validation schedule allows."""
        self.steps_per_batch = steps_per_batch

    def has_split(self, name: str) -> bool:
        """Whether the split holds any row (a 1/0/0 split trains on everything)."""
        self.setup()
        return name in self.splits and len(self.splits[name][1]) > 0

    def training_set(self, seed: int) -> Any:
        """The endless chunks of training minibatches, drawn with `seed` (`RandomBatches`)."""
        x, y = self.splits["train"]
        return RandomBatches(
            x, y, self.batch_size, self.steps_per_batch, seed, self.full_batch,
            self.lengths.get("train"),
        )  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        self.setup()
        # Each process of a multi-process run draws its own batches.
        rank = self.trainer.global_rank if self._has_trainer() else 0
        dataset = self.training_set(self.seed + rank)
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
        # Chunks as they are: they refer to the whole split (or stream) they draw from.
        return DataLoader(dataset, batch_size=None, collate_fn=as_is)

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
        rows = max(1, self.eval_predictions() // y[0].numel()) if len(y) else 1
        return DataLoader(TensorSlices(x, y, batch_size=rows), batch_size=None)

    def eval_predictions(self) -> int:
        """Predictions an evaluation batch holds (`eval_batch_size`)."""
        return self.eval_batch_size

    def val_dataloader(self) -> DataLoader:
        return self.eval_dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.eval_dataloader("test")
