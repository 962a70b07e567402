"""Several trained language models as one: their next-character probabilities averaged."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from charlm.errors import CharlmError
from charlm.models.base import CharLM
from charlm.models.sequence import SequenceLM


class EnsembleLM(SequenceLM):
    """P(next | so far) = mean over `members` of each member's P, for members of any family.

    `forward` returns the log of the averaged probabilities, which softmax turns back into
    them, so scoring, sampling and evaluation treat an ensemble like any model.
    """

    def __init__(self, members: Sequence[CharLM]) -> None:
        if not members:
            raise CharlmError("an ensemble needs at least one model")
        vocab = members[0].vocab
        if any(m.vocab != vocab or m.vocab_size != members[0].vocab_size for m in members):
            raise CharlmError("the models of an ensemble must share one vocabulary")
        sequence_sizes = [m.context_size for m in members if m.data_contract == "sequences"]
        super().__init__(members[0].vocab_size, min(sequence_sizes, default=64))
        self.members = nn.ModuleList(members)
        self.vocab = vocab
        self.config = dict(members[0].config)
        data = dict(self.config.get("data") or {})
        block = data.get("block_size")
        if isinstance(block, int) and block > self.context_size:
            # Every member reads the same blocks: none longer than the shortest member reads.
            self.config["data"] = {**data, "block_size": self.context_size}
        self.data_identity = members[0].data_identity

    @property
    def max_word_length(self) -> int | None:
        """The shortest reach of its members: every one must read the word."""
        limits = [m.max_word_length for m in self.members if m.max_word_length is not None]
        return min(limits, default=None)

    def _average(self, logits: list[torch.Tensor]) -> torch.Tensor:
        logps = torch.stack([F.log_softmax(x.float(), dim=-1) for x in logits])
        return torch.logsumexp(logps, dim=0) - math.log(len(logits))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self._average([m.block_logits(idx) for m in self.members])

    def start(self, n: int) -> tuple[torch.Tensor, Any]:
        logits, states = zip(*(m.start(n) for m in self.members), strict=True)
        return self._average(list(logits)), list(states)

    def select(self, state: Any, rows: torch.Tensor) -> Any:
        return [m.select(s, rows) for m, s in zip(self.members, state, strict=True)]

    def advance(self, state: Any, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        stepped = [m.advance(s, ids) for m, s in zip(self.members, state, strict=True)]
        logits, states = zip(*stepped, strict=True)
        return self._average(list(logits)), list(states)

    def text_start(self, prompt: torch.Tensor) -> tuple[torch.Tensor, Any]:
        logits, states = zip(*(m.text_start(prompt) for m in self.members), strict=True)
        return self._average(list(logits)), list(states)

    def text_advance(self, state: Any, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        stepped = [m.text_advance(s, ids) for m, s in zip(self.members, state, strict=True)]
        logits, states = zip(*stepped, strict=True)
        return self._average(list(logits)), list(states)
