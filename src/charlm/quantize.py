"""Dynamic int8 quantisation of a trained language model for inference on the CPU: the weights
of its linear and recurrent layers stored in 8 bits, each activation quantised as it comes
(`torch.ao.quantization.quantize_dynamic`). What it gains and costs, family by family:
docs/performance.md."""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from charlm.errors import CharlmError
from charlm.models.base import CharLM

# The layers dynamic quantisation replaces; embeddings, layer norms and attention's products
# stay in float32.
LAYERS = {nn.Linear, nn.GRU, nn.LSTM, nn.RNN}


def quantize_int8(model: CharLM) -> CharLM:
    """A copy of `model` (on the CPU, in eval mode) with int8 weights in its linear and
    recurrent layers; it samples and scores as the float model does. `model` is unchanged."""
    from torch.ao.quantization import quantize_dynamic

    if not any(isinstance(m, tuple(LAYERS)) for m in model.modules()):
        raise CharlmError(
            f"quantize=int8: {type(model).__name__} has no linear or recurrent layer to "
            "quantise (a bigram is one table); sample it in float32"
        )
    float_model = copy.deepcopy(model).cpu().float().eval()
    with warnings.catch_warnings():  # its notice that torchao will take it over one day
        warnings.simplefilter("ignore", DeprecationWarning)
        quantized = quantize_dynamic(float_model, LAYERS, dtype=torch.qint8)
    quantized.vocab, quantized.config = model.vocab, model.config
    quantized.data_identity, quantized.checkpoint_path = model.data_identity, model.checkpoint_path
    return quantized
