"""`charlm-sample ckpt=PATH n=20`: sample words from a trained model, with their novelty; or,
from a model of running text, `length` characters after a `prompt`."""

from __future__ import annotations

import sys
from collections import Counter

import hydra
import torch
from omegaconf import DictConfig

from charlm.checkpoint import (
    RESPLIT_NOTE,
    checkpoint_lines,
    checkpoint_split,
    is_lines_model,
    is_text_model,
    load_model,
)
from charlm.config import config_dir
from charlm.errors import CharlmError, check_options, report_errors
from charlm.inference import WORDS_PER_CHUNK, novelty, novelty_summary, sample_chunks
from charlm.models.base import CharLM

# Units drawn at most: a word's characters, or a line's characters or tokens.
WORD_MAX_LEN = 50
LINE_MAX_LEN = 200

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
    "length": "int>=1",
}


def sample_passages(model: CharLM, cfg: DictConfig) -> None:
    """Print `n` passages of `length` characters after the prompt (the prompt included)."""
    if cfg.get("prefix"):
        raise CharlmError(
            f"prefix={cfg.prefix!r}: this model writes running text; start it with prompt=..."
        )
    prompt = cfg.get("prompt")
    given = prompt is not None and prompt != ""
    prompt = str(prompt) if given else model.require_vocab().default_prompt
    generator = torch.Generator().manual_seed(int(cfg.seed))
    try:
        passages = model.sample_text(
            prompt, cfg.length, cfg.n, generator, cfg.temperature, cfg.top_k
        )
    except ValueError as err:
        raise CharlmError(str(err)) from None
    shown = [(prompt if given else "") + p for p in passages]
    if cfg.n == 1:
        print(shown[0], flush=True)
        return
    for i, passage in enumerate(shown, 1):
        print(f"--- sample {i} of {cfg.n} ---\n{passage}", flush=True)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="sample")
@report_errors("charlm-sample")
def main(cfg: DictConfig) -> None:
    """Console script `charlm-sample`."""
    if not cfg.get("ckpt"):
        raise CharlmError("no checkpoint given: charlm-sample ckpt=PATH/TO/last.ckpt")
    if isinstance(cfg.get("prefix"), int | float) and not isinstance(cfg.get("prefix"), bool):
        cfg.prefix = str(cfg.prefix)  # prefix=12 is the text "12"
    if isinstance(cfg.get("prompt"), int | float) and not isinstance(cfg.get("prompt"), bool):
        cfg.prompt = str(cfg.prompt)
    check_options(cfg, SAMPLE_OPTIONS)
    model = load_model(cfg.ckpt)
    if cfg.get("n") is None:
        cfg.n = 1 if is_text_model(model) else 20
    if is_text_model(model):
        sample_passages(model, cfg)
        return
    if cfg.get("prompt"):
        raise CharlmError(
            f"prompt={cfg.prompt!r}: this model samples words; start them with prefix=..."
        )
    lines = is_lines_model(model)
    options = {
        "temperature": cfg.temperature,
        "top_k": cfg.top_k,
        "prefix": str(cfg.prefix or ""),
        # Units (characters or tokens) before a word or a line is cut.
        "max_len": cfg.max_len or (LINE_MAX_LEN if lines else WORD_MAX_LEN),
        "batched": cfg.get("batched"),
    }
    splits = None
    if cfg.novelty:
        if lines:
            datamodule, changed = checkpoint_lines(model, cfg.get("data_path"), cfg.resplit)
            splits = datamodule.lines
        else:
            splits, changed = checkpoint_split(model, cfg.get("data_path"), cfg.resplit)
        if changed:
            print(f"charlm-sample: {RESPLIT_NOTE}", file=sys.stderr)
    generator = torch.Generator().manual_seed(int(cfg.seed))
    chunks = sample_chunks(model, cfg.n, generator, **options)
    counts: Counter = Counter()
    progress = None
    # A bar on a terminal (or when asked), never in a pipe's or a log's way.
    show = cfg.get("progress")
    if show is None:
        show = cfg.n > WORDS_PER_CHUNK and sys.stderr.isatty()
    if show:
        from tqdm import tqdm

        progress = tqdm(total=cfg.n, unit=" words", file=sys.stderr, desc="charlm-sample")
    try:
        for words in chunks:
            if splits is None:
                print("\n".join(words), flush=True)
            else:
                tags = novelty(words, splits)
                counts.update(tags)
                if lines:  # sentences: the tag first, the sentence after it
                    rows = (f"{t:<8}  {w}" for w, t in zip(words, tags, strict=True))
                else:
                    width = max(len(w) for w in words)
                    rows = (f"{w:<{width}}  {t}" for w, t in zip(words, tags, strict=True))
                print("\n".join(rows), flush=True)
            if progress is not None:
                progress.update(len(words))
    except ValueError as err:
        raise CharlmError(str(err)) from None
    finally:
        if progress is not None:
            progress.close()
    if splits is not None:
        print(novelty_summary(counts))


if __name__ == "__main__":
    main()
