"""Device check: a short training, sampling and scoring on whatever device this machine has,
its figures compared with the CPU's.

Finds the device as `trainer=auto` does (CUDA, then Apple's MPS, then the CPU) and, for a GRU
and a Transformer of the words, trains 200 updates there with `trainer=auto` (the precision
`charlm.precision.auto_precision` picks, logged), then loads the checkpoint twice, on the CPU
and on the device, and compares:

- the logits of the same batch of words, same weights, in float32 (max |difference|);
- the test words' NLL per character, read both ways;
- 20 words drawn on the device, all from the model's alphabet.

A difference above `--tolerance` (1e-4) is reported as a failure (exit status 1). On a machine
with only a CPU it says so and compares the CPU with itself.

    .venv/bin/python bench/device_check.py [--updates 200] [--tolerance 1e-4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = {
    "gru": ["model=gru", "model.net.hidden_size=128"],
    "transformer": ["model=transformer", "model.net.emb_size=64", "model.net.num_layers=2"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    import charlm
    from charlm.precision import accelerator_of

    device = torch.device(accelerator_of("auto"))
    print(f"device: {device}" + ("" if device.type != "cpu" else " (no CUDA or MPS here: the "
                                 "CPU is compared with itself)"))  # fmt: skip
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in FAMILIES.items():
            run = charlm.fit(
                None,
                [*overrides, "trainer=auto", f"trainer.max_steps={args.updates}",
                 "model/scheduler=none", "logger=none", f"hydra.run.dir={tmp}/{name}"],
                root=ROOT, quiet=True,
            )  # fmt: skip
            ckpt = Path(tmp) / name / "checkpoints" / "last.ckpt"
            on_cpu = charlm.load_model(ckpt)
            on_device = charlm.load_model(ckpt).to(device)
            words = ["mariage", "article", "code", "civil", "propriété"]
            x = torch.tensor([[0, *on_cpu.vocab.encode(w)] + [0] * (10 - len(w)) for w in words])
            with torch.no_grad():
                gap = (on_device.block_logits(x.to(device)).float().cpu()
                       - on_cpu.block_logits(x)).abs().max().item()  # fmt: skip
            nll_cpu = float(on_cpu.word_nll(words).sum())
            nll_device = float(on_device.word_nll(words).sum())
            drawn = on_device.sample(20, generator=torch.Generator().manual_seed(0))
            alphabet = all(set(w) <= set(on_cpu.vocab.chars) for w in drawn)
            ok = gap <= args.tolerance and abs(nll_cpu - nll_device) <= args.tolerance * 100
            failed |= not (ok and alphabet)
            print(f"{name}: trained in {run.metrics.get('trainer_precision')}, test NLL "
                  f"{run.metrics['test']['loss']:.4f}; logits max |device - cpu| {gap:.2e}; "
                  f"words' NLL {nll_device:.4f} (cpu {nll_cpu:.4f}); 20 words drawn, "
                  f"{'all' if alphabet else 'NOT all'} from the alphabet: "
                  f"{'ok' if ok and alphabet else 'FAILED'}")  # fmt: skip
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
