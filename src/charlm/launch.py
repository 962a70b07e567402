"""The launcher that started this process: torchrun (torch's elastic agent), SLURM's `srun`, or
none. Read from the environment the way Lightning's cluster environments read it, and in the
same order (TorchElastic first, then SLURM), so charlm and the Trainer agree on the ranks.

A multi-process run is one run: rank 0 alone has a run directory and writes in it. The other
ranks run Hydra in a temporary directory of their own, removed when they end
(`rank_zero_run_dir`); the checkpoint callbacks take rank 0's directory from it (Lightning
broadcasts it), and everything charlm writes itself is written by rank 0.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Launch:
    """This process's place in a run: `by` is "torchrun", "srun" or None (a plain start)."""

    by: str | None = None
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1

    @property
    def num_nodes(self) -> int:
        return max(1, self.world_size // max(self.local_world_size, 1))

    @property
    def several(self) -> bool:
        """Whether this run has more than one process."""
        return self.world_size > 1


def _count(value: str | None, default: int) -> int:
    """A SLURM count: `2`, or `2(x3)` (2 tasks on each of 3 nodes) read as 2."""
    found = re.match(r"\d+", value or "")
    return int(found.group()) if found else default


def this_launch() -> Launch:
    """How this process was started, from the launcher's environment variables."""
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    env = os.environ
    if TorchElasticEnvironment.detect():
        return Launch(
            "torchrun",
            rank=int(env.get("RANK", 0)),
            local_rank=int(env.get("LOCAL_RANK", 0)),
            world_size=int(env.get("WORLD_SIZE", 1)),
            local_world_size=int(env.get("LOCAL_WORLD_SIZE", 1)),
        )
    if SLURMEnvironment.detect():
        tasks = _count(env.get("SLURM_NTASKS"), 1)
        return Launch(
            "srun",
            rank=int(env.get("SLURM_PROCID", 0)),
            local_rank=int(env.get("SLURM_LOCALID", 0)),
            world_size=tasks,
            # --ntasks-per-node when given; else sbatch's count for this node (`4(x2)`).
            local_world_size=_count(
                env.get("SLURM_NTASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE"),
                tasks // max(_count(env.get("SLURM_NNODES"), 1), 1),
            ),
        )
    return Launch()


def launch_value(key: str, default: Any = None) -> Any:
    """`${launch:devices,auto}` in a config: this run's processes per node (devices), its
    nodes (num_nodes) or its world size, as the launcher set them; `default` when the process
    was not started by one (Lightning then starts the processes itself, or runs just one)."""
    launch = this_launch()
    if launch.by is None:
        return default
    values = {
        "devices": launch.local_world_size,
        "num_nodes": launch.num_nodes,
        "world_size": launch.world_size,
    }
    if key not in values:
        raise KeyError(f"${{launch:{key}}}: the launch gives {', '.join(values)}")
    return values[key]


# Hydra settings a rank other than 0 overrides: its own run directory, and no .hydra/ in it.
_RANK_DIR_KEYS = ("hydra.run.dir", "hydra.output_subdir", "hydra.sweep.dir")


def rank_zero_run_dir(main: Callable[..., Any]) -> Callable[..., Any]:
    """A Hydra console script for multi-process launches: on ranks other than 0, Hydra runs in
    a temporary directory (removed when the process ends) with no .hydra/ folder, so the run
    leaves one run directory, rank 0's, whatever its name holds (a time, a random suffix)."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        launch = this_launch()
        if launch.rank == 0 or "-m" in sys.argv[1:] or "--multirun" in sys.argv[1:]:
            return main(*args, **kwargs)
        scratch = tempfile.mkdtemp(prefix=f"charlm-rank{launch.rank}-")
        kept = [a for a in sys.argv[1:] if a.partition("=")[0].lstrip("+") not in _RANK_DIR_KEYS]
        sys.argv[1:] = [*kept, f"hydra.run.dir={scratch}", "hydra.output_subdir=null"]
        try:
            return main(*args, **kwargs)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    return wrapper
