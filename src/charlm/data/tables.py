"""Small classification tables of the course: the token predictor, logic gates, fizzbuzz."""

from __future__ import annotations

import random

import torch

from charlm.data.step_datamodule import StepDataModule
from charlm.errors import CharlmError

# Notebook "réseau de neurones pour prédiction de token".
TOKEN_TABLES = {
    # One number -> token: Linear(1, 2) learns it.
    "single": ([[2.0], [3.0]], [0, 1]),
    # Two numbers -> token, XOR-like: no linear model separates it.
    "xor": ([[2.0, 2.0], [2.0, 3.0], [3.0, 2.0], [3.0, 3.0]], [0, 1, 1, 0]),
}
GATES = {
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
    "nand": lambda a, b: 1 - (a & b),
    "nor": lambda a, b: 1 - (a | b),
    "xor": lambda a, b: a ^ b,
}
FIZZBUZZ_CLASSES = ("number", "fizz", "buzz", "fizzbuzz")


def token_table(name: str = "xor") -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and tokens of the token-predictor notebook's tables ('single' or 'xor')."""
    if name not in TOKEN_TABLES:
        raise CharlmError(f"data.table={name!r}: one of {sorted(TOKEN_TABLES)}")
    x, y = TOKEN_TABLES[name]
    return torch.tensor(x), torch.tensor(y)


def gate_table(gate: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The truth table of a two-input logic gate on {0, 1}^2."""
    if gate not in GATES:
        raise CharlmError(f"data.gate={gate!r}: one of {sorted(GATES)}")
    rows = [(a, b) for a in (0, 1) for b in (0, 1)]
    return torch.tensor(rows, dtype=torch.float), torch.tensor([GATES[gate](a, b) for a, b in rows])


def fizzbuzz_label(n: int) -> int:
    """0: the number itself, 1: fizz (multiple of 3), 2: buzz (of 5), 3: fizzbuzz (of 15)."""
    return 3 if n % 15 == 0 else 2 if n % 5 == 0 else 1 if n % 3 == 0 else 0


def fizzbuzz_text(n: int, label: int) -> str:
    """What fizzbuzz prints for `n` given a predicted class."""
    return str(n) if label == 0 else FIZZBUZZ_CLASSES[label]


def binary_encode(numbers: list[int], digits: int) -> torch.Tensor:
    """Rows of `digits` bits, least significant first (TD1's `binary_encode`)."""
    return torch.tensor([[n >> d & 1 for d in range(digits)] for n in numbers], dtype=torch.float)


class TableDataModule(StepDataModule):
    """A fixed table trained on and evaluated on whole, as the course notebooks do.

    `table` is 'token' (with `token` 'single' or 'xor') or 'gate' (with `gate`).
    """

    def __init__(
        self,
        table: str = "token",
        token: str = "xor",
        gate: str = "xor",
        steps_per_batch: int = 100,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=1, steps_per_batch=steps_per_batch, full_batch=True, seed=seed)
        if table == "token":
            x, y = token_table(token)
        elif table == "gate":
            x, y = gate_table(gate)
        else:
            raise CharlmError(f"data.table={table!r}: one of 'token', 'gate'")
        self.table = table
        self.splits = {name: (x, y) for name in ("train", "val", "test")}

    def net_kwargs(self) -> dict[str, int]:
        x, y = self.splits["train"]
        return {"in_features": x.shape[1], "num_classes": 2}


class FizzBuzzDataModule(StepDataModule):
    """TD1's fizzbuzz: 10-bit encodings, train on 101..1023 (`val_size` held out), test 1..100."""

    def __init__(
        self,
        digits: int = 10,
        test_up_to: int = 100,
        val_size: int = 100,
        batch_size: int = 128,
        steps_per_batch: int = 100,
        split_seed: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, steps_per_batch=steps_per_batch, seed=seed)
        top = 2**digits - 1
        if not 1 <= test_up_to < top or not 0 <= val_size < top - test_up_to:
            raise CharlmError(
                f"data: with {digits} digits, test_up_to must be in [1, {top - 1}] and "
                f"val_size smaller than the {top - test_up_to} training numbers"
            )
        self.digits = digits
        numbers = list(range(test_up_to + 1, top + 1))
        random.Random(split_seed).shuffle(numbers)
        self.numbers = {
            "train": sorted(numbers[val_size:]),
            "val": sorted(numbers[:val_size]),
            "test": list(range(1, test_up_to + 1)),
        }
        for name, nums in self.numbers.items():
            labels = torch.tensor([fizzbuzz_label(n) for n in nums])
            self.splits[name] = (binary_encode(nums, digits), labels)

    def net_kwargs(self) -> dict[str, int]:
        return {"in_features": self.digits, "num_classes": len(FIZZBUZZ_CLASSES)}
