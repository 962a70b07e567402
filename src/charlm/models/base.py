"""What every character language model offers: next-character logits, sampling and scoring."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from charlm.data.sequences import PAD_TARGET
from charlm.data.vocab import Vocab
from charlm.data.windows import context_windows
from charlm.errors import NonFiniteError, check_positive_ints
from charlm.models.sampling import check_sampling_args, draw, non_finite_weights


class CharLM(nn.Module):
    """A model of P(next character | the `context_size` previous tokens).

    The base every language model derives from, and what `LanguageModelTask` relies on: a
    subclass implements `forward(x) -> logits` for x of shape (batch, context_size), takes
    `vocab_size` and `context_size` (charlm-train fills them from the data) and may override
    `regularization()`. The rest (scoring, sampling, `examples`) comes from here. The
    vocabulary is attached by whoever knows it (the training task, `load_model`); sampling and
    scoring need it.

    `data_contract` says what the model is trained on: "windows" (`context_windows`: one
    prediction per row) or "sequences" (`word_sequences`: whole padded words, see
    `SequenceLM`). `examples` builds either from words, and every family is scored the same
    way: NLL per character, the end token included.
    """

    data_contract: ClassVar[str] = "windows"

    def __init__(self, vocab_size: int, context_size: int) -> None:
        super().__init__()
        check_positive_ints(vocab_size=vocab_size, context_size=context_size)
        self.vocab_size = vocab_size
        self.context_size = context_size
        self.vocab: Vocab | None = None
        # The run config of the checkpoint the model was loaded from (charlm.load_model), and
        # what its split was drawn from (words_sha256, words, split_sizes), when it says.
        self.config: dict = {}
        self.data_identity: dict | None = None
        # The checkpoint the model was loaded from (charlm.load_model), named by its errors.
        self.checkpoint_path: str | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Next-character logits: (batch, context_size) token ids -> (batch, vocab_size)."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x) -> logits")

    @property
    def max_word_length(self) -> int | None:
        """The longest word (or prefix) the model can read, or None when any length works."""
        return None

    def too_long(self, word: str) -> str:
        """'' if the model can read `word`, else a short note saying why not."""
        limit = self.max_word_length
        units = self.vocab.units(word) if self.vocab is not None else len(word)
        if limit is None or units <= limit:
            return ""
        name = self.vocab.unit_name if self.vocab is not None else "characters"
        return f"{units} {name}; this model reads at most {limit}"

    def block_logits(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (batch, time, vocab) of every position of blocks `idx` (batch, time).

        Position t predicts the token after idx[:, t] from the `context_size` tokens ending
        there (id 0 before the block's start), the same window `context_windows` gives it:
        one forward pass over all the windows of the block. Sequence models read the block
        itself.
        """
        k = self.context_size
        windows = F.pad(idx, (k - 1, 0)).unfold(1, k, 1)  # (batch, time, k)
        return self(windows.reshape(-1, k)).view(*idx.shape, -1)

    # --- running text -------------------------------------------------------------------------

    def text_start(self, prompt: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Logits (n, vocab) of the character after `prompt` (n, P), and the state that follows."""
        context = F.pad(prompt, (self.context_size, 0))[:, -self.context_size :]
        return self(context), context

    def text_advance(self, state: Any, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Logits (n, vocab) of the next character once the text has taken `ids`, and the state."""
        return self.advance(state, ids)

    @torch.no_grad()
    def sample_text(
        self,
        prompt: str,
        length: int = 500,
        n: int = 1,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
    ) -> list[str]:
        """`n` passages of `length` characters drawn after `prompt` (not repeated in them).

        The n passages advance together, one forward pass per character for all of them; the
        same generator seed gives the same passages. A model of running text keeps writing
        past its block: a window slides, a recurrent state is carried.
        """
        parts: list[list[str]] = [[] for _ in range(n)]
        pieces_of = self.sample_text_pieces(
            prompt, length, n, generator, temperature, top_k, top_p=top_p
        )
        for pieces in pieces_of:
            for passage, piece in zip(parts, pieces, strict=True):
                passage.append(piece)
        return ["".join(p) for p in parts]

    def sample_text_pieces(
        self,
        prompt: str,
        length: int = 500,
        n: int = 1,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        piece: int = 1024,
        top_p: float | None = None,
    ) -> Iterator[list[str]]:
        """`sample_text`'s passages as they are drawn: every `piece` characters, the next
        characters of each of the n passages. The same seed gives the same characters; a long
        passage is never held whole, so it can be written out as it comes."""
        vocab = self.require_vocab()
        check_sampling_args(n, temperature, top_k, length, self.vocab_size, top_p)
        if not prompt:
            raise ValueError("prompt='': give at least one character to start from")
        vocab.check(prompt, "prompt")
        self.require_finite()
        was_training = self.training
        self.eval()
        try:
            device = self._device()
            ids = torch.tensor([vocab.encode(prompt)] * n, device=device)
            with torch.no_grad():
                logits, state = self.text_start(ids)
            drawn_all: list[torch.Tensor] = []
            for i in range(length):
                drawn = draw(logits, generator, temperature, top_k, self.vocab_size, self, top_p)
                drawn_all.append(drawn)
                if len(drawn_all) == piece or i == length - 1:
                    yield [vocab.decode(row) for row in torch.stack(drawn_all, dim=1).tolist()]
                    drawn_all = []
                if i < length - 1:
                    with torch.no_grad():
                        logits, state = self.text_advance(state, drawn.to(device))
        finally:
            self.train(was_training)
        if length == 0:
            yield ["" for _ in range(n)]

    @torch.no_grad()
    def char_nll(self, ids: torch.Tensor, block_size: int, batch_blocks: int = 64) -> torch.Tensor:
        """NLL (nats) of every character of the stream `ids` but its first, read as the text's
        full-pass evaluation reads a split (`EvalBlocks`: non-overlapping blocks of
        `block_size`, each character from those before it in its block)."""
        from charlm.data.blocks import EvalBlocks

        self.require_finite()
        stream = ids.cpu().numpy()
        blocks = EvalBlocks(stream, (0, len(stream)), block_size, batch_blocks)
        was_training = self.training
        self.eval()
        parts = [torch.empty(0)]
        try:
            for x, y in blocks:  # in order; only the last block is padded
                logits = self.block_logits(x.to(self._device())).float().cpu()
                nll = F.cross_entropy(logits.flatten(0, -2), y.flatten(), reduction="none",
                                      ignore_index=PAD_TARGET)  # fmt: skip
                parts.append(nll[y.flatten() != PAD_TARGET])
        finally:
            self.train(was_training)
        return self.check_finite_nll(torch.cat(parts))

    def describe(self) -> str:
        """How errors name the model: its checkpoint, when it was loaded from one."""
        return f"the model of {self.checkpoint_path}" if self.checkpoint_path else "this model"

    def require_finite(self) -> None:
        """Refuse to sample or score with weights that hold a NaN or an infinity."""
        bad = non_finite_weights(self)
        if bad is not None:
            raise NonFiniteError(
                f"{self.describe()} holds non-finite weights ({bad[0]} has {bad[1]}): the run "
                "that wrote them diverged; use an earlier checkpoint of that run, or train "
                "again with a lower learning rate (model.optimizer.lr)"
            )

    def check_finite_nll(self, nll: torch.Tensor) -> torch.Tensor:
        """`nll`, refused if any value is NaN or infinite: the logits overflowed (finite logits
        always give a finite NLL through log-softmax)."""
        if not bool(torch.isfinite(nll).all()):
            raise NonFiniteError(
                f"{self.describe()} gives non-finite scores (its logits overflow to nan or inf): "
                "its weights are too large to score with; use an earlier checkpoint of its run, "
                "or train again with a lower learning rate (model.optimizer.lr)"
            )
        return nll

    def regularization(self) -> torch.Tensor | None:
        """Extra term added to the training loss, or None (the default) for none."""
        return None

    def require_vocab(self) -> Vocab:
        """The attached vocabulary, or an error saying how to attach one (sampling and scoring
        need it)."""
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
        vocab = self.require_vocab()
        vocab.check(context, "context")
        self.require_finite()
        x = torch.tensor([self._context_of(vocab.encode(context))])
        probs = F.softmax(self._eval_forward(x), dim=-1)[0]
        if not bool(torch.isfinite(probs).all()):
            self.check_finite_nll(probs)
        return {c: float(p) for c, p in zip(vocab.itos, probs, strict=True)}

    def examples(self, words: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) of `words` in this model's data contract; padding targets are -1."""
        return context_windows(words, self.require_vocab(), self.context_size)

    def _nll_per_word(self, nll: torch.Tensor, words: Sequence[str]) -> torch.Tensor:
        """Per-word sums of the per-target NLL that `examples(words)` gives, in order."""
        vocab = self.require_vocab()
        owner = torch.repeat_interleave(torch.tensor([vocab.units(w) + 1 for w in words]))
        return torch.zeros(len(words)).index_add_(0, owner, nll)

    @torch.no_grad()
    def word_nll(self, words: Sequence[str]) -> torch.Tensor:
        """Total NLL (nats) of each word, end token included, from one pass over all of them."""
        self.require_finite()
        x, y = self.examples(words)
        logits = self._eval_forward(x).float().cpu()
        nll = F.cross_entropy(
            logits.flatten(0, -2), y.flatten(), ignore_index=PAD_TARGET, reduction="none"
        )
        return self.check_finite_nll(self._nll_per_word(nll.view_as(y), words))

    @torch.no_grad()
    def log_prob(self, word: str) -> tuple[float, float]:
        """Total and per-character negative log-likelihood (nats) of `word`, end token included."""
        self.require_vocab().check(word, "word")
        nll = float(self.word_nll([word])[0])
        return nll, nll / (len(word) + 1)

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
        batched: bool | None = None,
        top_p: float | None = None,
    ) -> list[str]:
        """Draw `n` words, each starting with `prefix` and stopping at the boundary token or
        after `max_len` characters, drawn at `temperature` among the `top_k` likeliest and the
        nucleus of `top_p`. The same generator seed gives the same words.

        Batched (the default of sequence models), the n words advance together, one forward
        pass per character position for all of them. One word at a time (the default of window
        models) draws exactly as the notebooks' generators do, so their words are reproduced.
        """
        vocab = self.require_vocab()
        check_sampling_args(n, temperature, top_k, max_len, self.vocab_size, top_p)
        vocab.check(prefix, "prefix")
        if vocab.units(prefix) >= max_len:
            raise ValueError(
                f"prefix={prefix!r} has {vocab.units(prefix)} {vocab.unit_name} and max_len={max_len}: "
                "every word would be the prefix itself; raise max_len"
            )
        if self.too_long(prefix + "x"):
            raise ValueError(
                f"prefix of {len(prefix)} characters: this model reads words of at most "
                f"{self.max_word_length} characters, so nothing could follow it; shorten it"
            )
        if batched is None:
            batched = self.data_contract == "sequences"
        self.require_finite()
        was_training = self.training
        self.eval()
        try:
            if batched:
                ids = self._sample_batch(
                    n, generator, temperature, top_k, vocab.encode(prefix), max_len, top_p
                )
            else:
                ids = [
                    self._sample_batch(
                        1, generator, temperature, top_k, vocab.encode(prefix), max_len, top_p
                    )[0]
                    for _ in range(n)
                ]
        finally:
            self.train(was_training)
        return [vocab.decode(word) for word in ids]

    def _sample_batch(
        self,
        n: int,
        generator: torch.Generator | None,
        temperature: float,
        top_k: int | None,
        prefix_ids: list[int],
        max_len: int,
        top_p: float | None = None,
    ) -> list[list[int]]:
        """n words drawn together: `start` and `advance` give each position's logits."""
        device = self._device()
        logits, state = self.start(n)
        for ix in prefix_ids:
            logits, state = self.advance(state, torch.full((n,), ix, device=device))
        words = [list(prefix_ids) for _ in range(n)]
        # Rows still being drawn (indices into `words`): finished words leave the batch.
        rows = torch.arange(n)
        for _ in range(max_len - len(prefix_ids)):
            drawn = draw(logits, generator, temperature, top_k, self.vocab_size, self, top_p)
            going = drawn != 0
            if not going.any():
                break
            if not going.all():
                keep = going.nonzero()[:, 0]
                rows, drawn = rows[keep], drawn[keep]
                state = self.select(state, keep.to(device))
            for i, ix in zip(rows.tolist(), drawn.tolist(), strict=True):
                words[i].append(ix)
            logits, state = self.advance(state, drawn.to(device))
        return words

    def select(self, state: Any, rows: torch.Tensor) -> Any:
        """The sampling state of the words `rows` only (the others have ended)."""
        return state[rows]

    def start(self, n: int) -> tuple[torch.Tensor, Any]:
        """Logits (n, vocab) of the first character of n words, and the state that follows."""
        context = torch.zeros((n, self.context_size), dtype=torch.long, device=self._device())
        return self(context), context

    def advance(self, state: Any, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Logits (n, vocab) of the next character once each word has taken `ids`, and the state."""
        context = torch.cat([state[:, 1:], ids[:, None]], dim=1)  # the window slides on
        return self(context), context
