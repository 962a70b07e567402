"""Looking inside a network: its layers' activations and gradients, its weights' updates.

The course's lesson "Initialisations, activations et normalisations" (after makemore's third
part) watches, per layer, the activations (mean, std, the fraction saturated), their
gradients, and for each weight matrix the ratio of its gradient, and of the update the
optimiser actually made, to the weights. `Probe` captures all of it for one update of any
network; `diagnostics_figure` draws the lesson's four panels. Plain torch: the Lightning
callback (`charlm.lit.Diagnostics`) and `charlm-inspect` both use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

# |t| above this counts as saturated for tanh-bounded outputs (the lesson's threshold).
TANH_SATURATION = 0.97


def _tanh_saturated(t: torch.Tensor) -> torch.Tensor:
    return t.abs() > TANH_SATURATION


def _sigmoid_saturated(t: torch.Tensor) -> torch.Tensor:
    return (2 * t - 1).abs() > TANH_SATURATION


def _dead(t: torch.Tensor) -> torch.Tensor:
    return t == 0


def _negative(t: torch.Tensor) -> torch.Tensor:
    return t < 0


# The modules watched, and what "saturated" means for each: where the gradient vanishes
# (tanh and sigmoid near their bounds, ReLU at zero, GELU on its flat negative side).
# Recurrent layers output tanh-bounded states. Other modules expose nothing of the kind.
WATCHED: list[tuple[type[nn.Module], str, Callable[[torch.Tensor], torch.Tensor]]] = [
    (nn.Tanh, "|t| > 0.97", _tanh_saturated),
    (nn.Sigmoid, "|2t - 1| > 0.97", _sigmoid_saturated),
    (nn.ReLU, "t == 0", _dead),
    (nn.GELU, "t < 0", _negative),
    (nn.RNNBase, "|t| > 0.97", _tanh_saturated),
]


def watched_layers(net: nn.Module) -> list[tuple[str, nn.Module, Callable]]:
    """(name, module, saturation test) of every layer of `net` whose activations are watched."""
    found = []
    for name, module in net.named_modules():
        for cls, _, saturated in WATCHED:
            if isinstance(module, cls):
                found.append((name or type(module).__name__, module, saturated))
                break
    return found


def weight_matrices(net: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The trained parameters of two or more dimensions: weight matrices and embedding tables."""
    return [(n, p) for n, p in net.named_parameters() if p.ndim >= 2 and p.requires_grad]


def finite(t: torch.Tensor | None) -> bool:
    """Whether `t` is a non-empty tensor of finite numbers (what a histogram can be made of)."""
    return t is not None and t.numel() > 0 and bool(torch.isfinite(t).all())


def update_ratio(before: torch.Tensor, after: torch.Tensor) -> float:
    """std(after - before) / std(after): the size of an update relative to the weights."""
    return float((after - before).float().std() / after.float().std())


def grad_ratio(grad: torch.Tensor, weight: torch.Tensor) -> float:
    """std(grad) / std(weight)."""
    return float(grad.float().std() / weight.float().std())


@dataclass
class Snapshot:
    """What one update showed: tensors for histograms and the scalars derived from them."""

    activations: dict[str, torch.Tensor] = field(default_factory=dict)
    activation_grads: dict[str, torch.Tensor | None] = field(default_factory=dict)
    weight_grads: dict[str, torch.Tensor | None] = field(default_factory=dict)
    # name -> {"mean", "std", "saturated"} per layer; {"grad_to_weight", "update_log10"} per matrix
    layer_stats: dict[str, dict[str, float]] = field(default_factory=dict)
    weight_stats: dict[str, dict[str, float]] = field(default_factory=dict)

    def scalars(self, prefix: str = "diagnostics") -> dict[str, float]:
        """Flat `prefix/stat/name` scalars for a logger, the non-finite ones left out."""
        out = {}
        for group in (self.layer_stats, self.weight_stats):
            for name, stats in group.items():
                for stat, value in stats.items():
                    if value is not None and math.isfinite(value):
                        out[f"{prefix}/{stat}/{name}"] = value
        return out


class Probe:
    """Captures one update of `net`: call `start()` before its forward, `finish()` after the step.

    Forward hooks are registered by `start` and removed by `finish`, so a network costs
    nothing while it is not being watched. The watched layers' outputs keep their gradients
    (`retain_grad`) for that one backward. `finish` may also be called after a backward
    without an optimiser step (`snapshot_weights=False`): there is then no update ratio.
    """

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self.layers = watched_layers(net)
        self.weights = weight_matrices(net)
        self._handles: list[Any] = []
        self._outputs: dict[str, torch.Tensor] = {}
        self._before: dict[str, torch.Tensor] = {}

    def start(self, snapshot_weights: bool = True) -> None:
        self._outputs.clear()
        for name, module, _ in self.layers:
            self._handles.append(module.register_forward_hook(self._keeper(name)))
        self._before = {n: p.detach().clone() for n, p in self.weights} if snapshot_weights else {}

    def _keeper(self, name: str) -> Callable:
        def keep(module: nn.Module, inputs: Any, output: Any) -> None:
            out = output[0] if isinstance(output, tuple) else output
            if torch.is_tensor(out):
                if out.requires_grad:
                    out.retain_grad()
                self._outputs[name] = out

        return keep

    def finish(self) -> Snapshot:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        snap = Snapshot()
        with torch.no_grad():
            for name, _, saturated in self.layers:
                out = self._outputs.get(name)
                if out is None:
                    continue
                act = out.detach().float().cpu()
                grad = out.grad.detach().float().cpu() if out.grad is not None else None
                snap.activations[name], snap.activation_grads[name] = act, grad
                snap.layer_stats[name] = {
                    "activation_mean": float(act.mean()),
                    "activation_std": float(act.std()) if act.numel() > 1 else 0.0,
                    "saturated": float(saturated(act).float().mean()),
                }
            for name, p in self.weights:
                grad = p.grad.detach().float().cpu() if p.grad is not None else None
                snap.weight_grads[name] = grad
                stats: dict[str, float] = {}
                if grad is not None:
                    stats["grad_to_weight"] = grad_ratio(grad, p.detach())
                if name in self._before:
                    ratio = update_ratio(self._before[name], p.detach())
                    stats["update_to_weight_log10"] = math.log10(ratio) if ratio > 0 else None
                snap.weight_stats[name] = stats
        self._outputs.clear()
        self._before = {}
        return snap


