"""Runs that share a machine share its cores: the thread policy of `num_threads=auto`.

Each process of torch uses every core for its matrix products by default, so two runs on one
machine fight over the cores and each runs several times slower than alone. With
`num_threads=auto`, a run registers itself in a folder of live charlm runs (one file per
process, named by its pid), takes its share of the cores it may use (`cores // live runs`,
never more than the model can use), and looks again every `check_every_s` seconds, so a run
started later, a `hydra/launcher=joblib` sweep's jobs or a notebook beside a run all shrink to
their share, and grow back when the others end. Cores kept busy by other processes (a test
suite, a build) are left to them too (`OtherProcesses`). Neither torch nor Lightning does
this: torch's thread count is per process and knows nothing of the others.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch

log = logging.getLogger(__name__)

# Below this many parameters a network's matrix products are too small to gain from a second
# thread (bengio2003, 4,923 parameters: 1 thread runs at 0.91 of 2 alone, and two runs with one
# thread each keep 0.85 of their speed, against 0.19 with two each).
SMALL_MODEL_PARAMETERS = 100_000


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, as taskset or a container sets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity masks
        return os.cpu_count() or 1


def thread_share(
    cores: int, live_runs: int, cap: int | None = None, others_busy: float = 0.0
) -> int:
    """This run's threads: its share of `cores` among `live_runs`, at most `cap`, at most the
    cores other processes leave idle (`others_busy`: the cores they keep busy), at least 1."""
    share = max(1, cores // max(1, live_runs))
    free = math.floor(cores - max(0.0, others_busy) + 0.5)
    return max(1, min(share, cap or share, free))


class OtherProcesses:
    """How many cores the machine's other processes keep busy, measured since the last call.

    The registry knows charlm's runs only; a test suite, a compiler or any other busy process
    takes cores too, and a run whose torch threads outnumber the cores left to it waits at
    every barrier of its matrix products for a thread the kernel has set aside: beside two
    busy processes, two threads on two cores ran a GRU 20 times slower than alone, where one
    thread runs at its share (`make bench-threads ARGS="--model gru"`). This reads the machine's CPU time (/proc/stat, Linux) less this
    process's own. Where /proc/stat counts other cores than this process may use (a container
    shown its host's CPUs, an affinity mask), it says 0: only the registry counts there.
    """

    stat_path = "/proc/stat"

    def __init__(self, cores: int) -> None:
        self.cores = cores
        self._last: tuple[float, float, float] | None = self._sample()

    def _sample(self) -> tuple[float, float, float] | None:
        """(wall clock, CPU seconds of every process, CPU seconds of this one), or None."""
        try:
            with open(self.stat_path, encoding="ascii") as f:
                lines = f.read().splitlines()
        except OSError:
            return None
        cpus = [line for line in lines if line.startswith("cpu") and line[3:4].isdigit()]
        if not lines or len(cpus) != self.cores or os.cpu_count() != self.cores:
            return None
        # user nice system idle iowait irq softirq steal ...: all but idle and iowait are busy
        values = [int(v) for v in lines[0].split()[1:]]
        busy = sum(values) - values[3] - (values[4] if len(values) > 4 else 0)
        return time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), time.process_time()

    def __call__(self) -> float:
        now = self._sample()
        last, self._last = self._last, now
        if now is None or last is None or now[0] - last[0] <= 0:
            return 0.0
        others = (now[1] - last[1]) - (now[2] - last[2])
        return max(0.0, others / (now[0] - last[0]))


def model_cap(parameters: int, cores: int) -> int:
    """The most threads a network of `parameters` can use well."""
    return 1 if parameters < SMALL_MODEL_PARAMETERS else cores


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


class RunRegistry:
    """The live charlm runs of this machine: one empty file per training process."""

    def __init__(self, folder: str | Path | None = None) -> None:
        default = Path(tempfile.gettempdir()) / f"charlm-runs-{os.getuid()}"
        self.folder = Path(folder or os.environ.get("CHARLM_RUNS_DIR") or default)

    def register(self, pid: int | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / str(pid or os.getpid())).touch()

    def unregister(self, pid: int | None = None) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / str(pid or os.getpid())).unlink()

    def live(self) -> int:
        """How many registered runs are still running; the files of ended ones are removed."""
        count = 0
        for entry in self.folder.glob("*") if self.folder.is_dir() else []:
            if not entry.name.isdigit():
                continue
            if _alive(int(entry.name)):
                count += 1
            else:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
        return count


class ThreadShare(L.Callback):
    """`num_threads=auto`: keep this run's torch threads at its share of the machine's cores.

    Used as a context manager around the whole run (training, test and the final evaluation),
    which it leaves with the process's thread count as it found it.
    """

    def __init__(
        self,
        registry: RunRegistry | None = None,
        check_every_s: float = 1.0,
        others: Callable[[], float] | None = None,
    ) -> None:
        self.registry = registry or RunRegistry()
        self.check_every_s = check_every_s
        self.cores = usable_cores()
        # The cores other processes keep busy (`OtherProcesses`); tests give their own.
        self.others = others or OtherProcesses(self.cores)
        self.cap: int | None = None
        self.used: list[int] = []  # every thread count the run has used, in order
        self._checked = -float("inf")

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.registry.register()  # again for the test: registering twice is harmless
        net = getattr(pl_module, "net", pl_module)
        self.cap = model_cap(sum(p.numel() for p in net.parameters()), self.cores)
        self.rebalance(force=True)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, i: int) -> None:
        self.rebalance()

    def rebalance(self, force: bool = False) -> int:
        """Set torch's threads to this run's share now (at most once per `check_every_s`)."""
        now = time.monotonic()
        if not force and now - self._checked < self.check_every_s:
            return torch.get_num_threads()
        self._checked = now
        threads = thread_share(self.cores, self.registry.live(), self.cap, self.others())
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        if not self.used or self.used[-1] != threads:
            if self.used:
                log.info("torch threads: %d (its share of the %d cores)", threads, self.cores)
            self.used.append(threads)
        return threads

    def __enter__(self) -> ThreadShare:
        self._before = torch.get_num_threads()
        return self

    def __exit__(self, *exc: object) -> None:
        """The run is over (or failed): leave the registry, give the process its threads back."""
        self.registry.unregister()
        torch.set_num_threads(self._before)
