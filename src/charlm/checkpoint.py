"""Loading trained models from checkpoints safely: tensors and plain data only, no pickled code."""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from charlm.data.corpus import load_words, split_words
from charlm.data.vocab import Vocabulary
from charlm.errors import CharlmError
from charlm.models.base import CharLM
from charlm.models.ensemble import EnsembleLM
from charlm.models.registry import build_net, net_class

# The DataModule, by both its names, whose `path` is a plain word list that
# `checkpoint_words` can split again.
WORD_LIST_DATA = ("charlm.data.CharWindowDataModule", "charlm.data.datamodule.CharWindowDataModule")


class CheckpointError(CharlmError):
    """A checkpoint is missing, unreadable, unsafe, or not a charlm checkpoint."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """`torch.load(weights_only=True)` with errors that name the file and the cause."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint not found: {path}; runs keep theirs in <run dir>/checkpoints/"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"refused to load {path}: it holds objects other than tensors and plain data, "
            f"which could run code when unpickled ({first}). Only load checkpoints you trust "
            "with other tools"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or corrupt?): "
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not a Lightning checkpoint (no state_dict)")
    return checkpoint


def load_model(path: str | Path | Sequence[str | Path]) -> CharLM:
    """The trained network of a charlm checkpoint, with `.vocab` and `.config`, in eval mode.

    Several checkpoints (a list, or paths joined by commas) load as one `EnsembleLM`: their
    probabilities averaged. Needs neither Lightning nor Hydra at inference time: the network
    class is looked up among `charlm.models` by the name the run's config gives, never
    imported from an arbitrary path.
    """
    paths = [p for p in str(path).split(",") if p] if isinstance(path, str | Path) else list(path)
    if len(paths) > 1:
        return EnsembleLM([load_model(p) for p in paths]).eval()
    path = paths[0] if paths else path
    checkpoint = read_checkpoint(path)
    meta = checkpoint.get("charlm")
    if not isinstance(meta, dict) or not meta.get("vocab"):
        raise CheckpointError(f"{path} was not written by charlm-train (no vocabulary stored)")
    config = yaml.safe_load(meta.get("config") or "{}") or {}
    net_cfg = dict((config.get("model") or {}).get("net") or {})
    try:
        cls = net_class(str(net_cfg.get("_target_", "")))
    except CharlmError as err:
        raise CheckpointError(f"{path}: {err}") from None
    if not issubclass(cls, CharLM):
        raise CheckpointError(f"{path}: {cls.__name__} is not a character language model")
    model = build_net(net_cfg)
    state = {k[4:]: v for k, v in checkpoint["state_dict"].items() if k.startswith("net.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit {cls.__name__}: {err}") from None
    model.vocab = Vocabulary.from_string(meta["vocab"])
    model.config = config
    return model.eval()


def checkpoint_words(model: CharLM, data_path: str | Path | None = None) -> dict[str, list[str]]:
    """The train/val/test words of the run a loaded model comes from, split as it was.

    `data_path` replaces the word list's path stored in the run's config (e.g. after moving it).
    """
    data = (model.config or {}).get("data") or {}
    path = data_path or data.get("path")
    if not path:
        raise CheckpointError("the checkpoint stores no data path: give data_path=PATH")
    target = str(data.get("_target_", WORD_LIST_DATA[0]))
    if not data_path and target not in WORD_LIST_DATA:
        # Reading the words through the run's own DataModule would mean importing whatever
        # class the checkpoint names; plain word lists only.
        raise CheckpointError(
            f"the run read its words with {target}, not from a plain word list: give "
            "data_path=A_WORD_LIST (one word per line, the same words) to tag or evaluate them"
        )
    words = load_words(path)
    model.vocab.check_words(words, f"word list {path}")
    parts = split_words(words, data.get("split", (0.8, 0.1, 0.1)), data.get("split_seed", 42))
    return dict(zip(("train", "val", "test"), parts, strict=True))
