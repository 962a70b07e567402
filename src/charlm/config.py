"""The Hydra side of charlm: where the config tree lives (checkout or wheel), its resolvers, and
building objects from it with errors that name the config key."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from charlm.errors import CharlmError, ConfigError

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


def build(node: DictConfig, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate`, letting a charlm error about bad input through unwrapped.

    A constructor names a bad value by its own argument (`emb_size=0: ...`); Hydra knows
    where that constructor's config sits (`model.net`), and the message is given that path.
    """
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, ConfigError) and "." not in cause.key:
            path = _full_key(str(err)) or node._get_full_key(None)
            if path:
                raise ConfigError(f"{path}.{cause}", key=f"{path}.{cause.key}") from None
        if isinstance(cause, CharlmError):
            raise cause from None
        if isinstance(cause, ValueError):
            raise CharlmError(str(cause)) from None
        raise


def _full_key(message: str) -> str:
    """The `full_key: model.net` line Hydra adds to an instantiation error, or ''."""
    for line in reversed(message.splitlines()):
        if line.startswith("full_key: "):
            return line.removeprefix("full_key: ").strip()
    return ""


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a config group such as `callbacks` or `logger`."""
    if not group:
        return []
    return [build(item) for item in group.values() if item and "_target_" in item]
