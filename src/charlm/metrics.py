"""Every metric charlm reports, in one place: what each means, how it is computed and shown.

`METRICS` is the catalogue the tables read (charlm-eval, charlm-report, the README's): a
metric that `LMMetrics` or `ClassifierMetrics` computes appears in them by its name; its entry
says how it is formatted and whether charlm-report's short table shows it.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from charlm.data.sequences import PAD_TARGET
from charlm.errors import CharlmError, NonFiniteError
from charlm.models.sampling import logits_for

# torchmetrics is imported where a metric object is made, not here: importing it takes about
# 3 s (it imports scipy), which the commands that read this module's tables and helpers but
# compute no metric (charlm-sample, charlm-score of words, charlm-report) need not pay.
if TYPE_CHECKING:
    from torchmetrics import Metric


@dataclass(frozen=True)
class MetricInfo:
    """How a metric reads: its meaning, its format, and the splits charlm-report's table shows
    (its CSV holds every split of every metric)."""

    meaning: str
    fmt: str = ".4f"
    report_splits: tuple[str, ...] = ()


METRICS: dict[str, MetricInfo] = {
    "loss": MetricInfo(
        "mean NLL per predicted character in nats (end token included); for a classifier, "
        "its cross-entropy",
        report_splits=("train", "val", "test"),
    ),
    "ppl": MetricInfo("perplexity, exp(loss)"),
    "bpc": MetricInfo(
        "bits per character, loss / ln 2; for a model of tokens, char_loss / ln 2 (per "
        "character of the text it reads)"
    ),
    "char_loss": MetricInfo(
        "mean NLL per character of the text in nats, each line's end counted as one "
        "character: loss x predictions / chars, so token and character models compare"
    ),
    "acc": MetricInfo(
        "share of predictions whose most likely character (or class) is the right one",
        report_splits=("test",),
    ),
    "windows": MetricInfo("number of predictions scored", fmt="d"),
    "chars": MetricInfo("characters the predictions cover (lines' ends included)", fmt="d"),
}


def metric_names(results: Iterable[Iterable[str]]) -> list[str]:
    """The metric names in any of `results` (dicts of metrics, or sets of names): the
    catalogue's order, then others by name."""
    present = {name for metrics in results for name in metrics}
    known = [name for name in METRICS if name in present]
    return known + sorted(present - set(METRICS))


def format_metric(name: str, value: Any) -> str:
    """`value` as the catalogue formats metric `name` ('-' when missing)."""
    if value is None:
        return "-"
    info = METRICS.get(name)
    if info is None or isinstance(value, str):
        return f"{value:.4f}" if isinstance(value, float) else str(value)
    return format(int(value) if info.fmt == "d" else value, info.fmt)


def prediction_metrics(vocab_size: int, sync: bool = True) -> dict[str, Metric]:
    """The metrics of a language model's predictions, besides its loss: each is updated with
    (logits, targets) of the predicted characters and named as in `METRICS` (summed over the
    processes of a run unless `sync` is False)."""
    from torchmetrics.classification import MulticlassAccuracy

    return {
        "acc": MulticlassAccuracy(num_classes=vocab_size, average="micro", sync_on_compute=sync)
    }


class LMMetrics(torch.nn.Module):
    """Running loss, ppl, bpc and acc of a language model (torchmetrics, synced across processes)."""

    def __init__(self, vocab_size: int, sync: bool = True) -> None:
        from torchmetrics import MeanMetric, MetricCollection

        super().__init__()
        # loss, ppl and bpc all derive from it; sync=False: this process's batches alone.
        self.nll = MeanMetric(sync_on_compute=sync)
        # Summed in float32 whatever the default dtype where it is made (a bf16-true or
        # 64-true reading sets it): a run's own metrics, made before its Trainer, sum so.
        self.nll.set_dtype(torch.float32)
        self.predictions = MetricCollection(prediction_metrics(vocab_size, sync))

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """Logits (..., vocab) and targets (...): windows or padded sequences alike.

        Padding targets (`PAD_TARGET`) count for nothing, so every family's NLL is the mean
        over the same characters, the end token included.
        """
        logits, targets = logits.flatten(0, -2).float(), targets.flatten()
        keep = targets != PAD_TARGET
        if not bool(keep.all()):
            logits, targets = logits[keep], targets[keep]
        self.nll.update(F.cross_entropy(logits, targets, reduction="none"))
        self.predictions.update(logits, targets)

    def compute(self) -> dict[str, float]:
        nll = float(self.nll.compute())
        return {
            "loss": nll,
            "ppl": math.exp(nll) if nll < 700 else math.inf,
            "bpc": nll / math.log(2),
            **{name: float(value) for name, value in self.predictions.compute().items()},
        }

    def reset(self) -> None:
        self.nll.reset()
        self.predictions.reset()


