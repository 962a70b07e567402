"""Loading trained models from checkpoints safely: tensors and plain data only, no pickled code."""

from __future__ import annotations

import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from charlm.data.kinds import RESPLIT_NOTE as RESPLIT_NOTE
from charlm.data.kinds import DataChangedError as DataChangedError
from charlm.data.vocab import stored_vocabulary
from charlm.errors import CharlmError
from charlm.errors import CheckpointError as CheckpointError
from charlm.export import is_export, read_export
from charlm.models.base import CharLM
from charlm.models.classifiers import Classifier
from charlm.models.ensemble import EnsembleLM
from charlm.models.registry import build_net, net_class


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """`torch.load(weights_only=True)` with errors that name the file and the cause; or a
    folder of `charlm-export` (safetensors and JSON, no pickle) read as the same checkpoint."""
    path = Path(path)
    if is_export(path):
        return read_export(path)
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


def device_for(name: str | None) -> torch.device:
    """The torch device a command's `device=` names: `auto` (a GPU where there is one, else the
    CPU, as Lightning's `accelerator: auto` chooses), `cpu`, `cuda` or `cuda:N`. A device this
    machine lacks is refused in one line, before anything is loaded onto it."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(str(name))
    except (RuntimeError, ValueError):
        raise CharlmError(f"device={name!r}: not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index or 0) >= count:
            raise CharlmError(
                f"device={name}: this machine has {count} CUDA device(s); use device=cpu, or "
                "device=auto to take a GPU where there is one"
            )
    elif device.type != "cpu":
        raise CharlmError(f"device={name}: charlm's commands run on auto, cpu, cuda or cuda:N")
    return device


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
        # A classifier's checkpoint stores its run config but no vocabulary.
        cls = _stored_class(path, meta) if isinstance(meta, dict) else None
        if cls is not None and issubclass(cls, Classifier):
            raise CheckpointError(
                f"{path} holds a classifier ({cls.__name__}), not a character language model: "
                "charlm-sample, charlm-eval and charlm-score read language models; "
                "charlm-inspect draws its diagnostics, charlm.Run.load reads its metrics"
            )
        raise CheckpointError(f"{path} was not written by charlm-train (no vocabulary stored)")
    cls, model, config = _stored_net(path, checkpoint, meta)
    if not issubclass(cls, CharLM):
        raise CheckpointError(f"{path}: {cls.__name__} is not a character language model")
    model.vocab = stored_vocabulary(meta["vocab"], meta.get("vocab_kind"))
    if len(model.vocab) != getattr(model, "vocab_size", len(model.vocab)):
        raise CheckpointError(
            f"{path}: its vocabulary has {len(model.vocab)} symbols, its model {model.vocab_size}"
        )
    model.config = config
    model.data_identity = meta.get("data") if isinstance(meta.get("data"), dict) else None
    model.checkpoint_path = str(path)
    return model.eval()


def load_classifier(path: str | Path) -> tuple[Classifier, dict[str, Any], int]:
    """The trained classifier of a charlm checkpoint in eval mode, its run config and the
    update it was saved at."""
    checkpoint = read_checkpoint(path)
    meta = checkpoint.get("charlm")
    if not isinstance(meta, dict) or not meta.get("config"):
        raise CheckpointError(f"{path} was not written by charlm-train (no run config stored)")
    cls, model, config = _stored_net(path, checkpoint, meta)
    if not issubclass(cls, Classifier):
        raise CheckpointError(f"{path}: {cls.__name__} is not one of charlm's classifiers")
    return model.eval(), config, int(checkpoint.get("global_step", 0))


def _stored_config(path: str | Path, meta: dict[str, Any]) -> dict[str, Any]:
    """The run config a checkpoint stores (`{}` if none); a damaged one is a one-line error."""
    try:
        config = yaml.safe_load(meta.get("config") or "{}") or {}
        if not isinstance(config, dict) or not isinstance(config.get("model") or {}, dict):
            raise TypeError("not a mapping")
        dict((config.get("model") or {}).get("net") or {})
    except (yaml.YAMLError, AttributeError, TypeError, ValueError) as err:
        raise CheckpointError(
            f"{path}: its stored run config is damaged ({type(err).__name__}); it cannot be loaded"
        ) from None
    return config


def _stored_class(path: str | Path, meta: dict[str, Any]) -> type[torch.nn.Module] | None:
    """The network class a checkpoint's run config names, or None where it names none."""
    try:
        config = _stored_config(path, meta)
        return net_class(str(((config.get("model") or {}).get("net") or {}).get("_target_", "")))
    except CharlmError:
        return None


def _stored_net(
    path: str | Path, checkpoint: dict[str, Any], meta: dict[str, Any]
) -> tuple[type[torch.nn.Module], torch.nn.Module, dict[str, Any]]:
    """The network a checkpoint's run config names, built and given the stored weights."""
    config = _stored_config(path, meta)
    net_cfg = dict((config.get("model") or {}).get("net") or {})
    try:
        cls = net_class(str(net_cfg.get("_target_", "")))
    except CharlmError as err:
        raise CheckpointError(f"{path}: {err}") from None
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
    return cls, model, config


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


