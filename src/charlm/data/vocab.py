"""Vocabularies: what a model's ids stand for, behind one protocol (`Vocab`).

Three kinds implement it, none deriving from another: `Vocabulary` (the characters of a word
list, the boundary token `.` as id 0, the others in sorted order, as the notebooks build it),
`TextVocabulary` (every character of a running text) and `charlm.data.tokens.TokenVocabulary`
(a BPE tokenizer's tokens). Code downstream of a vocabulary calls the protocol's members and
never asks which kind it holds; checkpoints store `to_string()` and `kind`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from charlm.errors import CharlmError

if TYPE_CHECKING:
    import torch

BOUNDARY = "."


class VocabularyError(CharlmError):
    """A word or prefix holds characters the vocabulary cannot encode."""


@runtime_checkable
class Vocab(Protocol):
    """What models, data and commands use of a vocabulary, whatever its kind."""

    # "words", "text" or "tokens": stored beside `to_string()` in checkpoints.
    kind: ClassVar[str]
    # What one id stands for, in messages and tables ("characters", "tokens").
    unit_name: ClassVar[str]
    # The symbol of each id, in id order; the boundary (or end) symbol, None for running text.
    itos: list[str]
    boundary: str | None

    def __len__(self) -> int: ...

    def encode(self, text: str) -> list[int]:
        """Ids of `text` (no boundary added)."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """The text of `ids`."""
        ...

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` this vocabulary cannot encode, in order of appearance."""
        ...

    def check(self, text: str, what: str = "text") -> None:
        """Raise `VocabularyError` naming the characters of `text` it cannot encode."""

    def check_words(self, words: Iterable[str], source: str) -> None:
        """Raise `VocabularyError` naming the characters of `words` it cannot encode."""

    def units(self, text: str) -> int:
        """How many ids `text` encodes to."""
        ...

    def characters(self, text: str) -> int:
        """Characters of `text` as the model reads it (what bits per character divide by)."""
        ...

    def flat_ids(self, words: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """The ids of `words` back to back, and the ids of each."""
        ...

    def count_unknown(self, ids: torch.Tensor) -> int:
        """How many of `ids` stand for input it could not encode (a tokenizer's `[UNK]`)."""
        ...

    def to_string(self) -> str:
        """Everything needed to rebuild it (`stored_vocabulary(s, kind)`)."""
        ...


class _CharTable:
    """What the two character vocabularies share: a table of single characters and its ids.

    A private helper of `Vocabulary` and `TextVocabulary`, which differ in their boundary
    token and in which characters they accept.
    """

    kind: ClassVar[str]
    unit_name: ClassVar[str] = "characters"
    itos: list[str]
    stoi: dict[str, int]
    boundary: str | None

    def _set_table(self, itos: list[str]) -> None:
        bad = [c for c in itos if len(c) != 1]
        if bad:
            raise VocabularyError(f"vocabulary entries must be single characters, got {bad!r}")
        self.itos = itos
        self.stoi = {c: i for i, c in enumerate(itos)}

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
        return f"{type(self).__name__}({self.to_string()!r})"

    def check_words(self, words: Iterable[str], source: str) -> None:
        """Raise a `VocabularyError` listing the characters of `words` this vocabulary lacks."""
        extra = sorted({c for w in words for c in w} - set(self.chars))
        if extra:
            raise VocabularyError(
                f"{source} holds characters outside the model's vocabulary: {''.join(extra)!r}. "
                f"The model knows {''.join(self.chars)!r}; use a model trained on this data, "
                "or remove the words that hold them"
            )

    @property
    def chars(self) -> list[str]:
        """The characters a text may hold (every symbol but a boundary token)."""
        return [c for c in self.itos if c != self.boundary]

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` that are not characters of this vocabulary, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.stoi or c == self.boundary))

    def encode(self, word: str) -> list[int]:
        """Ids of the characters of `word` (no boundary tokens added)."""
        self.check(word, "word")
        return [self.stoi[c] for c in word]

    def check(self, text: str, what: str = "text") -> None:
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:
        """Characters of `ids`, stopping at nothing: boundary ids decode to the boundary token."""
        return "".join(self.itos[int(i)] for i in ids)

    def flat_ids(self, words: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """The ids of `words` back to back and the characters of each word: what
        `context_windows` and `word_sequences` are built from."""
        import torch

        if self.boundary is not None:
            for word in (w for w in words if self.boundary in w):
                self.check(word, "word")  # the boundary token cannot be a word's character
        flat = self._ids_of("".join(words), words)
        return flat, torch.tensor([len(w) for w in words], dtype=torch.long)

    def _ids_of(self, text: str, words: list[str]) -> torch.Tensor:
        """The ids of every character of `text` (the words of `words` joined)."""
        import torch

        from charlm.data.windows import WINDOW_DTYPE

        extra = set(text) - set(self.itos)
        if extra:
            # The word that holds them, for the error message.
            self.check(next(w for w in (words or [text]) if set(w) & extra), "word")
        if not text:
            return torch.empty(0, dtype=WINDOW_DTYPE)
        if len(self) <= 256:
            # One byte per character, translated in C: millions of characters in well under a
            # second.
            table = {ord(c): chr(i) for i, c in enumerate(self.itos)}
            raw = bytearray(text.translate(table).encode("latin-1"))
            return torch.frombuffer(raw, dtype=torch.uint8).to(WINDOW_DTYPE)
        return torch.tensor([self.stoi[c] for c in text], dtype=WINDOW_DTYPE)

    def units(self, word: str) -> int:
        """How many ids `word` encodes to (its characters here)."""
        return len(word)

    def count_unknown(self, ids: torch.Tensor) -> int:
        """None: a character vocabulary refuses what it cannot encode (`check`)."""
        return 0

    def characters(self, text: str) -> int:
        """Characters of `text`: one id each."""
        return len(text)


class Vocabulary(_CharTable):
    """Maps the characters of a word list to integer ids and back, as the course notebooks do
    (`stoi`/`itos`): the boundary token is id 0, the characters 1..V-1 in sorted order."""

    kind = "words"

    def __init__(self, chars: Iterable[str], boundary: str = BOUNDARY) -> None:
        chars = sorted(set(chars))
        if len(boundary) != 1:
            raise VocabularyError(f"the boundary token must be one character, got {boundary!r}")
        if boundary in chars:
            raise VocabularyError(
                f"the boundary token {boundary!r} is also a word character; "
                "choose another boundary token (data.boundary=...)"
            )
        self.boundary = boundary
        self._set_table([boundary, *chars])

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
        """Rebuild a vocabulary from `to_string()`: boundary first, then the characters."""
        if not itos:
            raise VocabularyError("an empty string is not a stored vocabulary")
        return cls(itos[1:], boundary=itos[0])

    def check(self, text: str, what: str = "text") -> None:
        """Raise a `VocabularyError` naming the characters of `text` that cannot be encoded."""
        bad = self.unknown(text)
        if bad:
            raise VocabularyError(
                f"{what} {text!r} contains characters outside the vocabulary: "
                f"{''.join(bad)!r}. The vocabulary is {''.join(self.chars)!r} "
                f"(boundary token {self.boundary!r})"
            )


class TextVocabulary(_CharTable):
    """The characters of a running text, newline and space included, in sorted order.

    Running text has no boundary token: every id is a character of the text (id 0 is its
    smallest, usually the newline). `boundary` is None and `chars` is the whole table.
    """

    kind = "text"

    def __init__(self, chars: Iterable[str]) -> None:
        chars = sorted(set(chars))
        if not chars:
            raise VocabularyError("a text vocabulary needs at least one character")
        self.boundary = None
        self._set_table(list(chars))

    @classmethod
    def from_string(cls, itos: str) -> TextVocabulary:
        """Rebuild a vocabulary from `to_string()`: every character, in id order."""
        if not itos:
            raise VocabularyError("an empty string is not a stored vocabulary")
        return cls(itos)

    @property
    def default_prompt(self) -> str:
        """What a passage starts from when no prompt is given: a newline, as a text would."""
        return "\n" if "\n" in self.stoi else self.itos[0]

    def check(self, text: str, what: str = "text") -> None:
        bad = self.unknown(text)
        if bad:
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise VocabularyError(
                f"{what} {shown!r} holds characters outside the model's vocabulary: "
                f"{''.join(bad)!r}. The model knows {''.join(self.itos)!r}"
            )


def vocab_kind(vocab: Vocab) -> str:
    """The kind a vocabulary stores itself under: 'words', 'text' or 'tokens'."""
    return vocab.kind


def stored_vocabulary(itos: str, kind: str | None = None) -> Vocab:
    """The vocabulary a checkpoint stores as `itos`, of the kind it says (checkpoints written
    before kinds were stored hold a word list's)."""
    if kind == "tokens":
        from charlm.data.tokens import TokenVocabulary

        return TokenVocabulary.from_string(itos)
    classes: dict[str, type[Vocabulary] | type[TextVocabulary]] = {
        "words": Vocabulary,
        "text": TextVocabulary,
    }
    cls = classes.get(kind or "words")
    if cls is None:
        raise VocabularyError(f"a stored vocabulary of kind {kind!r}: one of words, text, tokens")
    return cls.from_string(itos)
