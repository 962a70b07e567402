"""What a trained model is asked once trained: its metrics on its own splits and on a word
list, and how new the words it samples are. The commands (`charlm-eval`, `charlm-sample`,
`charlm-score`, `charlm-report`) and the notebooks call these; they import no command, and
ask the model's data (`charlm.data.registry.model_data`) whatever depends on its kind.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from charlm.checkpoint import RESPLIT_NOTE, load_model
from charlm.data.batches import SPLITS, TensorSlices
from charlm.data.kinds import (
    NOVELTY,
    WORDS_PER_CHUNK,
    DataKind,
    novelty,
    novelty_summary,
    sample_chunks,
)
from charlm.data.registry import model_data
from charlm.errors import CharlmError
from charlm.metrics import evaluate_dynamic, evaluate_lm, per_character
from charlm.models.base import CharLM

__all__ = [
    "NOVELTY",
    "WORDS_PER_CHUNK",
    "evaluate_checkpoint",
    "evaluate_model",
    "evaluate_split",
    "evaluate_words",
    "inspect_checkpoint",
    "novelty",
    "novelty_summary",
    "sample_chunks",
]

# Predictions an evaluation batch holds when the run's config does not say.
EVAL_PREDICTIONS = 8192
# The SGD step size of `mode=dynamic`, chosen on the validation split of shakespeare_best's
# checkpoint of weight decay 0.01 (val 1.3205 at 1.0; 1.3890 at 0.1, 1.3529 at 0.3, 1.3309 at
# 0.6, 1.3241 at 2.0: docs/results.md).
DYNAMIC_LR = 1.0


def evaluate_words(model: CharLM, words: list[str], batch_size: int = 8192) -> dict[str, float]:
    """Metrics of `model` over every character of `words`, the end token of each included.

    `batch_size` counts predictions: a batch of sequences holds that many positions.
    """
    x, y = model.examples(words)
    rows = max(1, batch_size // y[0].numel())
    return evaluate_lm(model, TensorSlices(x, y, batch_size=rows))


def evaluate_split(
    model: CharLM,
    data: DataKind,
    name: str,
    mode: str | None = None,
    dynamic_lr: float = DYNAMIC_LR,
) -> dict[str, float]:
    """Metrics of `model` over split `name` of its data, read as its run's evaluation read
    it, or as `mode` reads it (one of `data.eval_modes`); per character of the text too where
    predictions are not characters (tokens). `mode="dynamic"` learns from the split as it
    reads it, by steps of `dynamic_lr` (`charlm.metrics.evaluate_dynamic`)."""
    stored = (model.config or {}).get("data") or {}
    predictions = int(stored.get("eval_batch_size") or EVAL_PREDICTIONS)
    context = int(stored.get("context_size") or model.context_size)
    if mode in (None, data.eval_modes[0]):
        batches = data.eval_batches(name, model.data_contract, context, predictions)
        values = evaluate_lm(model, batches)
    elif mode == "dynamic":
        values = evaluate_dynamic(model, data.mode_batches(name, mode, predictions), dynamic_lr)
    else:
        values = evaluate_lm(_reader(model, mode), data.mode_batches(name, mode, predictions))
    chars = data.split_characters(name)
    return per_character(values, chars) if chars is not None else values


def _reader(model: CharLM, mode: str) -> Any:
    """The model as `mode` reads a split: `carried` carries a recurrent state across blocks."""
    if mode != "carried":
        return model
    from charlm.models.recurrent import CarriedState, RecurrentLM

    if not isinstance(model, RecurrentLM):
        raise CharlmError(
            f"mode=carried: carries a recurrent state from block to block, and this is a "
            f"{type(model).__name__}; use mode=blocks or mode=sliding"
        )
    return CarriedState(model)


def evaluate_checkpoint(
    ckpt: str | Path | list[str],
    words: str | Path | None = None,
    data_path: str | Path | None = None,
    unknown: str = "skip",
    resplit: bool = False,
) -> dict[str, dict[str, Any]]:
    """Metrics on the checkpoint's own train/val/test split, and on `words` if given.

    Words of `words` holding characters outside the model's vocabulary, or longer than the
    model reads, are skipped and reported on standard error (`unknown="skip"`), or refuse the
    whole file (`"error"`). `resplit` splits data changed since training all the same.
    """
    model = load_model(ckpt)
    return evaluate_model(model, model_data(model, data_path), words, unknown, resplit)


def evaluate_model(
    model: CharLM,
    data: DataKind,
    words: str | Path | None = None,
    unknown: str = "skip",
    resplit: bool = False,
    mode: str | None = None,
    dynamic_lr: float = DYNAMIC_LR,
) -> dict[str, dict[str, Any]]:
    """`evaluate_checkpoint` of a loaded model and its data (`model_data(model)`); `mode`
    reads the splits another way (`DataKind.eval_modes`: for running text, `sliding`,
    `carried` or `dynamic`, the last by steps of `dynamic_lr`)."""
    if unknown not in ("skip", "error"):
        raise CharlmError(f"unknown={unknown!r}: 'skip' (report and go on) or 'error'")
    data.check_eval_mode(mode)
    if data.check_unchanged(model.data_identity, resplit):
        print(f"charlm-eval: {RESPLIT_NOTE}", file=sys.stderr)
    batches = data.file_batches(model, str(words), unknown) if words else None
    results = {
        name: evaluate_split(model, data, name, mode, dynamic_lr)
        for name in SPLITS
        if data.has_split(name)
    }
    if batches is not None:
        results[Path(words).name] = evaluate_lm(model, batches)
    return results


def inspect_checkpoint(
    ckpt: str | Path,
    output: str | Path | None = None,
    batch_size: int = 256,
    seed: int = 0,
    data_path: str | Path | None = None,
    resplit: bool = False,
) -> Path:
    """Write the diagnostics figure of checkpoint `ckpt` as a PNG; return its path.

    `batch_size` training examples (windows, or words for sequence models) are drawn with
    `seed`. The PNG goes to `output`, by default `diagnostics-<checkpoint name>.png` beside
    the checkpoint.
    """
    import torch
    import torch.nn.functional as F

    from charlm.checkpoint import load_classifier, read_checkpoint
    from charlm.data.sequences import PAD_TARGET
    from charlm.diagnostics import Probe, diagnostics_figure
    from charlm.errors import check_output, check_positive_ints
    from charlm.models.sampling import logits_for

    check_positive_ints(batch_size=batch_size)
    ckpt = Path(ckpt)
    if "," in str(ckpt):
        raise CharlmError(f"ckpt={ckpt}: charlm-inspect reads one checkpoint at a time")
    path = Path(output) if output else ckpt.parent / f"diagnostics-{ckpt.stem}.png"
    check_output(path, [ckpt, data_path])
    checkpoint = read_checkpoint(ckpt)
    step = int(checkpoint.get("global_step", 0))
    if is_classifier_checkpoint(checkpoint):
        model, config, _ = load_classifier(ckpt)
        x, y = classifier_examples(ckpt, config)
    else:
        model = load_model(ckpt)
        config = model.config
        data = model_data(model, data_path)
        check_output(path, data.paths)  # the data the run read, by any name
        data.check_unchanged(model.data_identity, resplit)
        x, y = data.training_examples(model)
    rows = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:batch_size]
    probe = Probe(model)
    probe.start(snapshot_weights=False)
    with torch.enable_grad():
        logits = logits_for(model, x[rows], y[rows])
        if logits.shape[-1] == 1:  # a binary classifier's one logit
            loss = F.binary_cross_entropy_with_logits(logits[:, 0], y[rows].float())
        else:
            loss = F.cross_entropy(
                logits.flatten(0, -2), y[rows].flatten().long(), ignore_index=PAD_TARGET
            )
        loss.backward()
    snap = probe.finish()

    lr = ((config.get("model") or {}).get("optimizer") or {}).get("lr")
    history = one_step_ratios(probe, snap, lr, step)
    fig = diagnostics_figure(
        snap,
        history,
        title=f"{ckpt} (update {step}): {len(rows)} training examples, loss {loss.item():.4f}",
        update_label=f"one SGD step at lr={lr}: update-to-weight ratio (log10)",
    )
    fig.savefig(path, dpi=80)
    return path


def is_classifier_checkpoint(checkpoint: dict[str, Any]) -> bool:
    """Whether a checkpoint read by `read_checkpoint` holds one of charlm's classifiers."""
    meta = checkpoint.get("charlm")
    return isinstance(meta, dict) and not meta.get("vocab") and bool(meta.get("config"))