def checkpoint_words(
    model: CharLM, data_path: str | Path | None = None, resplit: bool = False
) -> dict[str, list[str]]:
    """The train/val/test words (or lines) of the run a loaded model comes from, split as it
    was (`charlm.data.registry.checked_data`): `data_path` replaces the path the run stored; a
    file whose content differs from the one the run was split from is refused, unless
    `resplit=True`."""
    from charlm.data.registry import checked_data

    data, _ = checked_data(model, data_path, resplit)
    return data.novelty_splits()


def check_resume(
    checkpoint: dict[str, Any], net: torch.nn.Module, datamodule: Any, path: str
) -> None:
    """Refuse to resume a checkpoint whose model, data kind or vocabulary differs from the
    run's (`net`, `datamodule`)."""
    from charlm.errors import ConfigError

    meta = checkpoint.get("charlm") or {}
    vocab = getattr(datamodule, "vocab", None)
    kind = meta.get("vocab_kind") or "words"
    if vocab is not None and meta.get("vocab") and kind != vocab.kind:
        names = {"text": "running text", "tokens": "tokens", "words": "a word list"}
        trained, here = names.get(kind, kind), names.get(vocab.kind, vocab.kind)
        raise ConfigError(
            f"ckpt_path={path} is a model of {trained}, and this run trains on {here}: resume "
            "it with the data it was trained on, or train anew without ckpt_path",
            key="ckpt_path",
        )
    problem = state_dict_mismatch(net, {
        k[4:]: v for k, v in checkpoint["state_dict"].items() if str(k).startswith("net.")
    })  # fmt: skip
    if problem:
        raise ConfigError(
            f"ckpt_path={path} holds another model than this run's ({problem}); resume with "
            "the overrides that trained it (its run's .hydra/overrides.yaml), or train anew "
            "without ckpt_path",
            key="ckpt_path",
        )
    stored = meta.get("vocab")
    if stored and vocab is not None and stored != vocab.to_string():
        raise ConfigError(
            f"ckpt_path={path} was trained on another vocabulary ({len(stored)} symbols, this "
            f"data has {len(vocab)}): resume it on the data it was trained on (data.path=)",
            key="ckpt_path",
        )
    then, identity = meta.get("data") or {}, getattr(datamodule, "data_identity", None)
    now = identity() if callable(identity) and then else {}
    for key in ("words_sha256", "text_sha256"):
        if then.get(key) and now.get(key):
            check_resume_digest(checkpoint, key, now[key], datamodule.path, path)


def check_resume_digest(
    checkpoint: dict[str, Any], key: str, digest: str, data_path: Any, path: str
) -> None:
    """Refuse to resume a checkpoint trained on data whose SHA-256 (`key` of its identity)
    is not `digest`, the data's now. Called before the data is read in full (encoded), so a
    refused resume writes nothing, and again once it is read."""
    from charlm.errors import ConfigError

    then = ((checkpoint.get("charlm") or {}).get("data") or {}).get(key)
    if then and then != digest:
        raise ConfigError(
            f"ckpt_path={path} was trained on other data than {data_path} (SHA-256 "
            f"{then[:12]}... then, {digest[:12]}... now): resume it on the data it "
            "was trained on (data.path=), or train anew without ckpt_path",
            key="ckpt_path",
        )


def check_schedule_fits(checkpoint: dict[str, Any], max_steps: int, path: str) -> None:
    """Refuse to resume a run whose learning-rate schedule spans fewer updates than the run
    now asks for (a one-cycle schedule is fixed in length once started)."""
    from charlm.errors import ConfigError

    for state in checkpoint.get("lr_schedulers") or []:
        total = state.get("total_steps") if isinstance(state, dict) else None
        if isinstance(total, int) and total < max_steps:
            raise ConfigError(
                f"ckpt_path={path}: its one-cycle schedule spans {total} updates and "
                f"trainer.max_steps={max_steps} asks for more; such a schedule cannot be "
                f"stretched once run: resume with trainer.max_steps<={total}, or train anew "
                f"with trainer.max_steps={max_steps} (without ckpt_path)",
                key="ckpt_path",
            )


def check_resume_processes(
    checkpoint: dict[str, Any], world_size: int, batch_size: Any, path: str
) -> str | None:
    """Refuse to resume a checkpoint with another global batch (the minibatch of one update
    over every process) than it was trained with: every later update would differ. With the
    same global batch over another number of processes, the one line that says so (the
    minibatches are drawn anew, so the run goes on but is not the uninterrupted one's), else
    None. Checkpoints that stored neither go on as before."""
    from charlm.errors import ConfigError

    meta = checkpoint.get("charlm") or {}
    then, then_batch = meta.get("world_size"), meta.get("global_batch_size")
    if not isinstance(then, int) or then == world_size:
        return None
    now_batch = batch_size * world_size if isinstance(batch_size, int) else None
    if then_batch != now_batch:
        fix = (
            f"; or give data.batch_size={then_batch // world_size} to keep it"
            if isinstance(then_batch, int) and then_batch % world_size == 0
            else ""
        )
        raise ConfigError(
            f"ckpt_path={path} was trained by {then} process(es) with a global batch of "
            f"{then_batch}, and this run has {world_size} with {now_batch}: every later update "
            f"would differ. Resume it with {then} process(es){fix}",
            key="ckpt_path",
        )
    return (
        f"resumed with {world_size} process(es) a run of {then} (global batch {now_batch} "
        "kept): the minibatches from here are drawn anew, so the figures differ from an "
        "uninterrupted run's"
    )
