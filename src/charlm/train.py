"""Training entry point: `charlm-train experiment=bengio2003` (a Hydra app)."""

from __future__ import annotations

import copy
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from charlm.checkpoint import (
    check_resume,
    check_resume_digest,
    check_resume_processes,
    check_schedule_fits,
    read_checkpoint,
)
from charlm.config import (
    build,
    check_output_dir,
    data_contract,
    instantiate_group,
    register_resolvers,
)
from charlm.data.kinds import DataKind
from charlm.data.protocol import check_data, check_fits
from charlm.errors import ConfigError, NonFiniteError, config_section
from charlm.launch import this_launch
from charlm.lit.base import NonFiniteLossError
from charlm.lit.quiet import quiet_lightning
from charlm.lit.run_control import model_checkpoint
from charlm.lit.schedule import UpdateSchedule
from charlm.lit.threads import ThreadShare
from charlm.models.base import CharLM
from charlm.models.registry import net_class
from charlm.run_record import record
from charlm.validate import validate_config

log = logging.getLogger(__name__)
register_resolvers()


def train(cfg: DictConfig, extra_callbacks: list[L.Callback] | None = None) -> dict[str, Any]:
    """Seed, build data, model and trainer, fit, test; return and save the final metrics.

    `extra_callbacks` join the configured ones (for code that drives runs, e.g. benchmarks).
    """
    return train_run(cfg, extra_callbacks).metrics


def train_run(cfg: DictConfig, extra_callbacks: list[L.Callback] | None = None) -> TrainingRun:
    """`train`, keeping the trained task and its DataModule (for `charlm.fit`): the run's steps."""
    share = ThreadShare() if cfg.get("num_threads") == "auto" else None
    with quiet_lightning(), share or nullcontext():
        run = build_run(cfg, [*(extra_callbacks or []), *([share] if share else [])])
        if cfg.get("lr_find") and cfg.lr_find.get("enabled"):
            from charlm.lit.lr_find import find_lr

            run.metrics = find_lr(
                cfg.lr_find, run.trainer, run.task, run.datamodule, run.output_dir
            )
            return run
        train_time = fit_run(run)
        test_and_restore(run)
        record(run, train_time, share)
        return run


@dataclass
class TrainingRun:
    """One run through its steps: built (its completed config, a new object: the composed one
    is left as it was; the DataModule set up, the task and the Trainer), then trained, then
    scored (which weights the figures score, where its checkpoints are, its metrics)."""

    cfg: DictConfig
    datamodule: Any
    task: Any
    trainer: L.Trainer
    output_dir: Path
    best: str = ""
    last: str = ""
    steps: int = 0
    scored_step: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    # What metrics.json must say of how the run went (a resume over other processes).
    notes: list[str] = field(default_factory=list)


def build_run(cfg: DictConfig, extra_callbacks: list[L.Callback] | None = None) -> TrainingRun:
    """Check the config, seed, build the data, the model and the Trainer; nothing trains yet.

    Every check that can refuse the run comes before anything is written in its directory.
    """
    validate_config(cfg)
    output_dir = Path(cfg.paths.output_dir)
    check_output_dir(output_dir)
    # A checkpoint to resume is read first: a missing or damaged one stops the run at once.
    resumed = read_checkpoint(cfg.ckpt_path) if cfg.get("ckpt_path") else None
    if resumed is not None:
        check_schedule_fits(resumed, cfg.trainer.max_steps, cfg.ckpt_path)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    if isinstance(cfg.get("num_threads"), int):
        torch.set_num_threads(cfg.num_threads)

    cfg = complete_config(cfg)
    datamodule = build(cfg.data)
    net = net_class(str(cfg.model.net.get("_target_", "")))
    check_data(datamodule, net.__name__, issubclass(net, CharLM), str(cfg.data.get("_target_")))
    kind = getattr(datamodule, "data", None)
    if resumed is not None and isinstance(kind, DataKind):
        # The data's digest before it is encoded: a resume on other data writes no cache.
        digest = kind.current_digest()
        check_resume_digest(resumed, kind.digest_key, digest, kind.path, cfg.ckpt_path)
    datamodule.prepare_data()
    datamodule.setup()
    cfg = complete_config(cfg, datamodule)
    task = build(cfg.model)
    check_fits(task.net, datamodule)
    if resumed is not None:
        check_resume(resumed, task.net, datamodule, cfg.ckpt_path)
    schedule = connect_run(cfg, datamodule, task)
    trainer = build_trainer(cfg, schedule, datamodule.has_split("val"), extra_callbacks)
    note = None
    if resumed is not None:
        batch = cfg.data.get("batch_size")
        note = check_resume_processes(resumed, trainer.world_size, batch, cfg.ckpt_path)
        if note:
            log.warning(note)
    output_dir.mkdir(parents=True, exist_ok=True)
    save = getattr(getattr(datamodule, "vocab", None), "save", None)
    if callable(save) and this_launch().rank == 0:
        # A run of tokens keeps its tokenizer beside its checkpoints (which hold it too).
        save(output_dir / "tokenizer.json")
    run = TrainingRun(cfg, datamodule, task, trainer, output_dir)
    run.notes = [note] if note else []
    return run


