"""The arithmetic a figure is read in, named and reproducible.

A run trains in its Trainer's precision (`trainer.precision`: 32-true, bf16-mixed, bf16-true,
16-true, ...) and scores its final figures with its weights as they are: in that type for a
"-true" precision, in float32 for a "-mixed" one. metrics.json names both (`precision`, the
figures'; `trainer_precision`). `charlm-eval precision=` reads a checkpoint in any of them
through Lightning's own precision plugins (`precision=run`: as metrics.json did), so the run's
figures and the command's can be read in one arithmetic; each names the one it was read in.
"""

from __future__ import annotations

from typing import Any

from charlm.errors import CharlmError

# What charlm-eval reads in, and how a run's metrics.json names the arithmetic of its figures.
PRECISIONS = ("32-true", "64-true", "bf16-true", "16-true", "bf16-mixed", "16-mixed")
# Where the largest float16 lies: past it, a float16 number is infinite.
FLOAT16_MAX = 65504


def precision_plugin(precision: str, device: Any) -> Any:
    """Lightning's plugin for `precision` (one of PRECISIONS) on `device`: its
    `convert_module(model)` and `forward_context()` read the model as a run in that
    precision does."""
    from lightning.fabric.plugins import (
        DoublePrecision,
        HalfPrecision,
        MixedPrecision,
        Precision,
    )

    if precision not in PRECISIONS:
        raise CharlmError(
            f"precision={precision!r}: one of {', '.join(PRECISIONS)}, or run (the run's own)"
        )
    if precision == "32-true":
        return Precision()
    if precision == "64-true":
        return DoublePrecision()
    if precision.endswith("-true"):
        return HalfPrecision(precision)  # type: ignore[arg-type]
    return MixedPrecision(precision, str(getattr(device, "type", device)))  # type: ignore[arg-type]


def figures_precision(trainer_precision: str | None) -> str:
    """The arithmetic a run's own figures (metrics.json) are read in, for a run trained in
    `trainer_precision`: its weights' type for a "-true" precision; float32 for a "-mixed"
    one, whose weights are float32 and whose final scoring runs outside the Trainer's
    autocast."""
    value = str(trainer_precision or "32-true")
    # Lightning's short names: 32, 64, 16 and bf16 (the last two mixed).
    value = {"32": "32-true", "64": "64-true", "16": "16-mixed", "bf16": "bf16-mixed"}.get(
        value, value
    )
    return "32-true" if value.endswith("-mixed") else value


def run_precision(config: dict[str, Any] | None) -> str:
    """`figures_precision` of the run whose stored config is `config`."""
    return figures_precision(((config or {}).get("trainer") or {}).get("precision"))


def non_finite_fix(precision: str | None) -> str:
    """What a run whose loss or weights became non-finite should change: in float16, the
    arithmetic (it overflows past 65504); otherwise the learning rate or the data."""
    if precision is not None and str(precision).startswith("16"):
        return (
            f"float16 (trainer.precision={precision}) overflows past {FLOAT16_MAX}: train in "
            "trainer.precision=bf16-mixed or 32-true"
        )
    return "lower the learning rate (model.optimizer.lr) or check the data"


# --- the precision a run trains in, for its device and its model family --------------------

# Where this machine's measurement of bfloat16 against float32 is kept.
CACHE = "precision.json"
# bfloat16 must be at least this much faster than float32 to be chosen on a CPU.
MARGIN = 1.1
# cuDNN runs LSTMs and GRUs in bfloat16 from 9.13 (torch.backends.cudnn.version() 91300).
CUDNN_BF16_RNN = 91300


def accelerator_of(accelerator: str) -> str:
    """The device `accelerator` names: "auto" is CUDA where torch sees a GPU, then Apple's MPS,
    then the CPU (the order of Lightning's `accelerator: auto`); "gpu" is MPS on a machine that
    has it, else CUDA (a config may be composed where its GPU is not: Lightning says so when
    the run starts)."""
    import torch

    accelerator = str(accelerator).lower()
    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    if accelerator in ("auto", "gpu"):
        if cuda:
            return "cuda"
        if mps:
            return "mps"
        return "cuda" if accelerator == "gpu" else "cpu"
    if accelerator not in ("cuda", "mps", "cpu"):
        raise CharlmError(f"accelerator={accelerator!r}: one of auto, cpu, gpu, cuda, mps")
    return accelerator


