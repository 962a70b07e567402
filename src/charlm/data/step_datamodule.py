"""The Lightning DataModule that serves in-memory splits by updates: `Chunk`s for training,
`TensorSlices` for evaluation."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from charlm.data.batches import Chunk, RandomBatches, Share, TensorSlices
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

    def eval_dataloader(self, name: str, predictions: int | None = None) -> DataLoader:
        """One split in order, in batches of `eval_batch_size` (or `predictions`)."""
        x, y = self.splits[name]
        # eval_batch_size counts predictions: a row of a padded sequence holds several.
        predictions = predictions or self.eval_predictions()
        rows = max(1, predictions // y[0].numel()) if len(y) else 1
        return DataLoader(TensorSlices(x, y, batch_size=rows), batch_size=None)

    def eval_predictions(self) -> int:
        """Predictions an evaluation batch holds (`eval_batch_size`)."""
        return self.eval_batch_size

    def val_dataloader(self) -> DataLoader:
        return self._shared("val")

    def test_dataloader(self) -> DataLoader:
        return self._shared("test")

    def _shared(self, name: str) -> DataLoader:
        """Split `name` for the Trainer: in a run of several processes, this process's share of
        its batches (`Share`), the task's metrics summing the shares (torchmetrics)."""
        loader = self.eval_dataloader(name)
        trainer = self.trainer if self._has_trainer() else None
        if trainer is None or trainer.world_size < 2:
            return loader
        world, predictions = trainer.world_size, self.eval_predictions()
        # Every process needs a batch: each one's metrics take part in summing the shares.
        while len(loader.dataset) < world and predictions > 1:
            predictions //= 2
            loader = self.eval_dataloader(name, predictions)
        if len(loader.dataset) < world:
            raise CharlmError(
                f"the {name} split is too small to share among {world} processes (it holds "
                f"{len(loader.dataset)} predictions): use fewer processes or a larger {name} "
                "share in data.split"
            )
        return DataLoader(Share(loader.dataset, trainer.global_rank, world), batch_size=None)
