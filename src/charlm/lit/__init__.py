"""LightningModules and callbacks that train the `charlm.models` networks."""

from charlm.lit.base import NonFiniteLossError, StepTask
from charlm.lit.callbacks import (
    DecisionBoundary,
    EmbeddingPlot,
    FizzBuzzReport,
    GracefulStop,
    ResumableCheckpoint,
    SampleWords,
)
from charlm.lit.classifier import ClassifierTask
from charlm.lit.lm import LanguageModelTask

__all__ = [
    "ClassifierTask",
    "DecisionBoundary",
    "EmbeddingPlot",
    "FizzBuzzReport",
    "GracefulStop",
    "LanguageModelTask",
    "NonFiniteLossError",
    "ResumableCheckpoint",
    "SampleWords",
    "StepTask",
]
