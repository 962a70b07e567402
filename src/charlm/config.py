"""The Hydra side of charlm: where the config tree lives (checkout or wheel), its resolvers, and
building objects from it with errors that name the config key."""

from __future__ import annotations

import functools
import os
import re
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.experimental.callback import Callback
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

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


def free_text(*keys: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A console script whose `KEY=...` arguments (`keys`) take any text as typed.

    A shell strips the quotes of `prompt="Le système "`, and Hydra's override parser refuses
    the space, the comma or the quote left in the value; such an argument is given to Hydra
    quoted, so that the text arrives exactly as typed. A value quoted for Hydra already
    (`"prompt='Le '"`) and `null` are passed as they are.
    """

    def decorate(main: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(main)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            sys.argv[1:] = [quote_free_text(arg, keys) for arg in sys.argv[1:]]
            return main(*args, **kwargs)

        return wrapper

    return decorate


def quote_free_text(arg: str, keys: tuple[str, ...]) -> str:
    """`arg` as Hydra must read it where it is `KEY=text` for one of `keys`, else as it is."""
    key, eq, value = arg.partition("=")
    if not eq or key not in keys or value == "null":
        return arg
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return arg

    # In Hydra's quoted strings only backslashes before a quote or at the end are escapes; in
    # OmegaConf's strings `\${` is a literal `${`, not an interpolation.
    def escaped(m: re.Match[str]) -> str:
        slashes, after = m.group(1), m.group(2)
        if after == "'":
            return slashes * 2 + "\\'"
        if after == "${":
            return slashes * 2 + "\\${"
        return slashes * 2 if after == "" else slashes + after

    return f"{key}='" + re.sub(r"(\\*)('|\$\{|\Z|.)", escaped, value, flags=re.S) + "'"


def register_resolvers() -> None:
    """Config resolvers.

    `${run_id:}`: a per-process random suffix, so runs started in the same second never collide.
    `${scale:N,f}`: int(N * f), e.g. the step at which a schedule decays.
    `${cwd:}`: the directory the program was started in (usable before Hydra's own config is).
    `${launch:devices,auto}`: processes per node (devices), nodes (num_nodes) or world size as
    torchrun or srun set them, else the default (`charlm.launch.launch_value`).
    `${auto_precision:accelerator,family}`: Lightning's precision for the device and the model
    family (`charlm.precision.auto_precision`: on a CPU, bf16-mixed only where measured faster).
    `${native_bf16:}` is its CPU choice, for configs that name it.
    """
    if not OmegaConf.has_resolver("cwd"):
        OmegaConf.register_new_resolver("cwd", os.getcwd, use_cache=True)
    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", lambda: _RUN_ID, use_cache=True)
    if not OmegaConf.has_resolver("scale"):
        OmegaConf.register_new_resolver("scale", lambda n, f: int(int(n) * float(f)))
    if not OmegaConf.has_resolver("data_contract"):
        OmegaConf.register_new_resolver("data_contract", data_contract)
    if not OmegaConf.has_resolver("launch"):
        from charlm.launch import launch_value

        OmegaConf.register_new_resolver("launch", launch_value)
    if not OmegaConf.has_resolver("native_bf16"):
        OmegaConf.register_new_resolver("native_bf16", native_bf16_precision)
    if not OmegaConf.has_resolver("auto_precision"):
        from charlm.precision import auto_precision

        OmegaConf.register_new_resolver("auto_precision", auto_precision, use_cache=True)


def native_bf16_precision() -> str:
    """`${native_bf16:}`, as configs written before `${auto_precision:}` say: the CPU's choice."""
    from charlm.precision import auto_precision

    return auto_precision("cpu")


def data_contract(target: str) -> str:
    """`${data_contract:${model.net._target_}}`: what the model reads, windows or sequences."""
    from charlm.models.registry import net_class

    return getattr(net_class(str(target)), "data_contract", "windows")


def used_run_dir_error(output_dir: Path) -> str:
    """'' if `output_dir` holds no checkpoints, else the one line refusing to train into it."""
    existing = sorted((Path(output_dir) / "checkpoints").glob("*.ckpt"))
    if not existing:
        return ""
    return (
        f"{output_dir} already holds checkpoints of an earlier run ({existing[0].name}, ...); "
        "they are kept: choose another hydra.run.dir (the default makes a new one per run), "
        f"or continue that run in a new directory with ckpt_path={existing[-1]}"
    )


# The run directories this process trains into, each held by an exclusive lock on the open
# directory: a second run started into one at the same moment (before either wrote a
# checkpoint, which is what `used_run_dir_error` looks for) is refused. The kernel drops the lock
# when the process ends, however it ends, so no stale lock file is ever left to clean up.
_CLAIMED: dict[str, int] = {}


def claim_run_dir(run_dir: Path) -> str:
    """'' once this process holds `run_dir` for its run, else the one line refusing it.

    The directory is made if it is not there (Hydra makes it next in any case). The processes
    a multi-process run starts after its first (rank > 0) write nothing there, and claim nothing.
    """
    try:
        import fcntl
    except ImportError:  # no flock (Windows): the used-directory check alone
        return used_run_dir_error(run_dir)
    from charlm.launch import this_launch

    # Lightning's own subprocesses (ddp, ddp_sim) say LOCAL_RANK; torchrun and srun, their own.
    if this_launch().rank > 0 or int(os.environ.get("RANK") or os.environ.get("LOCAL_RANK") or 0):
        return ""
    key = str(Path(run_dir).resolve())
    if key in _CLAIMED:
        return ""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    fd = os.open(key, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return (
            f"{run_dir}: another charlm run is training into this directory now; its files "
            "are left to it: choose another hydra.run.dir (the default makes a new one per run)"
        )
    _CLAIMED[key] = fd
    problem = used_run_dir_error(run_dir)  # a run that ended just before this one claimed it
    if problem:
        release_run_dir(run_dir)
    return problem


def release_run_dir(run_dir: Path) -> None:
    """Let other runs claim `run_dir` again (`charlm.fit` trains several runs in one process)."""
    fd = _CLAIMED.pop(str(Path(run_dir).resolve()), None)
    if fd is not None:
        os.close(fd)  # closing the last descriptor of the directory drops its lock


class Preflight(Callback):
    """Checks made before Hydra writes anything (the run directory, .hydra/, the log).

    A run refused for a used run directory, a missing checkpoint to resume or a missing word
    list must leave every file as it was, and no new directory behind: Hydra creates the run
    directory and writes .hydra/ before the program runs, so these checks run here, in
    `on_run_start`, and exit with status 2 and one line.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            run_dir = Path(str(config.hydra.run.dir))
        except Exception:  # a config this check cannot read is left to the run's own checks
            return
        problem = preflight_problem(config, run_dir) or claim_run_dir(run_dir)
        if problem:
            print(f"charlm-train: error: {problem}", file=sys.stderr)
            sys.exit(2)


def preflight_problem(config: DictConfig, run_dir: Path) -> str:
    """'' if a run of `config` into `run_dir` may start, else the one line that refuses it."""
    problem = ""
    try:
        problem = used_run_dir_error(run_dir)
        ckpt = config.get("ckpt_path")
        if not problem and ckpt and not Path(str(ckpt)).is_file():
            problem = f"ckpt_path={ckpt}: no such checkpoint file; runs keep theirs in <run dir>/checkpoints/"
        data = config.get("data") or {}
        if not problem and OmegaConf.is_config(data) and OmegaConf.is_missing(data, "path"):
            problem = (
                "data.path is required: give the file to train on, data.path=FILE "
                "(UTF-8; several files comma-separated)"
            )
        path = data.get("path") if hasattr(data, "get") and not problem else None
        # A text may be several files, comma-separated or a list; one the run fetches may be
        # missing.
        given = list(path) if OmegaConf.is_list(path) else str(path).split(",") if path else []
        paths = [str(p) for p in given if p]
        missing = [p for p in paths if not Path(p).exists()]
        if not problem and missing and not data.get("fetch"):
            problem = (
                f"data.path={missing[0]}: no such file. Run `make data` in the charlm "
                "checkout for civil_mots.txt and tinyshakespeare.txt (or `charlm-data "
                "--dest PATH`), or point data.path= at your own word list or text (UTF-8)"
            )
    except Exception:  # a config this check cannot read is left to the run's own checks
        return problem
    return problem


def build(node: DictConfig, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate`, letting a charlm error about bad input through unwrapped.

    A constructor names a bad value by its own argument (`emb_size=0: ...`); Hydra knows
    where that constructor's config sits (`model.net`), and the message is given that path.
    """
    try:
        return instantiate(node, **kwargs)
    except MissingMandatoryValue as err:
        key = getattr(err, "full_key", "") or "a value"
        raise ConfigError(
            f"{key} is required and has no value: give it on the command line ({key}=...)",
            key=str(key),
        ) from None
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


def check_output_dir(output_dir: Path) -> None:
    """Refuse to train into a directory that already holds another run's checkpoints."""
    problem = used_run_dir_error(output_dir)
    if problem:
        raise ConfigError(problem)
