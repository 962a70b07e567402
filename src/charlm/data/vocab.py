"""Character vocabulary: the boundary token `.` is 0, the corpus characters are 1..V-1 in sorted order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from charlm.errors import CharlmError

if TYPE_CHECKING:
    import torch

BOUNDARY = "."


class VocabularyError(CharlmError):
    """A word or prefix holds characters the vocabulary cannot encode."""


class Vocabulary:
    """Maps characters to integer ids and back, as the course notebooks do (`stoi`/`itos`)."""

    # What one id stands for, in messages and tables.
    unit_name = "characters"

    def __init__(self, chars: Iterable[str], boundary: str = BOUNDARY) -> None:
        chars = sorted(set(chars))
        if len(boundary) != 1:
            raise VocabularyError(f"the boundary token must be one character, got {boundary!r}")
        if boundary in chars:
            raise VocabularyError(
                f"the boundary token {boundary!r} is also a word character; "
                "choose another boundary token (data.boundary=...)"
            )
        bad = [c for c in chars if len(c) != 1]
        if bad:
            raise VocabularyError(f"vocabulary entries must be single characters, got {bad!r}")
        self.boundary = boundary
        self.itos: list[str] = [boundary, *chars]
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def from_words(cls, words: Iterable[str], boundary: str = BOUNDARY) -> Vocabulary:
        """Build the vocabulary of every character that appears in `words`."""
        words = list(words)
        with_boundary = [w for w in words if boundary in w]
        if with_boundary:
            raise VocabularyError(
                f"{len(with_boundary)} word(s) contain the boundary token {boundary!r}, "
                f"e.g. {with_boundary[:3]!r}; remove them or choose another boundary token "
                "(data.boundary=...)"
            )
        return cls({c for w in words for c in w}, boundary=boundary)

    @classmethod
    def from_string(cls, itos: str) -> Vocabulary:
        """Rebuild a vocabulary from `str(vocab)`-style storage: boundary first, then the characters."""
        if not itos:
            raise VocabularyError("an empty string is not a stored vocabulary")
        return cls(itos[1:], boundary=itos[0])

    def to_string(self) -> str:
        """All symbols in id order; the inverse of `from_string`, used to store it in checkpoints."""
        return "".join(self.itos)

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.itos == other.itos

    def __hash__(self) -> int:
        return hash(self.to_string())

    def __repr__(self) -> str:
        return f"Vocabulary({self.to_string()!r})"

    @property
    def chars(self) -> list[str]:
        """The word characters, without the boundary token."""
        return self.itos[1:]

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` that are not word characters of this vocabulary, in order of appearance."""
        seen: dict[str, None] = {}
        for c in text:
            if c not in self.stoi or c == self.boundary:
                seen[c] = None
        return list(seen)

    def check(self, text: str, what: str = "text") -> None:
        """Raise a `VocabularyError` naming the characters of `text` that cannot be encoded."""
        bad = self.unknown(text)
        if bad:
            raise VocabularyError(
                f"{what} {text!r} contains characters outside the vocabulary: "
                f"{''.join(bad)!r}. The vocabulary is {''.join(self.chars)!r} "
                f"(boundary token {self.boundary!r})"
            )

    def check_words(self, words: Iterable[str], source: str) -> None:
        """Raise a `VocabularyError` listing the characters of `words` this vocabulary lacks."""
        have = set(self.chars)
        extra = sorted({c for w in words for c in w} - have)
        if extra:
            raise VocabularyError(
                f"{source} holds characters outside the model's vocabulary: {''.join(extra)!r}. "
                f"The model knows {''.join(self.chars)!r}; use a model trained on this data, "
                "or remove the words that hold them"
            )

    def encode(self, word: str) -> list[int]:
        """Ids of the characters of `word` (no boundary tokens added)."""
        self.check(word, "word")
        return [self.stoi[c] for c in word]

    def decode(self, ids: Sequence[int]) -> str:
        """Characters of `ids`, stopping at nothing: boundary ids decode to the boundary token."""
        return "".join(self.itos[int(i)] for i in ids)

    def flat_ids(self, words: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """The ids of `words` back to back and the units (here characters) of each word: what
        `context_windows` and `word_sequences` are built from."""
        from charlm.data.windows import char_ids

        return char_ids(words, self)

    def units(self, word: str) -> int:
        """How many ids `word` encodes to (its characters here)."""
        return len(word)


class TextVocabulary(Vocabulary):
    """The characters of a running text, newline and space included, in sorted order.

    Running text has no boundary token: every id is a character of the text (id 0 is its
    smallest, usually the newline). `boundary` is None and `chars` is the whole table.
    """

    def __init__(self, chars: Iterable[str]) -> None:
        chars = sorted(set(chars))
        if not chars:
            raise VocabularyError("a text vocabulary needs at least one character")
        bad = [c for c in chars if len(c) != 1]
        if bad:
            raise VocabularyError(f"vocabulary entries must be single characters, got {bad!r}")
        self.boundary = None  # type: ignore[assignment]
        self.itos = list(chars)
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def from_string(cls, itos: str) -> TextVocabulary:
        if not itos:
            raise VocabularyError("an empty string is not a stored vocabulary")
        return cls(itos)

    def __repr__(self) -> str:
        return f"TextVocabulary({self.to_string()!r})"

    @property
    def default_prompt(self) -> str:
        """What a passage starts from when no prompt is given: a newline, as a text would."""
        return "\n" if "\n" in self.stoi else self.itos[0]

    @property
    def chars(self) -> list[str]:
        return list(self.itos)

    def unknown(self, text: str) -> list[str]:
        return list(dict.fromkeys(c for c in text if c not in self.stoi))

    def check(self, text: str, what: str = "text") -> None:
        bad = self.unknown(text)
        if bad:
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise VocabularyError(
                f"{what} {shown!r} holds characters outside the model's vocabulary: "
                f"{''.join(bad)!r}. The model knows {''.join(self.itos)!r}"
            )


def vocab_kind(vocab: object) -> str:
    """'text' for a running text's vocabulary, 'tokens' for a tokenizer's, 'words' for a word
    list's (or a line's characters): stored beside it in checkpoints."""
    if isinstance(vocab, TextVocabulary):
        return "text"
    return "words" if isinstance(vocab, Vocabulary) else "tokens"


def stored_vocabulary(itos: str, kind: str | None = None) -> Vocabulary:
    """The vocabulary a checkpoint stores as `itos`, of the kind it says (words by default)."""
    if kind == "tokens":
        from charlm.data.tokens import TokenVocabulary

        return TokenVocabulary.from_string(itos)  # type: ignore[return-value]
    return TextVocabulary.from_string(itos) if kind == "text" else Vocabulary.from_string(itos)
