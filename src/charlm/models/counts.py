"""Count-based bigram (notebook "bigram"): P[i, j] = (N[i, j] + alpha) / sum_j (N[i, j] + alpha)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from charlm.data.vocab import Vocabulary
from charlm.data.windows import context_windows
from charlm.models.base import CharLM


class BigramCounts(CharLM):
    """The counting model with add-alpha smoothing, usable wherever a `CharLM` is.

    `forward` returns log P[previous character], so softmax gives back P exactly (up to float
    rounding) and `sample`, `log_prob` and `charlm.evaluate_lm` treat it like any network.
    The notebook smooths with alpha = 1 (`P = (N + 1).float()`).
    """

    def __init__(self, vocab_size: int, context_size: int = 1, alpha: float = 1.0) -> None:
        super().__init__(vocab_size, context_size)
        if alpha < 0:
            raise ValueError(f"alpha={alpha}: the smoothing count must be >= 0")
        self.alpha = alpha
        self.register_buffer("counts", torch.zeros((vocab_size, vocab_size)))

    @classmethod
    def from_words(
        cls, words: Iterable[str], vocab: Vocabulary, alpha: float = 1.0
    ) -> BigramCounts:
        """Count the bigrams of `.word.` for every word."""
        model = cls(len(vocab), alpha=alpha)
        model.vocab = vocab
        x, y = context_windows(words, vocab, 1)
        return model.fit(x, y)

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> BigramCounts:
        """Add the (last context token, next token) pairs of windows to the counts."""
        self.counts.index_put_((x[:, -1], y), torch.ones(len(y)), accumulate=True)
        return self

    @property
    def probs(self) -> torch.Tensor:
        """Row-normalised smoothed counts; a row never seen (and alpha 0) is uniform."""
        smoothed = self.counts + self.alpha
        totals = smoothed.sum(1, keepdim=True)
        uniform = torch.full_like(smoothed, 1 / self.vocab_size)
        return torch.where(totals > 0, smoothed / totals.clamp(min=1e-30), uniform)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.probs[x[:, -1]].log()  # (batch, context) -> (batch, vocab) log-probabilities
