"""A trained model as ONNX graphs that onnxruntime runs with no PyTorch: the exported folder
(`charlm.export`) plus

    model.onnx        forward: ids (batch, time) int64 -> logits (batch, time, vocab)
    step.onnx         cached decoding: (ids (batch,), *state) -> (logits (batch, vocab), *state)
    model.int8.onnx   with quantize=int8: the same graphs, their weights in 8-bit integers
    step.int8.onnx    (onnxruntime's dynamic quantisation)

and `config.json`'s "onnx" section, which says how to run them: the data contract, the state
tensors (name, shape, batch axis), the longest word. `charlm.models.graphs` defines the two
graphs; `charlm.onnx_model.OnnxRuntimeLM` samples and scores with them. Each graph is
checked against torch when it is written: an export whose logits differ by more than 1e-4 is
refused.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from charlm.export import CONFIG, ExportError, export_safetensors

# The largest difference between onnxruntime's logits and torch's that an export accepts.
TOLERANCE = 1e-4
QUANTIZE = ("int8",)


def export_onnx(
    checkpoint: dict[str, Any], source: str | Path, out: str | Path, quantize: str | None = None
) -> Path:
    """Write the folder of `checkpoint` (read from `source`) to `out` with its ONNX graphs;
    `quantize="int8"` adds their int8 versions. Returns the folder."""
    from charlm.checkpoint import load_model

    if quantize is not None and quantize not in QUANTIZE:
        raise ExportError(f"quantize={quantize!r}: one of {', '.join(QUANTIZE)}, or null")
    _require_onnx()
    existed = Path(out).is_dir()
    folder = export_safetensors(checkpoint, source, out)
    with removed_on_failure(folder, existed):
        model = load_model(folder).float().eval()
        section = write_graphs(model, folder)
        if quantize == "int8":
            section["int8"] = _quantize(folder, section)
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        config["onnx"] = section
        (folder / CONFIG).write_text(json.dumps(config, indent=1, ensure_ascii=False), "utf-8")
    return folder


@contextlib.contextmanager
def removed_on_failure(folder: Path, existed: bool) -> Iterator[None]:
    """If what follows fails, remove what this export wrote into `folder` (which was new, or
    empty where `existed`), and the folder itself where it was new: a refused export leaves
    nothing half-written behind."""
    try:
        yield
    except BaseException:
        if not existed:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for path in folder.iterdir():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        raise


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise ExportError(
            f"format=onnx needs onnx, onnxscript and onnxruntime ({err.name} is missing): "
            "pip install 'charlm[export]'"
        ) from None


def write_graphs(model: Any, folder: Path) -> dict[str, Any]:
    """model.onnx and, where the family has one, step.onnx in `folder`, each checked against
    torch; returns what config.json says of them."""
    from charlm.models.graphs import BlockGraph, block_exporter, block_reach, step_graph

    time = min(8, model.context_size) if model.data_contract == "sequences" else 8
    ids = torch.randint(1, model.vocab_size, (2, max(2, time)), generator=_generator())
    batch, length = torch.export.Dim("batch"), torch.export.Dim("time")
    if block_exporter(model) == "torchscript":
        _export(BlockGraph(model), (ids,), folder / "model.onnx", ["ids"], ["logits"],
                {"ids": {0: "batch", 1: "time"}}, dynamo=False)  # fmt: skip
    else:
        _export(BlockGraph(model), (ids,), folder / "model.onnx", ["ids"], ["logits"],
                ({0: batch, 1: length},))  # fmt: skip
    _name_axes(folder / "model.onnx", {"logits": {0: "batch", 1: "time"}})
    _check_forward(model, folder / "model.onnx")
    section: dict[str, Any] = {
        "forward": "model.onnx",
        "step": None,
        "state": [],
        "contract": model.data_contract,
        "context_size": model.context_size,
        "max_word_length": model.max_word_length,
        "block_reach": block_reach(model),
        "vocab_size": model.vocab_size,
    }
    graph = step_graph(model)
    if graph is None:
        return section
    example = _stepped(graph, n=2, steps=2)
    specs = []
    for name, tensor in zip(graph.state_names, example, strict=True):
        spec = {graph.batch_axes()[name]: batch}
        if tensor.dim() == 4:  # keys and values: their past positions grow
            spec[2] = torch.export.Dim("past", min=0, max=max(2, model.context_size - 2))
        specs.append(spec)
    outputs = ["logits", *(f"{name}_out" for name in graph.state_names)]
    _export(graph, (torch.zeros(2, dtype=torch.long), *example), folder / "step.onnx",
            ["ids", *graph.state_names], outputs, ({0: batch}, tuple(specs)))  # fmt: skip
    axes = {"logits": {0: "batch"}}
    for name, spec in zip(graph.state_names, specs, strict=True):
        axes[f"{name}_out"] = {axis: "batch" if axis != 2 else "past_out" for axis in spec}
    _name_axes(folder / "step.onnx", axes)
    _check_step(model, graph, folder / "step.onnx")
    section["step"] = "step.onnx"
    section["state"] = [
        {
            "name": name,
            "shape": list(tensor.shape),
            "batch_axis": graph.batch_axes()[name],
            "dtype": "int64" if tensor.dtype == torch.long else "float32",
        }
        for name, tensor in zip(graph.state_names, graph.initial_state(1), strict=True)
    ]
    return section


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _stepped(graph: Any, n: int, steps: int) -> list[torch.Tensor]:
    """The state after `steps` start tokens from the initial state: an example whose every
    axis is at least 2 long, so that the exporter keeps them all variable."""
    state = graph.initial_state(n)
    with torch.no_grad():
        for _ in range(steps):
            state = list(graph(torch.zeros(n, dtype=torch.long), *state)[1:])
    return state


def _export(module, args, path: Path, inputs, outputs, dynamic, dynamo: bool = True) -> None:
    """torch.onnx.export, one file with the weights inside, its progress messages kept off
    the command's output: `dynamic` is the dynamo exporter's `dynamic_shapes`, or the
    TorchScript exporter's `dynamic_axes` (`dynamo=False`)."""
    module.eval()  # a graph of inference: no dropout, whatever mode the wrapper was built in
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            torch.no_grad(),
        ):
            warnings.simplefilter("ignore")
            if dynamo:
                torch.onnx.export(
                    module, args, str(path), dynamo=True, input_names=inputs,
                    output_names=outputs, dynamic_shapes=dynamic, external_data=False,
                    verbose=False,
                )  # fmt: skip
            else:
                torch.onnx.export(
                    module, args, str(path), dynamo=False, input_names=inputs,
                    output_names=outputs, dynamic_axes=dynamic, verbose=False,
                )  # fmt: skip
    except Exception as err:  # the exporter raises many types; one line says which graph
        raise ExportError(
            f"{path.name}: torch.onnx.export failed ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''})"
        ) from None
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _name_axes(path: Path, axes: dict[str, dict[int, str]]) -> None:
    """Name the variable axes of the graph's outputs. The exporter may record an axis at the
    example's length where a layer (a recurrent one) hides that it varies; onnxruntime then
    warns at every other length, though it computes them right."""
    import onnx

    graph = onnx.load(str(path))
    del graph.graph.value_info[:]  # intermediate shapes, some at the example's length
    for output in graph.graph.output:
        for axis, name in axes.get(output.name, {}).items():
            output.type.tensor_type.shape.dim[axis].dim_param = name
    onnx.save_model(graph, str(path), save_as_external_data=False)


