"""Where the Hydra config tree lives, in a source checkout and in an installed wheel."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from omegaconf import OmegaConf

_RUN_ID = uuid.uuid4().hex[:6]


def config_dir() -> Path:
    """The `conf/` tree: $CHARLM_CONFIG_DIR, the wheel's `charlm/conf`, or the checkout's `conf/`."""
    candidates = []
    if os.environ.get("CHARLM_CONFIG_DIR"):
        candidates.append(Path(os.environ["CHARLM_CONFIG_DIR"]))
    here = Path(__file__).resolve().parent
    candidates += [here / "conf", here.parents[1] / "conf"]
    for candidate in candidates:
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        "charlm's config tree (train.yaml) was not found in any of: "
        + ", ".join(str(c) for c in candidates)
        + "; set CHARLM_CONFIG_DIR to the repository's conf/ folder"
    )


def register_resolvers() -> None:
    """Config resolvers.

    `${run_id:}`: a per-process random suffix, so runs started in the same second never collide.
    `${scale:N,f}`: int(N * f), e.g. the step at which a schedule decays.
    `${cwd:}`: the directory the program was started in (usable before Hydra's own config is).
    """
    if not OmegaConf.has_resolver("cwd"):
        OmegaConf.register_new_resolver("cwd", os.getcwd, use_cache=True)
    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", lambda: _RUN_ID, use_cache=True)
    if not OmegaConf.has_resolver("scale"):
        OmegaConf.register_new_resolver("scale", lambda n, f: int(int(n) * float(f)))
