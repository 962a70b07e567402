"""The DataModules of language data: one base serving any kind of data (`charlm.data.kinds`)
to Lightning, and the named configurations of the kinds charlm ships.

`LanguageDataModule` owns what every kind shares: its paths, the vocabulary, the contract
(windows or sequences, from the model), the split, `prepare_data`, `connect`, `net_kwargs`,
the characters a split covers, the identity it records (always naming its kind) and the
evaluation dataloaders. The kind keeps what differs: how it reads, encodes and batches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from charlm.data.blocks import BlockChunk
from charlm.data.fetch import KNOWN_FILES, ensure_corpus
from charlm.data.kinds import DataKind
from charlm.data.step_datamodule import StepDataModule
from charlm.data.vocab import BOUNDARY, Vocab
from charlm.errors import check_choice, check_positive_ints

CONTRACTS = ("windows", "sequences")


class LanguageDataModule(StepDataModule):
    """A kind of language data (`kind`, one of `charlm.data.registry.KINDS`, with its own
    options `kind_options`) served by updates: chunks of random minibatches for training,
    each split once in order for evaluation.

    `contract` is what the model reads (`CharLM.data_contract`; charlm-train sets it from the
    model): "windows", the `context_size` previous units of each one, or "sequences", whole
    padded sequences (blocks of running text). `fetch=true` gets a missing file that charlm
    knows (civil_mots.txt, tinyshakespeare.txt) the way `make data` does, from `shared_dir`.
    """

    def __init__(
        self,
        kind: str | DataKind,
        path: str | Path | Sequence[str | Path] = "",
        context_size: int = 3,
        batch_size: int = 32,
        steps_per_batch: int = 1,
        full_batch: bool = False,
        eval_batch_size: int = 1024,
        seed: int = 0,
        contract: str = "windows",
        fetch: bool = False,
        shared_dir: str | None = None,
        vocab: Vocab | None = None,
        **kind_options: Any,
    ) -> None:
        super().__init__(batch_size, steps_per_batch, full_batch, eval_batch_size, seed)
        check_positive_ints(context_size=context_size)
        check_choice("contract", contract, CONTRACTS)
        if isinstance(kind, DataKind):
            self.data = kind
        else:
            from charlm.data.registry import kind_class

            self.data = kind_class(kind)(path, vocab=vocab, **kind_options)
        self.contract, self.context_size = contract, context_size
        self.fetch, self.shared_dir = fetch, shared_dir
        self._ready = False

    # --- what every kind shares -----------------------------------------------------------

    @property
    def kind(self) -> str:
        return self.data.kind

    @property
    def paths(self) -> list[Path]:
        return self.data.paths

    @property
    def path(self) -> Path:
        return self.data.path

    @property
    def vocab(self) -> Vocab | None:
        return self.data.vocab

    @property
    def split(self) -> tuple[float, ...]:
        return self.data.split

    def prepare_data(self) -> None:
        """Fetch a missing known file when asked, check a present one against its SHA-256.

        A changed copy of a known file is refused: the course's figures and the notebooks'
        splits are those of the original. A missing one is reported by `setup`, with the
        command that fetches it.
        """
        for p in self.paths:
            if p.name in KNOWN_FILES and (self.fetch or p.is_file()):
                ensure_corpus(p, self.shared_dir, name=p.name)

    def setup(self, stage: str | None = None) -> None:
        """Read, split and encode the data once (a kind given already read is not read again);
        later calls are free."""
        if self._ready:
            return
        self._ready = True
        self.data.load()
        # The splits as tensors, where the kind keeps them in memory (not running text).
        self.splits.update(self.data.tensors(self.contract, self.context_size))

    def data_identity(self) -> dict[str, Any]:
        """What the run's split was drawn from (it names the kind): stored in checkpoints, so
        that evaluation can refuse data changed since."""
        self.setup()
        return self.data.identity()

    def has_split(self, name: str) -> bool:
        self.setup()
        return self.data.has_split(name)

    def split_characters(self, name: str) -> int | None:
        """Characters split `name`'s predictions cover, None when one a prediction."""
        self.setup()
        return self.data.split_characters(name)

    def net_kwargs(self) -> dict[str, int]:
        """Sizes the network must be built with to fit this data."""
        self.setup()
        sizes = {"vocab_size": len(self.vocab)}
        if self.contract == "windows":
            return {**sizes, "context_size": self.context_size}
        block = getattr(self.data, "block_size", None)  # a sequence model reads whole blocks
        return {**sizes, "context_size": block} if block else sizes

    def longest_example(self) -> int:
        """Positions the longest example needs: the window, or the longest sequence."""
        self.setup()
        return self.context_size if self.contract == "windows" else self.data.longest()

    def eval_dataloader(self, name: str, predictions: int | None = None) -> DataLoader:
        """Split `name` in order, in batches of about `eval_batch_size` (or `predictions`)."""
        self.setup()
        batches = self.data.eval_batches(
            name, self.contract, self.context_size, predictions or self.eval_predictions()
        )
        return DataLoader(batches, batch_size=None)

    def training_set(self, seed: int) -> Any:
        """The kind's endless chunks of training minibatches, drawn with `seed`."""
        return self.data.training_set(
            self.contract, self.context_size, self.batch_size, self.steps_per_batch, seed,
            self.full_batch,
        )  # fmt: skip

    def transfer_batch_to_device(self, batch: Any, device: Any, dataloader_idx: int) -> Any:
        """A chunk of blocks reads them when trained on: they go straight to `device`."""
        if isinstance(batch, BlockChunk):
            return batch._replace(device=str(device))
        return super().transfer_batch_to_device(batch, device, dataloader_idx)