def connect_run(cfg: DictConfig, datamodule: Any, task: Any) -> UpdateSchedule:
    """The run's schedule in updates, handed to the DataModule and the task with what else
    only the run knows (its config and data identity, stored in every checkpoint)."""
    with config_section("trainer"):
        schedule = UpdateSchedule.plan(
            cfg.trainer.max_steps,
            datamodule.steps_per_batch,
            cfg.trainer.get("val_check_interval"),
            cfg.trainer.get("log_every_n_steps", 100),
        )
    if schedule.chunk != datamodule.steps_per_batch:
        log.info(
            "data.steps_per_batch=%d lowered to %d so that validations fall every %d updates",
            datamodule.steps_per_batch, schedule.chunk, schedule.val_every,
        )  # fmt: skip
    datamodule.connect(steps_per_batch=schedule.chunk)
    identity = getattr(datamodule, "data_identity", None)
    task.connect(
        run_config=OmegaConf.to_container(cfg, resolve=True),
        data_identity=identity() if callable(identity) else None,
        schedule=schedule,
        gradient_clip_val=cfg.trainer.get("gradient_clip_val"),
        gradient_clip_algorithm=cfg.trainer.get("gradient_clip_algorithm") or "norm",
        lightning_update=bool(cfg.get("lightning_update")),
    )
    return schedule


def complete_config(cfg: DictConfig, datamodule: Any = None) -> DictConfig:
    """A copy of `cfg` completed with what only the run knows, once the data is set up: the
    sizes it gives the network (`model.net.vocab_size`, `context_size`, ...). Before, it checks
    that `data.contract` is what the model's family reads (windows or sequences)."""
    done = copy.deepcopy(cfg)
    if "contract" in done.data and datamodule is None:
        # Set once, by the configs' `${data_contract:...}`; a value given by hand must agree.
        reads = data_contract(str(done.model.net.get("_target_", "")))
        if done.data.contract != reads:
            raise ConfigError(
                f"data.contract={done.data.contract}: model.net reads {reads}; leave "
                "data.contract out, it follows the model",
                key="data.contract",
            )
    if datamodule is not None:
        sizes = datamodule.net_kwargs()
        given, reads = done.model.net.get("context_size"), sizes.get("context_size")
        if getattr(datamodule, "contract", None) == "windows" and given not in (None, reads):
            # A window model's context is the data's windows: a value given here would be lost.
            raise ConfigError(
                f"model.net.context_size={given!r}: a window model reads the data's windows of "
                f"data.context_size={reads} characters; give data.context_size= instead",
                key="model.net.context_size",
            )
        with open_dict(done):
            done.model.net.update(sizes)
    return done


