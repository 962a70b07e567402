"""`charlm-eval ckpt=PATH`: NLL, perplexity, bits per character and accuracy of a trained model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from charlm.checkpoint import (
    RESPLIT_NOTE,
    checkpoint_lines,
    checkpoint_split,
    checkpoint_text,
    is_lines_model,
    is_text_model,
    load_model,
    text_block_size,
)
from charlm.config import config_dir
from charlm.data.batches import TensorSlices
from charlm.data.corpus import load_words
from charlm.errors import CharlmError, check_options, check_output, report_errors
from charlm.metrics import evaluate_lm, format_table, per_character
from charlm.models.base import CharLM


def evaluate_words(model: CharLM, words: list[str], batch_size: int = 8192) -> dict[str, float]:
    """Metrics of `model` over every character of `words`, the end token of each included.

    `batch_size` counts predictions: a batch of sequences holds that many positions.
    """
    x, y = model.examples(words)
    rows = max(1, batch_size // y[0].numel())
    return evaluate_lm(model, TensorSlices(x, y, batch_size=rows))


def evaluate_text(model: CharLM, stream, bounds: tuple[int, int], block_size: int) -> dict:
    """Metrics of a text model over one split read once (`charlm.data.text.EvalBlocks`)."""
    from charlm.data.text import EvalBlocks

    return evaluate_lm(model, EvalBlocks(stream, bounds, block_size, max(1, 16384 // block_size)))


def evaluate_checkpoint(
    ckpt: str | Path | list[str],
    words: str | Path | None = None,
    data_path: str | Path | None = None,
    unknown: str = "skip",
    resplit: bool = False,
) -> dict[str, dict[str, Any]]:
    """Metrics on the checkpoint's own train/val/test split, and on `words` if given.

    Words of `words` holding characters outside the model's vocabulary, or longer than the
    model reads, are skipped and reported on standard error (`unknown="skip"`), or refuse the
    whole file (`"error"`). `resplit` splits a word list changed since training all the same.
    """
    if unknown not in ("skip", "error"):
        raise CharlmError(f"unknown={unknown!r}: 'skip' (report and go on) or 'error'")
    model = load_model(ckpt)
    if is_text_model(model):
        if words:
            raise CharlmError(
                "words=: this model was trained on running text; score a text with "
                "charlm-score ckpt=... text=FILE"
            )
        encoded, bounds, changed = checkpoint_text(model, data_path, resplit)
        if changed:
            print(f"charlm-eval: {RESPLIT_NOTE}", file=sys.stderr)
        stream, block = encoded.ids(), text_block_size(model)
        return {
            split: evaluate_text(model, stream, span, block)
            for split, span in bounds.items()
            if span[1] - span[0] >= 2
        }
    if is_lines_model(model):
        if words:
            raise CharlmError(
                "words=: this model was trained on lines of text; score a text's lines with "
                "charlm-score ckpt=... text=FILE"
            )
        datamodule, changed = checkpoint_lines(model, data_path, resplit)
        if changed:
            print(f"charlm-eval: {RESPLIT_NOTE}", file=sys.stderr)
        return {
            split: per_character(
                evaluate_lm(model, datamodule.eval_dataloader(split)),
                datamodule.split_characters(split),
            )
            for split in ("train", "val", "test")
            if datamodule.has_split(split)
        }
    splits, changed = checkpoint_split(model, data_path, resplit)
    if changed:
        print(f"charlm-eval: {RESPLIT_NOTE}", file=sys.stderr)
    results = {split: evaluate_words(model, part) for split, part in splits.items() if part}
    if words:
        extra = load_words(words)
        if unknown == "error":
            model.vocab.check_words(extra, f"word list {words}")
        skipped = [w for w in extra if model.vocab.unknown(w)]
        if skipped:
            shown = ", ".join(f"{w!r} ({''.join(model.vocab.unknown(w))!r})" for w in skipped[:5])
            more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            print(
                f"charlm-eval: skipped {len(skipped)} of {len(extra)} words of {words} with "
                f"characters outside the model's vocabulary: {shown}{more}",
                file=sys.stderr,
            )
            extra = [w for w in extra if not model.vocab.unknown(w)]
        long = [w for w in extra if model.too_long(w)]
        if long:
            print(
                f"charlm-eval: skipped {len(long)} word(s) of {words} longer than the model reads "
                f"(at most {model.max_word_length} characters)",
                file=sys.stderr,
            )
            extra = [w for w in extra if not model.too_long(w)]
        if not extra:
            raise CharlmError(f"no word of {words} can be scored: all hold unknown characters")
        results[Path(words).name] = evaluate_words(model, extra)
    return results


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="eval")
@report_errors("charlm-eval")
def main(cfg: DictConfig) -> None:
    """Console script `charlm-eval`."""
    if not cfg.get("ckpt"):
        raise CharlmError("no checkpoint given: charlm-eval ckpt=PATH/TO/last.ckpt")
    check_options(
        cfg,
        {"words": "path|null", "data_path": "path|null", "output": "path|null", "resplit": "bool"},
    )
    # One checkpoint, or several (ckpt=[a.ckpt,b.ckpt]) evaluated as one ensemble.
    ckpts = [str(c) for c in cfg.ckpt] if OmegaConf.is_list(cfg.ckpt) else [str(cfg.ckpt)]
    first = Path(ckpts[0])
    name = first.stem if len(ckpts) == 1 else "ensemble"
    output = Path(cfg.output) if cfg.get("output") else first.parent / f"eval-{name}.json"
    check_output(output)
    results = evaluate_checkpoint(
        ckpts, cfg.get("words"), cfg.get("data_path"), cfg.get("unknown", "skip"), cfg.resplit
    )
    print(format_table(results))
    stored = ckpts[0] if len(ckpts) == 1 else ckpts
    output.write_text(json.dumps({"checkpoint": stored, "results": results}, indent=2))
    print(f"written to {output}")


if __name__ == "__main__":
    main()
