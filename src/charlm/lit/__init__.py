"""LightningModules and callbacks that train the `charlm.models` networks."""

from charlm.lit.callbacks import EmbeddingPlot, SampleWords
from charlm.lit.lm import LanguageModelTask, NonFiniteLossError

__all__ = ["EmbeddingPlot", "LanguageModelTask", "NonFiniteLossError", "SampleWords"]
