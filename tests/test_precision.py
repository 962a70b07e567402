"""Every figure names the arithmetic it was read in: metrics.json the run's (a "-true"
precision's weights, float32 for a "-mixed" run), charlm-eval its own, and `precision=run`
reads a checkpoint exactly as its run did. A 16-bit run that overflows is told that float16 is
the cause."""

from __future__ import annotations

import json

import lightning as L
import pytest
import torch
from commands import run_command
from conftest import TINY_WORDS

from charlm.errors import CharlmError
from charlm.lit import NonFiniteLossError
from charlm.precision import figures_precision, non_finite_fix, precision_plugin
from charlm.train import train

RUN = ("model=gru", "model.net.hidden_size=16", "model.net.emb_size=8",
       "data.split=[0.6,0.2,0.2]", "trainer.max_steps=20", "model/scheduler=none",
       "trainer.val_check_interval=10", "logger=none")  # fmt: skip


@pytest.mark.parametrize(
    ("trainer", "figures"),
    [("32-true", "32-true"), ("32", "32-true"), ("bf16-true", "bf16-true"),
     ("16-true", "16-true"), ("64-true", "64-true"), ("bf16-mixed", "32-true"),
     ("bf16", "32-true"), ("16-mixed", "32-true"), (None, "32-true")],
)  # fmt: skip
def test_a_runs_figures_are_read_in_its_weights_type(trainer, figures):
    assert figures_precision(trainer) == figures


def test_only_a_16_bit_run_is_told_that_float16_overflows():
    assert "float16" in non_finite_fix("16-true") and "bf16-mixed or 32-true" in non_finite_fix(
        "16-mixed"
    )
    for precision in ("32-true", "bf16-mixed", None):
        assert "model.optimizer.lr" in non_finite_fix(precision)
    with pytest.raises(Exception, match=r"precision='8-true': one of 32-true"):
        precision_plugin("8-true", "cpu")


def _words(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("\n".join(TINY_WORDS) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_bf16_true_run_and_charlm_eval_read_one_figure_and_name_it(tmp_path, make_cfg):
    cfg = make_cfg(f"data.path={_words(tmp_path)}", *RUN, "trainer.precision=bf16-true")
    metrics = train(cfg)
    assert metrics["precision"] == "bf16-true" and metrics["trainer_precision"] == "bf16-true"
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    figures = {}
    for precision in ("run", "32-true"):
        out = tmp_path / f"eval-{precision}.json"
        done = run_command("charlm-eval", f"ckpt={ckpt}", f"precision={precision}", f"output={out}")
        assert done.returncode == 0, done.stderr
        read = json.loads(out.read_text())
        figures[read["precision"]] = read["results"]["test"]["loss"]
        shown = "bf16-true" if precision == "run" else "32-true"
        assert f"splits read as: sequences, in {shown}" in done.stdout
    # The run's own reading, to the last bit; float32's is another figure, named as such.
    assert figures["bf16-true"] == metrics["test"]["loss"]
    assert figures["32-true"] != metrics["test"]["loss"]
    done = run_command("charlm-eval", f"ckpt={ckpt}", "precision=8-true",
                       f"output={tmp_path / 'x.json'}")  # fmt: skip
    assert done.returncode == 2 and "precision='8-true'" in done.stderr
    assert not (tmp_path / "x.json").exists()


@pytest.mark.slow
def test_a_mixed_runs_figures_are_float32s(tmp_path, make_cfg):
    cfg = make_cfg(f"data.path={_words(tmp_path)}", *RUN, "trainer.precision=bf16-mixed")
    metrics = train(cfg)
    assert metrics["precision"] == "32-true" and metrics["trainer_precision"] == "bf16-mixed"
    out = tmp_path / "eval.json"
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    done = run_command("charlm-eval", f"ckpt={ckpt}", "precision=run", f"output={out}")
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["results"]["test"]["loss"] == metrics["test"]["loss"]


class Overflow(L.Callback):
    """After the first chunk, a weight beyond float16's range (65504): infinite in float16."""

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        with torch.no_grad():
            next(pl_module.net.parameters()).view(-1)[0] = float("inf")


@pytest.mark.slow
def test_a_16_bit_run_that_overflows_is_told_float16_is_the_cause(tmp_path, make_cfg):
    cfg = make_cfg(f"data.path={_words(tmp_path)}", *RUN, "trainer.precision=16-true",
                   "data.steps_per_batch=5")  # fmt: skip
    with pytest.raises(NonFiniteLossError) as err:
        train(cfg, extra_callbacks=[Overflow()])
    message = str(err.value)
    assert "float16 (trainer.precision=16-true) overflows past 65504" in message
    assert "model.optimizer.lr" not in message and "\n" not in message


# --- the precision policy of each device, its capabilities forced --------------------------


@pytest.fixture
def device(monkeypatch):
    """Force what torch reports of this machine: CUDA or MPS present, bfloat16 on the GPU,
    cuDNN's version, and the CPU's measured bfloat16 speed-up."""
    import torch

    import charlm.precision as policy

    state = {"cuda": False, "mps": False, "bf16": True, "cudnn": 91300, "speedup": 1.7,
             "measured": 0}  # fmt: skip
    monkeypatch.setattr(torch.cuda, "is_available", lambda: state["cuda"])
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: state["mps"])
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: state["bf16"])
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: state["cudnn"])

    def measure(*args, **kwargs):
        state["measured"] += 1
        return state["speedup"]

    monkeypatch.setattr(policy, "measure_bf16_speedup", measure)
    return state


