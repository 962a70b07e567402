"""The course's small classifiers (notebooks "prédiction de token", "réseaux de neurones", TD1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from charlm.errors import check_choice, check_positive_ints
from charlm.models.layers import Dropout


class Prediction(NamedTuple):
    """What the token-predictor notebook's `predict` returns."""

    logits: torch.Tensor
    probs: torch.Tensor
    labels: torch.Tensor


class Classifier(nn.Module):
    """A network mapping (batch, in_features) to class logits (batch, num_classes).

    The base every classifier derives from, and what `ClassifierTask` relies on: a subclass
    implements `forward` and takes `in_features` and `num_classes` (charlm-train fills them
    from the data). A network with a single output is binary: its logit is P(class 1) through
    a sigmoid.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits: (batch, in_features) -> (batch, num_classes), or (batch, 1) if binary."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x) -> logits")

    def predict(self, x: torch.Tensor) -> Prediction:
        """Logits, class probabilities and the predicted class of each row."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                logits = self(x.float())
        finally:
            self.train(was_training)
        if logits.shape[-1] == 1:
            p1 = torch.sigmoid(logits)
            probs = torch.cat([1 - p1, p1], dim=-1)
        else:
            probs = F.softmax(logits, dim=-1)
        return Prediction(logits, probs, probs.argmax(dim=-1))


class LinearClassifier(Classifier):
    """logits = x @ W + b: the notebook's `nn.Linear(1, 2)` / `nn.Linear(2, 2)` token predictor."""

    def __init__(self, in_features: int, num_classes: int = 2) -> None:
        super().__init__()
        check_positive_ints(in_features=in_features, num_classes=num_classes)
        self.linear = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class MLPClassifier(Classifier):
    """Linear -> activation (-> dropout), repeated per hidden size, then a linear output layer.

    `center` and `scale` standardise the inputs first ((x - center) / scale), e.g. the token
    table's values 2 and 3 become -1 and +1; `None` leaves them as they are. `hidden_bias`
    sets the hidden layers' initial biases: a positive value starts every ReLU active, so none
    is dead from the first step (PyTorch's default draws them at random).
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden_sizes: Sequence[int] = (6,),
        activation: str = "relu",
        dropout: float = 0.0,
        center: float | None = None,
        scale: float | None = None,
        hidden_bias: float | None = None,
    ) -> None:
        super().__init__()
        check_positive_ints(in_features=in_features, num_classes=num_classes)
        for size in hidden_sizes:
            check_positive_ints(hidden_sizes=size)
        acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}
        check_choice("activation", activation, acts)
        self.center, self.scale = center, scale
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden_sizes:
            linear = nn.Linear(width, size)
            if hidden_bias is not None:
                nn.init.constant_(linear.bias, hidden_bias)
            layers += [linear, acts[activation]()]
            if dropout > 0:
                layers.append(Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.center is not None:
            x = x - self.center
        if self.scale is not None:
            x = x / self.scale
        return self.layers(x)


class SigmoidMLP(Classifier):
    """The course's 2-2-1 network: sigmoid hidden layer, one sigmoid output (as a logit).

    The output sigmoid is applied by the loss (binary cross-entropy on logits) and by `predict`.
    """

    def __init__(self, in_features: int = 2, num_classes: int = 2, hidden_size: int = 2) -> None:
        super().__init__()
        check_positive_ints(in_features=in_features, hidden_size=hidden_size)
        if num_classes != 2:
            raise ValueError(f"SigmoidMLP is a binary classifier, got num_classes={num_classes}")
        self.hidden = nn.Linear(in_features, hidden_size)
        self.output = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(torch.sigmoid(self.hidden(x)))  # (batch, 1) logit of class 1


class Perceptron(nn.Module):
    """step(w0 + w1 x1 + ... + wn xn) with hand-set weights, bias first, as the course writes them.

    AND = [-0.6, 0.5, 0.5], OR = [-0.5, 1, 1], NOT = [1, -1]; the step is 1 when the sum is > 0.
    """

    def __init__(self, weights: Sequence[float]) -> None:
        super().__init__()
        if len(weights) < 2:
            raise ValueError(f"a perceptron needs a bias and at least one weight, got {weights}")
        self.register_buffer("bias", torch.tensor(float(weights[0])))
        self.register_buffer("weights", torch.tensor([float(w) for w in weights[1:]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() @ self.weights + self.bias > 0).long()  # (batch, n) -> (batch,)


AND_WEIGHTS = (-0.6, 0.5, 0.5)
OR_WEIGHTS = (-0.5, 1.0, 1.0)
NOT_WEIGHTS = (1.0, -1.0)


class XORNetwork(nn.Module):
    """XOR from perceptrons in three layers: AND(OR(a, b), NOT(AND(a, b)))."""

    def __init__(self) -> None:
        super().__init__()
        self.and_gate = Perceptron(AND_WEIGHTS)
        self.or_gate = Perceptron(OR_WEIGHTS)
        self.not_gate = Perceptron(NOT_WEIGHTS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        either = self.or_gate(x)  # layer 1: OR and AND of the inputs
        both = self.and_gate(x)
        not_both = self.not_gate(both.unsqueeze(1))  # layer 2
        return self.and_gate(torch.stack([either, not_both], dim=1))  # layer 3
