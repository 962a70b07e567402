"""`diagnostics=on`: what happens inside a network while it trains, in TensorBoard and a PNG."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L

from charlm.diagnostics import (
    Probe,
    Snapshot,
    diagnostics_figure,
    finite,
    first_loss_note,
    output_layer_name,
    uniform_loss,
)
from charlm.errors import check_positive_ints
from charlm.lit.loggers import tensorboard_writer

log = logging.getLogger(__name__)

FIGURE_NAME = "diagnostics.png"


class Diagnostics(L.Callback):
    """Per layer activations, gradients and update ratios, every `every_n_steps` updates.

    - The first update's loss against -ln(1/V), with a warning naming the output layer when
      it is far above.
    - Every `every_n_steps` updates (and at the first): per watched layer (`charlm.diagnostics.
      WATCHED`) the activation mean, std and saturated fraction; per weight matrix the
      gradient-to-weight ratio and the log10 of the update-to-weight ratio, the update being
      the change the optimiser really made. TensorBoard scalars under `diagnostics/`;
      histograms every `histogram_every_n_steps` updates.
    - At the end of training, the lesson's four panels as `diagnostics.png` in the run
      directory and as a TensorBoard figure.

    The task calls it around the updates it watches only (`StepTask.update_probe`): the
    other updates run exactly as without it.
    """

    def __init__(self, every_n_steps: int = 500, histogram_every_n_steps: int = 5000) -> None:
        check_positive_ints(
            every_n_steps=every_n_steps, histogram_every_n_steps=histogram_every_n_steps
        )
        self.every_n_steps = every_n_steps
        self.histogram_every_n_steps = histogram_every_n_steps
        self.history: dict[str, list[tuple[int, float]]] = {}
        self.last: Snapshot | None = None
        self._probe: Probe | None = None
        self._trainer: L.Trainer | None = None
        self._first_step: int | None = None
        self._noted: set[str] = set()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not hasattr(pl_module, "update_probe"):
            log.warning(
                "diagnostics: %s runs no charlm updates; nothing to watch", type(pl_module).__name__
            )
            return
        self._trainer = trainer
        self._net = pl_module.net
        self._probe = Probe(pl_module.net)
        self._first_step = trainer.global_step + 1
        pl_module.update_probe = self

    # --- called by StepTask.training_step around the updates it watches ----------------------

    def due(self, step: int) -> bool:
        return step == self._first_step or step % self.every_n_steps == 0

    def before(self, step: int) -> None:
        self._probe.start()

    def after(self, step: int, loss: float) -> None:
        snap = self._probe.finish()
        self.last = snap
        trainer = self._trainer
        scalars = snap.scalars()
        if step == 1:
            vocab_size = getattr(self._net, "vocab_size", None)
            if vocab_size:
                note, far = first_loss_note(loss, vocab_size, output_layer_name(self._net))
                (log.warning if far else log.info)("diagnostics: %s", note)
                scalars["diagnostics/first_loss"] = loss
                scalars["diagnostics/uniform_loss"] = uniform_loss(vocab_size)
        for name, stats in snap.weight_stats.items():
            value = stats.get("update_to_weight_log10")
            if value is not None:
                self.history.setdefault(name, []).append((step, value))
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=step)
        if step == self._first_step or step % self.histogram_every_n_steps == 0:
            self._histograms(snap, step)

    def _histograms(self, snap: Snapshot, step: int) -> None:
        writer = tensorboard_writer(self._trainer)
        if writer is None or not self._trainer.is_global_zero:
            return
        groups = {
            "activations": snap.activations,
            "activation_grads": snap.activation_grads,
            "weight_grads": snap.weight_grads,
        }
        for group, tensors in groups.items():
            for name, t in tensors.items():
                tag = f"diagnostics/{group}/{name}"
                if t is None:
                    continue
                if not finite(t):
                    if tag not in self._noted:
                        self._noted.add(tag)
                        log.warning(
                            "diagnostics: %s holds non-finite values at update %d; its histogram is skipped",
                            tag,
                            step,
                        )
                    continue
                writer.add_histogram(tag, t, step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.last is None or not trainer.is_global_zero:
            return
        fig = diagnostics_figure(
            self.last,
            self.history,
            title=f"{type(self._net).__name__}: the last watched update (step {trainer.global_step})",
        )
        path = Path(trainer.default_root_dir) / FIGURE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=80)
        writer = tensorboard_writer(trainer)
        if writer is not None:
            writer.add_figure("diagnostics/figure", fig, trainer.global_step)
        log.info("diagnostics: figure written to %s", path)
