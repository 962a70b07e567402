"""`charlm-sample ckpt=PATH n=20`: sample words from a trained model, with their novelty; or,
from a model of running text, `length` characters after a `prompt`. What is drawn and how
it is tagged is the model's data's (`charlm.data.kinds.DataKind.sample`)."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from charlm.checkpoint import device_for
from charlm.config import config_dir, free_text
from charlm.data.encoded import read_text
from charlm.data.kinds import (
    RESPLIT_NOTE,
    WORDS_PER_CHUNK,
    SequenceKind,
    novelty_summary,
    torch_generator,
)
from charlm.data.registry import model_data
from charlm.errors import CharlmError, check_options, report_errors
from charlm.generate import Constraints, generate_words
from charlm.runtimes import inference_model

SAMPLE_OPTIONS = {
    "n": "int>=1|null",
    "seed": "int",
    "temperature": "number>0",
    "top_k": "int>=1|null",
    "prefix": "str|null",
    "max_len": "int>=1|null",
    "batched": "bool|null",
    "novelty": "bool",
    "data_path": "path|null",
    "resplit": "bool",
    "progress": "bool|null",
    "prompt": "str|null",
    "device": "str|null",
    "length": "int>=1",
    "top_p": "number>0|null",
    "suffix": "str|null",
    "pattern": "str|null",
    "min_len": "int>=1|null",
    "novel": "bool|null",
    "unique": "bool|null",
    "max_draws": "int>=1|null",
    "format": "str|null",
    "prompt_file": "path|null",
    "stop": "str|null",
    "runtime": "str|null",
    "quantize": "str|null",
}
FORMATS = ("text", "csv", "jsonl")
# Options that send words through charlm.generate (constraints, or another format).
CONSTRAINTS = ("suffix", "pattern", "min_len", "novel", "unique", "max_draws")


@free_text("prompt", "prefix")
@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="sample")
@report_errors("charlm-sample")
def main(cfg: DictConfig) -> None:
    """Console script `charlm-sample`."""
    if not cfg.get("ckpt"):
        raise CharlmError("no checkpoint given: charlm-sample ckpt=PATH/TO/last.ckpt")
    for key in ("prefix", "prompt", "suffix", "stop", "pattern"):  # prefix=12 is the text "12"
        value = cfg.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            cfg[key] = str(value)
    check_options(cfg, SAMPLE_OPTIONS)
    if (cfg.get("format") or "text") not in FORMATS:
        raise CharlmError(f"format={cfg.format!r}: one of {', '.join(FORMATS)}")
    if cfg.get("prompt_file"):
        if cfg.get("prompt"):
            raise CharlmError("prompt= and prompt_file= both given: give one of them")
        cfg.prompt = read_text(cfg.prompt_file)[0]
    runtime, quantize = cfg.get("runtime") or "torch", cfg.get("quantize")
    on_cpu = quantize or runtime == "onnx"  # int8 weights and onnxruntime run on the CPU
    if on_cpu and cfg.get("device") not in (None, "auto", "cpu"):
        given = f"quantize={quantize}" if quantize else "runtime=onnx"
        raise CharlmError(f"device={cfg.device}: {given} runs on the CPU; give device=cpu")
    device = device_for("cpu" if on_cpu else cfg.get("device"))
    model = inference_model(cfg.ckpt, runtime, quantize, device)
    data = model_data(model, cfg.get("data_path"))
    options = OmegaConf.to_container(cfg, resolve=True)
    if isinstance(data, SequenceKind) and (
        any(cfg.get(k) for k in CONSTRAINTS) or (cfg.get("format") or "text") != "text"
    ):
        try:
            for piece in constrained_words(model, data, options):
                sys.stdout.write(piece)
                sys.stdout.flush()
        except ValueError as err:
            raise CharlmError(str(err)) from None
        return
    if not isinstance(data, SequenceKind) and any(cfg.get(k) for k in CONSTRAINTS):
        given = next(k for k in CONSTRAINTS if cfg.get(k))
        raise CharlmError(
            f"{given}={cfg.get(given)!r} constrains words; a model of running text takes "
            "prompt=, prompt_file=, stop=, length=, temperature=, top_k= and top_p="
        )
    progress = None
    # A bar on a terminal (or when asked), never in a pipe's or a log's way.
    show = cfg.get("progress")
    if show is None:
        show = (cfg.get("n") or 0) > WORDS_PER_CHUNK and sys.stderr.isatty()
    if show:
        from tqdm import tqdm

        progress = tqdm(total=cfg.n or 20, unit=" words", file=sys.stderr, desc="charlm-sample")
    try:
        for piece in data.sample(model, options):
            sys.stdout.write(piece)
            sys.stdout.flush()
            if progress is not None:
                progress.update(min(WORDS_PER_CHUNK, progress.total - progress.n))
    except ValueError as err:
        raise CharlmError(str(err)) from None
    finally:
        if progress is not None:
            progress.close()


def constrained_words(model: Any, data: SequenceKind, options: dict[str, Any]) -> Iterator[str]:
    """charlm.generate's words for `options`, as text, CSV or JSON Lines, streamed a round at
    a time; text ends with the novelty summary, as unconstrained sampling does."""
    if options.get("prompt"):
        raise CharlmError(
            f"prompt={options['prompt']!r}: this model samples {data.unit}; start them with prefix=..."
        )
    splits: dict[str, list[str]] = {}
    tag = bool(options.get("novelty")) or bool(options.get("novel"))
    if tag:
        if data.check_unchanged(model.data_identity, bool(options.get("resplit"))):
            print(f"charlm-sample: {RESPLIT_NOTE}", file=sys.stderr)
        splits = data.novelty_splits()
    constraints = Constraints(
        prefix=str(options.get("prefix") or ""), suffix=str(options.get("suffix") or ""),
        pattern=options.get("pattern"), min_len=options.get("min_len") or 1,
        max_len=options.get("max_len") or data.max_len, novel=bool(options.get("novel")),
        unique=bool(options.get("unique")),
    )  # fmt: skip
    rounds = generate_words(
        model, int(options.get("n") or 20), constraints, torch_generator(int(options["seed"])),
        splits, options.get("temperature", 1.0), options.get("top_k"), options.get("top_p"),
        options.get("max_draws"),
    )  # fmt: skip
    fmt = options.get("format") or "text"
    counts: Counter = Counter()
    if fmt == "csv":
        yield "word,nll_per_char,novelty\n"
    for rows in rounds:
        counts.update(r.novelty for r in rows)
        if fmt == "csv":
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(
                (r.word, f"{r.nll_per_char:.4f}", r.novelty if tag else "") for r in rows
            )
            yield out.getvalue()
        elif fmt == "jsonl":
            yield "".join(
                json.dumps({"word": r.word, "nll_per_char": round(r.nll_per_char, 4),
                            **({"novelty": r.novelty} if tag else {})}, ensure_ascii=False) + "\n"
                for r in rows
            )  # fmt: skip
        else:
            yield "".join((f"{r.novelty:<8}  {r.word}" if tag else r.word) + "\n" for r in rows)
    if fmt == "text" and tag:
        yield novelty_summary(counts) + "\n"


if __name__ == "__main__":
    main()