def session(path: Path):
    """An onnxruntime session on the CPU, its shape warnings off (a time axis the exporter
    recorded at the example's length is only a hint)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _check_forward(model: Any, path: Path) -> None:
    run = session(path)
    gen = _generator()
    longest = model.context_size if model.data_contract == "sequences" else 16
    for shape in ((1, 1), (3, min(5, longest)), (4, longest)):
        ids = torch.randint(0, model.vocab_size, shape, generator=gen)
        ids[:, 0] = 0
        with torch.no_grad():
            expected = model.block_logits(ids).float().numpy()
        got = run.run(["logits"], {"ids": ids.numpy()})[0]
        _compare(path, expected, got)


def _check_step(model: Any, graph: Any, path: Path) -> None:
    run = session(path)
    gen = _generator()
    n = 3
    with torch.no_grad():
        logits, state = model.start(n)
        outputs = run.run(None, _feed(graph, torch.zeros(n, dtype=torch.long),
                                      graph.initial_state(n)))  # fmt: skip
        _compare(path, logits.float().numpy(), outputs[0])
        steps = (model.max_word_length or 8) - 1
        for _ in range(min(6, steps)):
            ids = torch.randint(1, model.vocab_size, (n,), generator=gen)
            logits, state = model.advance(state, ids)
            outputs = run.run(None, _feed(graph, ids, [torch.from_numpy(t) for t in outputs[1:]]))
            _compare(path, logits.float().numpy(), outputs[0])


def _feed(graph: Any, ids: torch.Tensor, state: list[torch.Tensor]) -> dict[str, Any]:
    return {
        "ids": ids.numpy(),
        **{n: t.numpy() for n, t in zip(graph.state_names, state, strict=True)},
    }


def _compare(path: Path, expected, got) -> None:
    import numpy as np

    gap = float(np.abs(expected - got).max()) if expected.size else 0.0
    if not gap <= TOLERANCE:
        raise ExportError(
            f"{path.name}: onnxruntime's logits differ from torch's by {gap:.2e} "
            f"(more than {TOLERANCE:g}); the export is not written as correct"
        )


def _quantize(folder: Path, section: dict[str, Any]) -> dict[str, str | None]:
    """The graphs with their weights in int8 (onnxruntime.quantization.quantize_dynamic: the
    matrices of linear and recurrent layers, activations quantised as they come)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    done: dict[str, str | None] = {"forward": None, "step": None}
    for key in ("forward", "step"):
        name = section.get(key)
        if not name:
            continue
        target = name.replace(".onnx", ".int8.onnx")
        root, level = logging.getLogger(), logging.getLogger().level
        root.setLevel(logging.ERROR)  # its advice to pre-process, logged on the root logger
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantize_dynamic(folder / name, folder / target, weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        done[key] = target
    return done
