"""LightningModules that train the `charlm.models` networks, and their callbacks.

`base` (the update loop), `lm` and `classifier` (the tasks), `schedule` (intervals in updates),
`lm_visuals` and `classifier_visuals` (TensorBoard figures and text), `diagnostics`
(activations, gradients and updates per layer), `run_control` (stopping
and resuming), `lr_find` (the learning-rate finder), `loggers`.
"""

from charlm.lit.base import NonFiniteLossError, StepTask
from charlm.lit.classifier import ClassifierTask
from charlm.lit.classifier_visuals import DecisionBoundary, FizzBuzzReport
from charlm.lit.diagnostics import Diagnostics
from charlm.lit.lm import LanguageModelTask
from charlm.lit.lm_visuals import EmbeddingPlot, SampleWords
from charlm.lit.progress import UpdateProgressBar
from charlm.lit.run_control import GracefulStop, ResumableCheckpoint

__all__ = [
    "ClassifierTask",
    "DecisionBoundary",
    "Diagnostics",
    "EmbeddingPlot",
    "FizzBuzzReport",
    "GracefulStop",
    "LanguageModelTask",
    "NonFiniteLossError",
    "ResumableCheckpoint",
    "SampleWords",
    "StepTask",
    "UpdateProgressBar",
]
