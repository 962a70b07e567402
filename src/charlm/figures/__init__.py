"""The course's figures as functions: each returns a matplotlib `Figure` and draws nothing else.

TensorBoard's images (`charlm.lit` callbacks) and the notebooks call the same functions. Every
figure is a `matplotlib.figure.Figure` of its own, never pyplot's: the user's backend is left as
it is, and a notebook shows a returned figure as the cell's value.
"""

from charlm.figures.common import Curves
from charlm.figures.course import (
    bigram_figure,
    confusion_figure,
    decision_boundary_figure,
    embedding_figure,
    loss_curves_figure,
    next_char_figure,
    probabilities_figure,
)
from charlm.figures.sequences import (
    attention_figure,
    attention_maps,
    hidden_activations,
    hidden_units_figure,
)

__all__ = [
    "Curves",
    "attention_figure",
    "attention_maps",
    "bigram_figure",
    "confusion_figure",
    "decision_boundary_figure",
    "embedding_figure",
    "hidden_activations",
    "hidden_units_figure",
    "loss_curves_figure",
    "next_char_figure",
    "probabilities_figure",
]
