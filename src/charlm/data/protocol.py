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

    from charlm.data.vocab import Vocab


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

    def eval_dataloader(self, name: str, predictions: int | None = None) -> DataLoader:
        """Split `name` in order, as `(x, y)` batches (of about `predictions` predictions)."""
        ...


@runtime_checkable
class LanguageData(TaskData, Protocol):
    """A DataModule a language model trains from: a word list and its vocabulary."""

    path: Path
    vocab: Vocab | None  # set by `setup`; the task attaches it to the model
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


def check_data(datamodule: Any, net_name: str, is_lm: bool, data_target: str) -> None:
    """Refuse a DataModule that lacks what the model's task needs, naming what to add.

    `net_name` is the network's class, `is_lm` whether it is a language model (a `CharLM`),
    `data_target` the config's `data._target_`.
    """
    from charlm.errors import ConfigError

    protocol = LanguageData if is_lm else TaskData
    serves_text = not missing_members(datamodule, LanguageData)
    # A table's DataModule is a whole TaskData without a vocabulary; an incomplete one of the
    # user's own is told below what it lacks.
    serves_table = not missing_members(datamodule, TaskData) and not hasattr(datamodule, "vocab")
    if (is_lm and serves_table) or (not is_lm and serves_text):
        kind, use = (
            ("a language model", "data=words (or text, lines, records, shakespeare)")
            if is_lm
            else ("a classifier", "data=token, data=gates or data=fizzbuzz")
        )
        raise ConfigError(
            f"model.net._target_={net_name} is {kind} and {type(datamodule).__name__} "
            f"serves {'text' if serves_text else 'a table of examples'}: use {use}, or an "
            "experiment that pairs them (experiment=bengio2003, experiment=token_xor, ...)",
            key="data._target_",
        )
    missing = missing_members(datamodule, protocol)
    if missing:
        raise ConfigError(
            f"data._target_={data_target}: {type(datamodule).__name__} lacks "
            f"{', '.join(missing)}; a DataModule for this model is a charlm.data."
            f"{protocol.__name__} (subclass charlm.data.StepDataModule for most of it)",
            key="data._target_",
        )


def check_fits(net: Any, datamodule: Any) -> None:
    """Refuse a sequence model too short for the longest sequence of its data."""
    from charlm.errors import ConfigError

    longest = getattr(datamodule, "longest_example", None)
    size = getattr(net, "context_size", None)
    if longest is not None and size is not None and longest() > size:
        raise ConfigError(
            f"model.net.context_size={size}: the longest sequence of {datamodule.path} needs "
            f"{longest()} positions (its units and the end token); raise it",
            key="model.net.context_size",
        )
