"""What every character language model offers: next-character logits, sampling and scoring."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from charlm.data.vocab import Vocabulary
from charlm.data.windows import context_windows
from charlm.errors import check_positive_ints


class CharLM(nn.Module):
    """A model of P(next character | the `context_size` previous tokens).

    Subclasses implement `forward(x) -> logits` for x of shape (batch, context_size). The
    vocabulary is attached by whoever knows it (the training task, `load_model`); sampling and
    scoring need it.
    """

    def __init__(self, vocab_size: int, context_size: int) -> None:
        super().__init__()
        check_positive_ints(vocab_size=vocab_size, context_size=context_size)
        self.vocab_size = vocab_size
        self.context_size = context_size
        self.vocab: Vocabulary | None = None
        # The run config of the checkpoint the model was loaded from (charlm.load_model).
        self.config: dict = {}

    def regularization(self) -> torch.Tensor | None:
        """Extra term added to the training loss, or None (the default) for none."""
        return None

    def _require_vocab(self) -> Vocabulary:
        if self.vocab is None:
            raise RuntimeError(
                "this model has no vocabulary attached; set `model.vocab = Vocabulary(...)` "
                "or load it with charlm.load_model"
            )
        if len(self.vocab) != self.vocab_size:
            raise ValueError(
                f"the attached vocabulary has {len(self.vocab)} symbols, the model {self.vocab_size}"
            )
        return self.vocab

    def _context_of(self, prefix_ids: list[int]) -> list[int]:
        context = [0] * self.context_size + prefix_ids
        return context[-self.context_size :]

    @torch.no_grad()
    def next_char_probs(self, context: str = "") -> dict[str, float]:
        """P(next character | word so far), the boundary token meaning the word ends."""
        vocab = self._require_vocab()
        vocab.check(context, "context")
        x = torch.tensor([self._context_of(vocab.encode(context))])
        probs = F.softmax(self._eval_forward(x), dim=-1)[0]
        return {c: float(p) for c, p in zip(vocab.itos, probs, strict=True)}

    @torch.no_grad()
    def log_prob(self, word: str) -> tuple[float, float]:
        """Total and per-character negative log-likelihood (nats) of `word`, end token included."""
        vocab = self._require_vocab()
        x, y = context_windows([word], vocab, self.context_size)
        nll = F.cross_entropy(self._eval_forward(x), y, reduction="sum").item()
        return nll, nll / len(y)

    def _eval_forward(self, x: torch.Tensor) -> torch.Tensor:
        was_training = self.training
        self.eval()
        try:
            return self(x.to(self._device()))
        finally:
            self.train(was_training)

    def _device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    @torch.no_grad()
    def sample(
        self,
        n: int = 1,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        prefix: str = "",
        max_len: int = 50,
    ) -> list[str]:
        """Draw `n` words, one `torch.multinomial` per character, as the notebooks' generators do.

        The same generator seed gives the same words. Each word starts with `prefix` and stops at
        the boundary token or after `max_len` characters.
        """
        vocab = self._require_vocab()
        check_sampling_args(n, temperature, top_k, max_len, self.vocab_size)
        vocab.check(prefix, "prefix")
        prefix_ids = vocab.encode(prefix)
        was_training = self.training
        self.eval()
        words = []
        try:
            for _ in range(n):
                ids = list(prefix_ids)
                while len(ids) < max_len:
                    x = torch.tensor([self._context_of(ids)], device=self._device())
                    logits = self(x)[0].float().cpu() / temperature
                    if top_k is not None and top_k < self.vocab_size:
                        cutoff = torch.topk(logits, top_k).values[-1]
                        logits = logits.masked_fill(logits < cutoff, -math.inf)
                    probs = F.softmax(logits, dim=-1)
                    ix = int(torch.multinomial(probs, 1, replacement=True, generator=generator))
                    if ix == 0:
                        break
                    ids.append(ix)
                words.append(vocab.decode(ids))
        finally:
            self.train(was_training)
        return words


def check_sampling_args(
    n: int, temperature: float, top_k: int | None, max_len: int, vocab_size: int
) -> None:
    """Raise `ValueError` naming the first sampling option out of range."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r}: the number of words to sample must be an integer >= 1")
    if not temperature > 0:
        raise ValueError(f"temperature={temperature!r}: must be > 0 (1.0 samples the model as is)")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k={top_k!r}: must be an integer >= 1, or null for no cut-off")
    if not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len={max_len!r}: must be an integer >= 1")
