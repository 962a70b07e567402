"""The course's figures: the bigram's counts, embeddings, loss curves, decision boundaries,
confusion matrices and next-character probabilities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from charlm.figures.common import Curves, _figure, _shown


def bigram_figure(
    model_or_matrix: Any,
    itos: Sequence[str] | None = None,
    *,
    probabilities: bool = False,
    title: str | None = None,
) -> Figure:
    """The notebook's bigram grid: one cell per (previous, next) pair, with the pair and its
    count (or probability) written in it, shaded by value.

    `model_or_matrix` is a `BigramCounts` (its counts, or its smoothed probabilities with
    `probabilities=True`), a neural `BigramLM` (softmax of its W: probabilities), or a
    (V, V) tensor with `itos` naming its symbols.
    """
    counts = getattr(model_or_matrix, "counts", None)
    weights = getattr(model_or_matrix, "W", None)
    vocab = getattr(model_or_matrix, "vocab", None)
    if isinstance(counts, torch.Tensor):
        matrix = model_or_matrix.probs if probabilities else counts
    elif isinstance(weights, torch.Tensor):
        matrix, probabilities = weights.softmax(1), True
    else:
        matrix = torch.as_tensor(model_or_matrix)
    if itos is None:
        if vocab is None:
            raise ValueError("bigram_figure: give itos= (the symbols) with a bare matrix")
        itos = vocab.itos
    matrix = matrix.detach().float().cpu()
    size = len(itos)
    if matrix.shape != (size, size):
        raise ValueError(
            f"bigram_figure: a {size} x {size} matrix expected, got {tuple(matrix.shape)}"
        )
    fig = _figure(figsize=(max(6.0, 0.42 * size), max(6.0, 0.42 * size)), layout="constrained")
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    peak = float(matrix.max()) or 1.0
    small = 8 if size <= 30 else 6
    for i in range(size):
        for j in range(size):
            value = float(matrix[i, j])
            colour = "white" if value > 0.6 * peak else "gray"
            shown = f"{value:.2f}" if probabilities else f"{value:.0f}"
            # One text per cell (the pair over the value): text is what takes time to draw.
            pair = _shown(itos[i]) + _shown(itos[j])
            ax.text(j, i, f"{pair}\n{shown}", ha="center", va="center", color=colour,
                    fontsize=small, linespacing=1.1)  # fmt: skip
    ax.set_xticks(range(size), [_shown(s) for s in itos], fontsize=small + 1)
    ax.set_yticks(range(size), [_shown(s) for s in itos], fontsize=small + 1)
    ax.set_xlabel("next character")
    ax.set_ylabel("previous character")
    what = "P(next | previous)" if probabilities else "bigram counts N"
    ax.set_title(title or what)
    return fig


def embedding_figure(
    table: torch.Tensor | Any, labels: Sequence[str] | None = None, title: str | None = None
) -> Figure:
    """Scatter of the character embeddings, each point labelled by its character.

    `table` is a (V, d) tensor or a model with `.embeddings` and `.vocab`. A table wider than 2
    is drawn on its first two principal components, as the axis labels say.
    """
    if not isinstance(table, torch.Tensor):
        model = table
        table = getattr(model, "embeddings", None)
        if table is None:
            raise ValueError(f"embedding_figure: {type(model).__name__} has no embedding table")
        labels = labels or model.vocab.itos
    if labels is None:
        raise ValueError("embedding_figure: give labels= (the symbols) with a bare table")
    points = table.detach().float().cpu()
    xlabel, ylabel = "dimension 0", "dimension 1"
    if points.shape[1] > 2:
        # The two directions of largest variance (torch's SVD: no scikit-learn needed).
        centred = points - points.mean(0)
        _, s, v = torch.linalg.svd(centred, full_matrices=False)
        points = centred @ v[:2].T
        share = (s**2 / (s**2).sum())[:2].tolist()
        xlabel = f"principal component 1 ({100 * share[0]:.0f}% of variance)"
        ylabel = f"principal component 2 ({100 * share[1]:.0f}% of variance)"
    elif points.shape[1] < 2:
        raise ValueError(f"embedding_figure: a table of width >= 2 expected, got {points.shape[1]}")
    fig = _figure(figsize=(6, 6))
    ax = fig.subplots()
    ax.scatter(points[:, 0], points[:, 1], s=200, color="lightsteelblue")
    for (x, y), label in zip(points.tolist(), labels, strict=True):
        ax.text(x, y, _shown(label), ha="center", va="center", color="black")
    ax.grid(True, alpha=0.3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "character embeddings C")
    return fig


def loss_curves_figure(
    runs: Curves | Mapping[str, Curves] | Any,
    metrics: Sequence[str] = ("train/loss", "val/loss"),
    title: str | None = None,
    log_x: bool = False,
) -> Figure:
    """Loss against updates for one run or several.

    `runs` is a `charlm.Run`, one run's curves (`Run.curves()`), a list of runs, or a mapping
    of names to runs or curves: one line per run and metric, named "run metric".
    """
    named = _named_curves(runs)
    fig = _figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    styles = {"train": "-", "val": "--", "test": ":"}
    for name, curves in named.items():
        colour = None
        for metric in metrics:
            points = list(curves.get(metric) or [])
            if not points:
                continue
            steps, values = zip(*points, strict=True)
            label = f"{name} {metric}" if name else metric
            (line,) = ax.plot(
                steps, values, styles.get(metric.split("/")[0], "-"), color=colour,
                marker="." if len(points) < 20 else None, label=label,
            )  # fmt: skip
            colour = line.get_color()  # one colour per run, a line style per split
    if not ax.lines:
        ax.text(0.5, 0.5, "no curves recorded", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(fontsize=8)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("update")
    ax.set_ylabel("loss (NLL)")
    ax.grid(True, alpha=0.3)
    ax.set_title(title or "loss curves")
    return fig


def _named_curves(runs: Any) -> dict[str, Curves]:
    def curves_of(run: Any) -> Curves:
        return run.curves() if hasattr(run, "curves") else run

    def name_of(run: Any, default: str) -> str:
        run_dir = getattr(run, "run_dir", None)
        return run_dir.name if run_dir is not None else default

    if hasattr(runs, "curves"):
        return {"": runs.curves()}
    if isinstance(runs, Mapping):
        values = list(runs.values())
        points = all(isinstance(v, Sequence) and not isinstance(v, str) for v in values)
        if values and points and all(not v or isinstance(v[0], tuple | list) for v in values):
            return {"": runs}  # one run's curves
        return {str(k): curves_of(v) for k, v in runs.items()}
    return {name_of(run, f"run {i}"): curves_of(run) for i, run in enumerate(runs)}


def decision_boundary_figure(
    net: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    resolution: int = 100,
    margin: float = 0.5,
    title: str | None = None,
) -> Figure:
    """P(class 1) over the input plane of a 2-input classifier, its 0.5 contour, and the points.

    `net` has `predict` (charlm's classifiers) or returns one output per row in [0, 1] (the
    hand-weighted `Perceptron` and `XORNetwork`).
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    lo, hi = x.min(0).values - margin, x.max(0).values + margin
    g0 = torch.linspace(float(lo[0]), float(hi[0]), resolution)
    g1 = torch.linspace(float(lo[1]), float(hi[1]), resolution)
    grid = torch.cartesian_prod(g0, g1)
    with torch.no_grad():
        if hasattr(net, "predict"):
            p1 = net.predict(grid).probs[:, 1]
        else:
            p1 = net(grid).float().reshape(-1)
    p1 = p1.view(resolution, resolution).T.cpu()
    fig = _figure(figsize=(5, 4.5), layout="constrained")
    ax = fig.subplots()
    extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
    image = ax.imshow(
        p1, origin="lower", extent=extent, cmap="RdBu_r", vmin=0, vmax=1, aspect="auto"
    )
    if float(p1.min()) < 0.5 < float(p1.max()):
        ax.contour(g0, g1, p1, levels=[0.5], colors="black", linewidths=1)
    ax.scatter(x[:, 0], x[:, 1], c=torch.as_tensor(y).reshape(-1), cmap="RdBu_r", vmin=0, vmax=1,
               edgecolors="black", s=120)  # fmt: skip
    fig.colorbar(image, ax=ax, label="P(class 1)")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title or "decision boundary")
    return fig


