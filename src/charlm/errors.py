"""Errors for bad input, raised where the input enters, and how entry points report them."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class CharlmError(ValueError):
    """Bad input: a file, a config value, a prompt. The message says what is wrong and the fix."""


def report_errors(program: str) -> Callable[[F], F]:
    """Turn a `CharlmError` into one line on stderr and exit status 2, instead of a traceback.

    Output read by a program that stops early (`charlm-score ... | head`) ends the command
    quietly, as Unix tools do.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except CharlmError as err:
                logging.getLogger(program).debug("error", exc_info=True)
                print(f"{program}: error: {err}", file=sys.stderr)
                sys.exit(2)
            except BrokenPipeError:
                # Python would report the closed pipe again when flushing stdout at exit.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                sys.exit(1)

        return wrapper  # type: ignore[return-value]

    return decorate


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
