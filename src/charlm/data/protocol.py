"""What charlm's training needs from a DataModule, declared once.

`charlm-train` builds whatever `data._target_` names; a DataModule of the user's own works if
it offers these members (subclassing `StepDataModule` gives all but `net_kwargs`). The tasks
train by updates from `Chunk`s (`train_dataloader`) and evaluate from `(x, y)` batches
(`eval_dataloader`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pathlib import Path

    from torch.utils.data import DataLoader

    from charlm.data.vocab import Vocabulary


@runtime_checkable
class TaskData(Protocol):
    """A DataModule any task trains from (the Lightning hooks, plus what charlm-train asks)."""

    # Optimiser updates per Lightning batch (a `Chunk`); charlm-train may lower it so that
    # validations fall on its schedule.
    steps_per_batch: int

    def prepare_data(self) -> None:
        """Fetch what is missing (once per machine)."""

    def setup(self, stage: str | None = None) -> None:
        """Build the splits; later calls are free."""

    def net_kwargs(self) -> dict[str, int]:
        """Sizes the network is built with to fit this data (`vocab_size`, `in_features`, ...)."""
        ...

    def connect(self, *, steps_per_batch: int) -> None:
        """Take the run's facts before training: the updates per batch its schedule allows."""

    def has_split(self, name: str) -> bool:
        """Whether split `name` ("train", "val", "test") holds any example."""
        ...

    def train_dataloader(self) -> DataLoader:
        """Chunks of `steps_per_batch` minibatches (`charlm.data.Chunk`)."""
        ...

    def eval_dataloader(self, name: str) -> DataLoader:
        """Split `name` in order, as `(x, y)` batches."""
        ...


@runtime_checkable
class LanguageData(TaskData, Protocol):
    """A DataModule a language model trains from: a word list and its vocabulary."""

    path: Path
    vocab: Vocabulary | None  # set by `setup`; the task attaches it to the model
    # "windows" or "sequences": charlm-train sets it from the model's `data_contract`.
    contract: str

    def longest_example(self) -> int:
        """Positions the longest example needs (a sequence model must read that many)."""
        ...


def missing_members(obj: Any, protocol: type) -> list[str]:
    """The members of `protocol` that `obj` lacks, for an error that names them."""
    # isinstance() against a Protocol says only yes or no; a user needs to know what to add.
    names = {
        name
        for base in protocol.__mro__
        if base not in (object, Protocol) and getattr(base, "_is_protocol", False)
        for name in (*vars(base), *getattr(base, "__annotations__", {}))
        if not name.startswith("_")
    }
    return sorted(name for name in names if not hasattr(obj, name))
