"""What a GPU run needs, checked without one: the GPU presets compose, and every kind of data
reaches a device through the DataModule's own transfer (torch's `meta` device stands in for
`cuda`: a tensor that is not moved stays on the CPU and fails the check)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from charlm.data import CharWindowDataModule, LinesDataModule, TextDataModule

META = torch.device("meta")


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "story.txt"
    path.write_text("le chat dort.\nla pie vole loin.\n" * 40, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "overrides",
    [("trainer=gpu",), ("trainer=gpu", "trainer.precision=bf16-mixed"),
     ("trainer=ddp", "trainer.precision=bf16-mixed")],
)  # fmt: skip
def test_the_gpu_presets_compose(make_cfg, overrides):
    trainer = OmegaConf.to_container(make_cfg(*overrides).trainer, resolve=True)
    if "trainer=gpu" in overrides:
        assert (trainer["accelerator"], trainer["devices"]) == ("gpu", 1)
    else:  # started by itself: Lightning picks the accelerator and its devices
        assert (trainer["accelerator"], trainer["devices"], trainer["num_nodes"]) == (
            "auto", "auto", 1,
        )  # fmt: skip
        assert trainer["strategy"] == "ddp"
    if "trainer.precision=bf16-mixed" in overrides:
        assert trainer["precision"] == "bf16-mixed"


def _moved(dm, batch):
    return dm.transfer_batch_to_device(batch, META, 0)


@pytest.mark.parametrize("kind", ["words", "text", "lines"])
def test_training_and_evaluation_batches_reach_the_device(tmp_path, tiny_corpus, kind):
    if kind == "words":
        dm = CharWindowDataModule(tiny_corpus, split=[0.6, 0.2, 0.2], steps_per_batch=3)
    elif kind == "text":  # the memmap/pread stream: blocks are read straight to the device
        dm = TextDataModule(_text(tmp_path), block_size=8, batch_size=4, steps_per_batch=3,
                            cache_dir=str(tmp_path / "cache"))  # fmt: skip
    else:
        dm = LinesDataModule(_text(tmp_path), batch_size=4, steps_per_batch=3)
    dm.setup()
    chunk = _moved(dm, next(iter(dm.train_dataloader())))
    for i in range(3):
        x, y = chunk.minibatch(i)
        assert (x.device, y.device) == (META, META), kind
    for batch in (next(iter(dm.val_dataloader())), next(iter(dm.test_dataloader()))):
        moved = _moved(dm, batch)
        tensors = [t for t in (moved if isinstance(moved, (tuple, list)) else [moved])
                   if isinstance(t, torch.Tensor)]  # fmt: skip
        assert tensors and all(t.device == META for t in tensors), kind


def test_device_names_and_the_ones_this_machine_lacks():
    from charlm.checkpoint import device_for
    from charlm.errors import CharlmError

    assert device_for("cpu") == torch.device("cpu")
    assert device_for("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(CharlmError, match=r"device=cuda:99: this machine has \d+ CUDA device"):
        device_for("cuda:99")
    with pytest.raises(CharlmError, match="'gpu0': not a device; use auto, cpu, cuda"):
        device_for("gpu0")
    with pytest.raises(CharlmError, match="device=meta: charlm's commands run on"):
        device_for("meta")


@pytest.mark.slow
def test_sample_and_eval_take_a_device(trained_run, tmp_path):
    import json

    from commands import run_command

    ckpt = trained_run["dir"] / "checkpoints" / "last.ckpt"
    output = f"output={tmp_path / 'refused.json'}"
    for command, *extra in (("charlm.commands.sample",), ("charlm.commands.evaluate", output)):
        out = run_command(command, f"ckpt={ckpt}", "device=cuda:99", *extra)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert out.stderr.strip().count("\n") == 0 and "device=cuda:99" in out.stderr
    assert not (tmp_path / "refused.json").exists()
    figures = {}
    for device in ("cpu", "auto"):
        output = tmp_path / f"{device}.json"
        out = run_command("charlm.commands.evaluate", f"ckpt={ckpt}", f"device={device}",
                          f"output={output}")  # fmt: skip
        assert out.returncode == 0, out.stderr
        figures[device] = json.loads(output.read_text())["results"]["test"]["loss"]
    assert figures["cpu"] == pytest.approx(trained_run["metrics"]["test"]["loss"], rel=1e-6)
    assert figures["auto"] == pytest.approx(figures["cpu"], rel=1e-5)