class CharWindowDataModule(LanguageDataModule):
    """A word list (`charlm.data.words.WordList`): train/val/test examples split by words as
    in the notebooks. `split` is (train, val, test), cut after shuffling with
    `random.seed(split_seed)`; a sequence model reads `batch_size` whole words a minibatch."""

    def __init__(
        self,
        path: str | Path,
        context_size: int = 3,
        batch_size: int = 32,
        split: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 42,
        boundary: str = BOUNDARY,
        steps_per_batch: int = 1,
        full_batch: bool = False,
        eval_batch_size: int = 1024,
        seed: int = 0,
        contract: str = "windows",
        vocab: Vocab | None = None,
    ) -> None:
        from charlm.data.words import WordList

        words = WordList(path, vocab, split, split_seed, boundary, read=self.read_words)
        super().__init__(words, path, context_size, batch_size, steps_per_batch, full_batch,
                         eval_batch_size, seed, contract)  # fmt: skip
        # Plain values only, so `CharWindowDataModule.load_from_checkpoint(path)` rebuilds it
        # from a checkpoint read with weights_only=True.
        self.save_hyperparameters(
            {
                "path": str(path), "context_size": context_size, "batch_size": batch_size,
                "split": list(words.split), "split_seed": split_seed, "boundary": boundary,
                "steps_per_batch": steps_per_batch, "full_batch": full_batch,
                "eval_batch_size": eval_batch_size, "seed": seed, "contract": contract,
            }
        )  # fmt: skip

    @property
    def words(self) -> dict[str, list[str]]:
        """The split's words, by split."""
        self.setup()
        return self.data.parts

    def read_words(self) -> list[str]:
        """The words to split, from `path` (one per line). Override for words kept otherwise."""
        from charlm.data.corpus import load_words

        return load_words(self.path)

    def predict_dataloader(self) -> DataLoader:
        """The test split's words (every word when there is no test split), in batches."""
        words = self.words["test"] or self.words["train"]
        return DataLoader(words, batch_size=self.eval_batch_size, collate_fn=list)


class TextDataModule(LanguageDataModule):
    """Running text (`charlm.data.text.RunningText`): one text file or several, read in
    order, as a stream of characters split contiguously. Every model reads blocks of
    `block_size` characters and predicts each next one: sequence models read the whole block,
    window models the `context_size` characters before each position."""

    def __init__(
        self,
        path: str | Sequence[str],
        block_size: int = 128,
        context_size: int = 8,
        batch_size: int = 32,
        split: Sequence[float] = (0.85, 0.05, 0.10),
        steps_per_batch: int = 20,
        eval_batch_size: int = 16384,
        seed: int = 0,
        contract: str = "sequences",
        cache_dir: str | None = None,
        fetch: bool = False,
        shared_dir: str | None = None,
        vocab: Vocab | None = None,
    ) -> None:
        check_positive_ints(block_size=block_size)
        super().__init__("text", path, context_size, batch_size, steps_per_batch, False,
                         eval_batch_size, seed, contract, fetch, shared_dir, vocab,
                         split=split, block_size=block_size, cache_dir=cache_dir)  # fmt: skip

    @property
    def block_size(self) -> int:
        return self.data.block_size

    @property
    def bounds(self) -> dict[str, tuple[int, int]]:
        self.setup()
        return self.data.bounds

    @property
    def stream(self) -> Any:
        self.setup()
        return self.data.stream


class LinesDataModule(LanguageDataModule):
    """The lines of a text (`charlm.data.lines.TextLines`), each one sequence ending with the
    end token, in characters (`units="chars"`) or the tokens of a BPE tokenizer."""

    def __init__(
        self,
        path: str | Sequence[str],
        units: str = "tokens",
        tokenizer: Mapping[str, Any] | None = None,
        clean: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        context_size: int = 5,
        batch_size: int = 32,
        split: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 42,
        steps_per_batch: int = 1,
        eval_batch_size: int = 8192,
        seed: int = 0,
        contract: str = "windows",
        fetch: bool = False,
        shared_dir: str | None = None,
        vocab: Vocab | None = None,
    ) -> None:
        super().__init__("lines", path, context_size, batch_size, steps_per_batch, False,
                         eval_batch_size, seed, contract, fetch, shared_dir, vocab, units=units,
                         tokenizer=tokenizer, clean=clean, split=split,
                         split_seed=split_seed)  # fmt: skip

    @property
    def lines(self) -> dict[str, list[str]]:
        """The split's lines, by split."""
        self.setup()
        return self.data.parts

    @property
    def units(self) -> str:
        return self.data.units
