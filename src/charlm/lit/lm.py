"""LightningModule training any `CharLM` with cross-entropy, from a config-given optimiser."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from charlm.data.vocab import Vocabulary
from charlm.metrics import LMMetrics, evaluate_lm
from charlm.models.base import CharLM

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class LanguageModelTask(L.LightningModule):
    """Trains a character language model; logs train/loss and val|test loss, ppl, bpc, acc.

    Each training batch is a chunk of minibatches (see `RandomWindowBatches`); the step runs one
    optimiser update per minibatch with manual optimisation, so `trainer.global_step` counts
    updates exactly as the notebook's loop counts iterations.
    """

    def __init__(
        self,
        net: CharLM,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.net = net
        self.optimizer_factory = optimizer
        # model/scheduler=none composes to an empty mapping: no schedule.
        self.scheduler_factory = scheduler if callable(scheduler) else None
        # The composed run config, stored with every checkpoint (set by charlm.train).
        self.run_config: dict[str, Any] = {}
        self.metrics = torch.nn.ModuleDict(
            {stage: LMMetrics(net.vocab_size) for stage in ("val", "test")}
        )

    @property
    def vocab(self) -> Vocabulary | None:
        return self.net.vocab

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if self.net.vocab is None and datamodule is not None:
            self.net.vocab = datamodule.vocab

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(params=self.net.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        x, y = batch  # (updates, batch, context), (updates, batch)
        optimizer = self.optimizers()
        scheduler = self.lr_schedulers()
        updates = x.shape[0]
        if self.trainer.max_steps > 0:
            updates = min(updates, self.trainer.max_steps - self.global_step)
        first_step = self.global_step
        losses = []
        for i in range(updates):
            nll = F.cross_entropy(self.net(x[i]), y[i])
            reg = self.net.regularization()
            loss = nll if reg is None else nll + reg
            if i == updates - 1:
                # The chunk's last update goes through Lightning, so callbacks' backward and
                # optimiser-step hooks run once per chunk.
                optimizer.zero_grad(set_to_none=True)
                self.manual_backward(loss)
                optimizer.step()
            else:
                self._plain_update(loss, optimizer)
            if scheduler is not None:
                scheduler.step()
            losses.append(nll.detach())
        nlls = torch.stack(losses)
        finite = torch.isfinite(nlls)
        if not bool(finite.all()):
            bad = int((~finite).nonzero()[0])
            raise NonFiniteLossError(
                f"training loss became {float(nlls[bad])} at step {first_step + bad + 1}; "
                "lower the learning rate (model.optimizer.lr) or check the data"
            )
        # Logged against optimiser updates, not Lightning batches.
        self.log("step", float(self.global_step))
        self.log("train/loss", nlls.mean(), prog_bar=True)
        self.log("train/lr", float(optimizer.param_groups[0]["lr"]))
        return nlls.mean()  # read by the Tuner's learning-rate finder

    @staticmethod
    def _plain_update(loss: torch.Tensor, optimizer: Any) -> None:
        """One update with the bare torch optimiser, counted in `trainer.global_step`.

        Lightning's per-update wrappers (precision plugin, callback hooks, profiler) cost far more
        than this model's own forward and backward; the step counter hooks are what the manual
        optimisation loop itself installs on the optimiser.
        """
        optimizer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer._on_before_step()
        optimizer.optimizer.step()
        optimizer._on_after_step()

    def _eval_step(self, stage: str, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        x, y = batch
        self.metrics[stage].update(self.net(x), y)

    def _eval_epoch_end(self, stage: str) -> None:
        values = self.metrics[stage].compute()
        self.metrics[stage].reset()
        if stage == "val":
            self.log("step", float(self.global_step))
        for name, value in values.items():
            self.log(f"{stage}/{name}", value, prog_bar=name == "loss")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step("val", batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step("test", batch)

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def evaluate(self, batches: Any) -> dict[str, float]:
        """Loss, ppl, bpc and accuracy over a dataloader of windows, outside the Trainer."""
        return evaluate_lm(self.net, batches)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Plain strings only, so the checkpoint loads with torch.load(weights_only=True).
        from omegaconf import OmegaConf

        checkpoint["charlm"] = {
            "vocab": self.net.vocab.to_string() if self.net.vocab is not None else None,
            "config": OmegaConf.to_yaml(self.run_config),
        }
