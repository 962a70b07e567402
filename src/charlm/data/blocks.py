"""Running text's splits (contiguous stretches of the id stream, `split_bounds`) and the
blocks read from them: random blocks for training (`TextBlocks`), each split once in
non-overlapping (`EvalBlocks`), overlapping (`SlidingBlocks`) or contiguous rows
(`CarriedRows`) for evaluation."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

from charlm.data.encoded import IdsFile, TextError
from charlm.data.sequences import PAD_TARGET


def split_bounds(length: int, fractions: Sequence[float]) -> list[tuple[int, int]]:
    """Contiguous (start, end) of each split: split i ends at floor(length * (f_0 + ... + f_i)).

    Computed in exact fractions of the decimal values given, so 0.85 / 0.05 / 0.10 of
    tinyshakespeare.txt puts the test split at character 1,003,854, where nanoGPT's
    validation text starts.
    """
    values = list(fractions)
    if len(values) != 3 or any(
        isinstance(f, bool) or not isinstance(f, int | float) or not 0 <= f <= 1 for f in values
    ):
        raise TextError(
            f"data.split={values!r}: three fractions in [0, 1] (train, val, test), e.g. "
            "[0.85, 0.05, 0.10]"
        )
    exact = [Fraction(str(f)) for f in values]
    if sum(exact) != 1:
        raise TextError(
            f"data.split={values!r}: the fractions add up to {float(sum(exact)):g}, not 1"
        )
    bounds, start, cumulative = [], 0, Fraction(0)
    for f in exact:
        cumulative += f
        end = math.floor(length * cumulative)
        bounds.append((start, end))
        start = end
    return bounds


def gather_blocks(stream: np.ndarray | IdsFile, starts: np.ndarray, width: int) -> torch.Tensor:
    """Rows stream[s : s + width] for each s of `starts`, as int64 (blocks, width)."""
    if isinstance(stream, IdsFile):
        return torch.from_numpy(stream.blocks(starts, width).astype(np.int64))
    index = starts[:, None] + np.arange(width)
    return torch.from_numpy(np.asarray(stream[index], dtype=np.int64))


class BlockChunk(NamedTuple):
    """`updates` minibatches of random blocks of the stream: update i reads the blocks that
    start at `starts[i]`, inputs `block_size` characters and targets the same shifted by one."""

    stream: np.ndarray
    starts: np.ndarray
    block_size: int
    updates: int
    device: str = "cpu"

    def minibatch(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        blocks = gather_blocks(self.stream, self.starts[i], self.block_size + 1)
        blocks = blocks.to(self.device)
        return blocks[:, :-1], blocks[:, 1:]  # (batch, block) each


class TextBlocks(IterableDataset):
    """Random blocks of a split, drawn with replacement, `steps_per_batch` updates a chunk.

    Chunk c is drawn from a generator seeded with (seed, c) alone, so a resumed run reads the
    same blocks as an uninterrupted one (as `RandomBatches` does for word lists).
    """

    def __init__(
        self,
        stream: np.ndarray,
        bounds: tuple[int, int],
        block_size: int,
        batch_size: int,
        steps_per_batch: int = 1,
        seed: int = 0,
    ) -> None:
        self.stream, self.bounds = stream, bounds
        self.block_size, self.batch_size = block_size, batch_size
        self.steps_per_batch, self.seed = steps_per_batch, seed
        self.num_chunks: int | None = None
        self.position: Callable[[], int] = lambda: 0

    def __len__(self) -> int:
        if self.num_chunks is None:
            raise TypeError("endless TextBlocks have no length")
        return self.num_chunks

    def __iter__(self) -> Iterator[BlockChunk]:
        start, end = self.bounds
        # A block and its shifted targets need block_size + 1 characters.
        last_start = end - self.block_size - 1
        c = self.position()
        while self.num_chunks is None or c < self.num_chunks:
            rng = np.random.default_rng([self.seed % 2**63, c])
            starts = rng.integers(start, last_start + 1, (self.steps_per_batch, self.batch_size))
            yield BlockChunk(self.stream, starts, self.block_size, self.steps_per_batch)
            c += 1


class EvalBlocks(Dataset):
    """A split read once in blocks of `block_size`: every character after the split's first
    is predicted exactly once, from the characters before it in its block.

    Block k starts `k * stride` characters into the split. With `stride` None the blocks do
    not overlap (the run's own full pass); with a smaller stride (`SlidingBlocks`) the first
    block scores all its predictions and each later one only its last `stride`, the others
    being the block before's. Batch i holds `blocks_per_batch` blocks of inputs (block_size)
    and targets; what a block does not score is padded (inputs 0, targets `PAD_TARGET`, which
    no metric counts).
    """

    def __init__(
        self,
        stream: np.ndarray,
        bounds: tuple[int, int],
        block_size: int,
        blocks_per_batch: int,
        stride: int | None = None,
    ) -> None:
        self.stream, self.block_size = stream, block_size
        self.start, self.end = bounds
        self.stride = stride or block_size
        self.predictions = max(self.end - self.start - 1, 0)
        beyond = max(0, self.predictions - block_size)
        self.blocks = 0 if not self.predictions else 1 + math.ceil(beyond / self.stride)
        self.blocks_per_batch = max(1, blocks_per_batch)

    def __len__(self) -> int:
        return math.ceil(self.blocks / self.blocks_per_batch)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        T = self.block_size
        first = i * self.blocks_per_batch
        rows = min(self.blocks_per_batch, self.blocks - first)
        x = np.zeros((rows, T), dtype=np.int64)
        y = np.full((rows, T), PAD_TARGET, dtype=np.int64)
        for r in range(rows):
            at = self.start + (first + r) * self.stride
            n = min(T, self.end - 1 - at)
            x[r, :n] = self.stream[at : at + n]
            y[r, :n] = self.stream[at + 1 : at + n + 1]
            if first + r:
                y[r, : T - self.stride] = PAD_TARGET  # scored by the block before
        return torch.from_numpy(x), torch.from_numpy(y)


class SlidingBlocks(EvalBlocks):
    """`EvalBlocks` overlapping by half (`charlm-eval mode=sliding`): every character after
    the first block is predicted from at least `block_size // 2` characters before it."""

    def __init__(
        self, stream: np.ndarray, bounds: tuple[int, int], block_size: int, blocks_per_batch: int
    ) -> None:
        super().__init__(stream, bounds, block_size, blocks_per_batch, max(1, block_size // 2))


class CarriedRows(Dataset):
    """A split as `rows` contiguous streams read block after block (`eval_mode=carried`):
    batch i holds block i of every row, so a recurrent model carrying its state from one batch
    to the next (`CarriedState`) reads every character with all those before it in its row,
    as char-rnn evaluates. Every character after the split's first is predicted once."""

    def __init__(
        self, stream: np.ndarray, bounds: tuple[int, int], block_size: int, rows: int
    ) -> None:
        self.stream, self.block_size = stream, block_size
        self.start, end = bounds
        self.inputs_end = max(end - 1, self.start)  # the last character is only a target
        predictions = self.inputs_end - self.start
        self.rows = max(1, min(rows, predictions))
        self.row_length = math.ceil(predictions / self.rows) if predictions else 0
        self.blocks = math.ceil(self.row_length / block_size)

    def __len__(self) -> int:
        return self.blocks

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        T = self.block_size
        x = np.zeros((self.rows, T), dtype=np.int64)
        y = np.full((self.rows, T), PAD_TARGET, dtype=np.int64)
        for r in range(self.rows):
            row_start = self.start + r * self.row_length
            at = row_start + i * T
            n = min(T, min(row_start + self.row_length, self.inputs_end) - at)
            if n > 0:
                x[r, :n] = self.stream[at : at + n]
                y[r, :n] = self.stream[at + 1 : at + n + 1]
        return torch.from_numpy(x), torch.from_numpy(y)