def classifier_examples(ckpt: Path, config: dict[str, Any]) -> tuple[Any, Any]:
    """The training split of a classifier's table, rebuilt from its run config.

    Only charlm's own table DataModules are built: a stored config could name any class.
    """
    from charlm.data import tables

    data = dict(config.get("data") or {})
    name = str(data.pop("_target_", "")).rsplit(".", 1)[-1]
    cls = getattr(tables, name, None)
    if not str(config.get("data", {}).get("_target_", "")).startswith("charlm.data.") or not (
        isinstance(cls, type) and issubclass(cls, tables.StepDataModule)
    ):
        raise CharlmError(
            f"{ckpt}: its data ({name or 'none stored'}) is not one of charlm's tables "
            "(TableDataModule, FizzBuzzDataModule); charlm-inspect cannot rebuild its examples"
        )
    try:
        module = cls(**{k: v for k, v in data.items() if not str(k).startswith("_")})
    except TypeError as err:
        raise CharlmError(f"{ckpt}: its stored data config does not build {name}: {err}") from None
    module.setup()
    return module.splits["train"]


def one_step_ratios(probe: Any, snap: Any, lr: Any, step: int) -> dict[str, list]:
    """For each weight matrix, the update one plain SGD step at `lr` would make, relative to
    the weights (log10), as the fourth panel's one point at `step`: a checkpoint holds no
    history of updates."""
    from charlm.diagnostics import finite

    history: dict[str, list[tuple[int, float]]] = {}
    if isinstance(lr, int | float) and not isinstance(lr, bool) and lr > 0:
        for name, p in probe.weights:
            grad = snap.weight_grads.get(name)
            if finite(grad) and float(grad.std()) > 0:
                ratio = lr * float(grad.std()) / float(p.detach().std())
                history[name] = [(step, math.log10(ratio))]
    return history
