"""`charlm-score ckpt=PATH input=FILE` (or `words=FILE`, `text=FILE`): each word's or line's
NLL, NLL per character, perplexity or bits per character.

What is scored, and how it is shown, is the model's data's: a word list's models score the
words of a file (`words=`, each tagged by the run's split), a running text's score a text
(`text=`: the total, and a row per line), and a model of lines scores each non-empty line of
`text=FILE` as one sequence, its end token included, in bits per character.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from charlm.checkpoint import RESPLIT_NOTE
from charlm.config import config_dir
from charlm.data.kinds import DataChangedError
from charlm.data.registry import model_data
from charlm.data.scoring import FORMATS, arrange
from charlm.errors import CharlmError, check_options, check_output, report_errors
from charlm.runtimes import inference_model

OPTIONS = {
    "input": "path|null",
    "words": "path|null",
    "text": "path|null",
    "sort": "str|null",
    "descending": "bool",
    "top": "int>=1|null",
    "format": "str",
    "output": "path|null",
    "data_path": "path|null",
    "resplit": "bool",
    "runtime": "str|null",
    "quantize": "str|null",
}


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="score")
@report_errors("charlm-score")
def main(cfg: DictConfig) -> None:
    """Console script `charlm-score`."""
    if not cfg.get("ckpt"):
        raise CharlmError("no checkpoint given: charlm-score ckpt=PATH/TO/last.ckpt words=FILE")
    check_options(cfg, OPTIONS)
    if cfg.format not in FORMATS:
        raise CharlmError(f"format={cfg.format!r}: one of {', '.join(FORMATS)}")
    if cfg.get("output"):
        ckpts = list(cfg.ckpt) if OmegaConf.is_list(cfg.ckpt) else str(cfg.ckpt).split(",")
        inputs = [
            *ckpts,
            cfg.get("input"),
            cfg.get("words"),
            cfg.get("text"),
            cfg.get("data_path"),
        ]
        check_output(cfg.output, inputs)
    model = inference_model(cfg.ckpt, cfg.get("runtime") or "torch", cfg.get("quantize"))
    data = model_data(model, cfg.get("data_path"))
    if cfg.get("output"):
        check_output(cfg.output, data.paths)  # the data the run read, by any name
    option = data.score_option
    other = next(o for o in ("words", "text") if o != option)
    if cfg.get(other):
        raise CharlmError(
            f"{other}=: this model was trained on {data.described}; score with {option}=FILE"
        )
    if cfg.sort is not None and cfg.sort not in data.sort_keys:
        raise CharlmError(f"sort={cfg.sort!r}: one of {', '.join(data.sort_keys)}, or null")
    if cfg.get("input") and cfg.get(option):
        raise CharlmError(f"input= and {option}= name the same thing: give one of them")
    inputs, source = data.read_input(cfg.get("input") or cfg.get(option))
    if data.scores_by_split:  # rows tagged by the run's split, where its data is at hand
        try:
            if data.check_unchanged(model.data_identity, cfg.resplit):
                print(f"charlm-score: {RESPLIT_NOTE}", file=sys.stderr)
        except DataChangedError:
            raise
        except CharlmError as err:
            if cfg.get("data_path"):
                raise
            print(f"charlm-score: note: no split column ({err})", file=sys.stderr)
    rows, totals = data.score(model, inputs, source)
    out = data.render(arrange(rows, cfg.sort, cfg.descending, cfg.top, data.sort_keys), totals,
                      cfg.format)  # fmt: skip
    if cfg.get("output"):
        Path(cfg.output).write_text(out + "\n", encoding="utf-8")
        print(f"written to {cfg.output}")
    else:
        print(out)


if __name__ == "__main__":
    main()
