"""Run charlm's console scripts for a test: in this process by default, or as a real process.

Each new Python process spends seconds importing torch, Lightning and Hydra before it reads its
first argument (7-10 s on a busy core), and most command tests start several; in this process
those imports are already done. `run_command` calls the console script's own `main` with its
argv, stdin, stdout, stderr and working directory, catches its exit status as the process would
give it, and puts back afterwards what a command may change in the process: logging handlers,
warning filters, signal handlers, environment, torch's thread count and random states, and
Hydra's global state. A few tests per command still start the real process (`process=True`), so
that the installed entry points themselves stay tested.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import random
import signal
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path

import torch

BIN = Path(sys.executable).parent
# `python -m charlm.X` runs the same `main` as the console script that names charlm.X.
_SCRIPTS = {
    e.name: e for e in entry_points(group="console_scripts") if e.value.startswith("charlm")
}
_MODULES = {e.value.split(":")[0]: e for e in _SCRIPTS.values()}


def run_command(
    program: str,
    *args: str,
    cwd: Path | str | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    process: bool = False,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run `program` (`charlm-train` or its module `charlm.train`) with `args`, and `env` added
    to the environment: its exit status, stdout and stderr, as
    `subprocess.run(..., capture_output=True, text=True)` gives them."""
    entry = _SCRIPTS.get(program) or _MODULES[program]
    if process:
        return subprocess.run(
            [str(BIN / entry.name), *args], capture_output=True, text=True, timeout=timeout,
            cwd=cwd, input=stdin, env=None if env is None else {**os.environ, **env},
        )  # fmt: skip
    return _in_this_process(entry.load(), [entry.name, *args], cwd, stdin, env)


def run_python(code: str, cwd: Path | str | None = None) -> subprocess.CompletedProcess:
    """Run `code` as `python -c code` would, in this process and a namespace of its own."""
    return _in_this_process(
        lambda: exec(compile(code, "<string>", "exec"), {"__name__": "__main__"}),
        ["-c"], cwd, None, None,
    )  # fmt: skip


def _in_this_process(
    main: Callable[[], object], argv: list[str], cwd: Path | str | None, stdin: str | None,
    env: dict[str, str] | None,
) -> subprocess.CompletedProcess:  # fmt: skip
    out, err = _text_stream(), _text_stream()
    with _process_state_kept(), _as_process(argv, cwd, stdin, out, err):
        os.environ.update(env or {})
        try:
            main()
            status = 0
        except SystemExit as exit_:
            status = _exit_status(exit_.code, err)
        except Exception:  # the interpreter would print the traceback and exit with 1
            traceback.print_exc(file=sys.stderr)
            status = 1
    return subprocess.CompletedProcess(argv, status, _read(out), _read(err))


def _text_stream() -> io.TextIOWrapper:
    # A text stream with a `.buffer`, as sys.stdout has (commands may write bytes to it).
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="\n", write_through=True)


def _read(stream: io.TextIOWrapper) -> str:
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8")


def _exit_status(code: object, err: io.TextIOWrapper) -> int:
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=err)  # sys.exit("message"): the message goes to stderr, status 1
    return 1


@contextlib.contextmanager
def _as_process(
    argv: list[str], cwd: Path | str | None, stdin: str | None,
    out: io.TextIOWrapper, err: io.TextIOWrapper,
) -> Iterator[None]:  # fmt: skip
    """argv, working directory and standard streams as the process would have them; the log
    handlers already writing to the console write to the captured streams meanwhile."""
    old_argv, old_cwd = sys.argv, os.getcwd()
    old_streams = (sys.stdin, sys.stdout, sys.stderr)
    consoles = {id(s) for s in (*old_streams[1:], sys.__stdout__, sys.__stderr__)}
    moved = [
        (h, h.stream)
        for h in _all_handlers()
        if type(h) is logging.StreamHandler and id(h.stream) in consoles
    ]
    sys.argv = argv
    sys.stdin = io.StringIO(stdin or "")
    sys.stdout, sys.stderr = out, err
    for handler, stream in moved:
        handler.setStream(out if stream in (old_streams[1], sys.__stdout__) else err)
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        for handler, stream in moved:
            handler.setStream(stream)
        sys.argv = old_argv
        sys.stdin, sys.stdout, sys.stderr = old_streams


def _all_handlers() -> list[logging.Handler]:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    return [h for lg in loggers if isinstance(lg, logging.Logger) for h in lg.handlers]


@contextlib.contextmanager
def _process_state_kept() -> Iterator[None]:
    """Put back what a command may change in the process it runs in."""
    from hydra.core.singleton import Singleton

    loggers = {
        name: (lg.handlers[:], lg.level, lg.propagate, lg.disabled)
        for name, lg in [("", logging.getLogger()), *logging.Logger.manager.loggerDict.items()]
        if isinstance(lg, logging.Logger)
    }
    handlers_before = {id(h) for h in _all_handlers()}
    signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    environ = dict(os.environ)
    threads = torch.get_num_threads()
    rng = (random.getstate(), torch.get_rng_state())
    deterministic = torch.are_deterministic_algorithms_enabled()
    hydra_state = Singleton.get_state()
    with warnings.catch_warnings():
        try:
            yield
        finally:
            Singleton.set_state(hydra_state)
            torch.use_deterministic_algorithms(deterministic)
            random.setstate(rng[0])
            torch.set_rng_state(rng[1])
            torch.set_num_threads(threads)
            os.environ.clear()
            os.environ.update(environ)
            for sig, handler in signals.items():
                signal.signal(sig, handler)
            for handler in _all_handlers():  # the command's own (a run's train.log)
                if id(handler) not in handlers_before:
                    handler.close()
            for name, (handlers, level, propagate, disabled) in loggers.items():
                lg = logging.getLogger(name or None)
                lg.handlers[:] = handlers
                lg.level, lg.propagate, lg.disabled = level, propagate, disabled
            for name, lg in logging.Logger.manager.loggerDict.items():
                if isinstance(lg, logging.Logger) and name not in loggers:
                    lg.handlers.clear()  # loggers the command made
