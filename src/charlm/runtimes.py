"""How charlm-sample and charlm-score run a model: in torch, in torch with int8 weights, or in
onnxruntime from an exported folder's ONNX graphs.

Dynamic int8 quantisation stores the weights of the linear and recurrent layers in 8 bits
and quantises each activation as it comes (`torch.ao.quantization.quantize_dynamic`; in
onnxruntime, `charlm-export format=onnx quantize=int8`). What it gains and costs, family by
family: docs/performance.md."""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from charlm.errors import CharlmError
from charlm.models.base import CharLM

RUNTIMES = ("torch", "onnx")
QUANTIZE = ("int8",)

# The layers dynamic quantisation replaces; embeddings, layer norms and attention's products
# stay in float32.
LAYERS = {nn.Linear, nn.GRU, nn.LSTM, nn.RNN}


def quantize_int8(model: CharLM) -> CharLM:
    """A copy of `model` (on the CPU, in eval mode) with int8 weights in its linear and
    recurrent layers; it samples and scores as the float model does. `model` is unchanged."""
    from torch.ao.quantization import quantize_dynamic

    if not any(isinstance(m, tuple(LAYERS)) for m in model.modules()):
        raise CharlmError(
            f"quantize=int8: {type(model).__name__} has no nn.Linear or recurrent layer to "
            "quantise (its weights are plain tensors); sample it in float32"
        )
    float_model = copy.deepcopy(model).cpu().float().eval()
    with warnings.catch_warnings():  # its notice that torchao will take it over one day
        warnings.simplefilter("ignore", DeprecationWarning)
        quantized = quantize_dynamic(float_model, LAYERS, dtype=torch.qint8)
    quantized.vocab, quantized.config = model.vocab, model.config
    quantized.data_identity, quantized.checkpoint_path = model.data_identity, model.checkpoint_path
    return quantized


def inference_model(
    path: str, runtime: str = "torch", quantize: str | None = None, device=None
) -> CharLM:
    """The model of checkpoint (or exported folder) `path` as a command runs it: `runtime`
    torch or onnx (an exported folder's graphs), `quantize` null or int8."""
    from charlm.checkpoint import load_model

    if runtime not in RUNTIMES:
        raise CharlmError(f"runtime={runtime!r}: one of {', '.join(RUNTIMES)}")
    if quantize is not None and quantize not in QUANTIZE:
        raise CharlmError(f"quantize={quantize!r}: one of {', '.join(QUANTIZE)}, or null")
    if runtime == "onnx":
        from charlm.export import is_export
        from charlm.onnx_model import load_onnx

        if not is_export(path):
            raise CharlmError(
                f"runtime=onnx reads an exported folder and {path} is not one: "
                f"charlm-export ckpt={path} format=onnx, then ckpt=<that folder>"
            )
        return load_onnx(path, int8=quantize == "int8")
    model = load_model(path)
    if quantize == "int8":
        if device is not None and torch.device(device).type != "cpu":
            raise CharlmError(f"quantize=int8 runs on the CPU: add device=cpu (not {device})")
        return quantize_int8(model)
    return model if device is None else model.to(device)
