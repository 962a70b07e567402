"""Tokens as a model's units: a BPE tokenizer (Hugging Face `tokenizers`) behind the same
interface as the character `Vocabulary`.

The course's third practical (TP3) trains its tokenizer with NFD and lower-case normalisation,
a Metaspace pre-tokenizer, 15,000 tokens of minimum frequency 2 and the special tokens
`[EOS] [UNK] [PAD] [CLS] [SEP]`; `train_tokenizer` does the same from config. A model of
tokens reads id 0 as its boundary, as a character model reads `.`: the end token has id 0
(`TokenVocabulary` swaps ids if a loaded tokenizer puts it elsewhere), and the context before
a line is filled with it. The course fills that context with `[PAD]`, a token that, like the
end token there, is only ever read before a line's first token: the two choices model the
same thing.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from charlm.errors import CharlmError

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

SPECIAL_TOKENS = ("[EOS]", "[UNK]", "[PAD]", "[CLS]", "[SEP]")
NORMALIZERS = ("nfd", "nfc", "nfkd", "nfkc", "lowercase", "strip_accents")
# Metaspace's replacement for a space, as the course's tokenizer writes it.
SPACE = "\u2581"


class TokenizerError(CharlmError):
    """A tokenizer cannot be trained, read or used as asked."""


def _tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:  # pragma: no cover - a dependency of charlm
        raise TokenizerError(
            "units=tokens needs Hugging Face tokenizers: pip install tokenizers"
        ) from None
    return tokenizers


def _normalizer(names: Sequence[str]) -> Any:
    from tokenizers import normalizers

    unknown = [n for n in names if n not in NORMALIZERS]
    if unknown:
        raise TokenizerError(
            f"tokenizer.normalizer: unknown step(s) {unknown}; choose among {list(NORMALIZERS)}"
        )
    steps = {
        "nfd": normalizers.NFD,
        "nfc": normalizers.NFC,
        "nfkd": normalizers.NFKD,
        "nfkc": normalizers.NFKC,
        "lowercase": normalizers.Lowercase,
        "strip_accents": normalizers.StripAccents,
    }
    return normalizers.Sequence([steps[n]() for n in names]) if names else None


def train_tokenizer(
    lines: Iterable[str],
    vocab_size: int = 15000,
    min_frequency: int = 2,
    normalizer: Sequence[str] = ("nfd", "lowercase"),
    special_tokens: Sequence[str] = SPECIAL_TOKENS,
    unk_token: str = "[UNK]",
) -> Tokenizer:
    """A BPE tokenizer trained on `lines` as the course's `train_tokenizer.py` trains its own."""
    tk = _tokenizers()
    if unk_token not in special_tokens:
        raise TokenizerError(
            f"tokenizer.unk_token={unk_token!r} is not among special_tokens {list(special_tokens)}"
        )
    if vocab_size <= len(special_tokens):
        raise TokenizerError(
            f"tokenizer.vocab_size={vocab_size}: must exceed the {len(special_tokens)} special tokens"
        )
    tokenizer = tk.Tokenizer(tk.models.BPE(unk_token=unk_token))
    tokenizer.normalizer = _normalizer(list(normalizer))
    tokenizer.pre_tokenizer = tk.pre_tokenizers.Metaspace(replacement=SPACE)
    tokenizer.decoder = tk.decoders.Metaspace(replacement=SPACE)
    trainer = tk.trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special_tokens),
        show_progress=False,
    )
    tokenizer.train_from_iterator(lines, trainer)
    return tokenizer


def load_tokenizer(path: str | Path) -> Tokenizer:
    """A tokenizer saved as JSON (`Tokenizer.save`), with a one-line error if it is not one."""
    tk = _tokenizers()
    path = Path(path)
    if not path.is_file():
        raise TokenizerError(f"tokenizer file not found: {path} (data.tokenizer.path=)")
    try:
        return tk.Tokenizer.from_file(str(path))
    except Exception as err:  # tokenizers raises plain Exceptions for any malformed file
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise TokenizerError(f"{path} is not a tokenizer JSON file ({first})") from None