class ClassifierMetrics(torch.nn.Module):
    """Running loss and acc of a classifier (torchmetrics, synced across processes)."""

    def __init__(self, num_classes: int) -> None:
        from torchmetrics import MeanMetric
        from torchmetrics.classification import MulticlassAccuracy

        super().__init__()
        self.loss = MeanMetric()
        self.acc = MulticlassAccuracy(num_classes=num_classes, average="micro")

    def update(self, loss: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> None:
        """The batch's mean loss and its predicted labels against the targets."""
        self.loss.update(loss, weight=len(targets))
        self.acc.update(labels, targets)

    def compute(self) -> dict[str, float]:
        return {"loss": float(self.loss.compute()), "acc": float(self.acc.compute())}

    def reset(self) -> None:
        self.loss.reset()
        self.acc.reset()


@torch.no_grad()
def evaluate_lm(
    model: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> dict[str, float]:
    """Mean NLL (nats), perplexity, bits per character and accuracy of `model` over `batches`.

    A language model with non-finite weights, or whose logits overflow, is refused
    (`NonFiniteError`, naming its checkpoint) rather than scored as nan.
    """
    require_finite = getattr(model, "require_finite", None)
    if require_finite is not None:
        require_finite()
    was_training = model.training
    model.eval()
    metrics: LMMetrics | None = None
    count = 0
    # Batches go where the model is (`charlm-eval device=cuda`); a model without weights, and
    # batches already there, stay as they are.
    device = next(itertools.chain(model.parameters(), model.buffers()), torch.empty(0)).device
    try:
        for x, y in batches:
            x, y = x.to(device), y.to(device)
            logits = logits_for(model, x, y)
            if metrics is None:
                # Every process of a multi-process run scores the whole split itself.
                metrics = LMMetrics(logits.shape[-1], sync=False).to(device)
            metrics.update(logits, y)
            count += int((y != PAD_TARGET).sum())
    finally:
        model.train(was_training)
    if metrics is None:
        raise ValueError("nothing to evaluate: the split holds no windows")
    values = metrics.compute()
    if require_finite is not None and not math.isfinite(values["loss"]):
        model.check_finite_nll(torch.tensor(values["loss"]))
    return {**values, "windows": count}


# The largest SGD step of dynamic evaluation: 1.0 suits charlm's recipes, and past 10 every
# model tried diverged.
MAX_DYNAMIC_LR = 10.0


def evaluate_dynamic(
    model: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], lr: float
) -> dict[str, float]:
    """`evaluate_lm` by dynamic evaluation (Krause et al., 2018): `batches` read in the
    order of the text, each scored first, then learned from by one SGD step of `lr` (the
    batch's mean NLL), so every character is predicted by weights that have learned from the
    text before it and never from itself or anything after it. A recurrent model carries its
    state from batch to batch (`carried_logits`), as `mode=carried` reads.

    The steps change a copy: `model` keeps its weights. The model runs in eval mode (no
    dropout) throughout. Torch and Lightning have no such pass: their evaluation loops never
    take a step.
    """
    require_finite = getattr(model, "require_finite", None)
    if require_finite is not None:
        require_finite()
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not 0 < lr <= MAX_DYNAMIC_LR:
        raise CharlmError(
            f"dynamic_lr={lr!r}: the step size must be at most {MAX_DYNAMIC_LR:g}, and a "
            "number above 0 (1.0 by default; 0.1 to 2 chosen on validation)"
        )
    adapted = copy.deepcopy(model).eval()
    optimizer = torch.optim.SGD(adapted.parameters(), lr=lr)
    carried = getattr(adapted, "carried_logits", None)
    device = next(itertools.chain(adapted.parameters(), adapted.buffers()), torch.empty(0)).device
    metrics: LMMetrics | None = None
    state: Any = None
    count = 0
    with torch.enable_grad():
        for x, y in batches:
            x, y = x.to(device), y.to(device)
            if carried is not None:
                logits, state = carried(x, state)
                # The state goes on to the next batch; the gradient stops at this one.
                state = tuple(s.detach() for s in state) if isinstance(state, tuple) else (
                    state.detach()
                )  # fmt: skip
            else:
                logits = logits_for(adapted, x, y)
            if metrics is None:
                metrics = LMMetrics(logits.shape[-1], sync=False).to(device)
            metrics.update(logits.detach(), y)
            scored = int((y != PAD_TARGET).sum())
            count += scored
            if not scored:
                continue
            loss = F.cross_entropy(
                logits.flatten(0, -2).float(), y.flatten(), ignore_index=PAD_TARGET
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    if metrics is None:
        raise ValueError("nothing to evaluate: the split holds no windows")
    values = metrics.compute()
    finite = all(bool(torch.isfinite(p).all()) for p in adapted.parameters())
    # Twice a uniform guess's NLL: no model, trained or not, reads a text that badly unless
    # the steps threw its weights away (a barely trained one may read it a little worse than
    # the guess, and adapt to no better).
    bound = 2 * math.log(logits.shape[-1])
    if not (finite and math.isfinite(values["loss"]) and values["loss"] <= bound):
        raise NonFiniteError(
            f"dynamic evaluation diverged at dynamic_lr={lr:g} (NLL {values['loss']:.4g}, "
            f"above twice a uniform guess's, {bound:.4f}): give a smaller dynamic_lr, e.g. "
            f"{lr / 10:g}"
        )
    return {**values, "windows": count}


def per_character(values: dict[str, float], chars: int) -> dict[str, float]:
    """`values` (of `evaluate_lm`) with `char_loss` and `bpc` per character of the text the
    predictions cover: the same figures as `loss` and `bpc` for a character model (one
    prediction a character), comparable ones for a model of tokens."""
    char_loss = values["loss"] * values["windows"] / chars
    return {**values, "char_loss": char_loss, "bpc": char_loss / math.log(2), "chars": chars}


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """A plain-text table, one row per word set, one column per metric of `METRICS`."""
    columns = metric_names(results.values())
    header = f"{'words':<12}" + "".join(f" {c:>10}" for c in columns)
    rows = [header, "-" * len(header)]
    for name, m in results.items():
        cells = "".join(f" {format_metric(c, m.get(c)):>10}" for c in columns)
        rows.append(f"{name:<12}{cells}")
    return "\n".join(rows)


def closing_summary(metrics: dict[str, Any]) -> str:
    """The run's figures as a short table, then where its files are."""
    splits = {s: metrics[s] for s in ("train", "val", "test") if isinstance(metrics.get(s), dict)}
    weights = f"{metrics.get('weights')} weights, update {metrics.get('weights_step')}"
    if metrics.get("precision"):
        weights += f", in {metrics['precision']}"
    lines = [
        "",
        format_table(splits),
        f"{metrics.get('steps')} updates in {metrics.get('train_time_s')} s; scored: {weights}",
        f"run directory: {metrics.get('output_dir')}",
    ]
    return "\n".join(lines)


def finite_json(metrics: dict[str, Any]) -> dict[str, Any]:
    """`metrics` with every NaN or infinite figure replaced by None and named in `notes`.

    JSON has no NaN or Infinity; strict readers refuse them.
    """
    notes: list[str] = []

    def clean(value: Any, key: str) -> Any:
        if isinstance(value, dict):
            return {k: clean(v, f"{key}.{k}" if key else k) for k, v in value.items()}
        if isinstance(value, float) and not math.isfinite(value):
            notes.append(f"{key} was {value} (written as null)")
            return None
        return value

    cleaned = clean(metrics, "")
    if notes:
        cleaned["notes"] = [*(cleaned.get("notes") or []), *notes]
    return cleaned
