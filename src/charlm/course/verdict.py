"""What a check of `charlm.course` answers: right or wrong, in one or two French sentences.

A check runs the student's code on inputs of its own and compares it with charlm's reference.
Whatever goes wrong (the student's function raises, returns the wrong type, never returns,
or the check is called with the wrong argument or interrupted), the student reads a verdict,
never a traceback from inside charlm: a traceback points at charlm's code, and the mistake is
in theirs. The student's function gets copies of the check's inputs, so nothing it does to
them reaches the check, or a later one; and it runs under a time limit, `LIMITE_S` a check.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

_CHARLM = str(Path(__file__).resolve().parents[1])
# Seconds a check gives the student's code in all: a check answers within 10 s, a loop that
# never ends included.
LIMITE_S = 6.0
_deadline = threading.local()


class TempsDepasse(BaseException):
    """The student's code ran past the check's time limit. A BaseException, so that a
    student's `except Exception` cannot swallow it."""


class Verdict:
    """A check's answer: truthy when right; shown in a notebook as its message.

    `assert verifier_x(f)` makes a graded test (nbgrader's autograder) of any check.
    """

    def __init__(self, ok: bool, message: str) -> None:
        self.ok, self.message = ok, message

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return ("✅ Juste. " if self.ok else "❌ ") + self.message


class Faute(Exception):
    """Raised inside a check: what is wrong and where to look (the verdict's message)."""


def verification(check: Callable[..., str]) -> Callable[..., Verdict]:
    """Make `check` (which returns the message of a right answer, or raises `Faute`) a check
    that returns a `Verdict` and raises nothing."""

    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> Verdict:
        _deadline.at = time.monotonic() + LIMITE_S
        try:
            return Verdict(True, check(*args, **kwargs))
        except Faute as err:
            return Verdict(False, str(err))
        except KeyboardInterrupt:
            return Verdict(
                False,
                f"Vérification interrompue : {check.__name__} n'a pas pu juger votre fonction. "
                "Relancez la cellule quand votre code est prêt.",
            )
        except Exception as err:  # noqa: BLE001 (a check never shows a traceback)
            return Verdict(
                False,
                f"La vérification n'a pas pu aller au bout ({type(err).__name__} : {err}). "
                f"Vérifiez ce que vous lui passez : {check.__name__}{_signature(check)}.",
            )

    return wrapper


def _signature(function: Callable[..., Any]) -> str:
    import inspect

    return str(inspect.signature(function)).replace(" -> str", "")


def fonction(valeur: Any, nom: str) -> Callable[..., Any]:
    """`valeur` if it is the student's function, else the `Faute` that says so."""
    if not callable(valeur):
        raise Faute(
            f"Cette vérification attend votre fonction `{nom}` elle-même (sans parenthèses), "
            f"pas {_what(valeur)}."
        )
    return valeur


def appeler(
    function: Callable[..., Any],
    nom: str,
    *args: Any,
    copier: bool = True,
    boucle: str = "",
    **kwargs: Any,
) -> Any:
    """Call the student's `function` on copies of `args` (`copier=False`: the check's own
    objects, where it looks at what the function did to them), within what is left of the
    check's time limit; what it raises becomes a `Faute` that names the line, running past
    the limit one that says so (`boucle`: where to look)."""
    if copier:
        # torch.Generator cannot be deep-copied: it is handed on as it is, and the check
        # makes a new one for each call.
        keep = {id(a): a for a in (*args, *kwargs.values()) if isinstance(a, torch.Generator)}
        args, kwargs = copy.deepcopy((args, kwargs), memo=dict(keep))
    limite = getattr(_deadline, "at", time.monotonic() + LIMITE_S) - time.monotonic()
    try:
        with _limite(max(limite, 0.05)):
            return function(*args, **kwargs)
    except TempsDepasse:
        raise Faute(
            f"`{nom}` ne s'est pas arrêtée en {LIMITE_S:g} secondes : une boucle qui "
            f"ne finit jamais ?{' ' + boucle if boucle else ''}"
        ) from None
    except NotImplementedError:
        raise Faute(
            f"`{nom}` n'est pas encore écrite : remplacez `raise NotImplementedError()` par "
            "votre code, exécutez sa cellule, puis cette vérification."
        ) from None
    except Exception as err:  # noqa: BLE001 (the student's error, told in French)
        raise Faute(
            f"`{nom}` a levé {type(err).__name__} : {err}{_where(err)}.{_hint(err)}"
        ) from None


@contextlib.contextmanager
def _limite(seconds: float) -> Iterator[None]:
    """Raise `TempsDepasse` in the code run inside once `seconds` have passed. In the main
    thread of a Unix process (a Jupyter kernel's), a SIGALRM timer: it interrupts any Python
    code, the student's own loop included. Elsewhere (another thread, Windows), a trace
    function that looks at the clock at each line the student's Python runs: slower, but it
    needs no signal."""
    main = threading.current_thread() is threading.main_thread()
    if main and hasattr(signal, "setitimer"):

        def alarm(_signum: int, _frame: Any) -> None:
            raise TempsDepasse

        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    end = time.monotonic() + seconds

    def trace(_frame: Any, _event: str, _arg: Any) -> Any:
        if time.monotonic() > end:
            raise TempsDepasse
        return trace

    previous_trace = sys.gettrace()
    sys.settrace(trace)
    try:
        yield
    finally:
        sys.settrace(previous_trace)


def _where(err: BaseException) -> str:
    """' (line N of your cell)': the last line of the student's code that the error went
    through (frames of charlm and of the libraries left out)."""
    frames = [
        f
        for f in traceback.extract_tb(err.__traceback__)
        if not f.filename.startswith(_CHARLM) and "site-packages" not in f.filename
    ]
    return f" (ligne {frames[-1].lineno} de votre cellule)" if frames else ""


def _hint(err: BaseException) -> str:
    text = str(err).lower()
    if "long" in text and "float" in text:
        return (
            " Un produit mêle entiers et flottants : F.one_hot donne des entiers, "
            "convertissez-les avec .float()."
        )
    if "shapes cannot be multiplied" in text or "size of tensor" in text:
        return " Affichez les formes (.shape) des tenseurs de cette ligne."
    return ""


def _what(valeur: Any) -> str:
    if isinstance(valeur, torch.Tensor):
        return f"un tenseur de forme {tuple(valeur.shape)}"
    return f"un objet de type {type(valeur).__name__}"


def tenseur(
    valeur: Any, nom: str, forme: tuple[int, ...] | None = None, sorte: str | None = None
) -> torch.Tensor:
    """`valeur` if it is a tensor of `forme` whose dtype is of `sorte` ('entier' or
    'flottant'), else the `Faute` that says which of the three is wrong."""
    if not isinstance(valeur, torch.Tensor):
        raise Faute(f"{nom} doit être un torch.Tensor, pas {_what(valeur)}.")
    if forme is not None and tuple(valeur.shape) != forme:
        raise Faute(f"{nom} a la forme {tuple(valeur.shape)} ; attendu : {forme}.")
    if sorte == "entier" and (valeur.is_floating_point() or valeur.dtype == torch.bool):
        raise Faute(
            f"{nom} est de type {valeur.dtype} : il faut des entiers (torch.long, ou "
            "torch.int32 pour des comptes)."
        )
    if sorte == "flottant" and not valeur.is_floating_point():
        raise Faute(f"{nom} est de type {valeur.dtype} : il faut des flottants (torch.float).")
    return valeur


def nombre(x: float, decimales: int = 4) -> str:
    """`x` written the French way: a decimal comma."""
    return f"{x:.{decimales}f}".replace(".", ",")
