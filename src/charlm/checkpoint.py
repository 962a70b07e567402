"""Loading trained models from checkpoints safely: tensors and plain data only, no pickled code."""

from __future__ import annotations

import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from charlm.data.corpus import distinct_words, load_words, split_words, words_digest
from charlm.data.vocab import TextVocabulary, stored_vocabulary
from charlm.errors import CharlmError
from charlm.models.base import CharLM
from charlm.models.ensemble import EnsembleLM
from charlm.models.registry import build_net, net_class

# The DataModule, by both its names, whose `path` is a plain word list that
# `checkpoint_words` can split again.
WORD_LIST_DATA = ("charlm.data.CharWindowDataModule", "charlm.data.datamodule.CharWindowDataModule")
# The DataModule, by both its names, of lines of a text as sequences (characters or tokens).
LINES_DATA = ("charlm.data.LinesDataModule", "charlm.data.lines.LinesDataModule")


class CheckpointError(CharlmError):
    """A checkpoint is missing, unreadable, unsafe, or not a charlm checkpoint."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """`torch.load(weights_only=True)` with errors that name the file and the cause."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            f"{path} is a directory: give a checkpoint file (e.g. {path}/last.ckpt)"
        )
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint not found: {path}; runs keep theirs in <run dir>/checkpoints/"
        )
    try:
        with path.open("rb"):
            pass
    except OSError as err:
        raise CheckpointError(f"{path} cannot be read: {err.strerror or err}") from None
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        # weights_only refuses pickled classes and functions ("GLOBAL ..."); any other
        # unpickling error is a file that is no pickle at all.
        unsafe = [m.group(1) for line in lines if (m := re.search(r"GLOBAL (\S+)", line))]
        if unsafe:
            raise CheckpointError(
                f"refused to load {path}: it holds objects other than tensors and plain data, "
                f"which could run code when unpickled (it names {unsafe[0]}). Only load "
                "checkpoints you trust with other tools"
            ) from None
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt, truncated or another kind of file)"
        ) from None
    except Exception:  # torch.load fails in many ways on a damaged file; none says more
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt, truncated or another kind of file)"
        ) from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
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
        ensemble = EnsembleLM([load_model(p) for p in paths])
        ensemble.checkpoint_path = ", ".join(str(p) for p in paths)
        return ensemble.eval()
    path = paths[0] if paths else path
    checkpoint = read_checkpoint(path)
    meta = checkpoint.get("charlm")
    if not isinstance(meta, dict) or not isinstance(meta.get("vocab"), str) or not meta["vocab"]:
        raise CheckpointError(f"{path} was not written by charlm-train (no vocabulary stored)")
    try:
        config = yaml.safe_load(meta.get("config") or "{}") or {}
        net_cfg = dict((config.get("model") or {}).get("net") or {})
    except (yaml.YAMLError, AttributeError, TypeError, ValueError) as err:
        raise CheckpointError(
            f"{path}: its stored run config is damaged ({type(err).__name__}); it cannot be loaded"
        ) from None
    try:
        cls = net_class(str(net_cfg.get("_target_", "")))
    except CharlmError as err:
        raise CheckpointError(f"{path}: {err}") from None
    if not issubclass(cls, CharLM):
        raise CheckpointError(f"{path}: {cls.__name__} is not a character language model")
    try:
        model = build_net(net_cfg)
    except (CharlmError, TypeError) as err:
        raise CheckpointError(
            f"{path}: its model config does not build {cls.__name__}: {err}"
        ) from None
    state = {k[4:]: v for k, v in checkpoint["state_dict"].items() if str(k).startswith("net.")}
    problem = state_dict_mismatch(model, state)
    if problem:
        raise CheckpointError(f"{path}: its weights do not fit {cls.__name__}: {problem}")
    model.load_state_dict(state)
    model.vocab = stored_vocabulary(meta["vocab"], meta.get("vocab_kind"))
    if len(model.vocab) != getattr(model, "vocab_size", len(model.vocab)):
        raise CheckpointError(
            f"{path}: its vocabulary has {len(model.vocab)} symbols, its model {model.vocab_size}"
        )
    model.config = config
    model.data_identity = meta.get("data") if isinstance(meta.get("data"), dict) else None
    model.checkpoint_path = str(path)
    return model.eval()