class TokenVocabulary:
    """A tokenizer's tokens as a model's vocabulary: id 0 is the end token (`[EOS]`).

    Offers what models and data read from a character `Vocabulary`: `encode`, `decode`,
    `itos`, `len`, `flat_ids`, `to_string`. Input the tokenizer cannot split into known
    tokens becomes `[UNK]`, which `unknown_count` counts: nothing is dropped silently.
    """

    kind = "tokens"
    unit_name = "tokens"

    def __init__(
        self, tokenizer: Tokenizer, end_token: str = "[EOS]", unk_token: str = "[UNK]"
    ) -> None:
        end = tokenizer.token_to_id(end_token)
        if end is None:
            raise TokenizerError(
                f"the tokenizer has no end token {end_token!r}: give its name "
                "(data.tokenizer.end_token=) or train one with it among the special tokens"
            )
        if end_token == unk_token:
            raise TokenizerError(
                f"tokenizer.end_token={end_token!r} is also its unknown token: lines would end "
                "wherever an unknown character stands; give another end token"
            )
        model_unk = getattr(tokenizer.model, "unk_token", None)
        if model_unk is None or tokenizer.token_to_id(unk_token) is None:
            raise TokenizerError(
                f"the tokenizer has no unknown token {unk_token!r} (its model's unk_token is "
                f"{model_unk!r}): characters it never saw would vanish without a trace; train "
                "one with it among special_tokens, or name its unknown token "
                "(data.tokenizer.unk_token=)"
            )
        self.tokenizer = tokenizer
        self.end_token = end_token
        self.unk_token = unk_token
        self.boundary = end_token
        self._end = int(end)
        size = tokenizer.get_vocab_size(with_added_tokens=True)
        unk = tokenizer.token_to_id(unk_token)
        self.unk_id = None if unk is None else self._swap(int(unk))
        self.itos: list[str] = [tokenizer.id_to_token(self._swap(i)) or "" for i in range(size)]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}

    def _swap(self, i: int) -> int:
        """The model's id of the tokenizer's id `i` and back: the end token and id 0 trade places."""
        return 0 if i == self._end else self._end if i == 0 else i

    # --- storage ---------------------------------------------------------------------------

    def to_string(self) -> str:
        """The tokenizer and the names of its end and unknown tokens, as one JSON string."""
        return json.dumps(
            {
                "charlm_tokens": 1,
                "end_token": self.end_token,
                "unk_token": self.unk_token,
                "tokenizer": json.loads(self.tokenizer.to_str()),
            }
        )

    @classmethod
    def from_string(cls, stored: str) -> TokenVocabulary:
        """The vocabulary `to_string` stored (in a checkpoint)."""
        tk = _tokenizers()
        try:
            data = json.loads(stored)
            tokenizer = tk.Tokenizer.from_str(json.dumps(data["tokenizer"]))
        except Exception:
            raise TokenizerError("the stored tokenizer is damaged; it cannot be read") from None
        return cls(tokenizer, data.get("end_token", "[EOS]"), data.get("unk_token", "[UNK]"))

    def save(self, path: str | Path) -> None:
        """The tokenizer as a JSON file `load_tokenizer` (and Hugging Face) can read."""
        self.tokenizer.save(str(path))

    # --- the Vocabulary interface ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_string() == other.to_string()

    def __hash__(self) -> int:
        return hash(self.to_string())

    def __repr__(self) -> str:
        return f"TokenVocabulary({len(self)} tokens, end {self.end_token!r})"

    @property
    def chars(self) -> list[str]:
        return list(self.itos)

    def normalize(self, text: str) -> str:
        """`text` as the tokenizer reads it (its normaliser applied)."""
        norm = self.tokenizer.normalizer
        return norm.normalize_str(text) if norm is not None else text

    def characters(self, text: str) -> int:
        """Characters of `text` as the model reads it: normalised, then composed (NFC), so that a
        letter with its accent counts once, as in the character models' text."""
        return len(unicodedata.normalize("NFC", self.normalize(text)))

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` (no end token added); unknown input becomes `[UNK]`."""
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        return [self._swap(i) for i in ids]

    def encode_lines(self, lines: Sequence[str]) -> list[list[int]]:
        """`encode` of each line, the lines encoded in parallel."""
        batch = self.tokenizer.encode_batch(list(lines), add_special_tokens=False)
        if self._end == 0:
            return [e.ids for e in batch]
        return [[self._swap(i) for i in e.ids] for e in batch]

    def decode(self, ids: Sequence[int]) -> str:
        """The text of token ids (special tokens written as themselves)."""
        return self.tokenizer.decode([self._swap(int(i)) for i in ids], skip_special_tokens=False)

    def units(self, text: str) -> int:
        return len(self.encode(text))

    def unknown(self, text: str) -> list[str]:
        """Nothing is refused: unknown input becomes `[UNK]` (see `unknown_count`)."""
        return []

    def check(self, text: str, what: str = "text") -> None:
        """Any text can be encoded (unknown input as `[UNK]`)."""

    def check_words(self, words: Iterable[str], source: str) -> None:
        """Any line can be encoded (unknown input as `[UNK]`)."""

    def unknown_count(self, ids: Iterable[Sequence[int]]) -> int:
        """How many `[UNK]` tokens the encoded lines `ids` hold."""
        if self.unk_id is None:
            return 0
        return sum(row.count(self.unk_id) for row in ids)

    def count_unknown(self, ids: torch.Tensor) -> int:
        """How many `[UNK]` tokens the ids hold."""
        return 0 if self.unk_id is None else int((ids == self.unk_id).sum())

    def flat_ids(self, words: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids of `words` (lines) back to back, and the tokens of each."""
        return flatten(self.encode_lines(words))


def flatten(rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ids as one int32 tensor of them back to back, and each row's length."""
    import numpy as np
    import torch

    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    flat = np.fromiter((i for r in rows for i in r), dtype=np.int32, count=int(lengths.sum()))
    return torch.from_numpy(flat), torch.from_numpy(lengths)
