"""Words drawn under constraints: a suffix, a regular expression, a length range, words the
training list never had, no repeats; exactly `n` of them, each with its NLL per character and
its novelty.

The model draws words as it always does (`CharLM.sample`: temperature, top-k, top-p, a
prefix); a word that misses a constraint is thrown away and another drawn, up to `max_draws`
in all. This is rejection sampling, so what comes back is exact: each word has the model's
probability conditioned on meeting every constraint, P(w) / P(constraints) for the words that
meet them and 0 for the others. A prefix conditions the same way, by starting the words with
it. `unique` draws without replacement: a word already returned is drawn again until another
comes. Where the constraints leave too little of the model's probability to find `n` words in
`max_draws`, `GenerationError` says how many were found and which constraint refused most.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from charlm.data.kinds import novelty
from charlm.errors import CharlmError

# Words drawn at a time, at most: a batch of sequence-model draws, a bounded memory.
DRAWS_PER_ROUND = 10_000


class GenerationError(CharlmError):
    """The constraints could not be met within the draws allowed."""


@dataclass(frozen=True)
class Constraints:
    """What every returned word must be: it starts with `prefix`, ends with `suffix`, matches
    `pattern` whole (a Python regular expression), has `min_len` to `max_len` characters
    (the prefix's included), is in no split of the training list (`novel`), and is not
    returned twice (`unique`)."""

    prefix: str = ""
    suffix: str = ""
    pattern: str | None = None
    min_len: int = 1
    max_len: int = 50
    novel: bool = False
    unique: bool = False
    compiled: re.Pattern[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        for key in ("prefix", "suffix"):
            if not isinstance(getattr(self, key), str):
                raise GenerationError(f"{key}={getattr(self, key)!r}: a text")
        for key in ("min_len", "max_len"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GenerationError(f"{key}={value!r}: a whole number of characters >= 1")
        if self.min_len > self.max_len:
            raise GenerationError(
                f"min_len={self.min_len} is above max_len={self.max_len}: no word has a length "
                "between them; raise max_len"
            )
        fixed = len(self.prefix) + len(self.suffix)
        if fixed > self.max_len:
            raise GenerationError(
                f"prefix={self.prefix!r} and suffix={self.suffix!r} hold {fixed} characters, "
                f"above max_len={self.max_len}; raise max_len"
            )
        for key in ("novel", "unique"):
            if not isinstance(getattr(self, key), bool):
                raise GenerationError(f"{key}={getattr(self, key)!r}: true or false")
        if self.pattern is not None:
            try:
                compiled = re.compile(str(self.pattern))
            except re.error as err:
                raise GenerationError(
                    f"pattern={self.pattern!r} is not a regular expression ({err}); quote it "
                    "on the command line: 'pattern=^[a-z]+ine$'"
                ) from None
            object.__setattr__(self, "compiled", compiled)

    def refusal(self, word: str, known: Container[str], returned: set[str]) -> str | None:
        """The first constraint `word` misses (its option's name), or None when it meets all;
        `known` holds the training list's words, `returned` the words already kept."""
        if not self.min_len <= len(word) <= self.max_len:
            return "min_len" if len(word) < self.min_len else "max_len"
        if not word.endswith(self.suffix):
            return "suffix"
        if self.compiled is not None and not self.compiled.fullmatch(word):
            return "pattern"
        if self.novel and word in known:
            return "novel"
        if self.unique and word in returned:
            return "unique"
        return None


@dataclass
class Generated:
    """A word kept, its NLL per character (nats, the end token counted) and its novelty."""

    word: str
    nll_per_char: float
    novelty: str


def generate_words(
    model: Any,
    n: int,
    constraints: Constraints,
    generator: torch.Generator,
    splits: Mapping[str, Iterable[str]] | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    max_draws: int | None = None,
) -> Iterator[list[Generated]]:
    """Exactly `n` words meeting `constraints`, in rounds as they are found (each round's
    words in the order drawn); `splits` are the training list's, which `novel` avoids and
    the novelty tags name (`charlm.data.kinds.novelty`).

    The same generator seed gives the same words. Raises `GenerationError` once `max_draws`
    words (default: 1,000 per word asked, at least 10,000) have been drawn without finding
    `n`, after yielding those found.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise GenerationError(f"n={n!r}: the number of words, an integer >= 1")
    limit = max(10_000, 1000 * n) if max_draws is None else max_draws
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise GenerationError(f"max_draws={max_draws!r}: an integer >= 1, or null (the default)")
    vocab = model.require_vocab()
    vocab.check(constraints.suffix, "suffix")
    splits = splits or {}
    known = {word for part in splits.values() for word in part}
    # One character past max_len: a word cut there did not end, and is refused as too long.
    reach = model.max_word_length
    draw_len = constraints.max_len + 1 if reach is None or reach > constraints.max_len else reach
    returned: set[str] = set()
    refused: Counter = Counter()
    found = drawn = 0
    while found < n and drawn < limit:
        size = min(DRAWS_PER_ROUND, limit - drawn, max(64, 2 * (n - found)))
        words = model.sample(size, generator=generator, temperature=temperature, top_k=top_k,
                             prefix=constraints.prefix, max_len=draw_len, batched=True,
                             top_p=top_p)  # fmt: skip
        drawn += size
        kept = []
        for word in words:
            reason = constraints.refusal(word, known, returned)
            if reason is None and vocab.units(word) >= draw_len:
                reason = "max_len"  # as long as it was let grow: cut, not ended
            if reason is not None:
                refused[reason] += 1
                continue
            kept.append(word)
            returned.add(word)
            if found + len(kept) == n:
                break
        found += len(kept)
        if kept:
            nll = model.word_nll(kept).tolist()
            tags = novelty(kept, splits)
            yield [
                Generated(w, total / (vocab.units(w) + 1), tag)
                for w, total, tag in zip(kept, nll, tags, strict=True)
            ]
    if found < n:
        worst, count = refused.most_common(1)[0] if refused else ("temperature", 0)
        raise GenerationError(
            f"found {found} of n={n} words meeting the constraints in {drawn} draws: {worst} "
            f"refused {count} of them; loosen {worst}, or raise max_draws={limit}"
        )
