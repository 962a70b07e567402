"""The course's initialisations of a window MLP ("Initialisations, activations et normalisations").

Each scheme keeps the fixes of the ones before it, as the lesson builds them up:

- `randn`: every parameter drawn from a standard normal (the notebooks' `torch.randn`);
- `output_scaled`: the output layer's weights x 0.01 and its bias 0, so the first loss is
  about -ln(1/V) instead of tens of nats;
- `tanh_scaled`: also the hidden weights x 0.2 and hidden biases x 0.01, so tanh does not
  saturate (the hand-picked factors of the makemore lecture the lesson follows);
- `kaiming`: the hidden weights scaled by the activation's gain / sqrt(fan_in)
  (`torch.nn.init.calculate_gain`; 5/3 for tanh), the hidden biases x 0.01.

Parameters are drawn first, in the order the network lists them (with `randn`, the same
generator gives the notebook's numbers), then scaled in place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

INITS = ("randn", "output_scaled", "tanh_scaled", "kaiming")
# The nonlinearity names torch.nn.init.calculate_gain knows, by charlm's activation names;
# GELU has no gain of its own there: ReLU's is the usual stand-in.
GAIN_OF = {"tanh": "tanh", "relu": "relu", "gelu": "relu", "sigmoid": "sigmoid"}


@torch.no_grad()
def scale_initialisation(
    scheme: str,
    hidden: Sequence[tuple[torch.Tensor, torch.Tensor | None, int]],
    output: tuple[torch.Tensor, torch.Tensor | None],
    activation: str = "tanh",
) -> None:
    """Scale standard-normal parameters in place as `scheme` says.

    `hidden` lists each hidden layer's (weight, bias or None, fan_in); `output` is the output
    layer's (weight, bias).
    """
    if scheme == "randn":
        return
    w_out, b_out = output
    w_out.mul_(0.01)
    if b_out is not None:
        b_out.zero_()
    if scheme == "output_scaled":
        return
    gain = nn.init.calculate_gain(GAIN_OF[activation])
    for weight, bias, fan_in in hidden:
        weight.mul_(0.2 if scheme == "tanh_scaled" else gain / math.sqrt(fan_in))
        if bias is not None:
            bias.mul_(0.01)


@torch.no_grad()
def redraw_standard_normal(
    params: Sequence[torch.Tensor], generator: torch.Generator | None
) -> None:
    """Draw every tensor of `params` again from N(0, 1), in order, from `generator`."""
    for p in params:
        p.copy_(torch.randn(p.shape, generator=generator))
