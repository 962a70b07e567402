"""Weights that become NaN or infinite: a run stops with one line, wherever it happens, and
keeps its last finite checkpoints; sampling, scoring and evaluation refuse such a model.

Every test writes the NaN itself, at a chosen update and place, so the outcome never depends
on where floating-point rounding makes a real overflow land.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import lightning as L
import pytest
import torch
from commands import run_command

from charlm import load_model
from charlm.errors import NonFiniteError
from charlm.lit import NonFiniteLossError
from charlm.train import train

WORDS = ["emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper",
         "evelyn", "abigail", "emily", "elizabeth", "mila", "ella", "avery", "sofia", "camila",
         "aria", "scarlett", "victoria", "madison", "luna", "grace", "chloe", "penelope"]  # fmt: skip
TEXT = "Le chat dort. La pluie tombe sur la ville, et le chien aboie.\n" * 40

# Chunks of 5 updates, a validation (then last.ckpt) after every second chunk.
CHUNK, VALIDATE_EVERY, POISON_AT = 5, 10, 20
COMMON = (f"data.steps_per_batch={CHUNK}", f"trainer.val_check_interval={VALIDATE_EVERY}",
          "trainer.max_steps=60", "model/optimizer=adam", "model.optimizer.lr=0.01")  # fmt: skip
MODELS = {
    "window": ("data.split=[0.6,0.2,0.2]",),
    "gru": ("model=gru", "data.split=[0.6,0.2,0.2]", "model.net.hidden_size=16",
            "model.net.emb_size=8"),
    "text": ("data=text", "model=gru", "data.block_size=16", "data.batch_size=4",
             "model.net.hidden_size=16", "model.net.emb_size=8"),
}  # fmt: skip


def poison(module: torch.nn.Module) -> None:
    """Write a NaN into the first weight of `module`."""
    with torch.no_grad():
        next(module.parameters()).view(-1)[0] = float("nan")


def checkpoint_hashes(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.glob("*.ckpt")}


class Poison(L.Callback):
    """Writes a NaN into a weight at update `step`, at `where`:

    - `update`: right after that update's optimiser step, inside the chunk (through the task's
      per-update probe, so the run keeps its direct update path);
    - `chunk_end`: after the chunk ending with that update, before the validation after it;
    - `validation`: during the validation at that update, after its first batch;
    - `callback`: in a callback at the end of that validation, before the checkpoints are saved.

    It records the checkpoints as they were just before, to compare with what the run leaves.
    """

    def __init__(self, where: str, step: int) -> None:
        self.where, self.step = where, step
        self.before: dict[str, str] | None = None
        self.dir: Path | None = None

    def _strike(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.before is None:
            self.dir = Path(next(c.dirpath for c in trainer.checkpoint_callbacks if c.dirpath))
            self.before = checkpoint_hashes(self.dir)
            poison(pl_module.net)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.where == "update":
            callback = self

            class Probe:
                def due(self, step: int) -> bool:
                    return step == callback.step

                def before(self, step: int) -> None:
                    pass

                def after(self, step: int, loss: float) -> None:
                    callback._strike(trainer, pl_module)

            pl_module.update_probe = Probe()

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if self.where == "chunk_end" and trainer.global_step == self.step:
            self._strike(trainer, pl_module)

    def on_validation_batch_end(self, trainer, pl_module, *args) -> None:
        if self.where == "validation" and trainer.global_step == self.step:
            self._strike(trainer, pl_module)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.where == "callback" and trainer.global_step == self.step:
            self._strike(trainer, pl_module)


def data_overrides(kind: str, tmp_path: Path) -> tuple[str, ...]:
    path = tmp_path / ("text.txt" if kind == "text" else "words.txt")
    path.write_text(TEXT if kind == "text" else "\n".join(WORDS) + "\n", encoding="utf-8")
    return (f"data.path={path}", *MODELS[kind])


def assert_stopped_cleanly(err: BaseException, poisoned: Poison, first: int, last: int) -> None:
    """One line naming the step (between `first` and `last`) and the fix; the checkpoints
    written before the NaN are byte for byte as they were, and none holds a non-finite weight."""
    message = str(err)
    assert "\n" not in message
    match = re.search(r"became (nan|inf) at step (\d+)", message)
    assert match, message
    assert first <= int(match.group(2)) <= last, message
    assert "model.optimizer.lr" in message
    assert poisoned.before, "the run wrote no checkpoint before the NaN"
    after = checkpoint_hashes(poisoned.dir)
    assert after == poisoned.before
    for name in after:
        saved = torch.load(poisoned.dir / name, weights_only=True)
        assert saved["global_step"] < POISON_AT or name.startswith("best")
        assert all(torch.isfinite(t).all() for t in saved["state_dict"].values()), name
    assert f"{poisoned.dir / 'last.ckpt'}" in message


# Where the NaN lands, and the steps the error may name: the next update's loss, or the check
# that follows (the chunk's end, the validation, the checkpoint).
PLACES = {
    "update": (POISON_AT - 2, POISON_AT - 1),  # inside a chunk: the next update's loss says it
    "update_at_chunk_end": (POISON_AT, POISON_AT),  # the chunk's last update: its end says it
    "chunk_end": (POISON_AT, POISON_AT),
    "validation": (POISON_AT, POISON_AT),
    "callback": (POISON_AT, POISON_AT),
}


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("place", sorted(PLACES))
def test_non_finite_weights_stop_the_run_in_one_line_and_keep_the_good_checkpoints(
    make_cfg, tmp_path, kind, place
):
    step = POISON_AT - 3 if place == "update" else POISON_AT
    where = "update" if place.startswith("update") else place
    poisoned = Poison(where, step)
    cfg = make_cfg(*data_overrides(kind, tmp_path), *COMMON)
    with pytest.raises(NonFiniteLossError) as err:
        train(cfg, extra_callbacks=[poisoned])
    assert_stopped_cleanly(err.value, poisoned, *PLACES[place])


def test_the_command_gives_the_one_line_and_exit_status_2(tmp_path):
    # A NaN written during a validation that TensorBoard's sampled words follow: the sampler
    # sees it first, and the command still ends with the one line.
    overrides = data_overrides("window", tmp_path)
    result = run_command(
        "charlm-train", *overrides, *COMMON, "hydra.run.dir=run",
        "+callbacks.poison._target_=test_non_finite.Poison", "+callbacks.poison.where=validation",
        f"+callbacks.poison.step={POISON_AT}", "callbacks.progress_bar=null", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert errors[0].startswith("charlm-train: error: ")
    assert re.search(rf"became nan at step {POISON_AT}\b", errors[0]), errors[0]
    assert "multinomial" not in result.stderr + result.stdout
    for path in (tmp_path / "run" / "checkpoints").glob("*.ckpt"):
        saved = torch.load(path, weights_only=True)["state_dict"]
        assert all(torch.isfinite(t).all() for t in saved.values()), path


# --- a model that holds non-finite weights, or whose logits overflow ---------------------------


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A trained window model of words and one of text, and copies of their last.ckpt with one
    NaN weight, and with finite weights whose logits overflow: every weight 3e38, so the first
    layer's products overflow to +inf, tanh gives 1 and the output sums 3e38 a hundred times
    (+inf), whatever the CPU."""
    from conftest import compose_train

    root = tmp_path_factory.mktemp("damaged")
    out = {}
    for kind in ("window", "text"):
        cfg = compose_train(
            root, *data_overrides(kind, root)[:1], "trainer.max_steps=20", "logger=none",
            *(("data=text",) if kind == "text" else ()),
            output_dir=root / kind,
        )  # fmt: skip
        train(cfg)
        last = root / kind / "checkpoints" / "last.ckpt"
        checkpoint = torch.load(last, weights_only=True)
        first = next(k for k in checkpoint["state_dict"] if k.startswith("net."))
        nan = {**checkpoint, "state_dict": dict(checkpoint["state_dict"])}
        nan["state_dict"][first] = nan["state_dict"][first].clone()
        nan["state_dict"][first].view(-1)[0] = float("nan")
        torch.save(nan, root / kind / "nan.ckpt")
        huge = {**checkpoint, "state_dict": {
            k: torch.full_like(v, 3e38) if v.is_floating_point() else v
            for k, v in checkpoint["state_dict"].items()
        }}  # fmt: skip
        torch.save(huge, root / kind / "huge.ckpt")
        out[kind] = root / kind
    return out