def auto_precision(accelerator: str = "auto", family: str = "") -> str:
    """Lightning's precision for a run on `accelerator` of the model class `family` (its
    config's `_target_`; only its name is read, nothing is imported), said in the log:

    - CUDA: bf16-mixed where the GPU has bfloat16; a recurrent model only where cuDNN runs
      LSTMs and GRUs in bfloat16 (9.13 and later), else 16-mixed (float16, with a scaler);
    - MPS: 32-true (Lightning has no mixed precision there);
    - CPU: bf16-mixed only where a short measurement finds bfloat16's matrix products faster
      than float32's on this machine (cached per CPU, threads and torch), else 32-true:
      bfloat16 instructions alone are not enough (an Intel Xeon with AVX512-BF16 and no AMX
      multiplies in bf16 at about half float32's speed).
    """
    import logging

    import torch

    device = accelerator_of(accelerator)
    recurrent = "Recurrent" in str(family)
    if device == "cuda" and not torch.cuda.is_available():
        # Composed where the GPU is not (a login node): nothing to ask; float32 is safe anywhere.
        choice, why = "32-true", "no CUDA device visible where the config was resolved"
    elif device == "cuda":
        bf16 = torch.cuda.is_bf16_supported()
        cudnn = torch.backends.cudnn.version() or 0
        choice = "bf16-mixed" if bf16 and (not recurrent or cudnn >= CUDNN_BF16_RNN) else "16-mixed"
        why = f"CUDA, bfloat16 {'supported' if bf16 else 'not supported'}, cuDNN {cudnn}"
    elif device == "mps":
        choice, why = "32-true", "MPS: no mixed precision there"
    else:
        speedup = cpu_bf16_speedup()
        choice = "bf16-mixed" if speedup >= MARGIN else "32-true"
        why = f"CPU, bfloat16 matrix products at {speedup:.2f}x float32's speed"
    logging.getLogger("charlm.precision").info("precision: %s (%s)", choice, why)
    return choice


def cpu_bf16_speedup(cache_dir: str | None = None) -> float:
    """How many times faster this CPU multiplies matrices in bfloat16 than in float32 with
    torch's current threads (below 1 where bfloat16 is emulated, or slow in hardware).
    Measured once (well under a second) and kept in charlm's cache, keyed by the CPU, the
    thread count and torch's version ($CHARLM_CACHE_DIR, else ~/.cache/charlm). torch has no
    public test for the CPU's bfloat16 instructions, and having them is not enough: the
    measurement decides."""
    import json
    import os
    import platform
    from pathlib import Path

    import torch

    key = f"{cpu_model() or platform.processor()}|{torch.get_num_threads()}|{torch.__version__}"
    folder = (
        cache_dir
        or os.environ.get("CHARLM_CACHE_DIR")
        or (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "charlm")
    )
    path = Path(folder) / CACHE
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if isinstance(known, dict) and isinstance(known.get(key), int | float):
        return float(known[key])
    speedup = measure_bf16_speedup()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**(known if isinstance(known, dict) else {}), key: speedup}))
    except OSError:
        pass  # a read-only home: measured again next time
    return speedup


def measure_bf16_speedup(size: int = 512, repeat: int = 3) -> float:
    """float32's time over bfloat16's for a size x size matrix product, best of `repeat`."""
    import time

    import torch

    def best(dtype: torch.dtype) -> float:
        a = torch.randn(size, size).to(dtype)
        b = torch.randn(size, size).to(dtype)
        a @ b  # warm-up
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - started)
        return min(times)

    return best(torch.float32) / best(torch.bfloat16)


def cpu_model() -> str:
    """The CPU's model name as Linux reports it ('' where it does not)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""
