"""Language models that read whole words: one prediction per position, padding masked out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch

from charlm.data.sequences import word_sequences
from charlm.errors import ConfigError
from charlm.models.base import CharLM


class SequenceLM(CharLM):
    """A model of P(next character | every character of the word so far).

    `forward(idx)` maps (batch, time) token ids, starting with the start token, to logits
    (batch, time, vocab); position t may only depend on positions <= t. It is trained on
    `word_sequences`: a word of n characters gives n + 1 predictions in one pass. Subclasses
    also implement `start` and `advance` (a recurrent state or a key/value cache), with which
    n words are sampled together. `context_size` is the longest word + 1 the model can read.
    """

    data_contract: ClassVar[str] = "sequences"

    def examples(self, words: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        longest = max(words, key=len, default="")
        if self.too_long(longest):
            shown = longest if len(longest) <= 24 else longest[:20] + "..."
            raise ConfigError(
                f"context_size={self.context_size}: the word {shown!r} needs "
                f"{len(longest) + 1} positions; train with a larger model.net.context_size",
                key="context_size",
            )
        return word_sequences(words, self.require_vocab())

    def block_logits(self, idx: torch.Tensor) -> torch.Tensor:
        return self(idx)

    def _nll_per_word(self, nll: torch.Tensor, words: Sequence[str]) -> torch.Tensor:
        return nll.sum(dim=1)  # (words, time): padding positions are 0

    @torch.no_grad()
    def next_char_probs(self, context: str = "") -> dict[str, float]:
        vocab = self.require_vocab()
        vocab.check(context, "context")
        x = torch.tensor([[0, *vocab.encode(context)]])
        probs = torch.softmax(self._eval_forward(x)[0, -1].float(), dim=-1)
        return {c: float(p) for c, p in zip(vocab.itos, probs, strict=True)}
