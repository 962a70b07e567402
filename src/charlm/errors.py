"""Errors for bad input, raised where the input enters, and how entry points report them."""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class CharlmError(ValueError):
    """Bad input: a file, a config value, a prompt. The message says what is wrong and the fix."""


class CheckpointError(CharlmError):
    """A checkpoint is missing, unreadable, unsafe, or not a charlm checkpoint, or the data it
    was trained on is not what it says."""


class NonFiniteError(CharlmError):
    """A model's weights or outputs hold a NaN or an infinity (a run that diverged)."""


def report_errors(program: str) -> Callable[[F], F]:
    """Turn a `CharlmError` into one line on stderr and exit status 2, instead of a traceback.

    Output read by a program that stops early (`charlm-score ... | head`) ends the command
    quietly, as Unix tools do; Ctrl-C outside training ends it with one line and status 130.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except CharlmError as err:
                logging.getLogger(program).debug("error", exc_info=True)
                print(f"{program}: error: {err}", file=sys.stderr)
                _to_log_files(f"{program}: error: {err}")
                sys.exit(2)
            except BrokenPipeError:
                # Python would report the closed pipe again when flushing stdout at exit.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                sys.exit(1)
            except KeyboardInterrupt:
                # Ctrl-C outside training (reading or encoding a large text, say): what was
                # being written is removed where it was begun, and nothing else is left.
                print(f"{program}: interrupted", file=sys.stderr)
                sys.exit(130)

        return wrapper  # type: ignore[return-value]

    return decorate


def _to_log_files(line: str) -> None:
    """Write `line` to the log files only (a run's train.log), not again to the console.

    The console already has it from stderr; the run's log would otherwise end without saying
    why the run stopped.
    """
    record = logging.LogRecord("charlm", logging.ERROR, __file__, 0, line, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


class ConfigError(CharlmError):
    """A config value is impossible; the message names the key, the value and what is allowed.

    `key` is the name the value was given under (e.g. `emb_size`); whoever knows where that
    key sits in the composed config (the training entry point) prefixes its path.
    """

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


def check_positive_ints(**values: Any) -> None:
    """Raise `ConfigError` naming the first value that is not an integer >= 1."""
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key}={value!r}: must be an integer >= 1", key=key)


def check_choice(key: str, value: Any, choices: Any) -> None:
    """Raise `ConfigError` unless `value` is one of `choices`."""
    if value not in choices:
        raise ConfigError(f"{key}={value!r}: one of {sorted(choices)}", key=key)


@contextlib.contextmanager
def config_section(path: str) -> Iterator[None]:
    """Prefix the key of a `ConfigError` raised inside with `path`, e.g. `trainer.`."""
    try:
        yield
    except ConfigError as err:
        raise ConfigError(f"{path}.{err}", key=f"{path}.{err.key}") from None


def check_dropout(**values: Any) -> None:
    """Raise `ConfigError` naming the first dropout probability outside [0, 1)."""
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            raise ConfigError(f"{key}={value!r}: must be in [0, 1)", key=key)


# What each kind of command-line option accepts, and how the error says it.
_OPTION_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "int>=0": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "an integer >= 0",
    ),
    "int>=1": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "an integer >= 1",
    ),
    "number>0": (
        lambda v: (
            isinstance(v, int | float)
            and not isinstance(v, bool)
            and v > 0
            and v == v
            and v != float("inf")
        ),
        "a finite number > 0",
    ),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "path": (lambda v: isinstance(v, str) and v != "", "a path"),
}


def check_options(values: Any, spec: dict[str, str]) -> None:
    """Raise `CharlmError` naming the first option of `values` (a mapping) that `spec` refuses.

    `spec` maps an option to a kind of `_OPTION_KINDS`, with `|null` when it may be left out
    (None), e.g. `{"n": "int>=1", "top_k": "int>=1|null", "novelty": "bool"}`. Hydra gives
    command-line values their YAML type, so `n=abc` arrives as a string and is named here.
    """
    for key, kind in spec.items():
        value = values.get(key)
        base, _, nullable = kind.partition("|")
        if value is None and nullable:
            continue
        ok, what = _OPTION_KINDS[base]
        if not ok(value):
            also = ", or null" if nullable else ""
            raise CharlmError(f"{key}={value!r}: must be {what}{also}")


# Files a run writes and no command's output may replace: checkpoints, the run's record, its
# config and log, its tokenizer, TensorBoard's events.
RUN_FILES = ("metrics.json", "tokenizer.json", "train.log", "config.yaml", "overrides.yaml")


def check_output(path: Any, inputs: Any = ()) -> None:
    """Refuse, before any work is done, an output file whose directory does not exist, a
    directory, a file a run wrote (a checkpoint, metrics.json, .hydra/, ...) or one of the
    command's own `inputs` (by any name: a hard or symbolic link to it is the same file)."""
    out = Path(path)
    parent = out.parent
    if not parent.is_dir():
        raise CharlmError(f"output={path}: the directory {parent} does not exist; create it first")
    if out.is_dir():
        raise CharlmError(f"output={path} is a directory: give a file name")
    if not out.exists():
        return
    owned = (
        out.suffix == ".ckpt"
        or out.name in RUN_FILES
        or out.name.startswith("events.out.tfevents")
        or out.parent.name == ".hydra"
    )
    same = [str(i) for i in inputs if i and Path(i).exists() and _same_file(out, Path(i))]
    if owned or same:
        what = f"is {same[0]}, an input of this command" if same else "is a file a run wrote"
        raise CharlmError(f"output={path} {what}; it is left as it is: give another file name")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class OneLineParser(argparse.ArgumentParser):
    """argparse for charlm's commands: a bad argument is one line on stderr and exit status 2,
    as every other bad input is, not the usage message followed by the error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)