@pytest.mark.parametrize("damage", ["nan", "huge"])
@pytest.mark.parametrize("kind", ["window", "text"])
def test_commands_refuse_a_non_finite_model_in_one_line_naming_the_checkpoint(
    damaged, damage, kind, tmp_path
):
    ckpt = damaged[kind] / f"{damage}.ckpt"
    words = tmp_path / "words.txt"
    words.write_text("emma\nmia\n", encoding="utf-8")
    text = tmp_path / "text.txt"
    text.write_text("Le chat dort.\n", encoding="utf-8")
    calls = [
        ("charlm-sample", f"ckpt={ckpt}", "n=3"),
        ("charlm-eval", f"ckpt={ckpt}"),
        ("charlm-score", f"ckpt={ckpt}", f"text={text}" if kind == "text" else f"words={words}"),
    ]
    if kind == "text":
        calls[0] = ("charlm-sample", f"ckpt={ckpt}", "prompt=Le", "length=20")
    for call in calls:
        result = run_command(*call, cwd=tmp_path)
        assert result.returncode == 2, (call, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, (call, result.stderr)
        assert str(ckpt) in lines[0] and "non-finite" in lines[0], (call, lines[0])
        assert "multinomial" not in result.stderr


@pytest.mark.parametrize("damage", ["nan", "huge", "overflowing_forward"])
def test_a_loaded_non_finite_model_refuses_to_sample_and_score(damaged, damage):
    from charlm.metrics import evaluate_lm

    model = load_model(damaged["window"] / f"{'huge' if damage == 'huge' else 'nan'}.ckpt")
    if damage == "overflowing_forward":
        # Finite weights, logits that are not: any logits times infinity are inf, -inf or nan.
        model = load_model(damaged["window"] / "checkpoints" / "last.ckpt")
        forward = model.forward
        model.forward = lambda x: forward(x) * math.inf
    g = torch.Generator().manual_seed(0)
    x, y = model.examples(["emma", "mia"])
    for call in (
        lambda: model.sample(3, generator=g),
        lambda: model.log_prob("emma"),
        lambda: model.next_char_probs("em"),
        lambda: evaluate_lm(model, [(x, y)]),
    ):
        with pytest.raises(NonFiniteError, match=re.escape(str(damaged["window"]))) as err:
            call()
        assert "\n" not in str(err.value) and "non-finite" in str(err.value)


def test_a_tiny_temperature_samples_the_likeliest_characters_instead_of_failing(damaged):
    # Dividing finite logits by 1e-40 overflows; the draw is then greedy, not an error.
    model = load_model(damaged["window"] / "checkpoints" / "last.ckpt")
    cold = model.sample(3, generator=torch.Generator().manual_seed(1), temperature=1e-40)
    greedy = model.sample(3, generator=torch.Generator().manual_seed(2), top_k=1)
    assert cold == greedy


def test_a_tiny_temperature_writes_the_likeliest_passage_of_a_text_model(damaged):
    model = load_model(damaged["text"] / "checkpoints" / "last.ckpt")
    prompt = model.vocab.decode([1, 2])
    cold = model.sample_text(prompt, 30, generator=torch.Generator().manual_seed(1),
                             temperature=1e-40)  # fmt: skip
    greedy = model.sample_text(prompt, 30, generator=torch.Generator().manual_seed(2), top_k=1)
    assert cold == greedy and len(cold[0]) == 30
