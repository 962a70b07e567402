"""`charlm-sample ckpt=PATH n=20`: sample words from a trained model, with their novelty; or,
from a model of running text, `length` characters after a `prompt`. What is drawn and how
it is tagged is the model's data's (`charlm.data.kinds.DataKind.sample`)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from charlm.checkpoint import device_for, load_model
from charlm.config import config_dir, free_text
from charlm.data.kinds import WORDS_PER_CHUNK
from charlm.data.registry import model_data
from charlm.errors import CharlmError, check_options, report_errors

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
}


@free_text("prompt", "prefix")
@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="sample")
@report_errors("charlm-sample")
def main(cfg: DictConfig) -> None:
    """Console script `charlm-sample`."""
    if not cfg.get("ckpt"):
        raise CharlmError("no checkpoint given: charlm-sample ckpt=PATH/TO/last.ckpt")
    for key in ("prefix", "prompt"):  # prefix=12 is the text "12"
        value = cfg.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            cfg[key] = str(value)
    check_options(cfg, SAMPLE_OPTIONS)
    device = device_for(cfg.get("device"))
    model = load_model(cfg.ckpt).to(device)
    data = model_data(model, cfg.get("data_path"))
    options = OmegaConf.to_container(cfg, resolve=True)
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


if __name__ == "__main__":
    main()
