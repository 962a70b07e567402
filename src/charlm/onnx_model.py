"""A model exported as ONNX (`charlm-export format=onnx`), run by onnxruntime with no PyTorch
network: scored and sampled as any `CharLM`, from the same code.

Its logits come from the folder's graphs: `model.onnx` (every position of a block) for
scoring and reading text, `step.onnx` (one character from a state) for drawing words, so a
seed draws the words torch draws from the same weights, wherever the two runtimes' logits
agree (to 1e-4, checked at export). A family with no step graph draws each character from
the word so far, read whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from charlm.data.vocab import stored_vocabulary
from charlm.models.base import CharLM
from charlm.models.sequence import SequenceLM


class OnnxRuntimeLM(CharLM):
    """The graphs of an exported folder behind the `CharLM` interface; `int8=True` runs
    their int8 versions (exported with quantize=int8)."""

    def __init__(self, folder: str | Path, int8: bool = False) -> None:
        from charlm.export import ExportError
        from charlm.export_onnx import session

        folder = Path(folder)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        graphs = config.get("onnx")
        if not isinstance(graphs, dict):
            raise ExportError(
                f"{folder} holds no ONNX graphs: export it with charlm-export format=onnx"
            )
        files = graphs
        if int8:
            files = graphs.get("int8") or {}
            if not files.get("forward"):
                raise ExportError(
                    f"{folder} holds no int8 graphs: export it with charlm-export "
                    "format=onnx quantize=int8"
                )
        super().__init__(int(graphs["vocab_size"]), int(graphs["context_size"]))
        self.data_contract = graphs["contract"]  # what `examples` and `sample` read
        self._limit = graphs.get("max_word_length")
        self._state = graphs.get("state") or []
        self._forward = session(folder / files["forward"])
        self._step = session(folder / files["step"]) if files.get("step") else None
        reach = graphs.get("block_reach")
        if self._step is None and reach is not None:
            # Words are read whole from the start token: at most `reach` positions.
            self._limit = min(self._limit or reach, reach - 1)
        # The vocabulary, run config and data identity the export wrote beside the graphs.
        meta = config.get("charlm") or {}
        self.vocab = stored_vocabulary(meta["vocab"], meta.get("vocab_kind"))
        self.config = yaml.safe_load(meta.get("config") or "{}") or {}
        self.data_identity = meta.get("data") if isinstance(meta.get("data"), dict) else None
        self.checkpoint_path = str(folder)

    @property
    def max_word_length(self) -> int | None:
        return self._limit

    def block_logits(self, idx: torch.Tensor) -> torch.Tensor:
        ids = idx.detach().cpu().numpy().astype(np.int64)
        return torch.from_numpy(self._forward.run(["logits"], {"ids": ids})[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.block_logits(x)
        # A window model's graph reads blocks: the window's own logits are its last position's.
        return logits[:, -1] if self.data_contract == "windows" else logits

    # --- drawing words: `CharLM.sample` drives start / advance / select -----------------------

    def start(self, n: int) -> tuple[torch.Tensor, Any]:
        if self._step is None:
            ids = torch.zeros((n, 1), dtype=torch.long)
            return self.block_logits(ids)[:, -1], ids
        state = [
            np.zeros([n if i == s["batch_axis"] else d for i, d in enumerate(s["shape"])],
                     dtype=s["dtype"])
            for s in self._state
        ]  # fmt: skip
        return self._advance_graph((state, 0), np.zeros(n, dtype=np.int64))

    def advance(self, state: Any, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if self._step is None:
            state = torch.cat([state, ids[:, None].cpu()], dim=1)
            if self._limit is not None and state.shape[1] > self._limit:
                return self._ended(len(ids)), state
            return self.block_logits(state)[:, -1], state
        if self._limit is not None and state[1] >= self._limit:
            return self._ended(len(ids)), state
        return self._advance_graph(state, ids.cpu().numpy().astype(np.int64))

    def _ended(self, n: int) -> torch.Tensor:
        """The longest word the model reads ends here, as the torch family's `advance` says."""
        logits = torch.full((n, self.vocab_size), -math.inf)
        logits[:, 0] = 0.0
        return logits

    def _advance_graph(self, state: Any, ids: np.ndarray) -> tuple[torch.Tensor, Any]:
        tensors, position = state
        feed = {"ids": ids, **{s["name"]: t for s, t in zip(self._state, tensors, strict=True)}}
        logits, *tensors = self._step.run(None, feed)
        return torch.from_numpy(logits), (tensors, position + 1)

    def select(self, state: Any, rows: torch.Tensor) -> Any:
        if self._step is None:
            return state[rows]
        tensors, position = state
        keep = rows.cpu().numpy()
        return (
            [
                np.take(t, keep, axis=s["batch_axis"])
                for s, t in zip(self._state, tensors, strict=True)
            ],
            position,
        )

    # --- running text: the last `context_size` characters read whole ------------------------

    def text_start(self, prompt: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if self.data_contract == "windows":
            return super().text_start(prompt.cpu())
        window = prompt[:, -self.context_size :].cpu()
        return self.block_logits(window)[:, -1], window

    def text_advance(self, state: Any, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if self.data_contract == "windows":  # the window slides on
            window = torch.cat([state[:, 1:], ids[:, None].cpu()], dim=1)
            return self(window), window
        return self.text_start(torch.cat([state, ids[:, None].cpu()], dim=1))

    # --- scoring words: a sequence model's graph reads whole words ----------------------------

    def examples(self, words: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.data_contract == "sequences":
            return SequenceLM.examples(self, words)  # type: ignore[arg-type]
        return super().examples(words)

    def _nll_per_word(self, nll: torch.Tensor, words: Sequence[str]) -> torch.Tensor:
        if self.data_contract == "sequences":
            return nll.sum(dim=1)
        return super()._nll_per_word(nll, words)

    @torch.no_grad()
    def next_char_probs(self, context: str = "") -> dict[str, float]:
        if self.data_contract == "sequences":
            return SequenceLM.next_char_probs(self, context)  # type: ignore[arg-type]
        return super().next_char_probs(context)


def load_onnx(folder: str | Path, int8: bool = False) -> OnnxRuntimeLM:
    """The exported folder's ONNX graphs as a model, with its vocabulary and run config: no
    torch network is built."""
    return OnnxRuntimeLM(folder, int8=int8)
