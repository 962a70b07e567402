"""`charlm-sample ckpt=PATH n=20`: sample words from a trained model, with their novelty."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import hydra
import torch
from omegaconf import DictConfig

from charlm.checkpoint import checkpoint_words, load_model
from charlm.config import config_dir
from charlm.errors import CharlmError, report_errors

NOVELTY = ("train", "held-out", "new")


def novelty(samples: Iterable[str], splits: Mapping[str, Iterable[str]]) -> list[str]:
    """For each sample: 'train' if a training word, 'held-out' if a val/test word, else 'new'."""
    train = set(splits.get("train", ()))
    held_out = set(splits.get("val", ())) | set(splits.get("test", ()))
    return ["train" if w in train else "held-out" if w in held_out else "new" for w in samples]


def novelty_summary(tags: list[str]) -> str:
    """One line with the count and share of each novelty class."""
    counts = Counter(tags)
    parts = [f"{counts[k]} {k} ({counts[k] / len(tags):.0%})" for k in NOVELTY]
    return f"novelty of {len(tags)} samples: " + ", ".join(parts)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="sample")
@report_errors("charlm-sample")
def main(cfg: DictConfig) -> None:
    """Console script `charlm-sample`."""
    if not cfg.get("ckpt"):
        raise CharlmError("no checkpoint given: charlm-sample ckpt=PATH/TO/last.ckpt")
    model = load_model(cfg.ckpt)
    generator = torch.Generator().manual_seed(int(cfg.seed))
    try:
        words = model.sample(
            cfg.n,
            generator=generator,
            temperature=cfg.temperature,
            top_k=cfg.top_k,
            prefix=str(cfg.prefix or ""),
            max_len=cfg.max_len,
            batched=cfg.get("batched"),
        )
    except ValueError as err:
        raise CharlmError(str(err)) from None
    if not cfg.novelty:
        print("\n".join(words))
        return
    tags = novelty(words, checkpoint_words(model, cfg.get("data_path")))
    width = max(len(w) for w in words)
    for word, tag in zip(words, tags, strict=True):
        print(f"{word:<{width}}  {tag}")
    print(novelty_summary(tags))


if __name__ == "__main__":
    main()
