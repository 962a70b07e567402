"""What a language model has learned, shown in TensorBoard: sampled words, its embeddings."""

from __future__ import annotations

import lightning as L
import torch

from charlm.figures import embedding_figure
from charlm.lit.loggers import tensorboard_writer


class SampleWords(L.Callback):
    """Logs a few sampled words as TensorBoard text after every validation; for a model of
    running text, a passage of `passage_length` characters after a newline."""

    def __init__(
        self, n: int = 10, seed: int = 2147483647, max_len: int = 30, passage_length: int = 400
    ) -> None:
        self.n, self.seed, self.max_len = n, seed, max_len
        self.passage_length = passage_length

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        g = torch.Generator().manual_seed(self.seed)
        net = pl_module.net
        if net.vocab.kind == "text":
            passage = net.sample_text(net.vocab.default_prompt, self.passage_length, 1, g)[0]
            # Markdown: four spaces keep the passage's own lines and spacing.
            shown = "\n".join("    " + line for line in passage.split("\n"))
            writer.add_text("samples", shown, trainer.global_step)
            return
        words = net.sample(self.n, generator=g, max_len=self.max_len)
        writer.add_text("samples", "  \n".join(words), trainer.global_step)


class EmbeddingPlot(L.Callback):
    """The character embeddings: a 2-D scatter (as the notebook draws it) or the projector.

    Two-dimensional tables are drawn every `every_n_validations` validations and at the end, so
    the clustering of vowels and consonants can be watched; larger ones go to TensorBoard's
    projector at the end of training.
    """

    def __init__(self, every_n_validations: int = 5) -> None:
        self.every_n_validations = every_n_validations
        self._validations = 0

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._validations += 1
        last = trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps
        if self._validations % self.every_n_validations and not last:
            return
        table = _embedding_table(pl_module)
        writer = tensorboard_writer(trainer)
        if writer is None or table is None or table.shape[1] != 2:
            return
        if trainer.is_global_zero:
            writer.add_figure(
                "embeddings", embedding_figure(table, pl_module.net.vocab.itos), trainer.global_step
            )

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        table = _embedding_table(pl_module)
        writer = tensorboard_writer(trainer)
        if writer is None or table is None or table.shape[1] == 2 or not trainer.is_global_zero:
            return
        labels = [repr(c) for c in pl_module.net.vocab.itos]
        writer.add_embedding(table, metadata=labels, global_step=trainer.global_step, tag="C")


def _embedding_table(pl_module: L.LightningModule) -> torch.Tensor | None:
    net = getattr(pl_module, "net", None)
    table = getattr(net, "embeddings", None)
    if table is None or net.vocab is None:
        return None
    return table.detach().float().cpu()
