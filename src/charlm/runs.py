"""Training from Python in one call, for notebooks and scripts: `charlm.fit("bengio2003")`.

`fit` composes the packaged config with Hydra's compose API, as `charlm-train` composes it,
checks it with the same checks, trains with the same `train` and leaves the same run directory
(`.hydra/`, `train.log`, `checkpoints/`, `tensorboard/`, `metrics.json`). Hydra's global state
is restored afterwards, so it can be called any number of times in one process.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from charlm.errors import CharlmError, ConfigError

# fit(quiet=True): no progress bar and no model summary (the closing table stays).
QUIET_OVERRIDES = (
    "++callbacks.progress_bar=null",
    "++trainer.enable_progress_bar=false",
    "++trainer.enable_model_summary=false",
)

# The records a run's curves are read from (TensorBoard's event files, under tensorboard/).
CURVE_TAGS = ("train/loss", "val/loss")


@dataclass
class Run:
    """A finished run: its directory, its final metrics (metrics.json) and its trained model.

    `model` is the network with the weights metrics.json scores (`.vocab` attached for a
    language model), in eval mode: `run.model.sample(5)`, `charlm.figures.embedding_figure(
    run.model)`. `data` is the run's DataModule (its vocabulary, splits and tables).
    """

    run_dir: Path
    metrics: dict[str, Any]
    model: Any = None
    config: DictConfig | None = field(default=None, repr=False)
    # The run's DataModule, set up (its vocabulary, splits and tables); None for a loaded run.
    data: Any = field(default=None, repr=False)

    def curves(self, tags: Sequence[str] = CURVE_TAGS) -> dict[str, list[tuple[int, float]]]:
        """`loss_curves(self.run_dir)`: train and val loss against updates."""
        return loss_curves(self.run_dir, tags)

    def figure(self, title: str | None = None):
        """The run's loss curves as a matplotlib Figure."""
        from charlm.figures import loss_curves_figure

        return loss_curves_figure(self, title=title or self.run_dir.name)

    @classmethod
    def load(cls, run_dir: str | Path) -> Run:
        """A run `charlm-train` (or `fit`) left in `run_dir`; a language model is loaded from
        the checkpoint its metrics.json scored."""
        from charlm.checkpoint import CheckpointError, load_model

        run_dir = Path(run_dir)
        path = run_dir / "metrics.json"
        if not path.is_file():
            raise CharlmError(
                f"{run_dir}: no metrics.json, so no finished run there (a run writes it at its "
                "end); give a run directory such as logs/train/runs/<date>_<id>"
            )
        metrics = json.loads(path.read_text(encoding="utf-8"))
        ckpt = metrics.get("best_checkpoint") or metrics.get("last_checkpoint")
        model = None
        if ckpt and Path(ckpt).is_file():
            try:
                model = load_model(ckpt)
            except CheckpointError:
                model = None  # a classifier: no language model to load
        return cls(run_dir, metrics, model)