TRANSFORMER, GRU = "charlm.models.TransformerLM", "charlm.models.RecurrentLM"


def test_cuda_takes_bf16_where_the_gpu_and_cudnn_have_it_else_float16(device):
    from charlm.precision import auto_precision

    device["cuda"] = True
    assert auto_precision("auto", TRANSFORMER) == "bf16-mixed"
    assert auto_precision("gpu", GRU) == "bf16-mixed"  # cuDNN 9.13: bf16 LSTMs and GRUs
    device["cudnn"] = 90100
    assert auto_precision("cuda", GRU) == "16-mixed"  # cuDNN refuses bf16 recurrent nets
    assert auto_precision("cuda", TRANSFORMER) == "bf16-mixed"
    device["bf16"] = False  # a GPU without bfloat16 (a T4, a V100)
    assert auto_precision("cuda", TRANSFORMER) == "16-mixed"


def test_mps_is_float32_and_auto_prefers_cuda_then_mps_then_the_cpu(device, tmp_path, monkeypatch):
    from charlm.precision import accelerator_of, auto_precision

    monkeypatch.setenv("CHARLM_CACHE_DIR", str(tmp_path))
    device["mps"] = True
    assert accelerator_of("auto") == "mps" and auto_precision("auto", TRANSFORMER) == "32-true"
    device["cuda"] = True
    assert accelerator_of("auto") == "cuda" and accelerator_of("gpu") == "cuda"
    device["cuda"] = device["mps"] = False
    assert accelerator_of("auto") == "cpu"
    # A GPU config composed where there is none (a login node): float32, nothing probed.
    assert accelerator_of("gpu") == "cuda" and auto_precision("gpu", TRANSFORMER) == "32-true"
    with pytest.raises(CharlmError, match="accelerator='tpu'"):
        accelerator_of("tpu")


def test_the_cpu_takes_bf16_only_where_measured_faster_once_per_machine(
    device, tmp_path, monkeypatch
):
    from charlm.precision import auto_precision

    monkeypatch.setenv("CHARLM_CACHE_DIR", str(tmp_path))
    device["speedup"] = 0.53  # an Intel Xeon with AVX512-BF16 and no AMX: bf16 slower
    assert auto_precision("cpu", GRU) == "32-true" and device["measured"] == 1
    device["speedup"] = 1.9
    assert auto_precision("cpu", GRU) == "32-true"  # the machine's measurement is kept
    assert device["measured"] == 1 and (tmp_path / "precision.json").is_file()
    (tmp_path / "precision.json").unlink()  # another machine, say
    assert auto_precision("cpu", GRU) == "bf16-mixed" and device["measured"] == 2
    (tmp_path / "precision.json").unlink()
    device["speedup"] = 0.07  # emulated bfloat16 (no bfloat16 instructions): never
    assert auto_precision("cpu", TRANSFORMER) == "32-true" and device["measured"] == 3


def test_trainer_auto_and_mps_compose_with_their_precision(make_cfg, device, tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    monkeypatch.setenv("CHARLM_CACHE_DIR", str(tmp_path))
    device["speedup"] = 0.5
    auto = make_cfg("trainer=auto", "model=gru")
    assert auto.trainer.accelerator == "auto"
    assert OmegaConf.to_container(auto.trainer, resolve=True)["precision"] == "32-true"
    mps = make_cfg("trainer=mps")
    assert mps.trainer.accelerator == "mps" and mps.trainer.precision == "32-true"
    device["cuda"] = True
    gpu = make_cfg("trainer=gpu", "model=transformer")
    assert OmegaConf.to_container(gpu.trainer, resolve=True)["precision"] == "bf16-mixed"