def build_trainer(
    cfg: DictConfig, schedule: UpdateSchedule, has_val: bool, extra: list[L.Callback] | None
) -> L.Trainer:
    """The Trainer, its intervals in updates (charlm's schedule, not Lightning batches)."""
    callbacks = instantiate_group(cfg.get("callbacks")) + list(extra or [])
    # Gradient clipping is applied by the task's update: Lightning refuses it with manual
    # optimisation.
    kwargs: dict[str, Any] = {
        **schedule.trainer_kwargs(),
        "gradient_clip_val": None,
        "gradient_clip_algorithm": None,
    }
    if not has_val:
        kwargs.update(limit_val_batches=0, num_sanity_val_steps=0)
    if cfg.get("time_budget_s"):
        # Lightning's "DD:HH:MM:SS", in whole seconds.
        minutes, seconds = divmod(math.ceil(cfg.time_budget_s), 60)
        hours, minutes = divmod(minutes, 60)
        days, hours = divmod(hours, 24)
        kwargs["max_time"] = f"{days:02d}:{hours:02d}:{minutes:02d}:{seconds:02d}"
    loggers = instantiate_group(cfg.get("logger"))
    return build(cfg.trainer, callbacks=callbacks, logger=loggers or False, **kwargs)


class RunInterrupted(Exception):
    """Training stopped on Ctrl-C or SIGTERM, its last weights saved (`last`) to resume from."""

    def __init__(self, step: int, last: Path) -> None:
        super().__init__(f"interrupted at step {step}; resume with ckpt_path={last}")
        self.step, self.last = step, last


def fit_run(run: TrainingRun) -> float:
    """Train; the seconds it took. A diverged run says which checkpoints it kept; an
    interrupted one raises `RunInterrupted` (Lightning itself would exit the process)."""
    started = time.perf_counter()
    try:
        run.trainer.fit(run.task, datamodule=run.datamodule, ckpt_path=run.cfg.get("ckpt_path"))
    except SystemExit:
        if not run.trainer.interrupted:
            raise
        last = run.output_dir / "checkpoints" / "last.ckpt"
        raise RunInterrupted(run.trainer.global_step, last) from None
    except NonFiniteError as err:
        cause = err
        if not isinstance(err, NonFiniteLossError):
            # A callback sampled or scored the model (SampleWords) before the task's own
            # checks ran: they say which weight and at which step.
            try:
                run.task.check_finite_weights()
                cause = NonFiniteLossError(
                    f"logits became non-finite at step {run.trainer.global_step} ({err})"
                )
            except NonFiniteLossError as found:
                cause = found
        saved = sorted((run.output_dir / "checkpoints").glob("*.ckpt"))
        kept = ", ".join(str(p) for p in saved) or "none yet (it failed before the first one)"
        raise NonFiniteLossError(f"{cause}. Training stopped; checkpoints kept: {kept}") from None
    return time.perf_counter() - started


def test_and_restore(run: TrainingRun) -> None:
    """Test the best weights (else the last) and load them into the task, in this process
    (with ddp_spawn the training ran in child processes); note which weights and where."""
    trainer, task = run.trainer, run.task
    checkpoint = model_checkpoint(trainer)
    best = checkpoint.best_model_path if checkpoint else ""
    last_file = (
        Path(checkpoint.dirpath) / "last.ckpt" if checkpoint and checkpoint.dirpath else None
    )
    last = str(last_file) if last_file and last_file.is_file() else ""
    if run.datamodule.has_split("test"):
        # metrics.json and the closing table give the figures; Lightning's box would repeat them.
        trainer.test(task, datamodule=run.datamodule, ckpt_path=best or None, verbose=False)
    scored = best or last
    run.best, run.last = best, last
    run.steps = run.scored_step = trainer.global_step
    if scored:
        saved = torch.load(scored, map_location="cpu", weights_only=True)
        task.load_state_dict(saved["state_dict"])
        run.scored_step = saved["global_step"]
        if last:
            final = (
                saved if scored == last else torch.load(last, map_location="cpu", weights_only=True)
            )
            run.steps = final["global_step"]