def histogram(t: torch.Tensor, bins: int = 50) -> tuple[list[float], list[float]] | None:
    """(bin centres, density) of `t`, or None when it holds no finite numbers to count."""
    if not finite(t):
        return None
    t = t.flatten().float()
    lo, hi = float(t.min()), float(t.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    counts = torch.histc(t, bins=bins, min=lo, max=hi)
    width = (hi - lo) / bins
    centres = [lo + (i + 0.5) * width for i in range(bins)]
    return centres, (counts / (counts.sum() * width)).tolist()


def diagnostics_figure(
    snap: Snapshot,
    update_history: dict[str, list[tuple[int, float]]],
    title: str = "",
    update_label: str = "update-to-weight ratio over updates (log10)",
):
    """The lesson's four panels: activation, activation-gradient and weight-gradient
    histograms per layer, and each weight matrix's update-to-weight ratio (log10) with the
    1e-3 reference line. Tensors holding non-finite numbers are left out and named.
    """
    # A Figure of its own, not pyplot's: the user's matplotlib backend is left as it is.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 9), layout="constrained")
    axes = fig.subplots(2, 2)
    skipped: list[str] = []
    act_label, grad_label, weight_label = _panel_labels(snap)

    def panel(ax, tensors: dict[str, torch.Tensor | None], label: Callable[[str], str], what: str):
        _histogram_panel(ax, tensors, label, what, skipped)

    panel(axes[0, 0], snap.activations, act_label, "activations of")
    axes[0, 0].set_title("activations per layer")
    panel(axes[0, 1], snap.activation_grads, grad_label, "gradients of")
    axes[0, 1].set_title("activation gradients per layer")
    panel(axes[1, 0], snap.weight_grads, weight_label, "weight gradients of")
    axes[1, 0].set_title("weight gradients per matrix")
    ax = axes[1, 1]
    for name, points in update_history.items():
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, marker="." if len(points) < 3 else None, label=name)
    ax.axhline(-3.0, color="black", linestyle="--", linewidth=1, label="1e-3")
    ax.set_title(update_label)
    ax.set_xlabel("update")
    ax.legend(fontsize=7)
    if skipped:
        title = f"{title}  (non-finite, not drawn: {', '.join(skipped)})".strip()
    if title:
        fig.suptitle(title)
    return fig


def _histogram_panel(
    ax: Any,
    tensors: dict[str, torch.Tensor | None],
    label: Callable[[str], str],
    what: str,
    skipped: list[str],
) -> None:
    """One histogram a tensor on `ax`; those holding non-finite numbers named in `skipped`."""
    drawn = 0
    for name, t in tensors.items():
        if t is None:
            continue
        hist = histogram(t)
        if hist is None:
            skipped.append(f"{what} {name}")
            continue
        ax.plot(*hist, label=label(name))
        drawn += 1
    if drawn:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "nothing to show", ha="center", va="center", transform=ax.transAxes)


def _panel_labels(snap: Snapshot) -> tuple[Callable[[str], str], ...]:
    """The legends of the activation, activation-gradient and weight-gradient panels."""

    def act_label(name: str) -> str:
        s = snap.layer_stats[name]
        return (
            f"{name}: mean {s['activation_mean']:+.2f}, std {s['activation_std']:.2f}, "
            f"saturated {100 * s['saturated']:.1f}%"
        )

    def grad_label(name: str) -> str:
        g = snap.activation_grads.get(name)
        return f"{name}: std {float(g.std()):.2e}" if finite(g) else name

    def weight_label(name: str) -> str:
        g = snap.weight_grads.get(name)
        ratio = snap.weight_stats.get(name, {}).get("grad_to_weight")
        shape = tuple(g.shape) if g is not None else ()
        return f"{name} {shape}: grad/weight {ratio:.2e}" if ratio is not None else name

    return act_label, grad_label, weight_label


def uniform_loss(vocab_size: int) -> float:
    """-ln(1/V): the loss of a model that gives every symbol the same probability."""
    return math.log(vocab_size)


def first_loss_note(loss: float, vocab_size: int, output_layer: str) -> tuple[str, bool]:
    """A line comparing the first update's loss with -ln(1/V), and whether it is far above.

    Far above (more than 1.5 times) means the output layer's logits start large and
    confidently wrong: the first updates are spent shrinking them.
    """
    expected = uniform_loss(vocab_size)
    line = f"loss at the first update {loss:.4f}; a uniform guess over {vocab_size} symbols gives {expected:.4f}"
    if loss > 1.5 * expected:
        return (
            f"{line}: far above. The output layer ({output_layer}) starts with large logits; "
            "scale its weights down (model.net.init=output_scaled or kaiming)",
            True,
        )
    return line, False


def output_layer_name(net: nn.Module) -> str:
    """The name of the last weight matrix of `net`, which computes the logits."""
    names = [n for n, _ in weight_matrices(net)]
    return names[-1] if names else "output"