def state_dict_mismatch(module: torch.nn.Module, state: dict[str, Any]) -> str:
    """'' if `state` loads into `module`, else a short line naming the first keys that differ."""
    if not all(torch.is_tensor(v) for v in state.values()):
        return "its weights are not tensors"
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    shapes = [
        f"{k} is {tuple(state[k].shape)} there, {tuple(v.shape)} here"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    parts = []
    if shapes:
        parts.append(shapes[0] + (f" (and {len(shapes) - 1} more)" if len(shapes) > 1 else ""))
    if missing:
        parts.append(f"it lacks {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else ""))
    if extra:
        parts.append(
            f"it has no place for {', '.join(extra[:3])}" + (" ..." if len(extra) > 3 else "")
        )
    return "; ".join(parts)


class DataChangedError(CheckpointError):
    """The word list a run was split from is not the one at its path now."""


# What a command says when it splits a changed word list because it was asked to.
RESPLIT_NOTE = (
    "note: the word list changed since training; split again as asked (resplit=true): "
    "the figures and tags are not those of the run's own split"
)


def checkpoint_words(
    model: CharLM, data_path: str | Path | None = None, resplit: bool = False
) -> dict[str, list[str]]:
    """The train/val/test words of the run a loaded model comes from, split as it was.

    `data_path` replaces the word list's path stored in the run's config (e.g. after moving it).
    A word list whose words differ from those the run was split from (its SHA-256 is in the
    checkpoint) is refused: its split would differ, and held-out words could be scored as
    training ones. `resplit=True` splits it all the same (`checkpoint_split` says whether).
    """
    return checkpoint_split(model, data_path, resplit)[0]


def checkpoint_split(
    model: CharLM, data_path: str | Path | None = None, resplit: bool = False
) -> tuple[dict[str, list[str]], bool]:
    """`checkpoint_words`, and whether the list differs from the run's (split again as asked)."""
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
    words, _ = distinct_words(load_words(path))
    identity = getattr(model, "data_identity", None) or {}
    stored, digest = identity.get("words_sha256"), words_digest(words)
    changed = bool(stored) and stored != digest
    if changed and not resplit:
        raise DataChangedError(
            f"{path} is not the word list this model was split from ({identity.get('words')} "
            f"distinct words then, {len(words)} now; SHA-256 {stored[:12]}... then, "
            f"{digest[:12]}... now): restore it, point data_path= at the original, "
            "or give resplit=true to split the file as it is now"
        )
    model.vocab.check_words(words, f"word list {path}")
    parts = split_words(words, data.get("split", (0.8, 0.1, 0.1)), data.get("split_seed", 42))
    return dict(zip(("train", "val", "test"), parts, strict=True)), changed


def is_text_model(model: CharLM) -> bool:
    """Whether `model` was trained on running text (its vocabulary is a text's)."""
    return isinstance(getattr(model, "vocab", None), TextVocabulary)


def text_block_size(model: CharLM) -> int:
    """The block a text model was trained and evaluated on (its run's data.block_size)."""
    data = (model.config or {}).get("data") or {}
    return int(data.get("block_size") or model.context_size)


def checkpoint_text(
    model: CharLM, data_path: str | Path | None = None, resplit: bool = False
) -> tuple[Any, dict[str, tuple[int, int]], bool]:
    """The encoded text a text model was trained on, its splits' (start, end), and whether the
    text changed since (split again as asked: `resplit=True`; refused otherwise)."""
    from charlm.data.text import encode_text, split_bounds

    data = (model.config or {}).get("data") or {}
    path = data_path or data.get("path")
    if not path:
        raise CheckpointError("the checkpoint stores no text path: give data_path=PATH")
    encoded = encode_text(path, data.get("cache_dir"))
    identity = getattr(model, "data_identity", None) or {}
    stored = identity.get("text_sha256")
    changed = bool(stored) and stored != encoded.sha256
    if changed and not resplit:
        raise DataChangedError(
            f"{path} is not the text this model was split from ({identity.get('characters')} "
            f"characters then, {encoded.length} now): restore it, point data_path= at the "
            "original, or give resplit=true to split the text as it is now"
        )
    if encoded.vocab != model.vocab:
        extra = sorted(set(encoded.vocab.itos) - set(model.vocab.itos))
        raise CheckpointError(
            f"{path} holds characters the model was not trained on ({''.join(extra)!r})"
            if extra
            else f"{path} lacks some of the model's characters: its ids would differ; give "
            "the text the model was trained on (data_path=)"
        )
    bounds = split_bounds(encoded.length, data.get("split", (0.85, 0.05, 0.10)))
    return encoded, dict(zip(("train", "val", "test"), bounds, strict=True)), changed


def is_lines_model(model: CharLM) -> bool:
    """Whether `model` was trained on the lines of a text (of characters or tokens)."""
    identity = getattr(model, "data_identity", None) or {}
    data = (getattr(model, "config", None) or {}).get("data") or {}
    return identity.get("kind") == "lines" or str(data.get("_target_")) in LINES_DATA


def checkpoint_lines(
    model: CharLM, data_path: str | Path | None = None, resplit: bool = False
) -> tuple[Any, bool]:
    """The lines a lines model was trained on, split and encoded as in its run (a
    `LinesDataModule` holding the model's own vocabulary, so no tokenizer is trained again),
    and whether the text changed since (split again as asked: `resplit=True`; refused
    otherwise)."""
    from charlm.data.lines import LinesDataModule

    data = (model.config or {}).get("data") or {}
    path = data_path or data.get("path")
    if not path:
        raise CheckpointError("the checkpoint stores no text path: give data_path=PATH")
    datamodule = LinesDataModule(
        path,
        units=data.get("units", "tokens"),
        clean=data.get("clean"),
        context_size=int(data.get("context_size") or model.context_size),
        split=data.get("split", (0.8, 0.1, 0.1)),
        split_seed=data.get("split_seed", 42),
        eval_batch_size=int(data.get("eval_batch_size") or 4096),
        contract=model.data_contract,
        vocab=model.vocab,
    )
    datamodule.setup()
    identity = getattr(model, "data_identity", None) or {}
    stored = identity.get("text_sha256")
    now = datamodule.data_identity()
    changed = bool(stored) and stored != now["text_sha256"]
    if changed and not resplit:
        raise DataChangedError(
            f"{path} is not the text this model was split from ({identity.get('lines')} lines "
            f"then, {now['lines']} now): restore it, point data_path= at the original, or "
            "give resplit=true to split the text as it is now"
        )
    return datamodule, changed
