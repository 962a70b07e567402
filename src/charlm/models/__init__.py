"""Plain `torch.nn.Module` models, usable without Lightning."""

from charlm.models.base import CharLM
from charlm.models.bigram import BigramLM
from charlm.models.classifiers import (
    Classifier,
    LinearClassifier,
    MLPClassifier,
    Perceptron,
    Prediction,
    SigmoidMLP,
    XORNetwork,
)
from charlm.models.counts import BigramCounts
from charlm.models.feedforward import FeedForwardLM
from charlm.models.mlp import BengioMLP

__all__ = [
    "BengioMLP",
    "BigramCounts",
    "BigramLM",
    "CharLM",
    "Classifier",
    "FeedForwardLM",
    "LinearClassifier",
    "MLPClassifier",
    "Perceptron",
    "Prediction",
    "SigmoidMLP",
    "XORNetwork",
]
