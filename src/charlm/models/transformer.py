"""Causal Transformer language model over whole words (makemore's and nanoGPT's, pre-norm)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from charlm.errors import ConfigError, check_choice, check_dropout, check_positive_ints
from charlm.models.layers import Dropout
from charlm.models.sequence import SequenceLM

KVCache = list[tuple[torch.Tensor, torch.Tensor]]
# How a Transformer knows where each character stands: a learned vector per position added to
# the input (GPT's), or queries and keys rotated by an angle per position (rotary, RoFormer's).
POSITIONS = ("learned", "rotary")


class Rotary(nn.Module):
    """Rotary position embeddings (Su et al., RoFormer): each pair of channels i, i + d/2 of
    a head's queries and keys turned by the angle `position * 10000^(-2i/d)`, so that a
    query-key product depends on how far apart the two positions are, not where they stand.
    Torch has no such layer (torchtune's is not a dependency here); the tables are buffers,
    not weights, so a checkpoint holds none of them."""

    def __init__(self, head_size: int, context_size: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_size % 2:
            raise ConfigError(
                f"emb_size / n_head = {head_size}: rotary positions need an even head size",
                key="emb_size",
            )
        self.head_size, self.base = head_size, base
        angles = self._angles(0, context_size)
        self.register_buffer("cos", angles.cos().float(), persistent=False)  # (context, head / 2)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def _angles(self, start: int, n: int) -> torch.Tensor:
        """The angles of positions start... start+n-1 (n, head / 2), computed in float64 (on
        the CPU: not every device has it), where float32 would lose far positions' fraction."""
        freqs = self.base ** (
            -torch.arange(0, self.head_size, 2, dtype=torch.float64) / self.head_size
        )
        return torch.outer(torch.arange(start, start + n, dtype=torch.float64), freqs)

    def forward(self, t: torch.Tensor, start: int) -> torch.Tensor:
        """`t` (batch, heads, time, head) rotated as if it stood at positions start, start+1..."""
        n = t.shape[-2]
        if start + n <= len(self.cos):
            cos, sin = self.cos[start : start + n], self.sin[start : start + n]
        else:
            # Past the tables: a window sliding along running text (a recurrent model's
            # attention, `RecurrentLM`) keeps its keys where they stood.
            angles = self._angles(start, n)
            cos, sin = angles.cos().float().to(t.device), angles.sin().float().to(t.device)
        a, b = t.float().chunk(2, dim=-1)
        return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1).to(t.dtype)


