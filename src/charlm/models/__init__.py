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
from charlm.models.ensemble import EnsembleLM
from charlm.models.feedforward import FeedForwardLM
from charlm.models.mlp import BengioMLP
from charlm.models.recurrent import RecurrentLM
from charlm.models.sequence import SequenceLM
from charlm.models.transformer import TransformerLM

__all__ = [
    "BengioMLP",
    "BigramCounts",
    "BigramLM",
    "CharLM",
    "Classifier",
    "EnsembleLM",
    "FeedForwardLM",
    "LinearClassifier",
    "MLPClassifier",
    "Perceptron",
    "Prediction",
    "RecurrentLM",
    "SequenceLM",
    "SigmoidMLP",
    "TransformerLM",
    "XORNetwork",
]