def loss_curves(
    run_dir: str | Path, tags: Sequence[str] = CURVE_TAGS
) -> dict[str, list[tuple[int, float]]]:
    """The scalars `tags` of a run, read from its own TensorBoard records: tag -> [(update,
    value)]. A list of points, no DataFrame; `charlm.figures.loss_curves_figure` draws them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = Path(run_dir) / "tensorboard"
    if not any(folder.glob("events.out.tfevents.*")):
        raise CharlmError(
            f"{run_dir}: no TensorBoard records under tensorboard/ (a run with logger=none "
            "keeps none); train with the default logger=tensorboard to read its curves"
        )
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0}).Reload()
    found = set(events.Tags().get("scalars", []))
    return {
        tag: [(int(e.step), float(e.value)) for e in events.Scalars(tag)] if tag in found else []
        for tag in tags
    }


def fit(
    experiment: str | None = None,
    overrides: Sequence[str] = (),
    *,
    root: str | Path | None = None,
    quiet: bool = False,
    callbacks: Sequence[Any] = (),
) -> Run:
    """Train one run as `charlm-train experiment=EXPERIMENT OVERRIDES...` would, in this process.

    `root` is the directory whose `data/` and `logs/` the run uses (the default, as for
    `charlm-train`: $CHARLM_ROOT, else the current directory). A bad value raises the
    `CharlmError` whose line `charlm-train` prints; nothing already written is touched.
    `quiet=True` (for notebooks) shows only the closing table: no progress bar, no model
    summary, and Lightning's messages go to the run's log file but not to the console.
    `callbacks` (Lightning `Callback`s) join the run's configured ones.
    """
    from charlm.config import claim_run_dir, preflight_problem, release_run_dir

    args = ([f"experiment={experiment}"] if experiment else []) + list(overrides)
    if quiet:
        args += QUIET_OVERRIDES
    cfg, hydra_cfg = compose_train(args, root)
    run_dir = Path(str(hydra_cfg.run.dir))
    problem = preflight_problem(cfg, run_dir) or claim_run_dir(run_dir)
    if problem:
        raise ConfigError(problem)
    try:
        return _fit_claimed(cfg, hydra_cfg, run_dir, args, quiet, callbacks)
    finally:
        release_run_dir(run_dir)


def _fit_claimed(
    cfg: DictConfig,
    hydra_cfg: DictConfig,
    run_dir: Path,
    args: list[str],
    quiet: bool,
    callbacks: Sequence[Any],
) -> Run:
    """`fit`'s run, once its run directory is this process's."""
    from charlm.train import RunInterrupted, train_run

    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
    # What Hydra writes in .hydra/ before a charlm-train run starts.
    saved = run_dir / ".hydra"
    saved.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, saved / "config.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": hydra_cfg}), saved / "hydra.yaml")
    OmegaConf.save(OmegaConf.create(args), saved / "overrides.yaml")
    with _run_log(run_dir / f"{cfg.task_name}.log"), _quiet_console(quiet):
        try:
            trained = train_run(cfg, list(callbacks))
        except RunInterrupted as stop:
            # Ctrl-C in a notebook stops the run, not the kernel: the run as it stands.
            from charlm.checkpoint import load_model

            metrics = {"interrupted_at_step": stop.step, "last_checkpoint": str(stop.last)}
            try:
                model = load_model(stop.last)
            except CharlmError:  # no checkpoint yet, or a classifier's
                model = None
            return Run(run_dir, metrics, model, cfg)
    model = getattr(trained.task, "net", None)
    if model is not None:
        vocab = getattr(trained.datamodule, "vocab", None)
        if vocab is not None and hasattr(model, "vocab"):
            model.vocab = vocab
        model.eval()
    return Run(run_dir, trained.metrics, model, cfg, trained.datamodule)


def compose_config(overrides: Sequence[str]) -> DictConfig:
    """`train.yaml` composed with `overrides`, its `hydra` node included; a config that does not
    compose is a one-line `ConfigError`. Whatever Hydra state the caller has (an `initialize` of
    its own) is kept as it was."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from hydra.initialize import get_gh_backup, restore_gh_from_backup
    from omegaconf.errors import OmegaConfBaseException

    from charlm.config import config_dir, register_resolvers

    register_resolvers()
    backup = get_gh_backup()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return compose("train", overrides=list(overrides), return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"{' '.join(overrides) or 'the default config'}: {first}") from None
    finally:
        restore_gh_from_backup(backup)


def compose_train(
    overrides: Sequence[str], root: str | Path | None = None
) -> tuple[DictConfig, DictConfig]:
    """The run config `charlm-train OVERRIDES` composes, and its `hydra` node apart."""
    from hydra.types import RunMode

    cfg = compose_config(overrides)
    with open_dict(cfg):
        if root is not None:
            cfg.paths.root_dir = str(Path(root).resolve())
        # The run directory, resolved now against this config (its paths and the date), with
        # a suffix of its own: `${run_id:}` is one per process, and fit may run many.
        pattern = OmegaConf.to_container(cfg.hydra.run, resolve=False)["dir"]
        cfg.hydra.run.dir = str(pattern).replace("${run_id:}", secrets.token_hex(3))
        run_dir = str(cfg.hydra.run.dir)
        hydra_cfg = OmegaConf.create(OmegaConf.to_container(cfg.hydra))
        hydra_cfg.run.dir = run_dir
        del cfg["hydra"]
    if str(hydra_cfg.get("mode")) in (str(RunMode.MULTIRUN), "MULTIRUN") or (
        hydra_cfg.sweeper.get("params")
    ):
        raise ConfigError(
            f"{' '.join(overrides)}: a multirun (several runs); charlm.fit trains one: call it "
            "once per run, or use charlm-train -m",
        )
    return cfg, hydra_cfg


@contextmanager
def _quiet_console(quiet: bool) -> Iterator[None]:
    """With `quiet`, the console handlers Lightning gave its own loggers (where the root logger
    has none, as in a Jupyter kernel) pass warnings only; every other handler is left as is."""
    import lightning.pytorch  # noqa: F401  (its import is what adds those handlers)

    handlers = [
        h
        for name in ("lightning.pytorch", "lightning.fabric")
        for h in logging.getLogger(name).handlers
        if quiet and type(h) is logging.StreamHandler
    ]
    levels = [h.level for h in handlers]
    for h in handlers:
        h.setLevel(max(h.level, logging.WARNING))
    try:
        yield
    finally:
        for h, level in zip(handlers, levels, strict=True):
            h.setLevel(level)


@contextmanager
def _run_log(path: Path) -> Iterator[None]:
    """The run's messages (charlm's and Lightning's) to its log file, as charlm-train's Hydra
    logging writes them; the caller's own logging is left as it was."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    logger = logging.getLogger()
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()