class CausalSelfAttention(nn.Module):
    """Multi-head attention where position t sees positions <= t, by scaled_dot_product_attention."""

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        dropout: float,
        rotary: Rotary | None = None,
        io_size: int | None = None,
    ) -> None:
        """`n_embd` channels of queries, keys and values, split among `n_head` heads; the
        input and output have `io_size` (by default n_embd)."""
        super().__init__()
        self.n_embd, self.n_head, self.dropout = n_embd, n_head, dropout
        self.qkv = nn.Linear(io_size or n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, io_size or n_embd)
        self.resid_drop = Dropout(dropout)
        self.rotary = rotary  # one module shared by every block (its tables are not saved)

    def _heads(self, x: torch.Tensor, start: int) -> tuple[torch.Tensor, ...]:
        """Queries, keys and values of x (batch, time, emb), each (batch, heads, time, emb /
        heads), the queries and keys rotated to positions start... under rotary positions."""
        B, T, C = *x.shape[:2], self.n_embd
        q, k, v = (
            t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            for t in self.qkv(x).split(C, dim=2)
        )
        if self.rotary is not None:
            q, k = self.rotary(q, start), self.rotary(k, start)
        return q, k, v

    def forward(
        self,
        x: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
        start: int | None = None,
        window: int | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (batch, time, emb); `past`: the keys and values of the positions before x.
        `start`: the position of x's first row (rotary positions), by default the number of
        positions before it. `window`: without `past`, each position sees itself and at most
        window - 1 before it (a sliding window, for text longer than the model was trained on).
        """
        B, T, C = *x.shape[:2], self.n_embd
        if start is None:
            start = 0 if past is None else past[0].shape[2]
        q, k, v = self._heads(x, start)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        mask = None
        if past is None and window is not None and window < T:
            i = torch.arange(T, device=x.device)
            gap = i[:, None] - i[None, :]
            mask = (gap >= 0) & (gap < window)
        y = F.scaled_dot_product_attention(
            q, k, v,
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
            # With a cache, x is the newest position and may see every earlier one.
            is_causal=past is None and mask is None,
        )  # fmt: skip
        y = y.transpose(1, 2).reshape(B, T, C)  # heads side by side again
        return self.resid_drop(self.proj(y)), (k, v)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights of x (batch, time, emb), softmax(q k^T / sqrt(d) + causal
        mask): (batch, heads, time, time), row t a distribution over the positions <= t.
        `forward` never builds them (scaled_dot_product_attention fuses them away)."""
        C = self.n_embd
        q, k, _ = self._heads(x, 0)
        scores = q @ k.transpose(-2, -1) / math.sqrt(C // self.n_head)  # (batch, heads, T, T)
        T = x.shape[1]
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        return F.softmax(scores.masked_fill(future, -math.inf), dim=-1)


class Block(nn.Module):
    """x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(
        self, n_embd: int, n_head: int, dropout: float, rotary: Rotary | None = None
    ) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout, rotary)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd),
            nn.GELU(),
            nn.Linear(4 * n_embd, n_embd),
            Dropout(dropout),
        )

    def forward(
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        attended, kv = self.attn(self.ln1(x), past)
        x = x + attended
        return x + self.mlp(self.ln2(x)), kv


class TransformerLM(SequenceLM):
    """logits = head(ln(blocks(drop(tok[x] + pos[t])))), each block pre-norm and causal.

    Positions are learned for each place in a word (0 = the start token), up to
    `context_size`: words are short, and where a character stands in a word matters.
    `positions="rotary"` has no `pos` table: each block's queries and keys are rotated by
    their positions instead (`Rotary`), so attention sees how far back a character stands.
    """

    def __init__(
        self,
        vocab_size: int,
        context_size: int = 32,
        num_layers: int = 4,
        n_head: int = 4,
        emb_size: int = 128,
        dropout: float = 0.0,
        positions: str = "learned",
        *,
        n_layer: int | None = None,
        n_embd: int | None = None,
    ) -> None:
        super().__init__(vocab_size, context_size)
        # n_layer and n_embd (nanoGPT's names) are what configs and checkpoints written before
        # every family shared `num_layers` and `emb_size` hold: they still load.
        num_layers = n_layer if n_layer is not None else num_layers
        emb_size = n_embd if n_embd is not None else emb_size
        check_positive_ints(num_layers=num_layers, n_head=n_head, emb_size=emb_size)
        if emb_size % n_head:
            raise ConfigError(
                f"emb_size={emb_size}: must be a multiple of n_head={n_head}", key="emb_size"
            )
        n_layer, n_embd = num_layers, emb_size
        check_dropout(dropout=dropout)
        check_choice("positions", positions, POSITIONS)
        self.positions = positions
        self.tok = nn.Embedding(vocab_size, n_embd)
        self.pos = nn.Embedding(context_size, n_embd) if positions == "learned" else None
        self.rotary = Rotary(n_embd // n_head, context_size) if positions == "rotary" else None
        self.drop = Dropout(dropout)
        self.blocks = nn.ModuleList(
            Block(n_embd, n_head, dropout, self.rotary) for _ in range(n_layer)
        )
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size)
        # GPT-2's scaled initialisation of the residual projections.
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.2.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * n_layer))

    def _run(
        self, idx: torch.Tensor, start: int, cache: KVCache | None
    ) -> tuple[torch.Tensor, KVCache]:
        x = self.drop(self._embed(idx, start))  # (batch, time, emb)
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, cache[i] if cache else None)
            new_cache.append(kv)
        return self.head(self.ln_f(x)), new_cache  # (batch, time, vocab)

    def _embed(self, idx: torch.Tensor, start: int) -> torch.Tensor:
        """The blocks' input: the characters' embeddings, plus their positions' if learned."""
        x = self.tok(idx)
        if self.pos is None:
            return x
        return x + self.pos(torch.arange(start, start + idx.shape[1], device=idx.device))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self._run(idx, 0, None)[0]

    @torch.no_grad()
    def attention(self, idx: torch.Tensor) -> torch.Tensor:
        """Every head's attention weights over `idx` (batch, time), in eval mode:
        (layers, batch, heads, time, time)."""
        x = self._embed(idx, 0)
        maps = []
        for block in self.blocks:
            maps.append(block.attn.weights(block.ln1(x)))
            x, _ = block(x)
        return torch.stack(maps)

    # Text past the block: a window of learned positions cannot slide one character at a time
    # under a key/value cache (each slide moves every character to another position, so every
    # key and value changes). The window instead runs on to `context_size` characters, then
    # starts again from its last `text_keep()` ones: the keys and values of a window are
    # computed once and extended by one position per character, and only a restart reads a
    # window whole. With `text_cache = False` each character reads its window whole, as the
    # cached path would: the same window, the same distributions (to float rounding).
    text_cache = True

    def text_keep(self) -> int:
        """How many characters a window starts again from once it is full: three quarters of
        the context, so every character is drawn from at least that many before it."""
        return max(1, (3 * self.context_size) // 4)

    def text_start(self, prompt: torch.Tensor) -> tuple[torch.Tensor, Any]:
        return self._read_window(prompt[:, -self.context_size :])

    def text_advance(self, state: Any, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        window, cache = state
        window = torch.cat([window, ids[:, None]], dim=1)
        if window.shape[1] > self.context_size:
            return self._read_window(window[:, -self.text_keep() :])  # full: start again
        if cache is None:  # text_cache off
            return self._read_window(window)
        logits, cache = self._run(ids[:, None], window.shape[1] - 1, cache)
        return logits[:, -1], (window, cache)

    def _read_window(self, window: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """The next character's logits after `window`, read whole; its keys and values are
        kept for the next characters unless `text_cache` is off."""
        logits, cache = self._run(window, 0, None)
        return logits[:, -1], (window, cache if self.text_cache else None)

    def start(self, n: int) -> tuple[torch.Tensor, Any]:
        idx = torch.zeros((n, 1), dtype=torch.long, device=self._device())
        logits, cache = self._run(idx, 0, None)
        return logits[:, -1], (cache, 1)

    def select(self, state: Any, rows: torch.Tensor) -> Any:
        cache, position = state
        return [(k[rows], v[rows]) for k, v in cache], position

    def advance(self, state: Any, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        cache, position = state
        if position >= self.context_size - 1:
            # `ids` take the last position: the longest word the model can read (and score,
            # its end token included) ends here.
            logits = torch.full((len(ids), self.vocab_size), -math.inf, device=ids.device)
            logits[:, 0] = 0.0
            return logits, state
        logits, cache = self._run(ids[:, None], position, cache)
        return logits[:, -1], (cache, position + 1)

    @property
    def embeddings(self) -> torch.Tensor:
        """The character embedding table (vocab, emb)."""
        return self.tok.weight

    @property
    def max_word_length(self) -> int:
        """Its positions hold the start token and at most context_size - 1 characters."""
        return self.context_size - 1