def confusion_figure(
    predicted: Sequence[int] | torch.Tensor,
    target: Sequence[int] | torch.Tensor,
    class_names: Sequence[str],
    title: str | None = None,
) -> Figure:
    """The confusion matrix of a classifier: rows the true class, columns the predicted one."""
    k = len(class_names)
    # One bincount, not torchmetrics' confusion matrix: importing that imports pyplot.
    pairs = torch.as_tensor(target).reshape(-1) * k + torch.as_tensor(predicted).reshape(-1)
    matrix = torch.bincount(pairs, minlength=k * k).view(k, k)
    fig = _figure(figsize=(1.2 * k + 2, 1.2 * k + 1.5), layout="constrained")
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    peak = int(matrix.max()) or 1
    for i in range(k):
        for j in range(k):
            n = int(matrix[i, j])
            ax.text(j, i, str(n), ha="center", va="center",
                    color="white" if n > 0.6 * peak else "black")  # fmt: skip
    ax.set_xticks(range(k), list(class_names))
    ax.set_yticks(range(k), list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"confusion matrix ({int(matrix.trace())} of {int(matrix.sum())} right)")
    return fig


def next_char_figure(model: Any, prefix: str = "", top: int | None = None) -> Figure:
    """The model's distribution of the character after `prefix` (from a word's start: "").

    Bars sorted by probability; `top` keeps the most likely ones.
    """
    return probabilities_figure(
        model.next_char_probs(prefix), top, title=f"P(next character | {prefix!r})"
    )


def probabilities_figure(
    probs: Mapping[str, float], top: int | None = None, title: str | None = None
) -> Figure:
    """Bars of a next-character distribution {character: probability}, sorted by
    probability; `top` keeps the most likely ones."""
    ranked = sorted(probs.items(), key=lambda kv: -kv[1])[: top or None]
    fig = _figure(figsize=(max(5.0, 0.25 * len(ranked) + 1.5), 3.5), layout="constrained")
    ax = fig.subplots()
    ax.bar(range(len(ranked)), [p for _, p in ranked], color="steelblue")
    ax.set_xticks(range(len(ranked)), [_shown(c) for c, _ in ranked])
    ax.set_xlabel("next character")
    ax.set_ylabel("probability")
    ax.set_title(title or "P(next character)")
    return fig
