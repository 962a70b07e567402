"""The kinds of data a run can be rebuilt from, looked up by name among charlm's own.

A checkpoint names its data's kind (its identity's `kind`) and stores its run's `data` config
as plain values. Only the kinds listed here are built from them, so reading a checkpoint never
imports or runs anything else, as `charlm.models.registry` does for networks.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from charlm.data.kinds import DataChangedError, DataKind
from charlm.errors import CharlmError

# kind -> "module:Class" of a `DataKind`, imported on first use.
KINDS = {
    "words": "charlm.data.words:WordList",
    "text": "charlm.data.text:RunningText",
    "lines": "charlm.data.lines:TextLines",
    "records": "charlm.data.records:TextRecords",
}
# The DataModules, by both their names, whose checkpoints predate a stored kind.
TARGET_KINDS = {
    "charlm.data.CharWindowDataModule": "words",
    "charlm.data.datamodule.CharWindowDataModule": "words",
    "charlm.data.TextDataModule": "text",
    "charlm.data.text_datamodule.TextDataModule": "text",
    "charlm.data.LinesDataModule": "lines",
    "charlm.data.lines.LinesDataModule": "lines",
    "charlm.data.datamodule.LinesDataModule": "lines",
}


def kind_class(kind: str) -> type[DataKind]:
    """The `DataKind` class of `kind`, one of KINDS."""
    if kind not in KINDS:
        raise CharlmError(f"data kind {kind!r}: one of {', '.join(KINDS)}")
    module, name = KINDS[kind].split(":")
    return getattr(import_module(module), name)


# The generic DataModule, whose config names its kind (`kind: records`).
GENERIC_TARGETS = ("charlm.data.LanguageDataModule", "charlm.data.datamodule.LanguageDataModule")


def stored_kind(data: dict[str, Any], identity: dict[str, Any] | None, data_path: Any) -> str:
    """The kind a checkpoint's data is: its identity says, or (written before kinds were
    stored) its DataModule's name; a word list's identity named none.

    The data of a DataModule of the user's own is read only from `data_path`, as a plain
    word list: reading it through the run's own class would mean importing whatever class
    the checkpoint names.
    """
    target = str(data.get("_target_", "charlm.data.CharWindowDataModule"))
    if target not in TARGET_KINDS and target not in GENERIC_TARGETS and not data_path:
        raise DataChangedError(
            f"the run read its data with {target}, not from a plain word list: give "
            "data_path=A_WORD_LIST (one word per line, the same words) to tag or evaluate them"
        )
    kind = (identity or {}).get("kind") or data.get("kind") or TARGET_KINDS.get(target)
    return str(kind or "words")


def model_data(model: Any, data_path: str | Path | None = None) -> DataKind:
    """The data of the run a loaded model comes from, as its run described it (not read yet:
    `load()`, or `checked(...)`, reads it). `data_path` replaces the path the run stored."""
    data = dict((getattr(model, "config", None) or {}).get("data") or {})
    identity = getattr(model, "data_identity", None)
    cls = kind_class(stored_kind(data, identity, data_path))
    return cls.from_config(data, vocab=model.vocab, path=data_path)


def checked_data(
    model: Any, data_path: str | Path | None = None, resplit: bool = False
) -> tuple[DataKind, bool]:
    """`model_data`, read and checked against the model's identity: a changed file is refused
    unless `resplit`; returns it and whether it changed."""
    data = model_data(model, data_path)
    return data, data.check_unchanged(getattr(model, "data_identity", None), resplit)
