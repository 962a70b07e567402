"""Errors for bad input, raised where the input enters, and how entry points report them."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class CharlmError(ValueError):
    """Bad input: a file, a config value, a prompt. The message says what is wrong and the fix."""


def report_errors(program: str) -> Callable[[F], F]:
    """Turn a `CharlmError` into one line on stderr and exit status 2, instead of a traceback."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except CharlmError as err:
                logging.getLogger(program).debug("error", exc_info=True)
                print(f"{program}: error: {err}", file=sys.stderr)
                sys.exit(2)

        return wrapper  # type: ignore[return-value]

    return decorate
