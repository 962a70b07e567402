"""LightningModules and callbacks that train the `charlm.models` networks."""

from charlm.lit.callbacks import EmbeddingPlot, SampleWords
from charlm.lit.base import NonFiniteLossError, StepTask
from charlm.lit.lm import LanguageModelTask

__all__ = ["EmbeddingPlot", "LanguageModelTask", "NonFiniteLossError", "SampleWords", "StepTask"]
