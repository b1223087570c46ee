"""User errors end in one line and exit status 2 at every entry point; bugs keep their traceback.

A *user error* is a mistake in what the user gave: a config value, a command-line argument, a data file, a
checkpoint, a path. It is a :class:`UserError` (or an ``OSError``, which names its file) whose message names
the value or file at fault and the fix. :func:`main_guard` wraps ``eval.py``, ``train.py``, ``uwe`` and
``python -m uwe.data``: it prints such an error as ``<prog>: error: <message>`` on stderr and exits with
:data:`EXIT_USER_ERROR` (2, as argparse does for a bad command line). Any other exception is a bug and keeps
its full traceback (exit status 1). ``UWE_DEBUG=1`` (or ``--debug``, ``+debug=true``) shows the traceback of
user errors too.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator

EXIT_USER_ERROR = 2
DEBUG_ENV = "UWE_DEBUG"


class UserError(ValueError):
    """A mistake in the user's input (config, command line, data, checkpoint); the message names it and the fix.

    A ``ValueError``, so code that validated with ``ValueError`` before keeps catching it.
    """


class ConfigError(UserError):
    """A config value of the wrong type or range: ``<key>=<value>`` and what is allowed."""


class CheckpointError(UserError):
    """A file given as a checkpoint that is not a readable uwe checkpoint."""


USER_ERRORS: tuple[type[BaseException], ...] = (UserError, OSError)


def debug_enabled(flag: bool = False) -> bool:
    return flag or os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def one_line(err: BaseException) -> str:
    """The error's message on one line (a multi-line message's lines joined with ' | ')."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    message = re.sub(r"\s+", " ", " | ".join(lines)) or type(err).__name__
    # An OSError's text ("[Errno 2] No such file or directory: 'x'") reads better with its kind.
    os_error = isinstance(err, OSError) and not isinstance(err, UserError)
    return f"{type(err).__name__}: {message}" if os_error else message


def report(prog: str, err: BaseException) -> int:
    """Print ``err`` as one line for ``prog`` and return :data:`EXIT_USER_ERROR`."""
    print(f"{prog}: error: {one_line(err)}", file=sys.stderr, flush=True)
    return EXIT_USER_ERROR


@contextlib.contextmanager
def main_guard(prog: str, debug: bool = False) -> Iterator[None]:
    """Turn a user error raised inside into one line on stderr and ``SystemExit(2)``; let bugs through.

    Example:
        >>> with main_guard("demo"):                      # doctest: +SKIP
        ...     raise ConfigError("chunk=0: expected an integer >= 1")
        demo: error: chunk=0: expected an integer >= 1    (on stderr; exit status 2)
    """
    try:
        yield
    except USER_ERRORS as err:
        if debug_enabled(debug):
            raise
        sys.exit(report(prog, err))


_HYDRA_TASK_STARTED = False


@contextlib.contextmanager
def hydra_guard(prog: str, cfg) -> Iterator[None]:
    """:func:`main_guard` for the body of a ``@hydra.main`` function (Hydra itself would print a user error
    with a traceback); ``+debug=true`` in the overrides (or ``UWE_DEBUG=1``) keeps the traceback."""
    from omegaconf.errors import OmegaConfBaseException

    global _HYDRA_TASK_STARTED
    _HYDRA_TASK_STARTED = True
    debug = debug_enabled(bool(cfg.get("debug", False)))
    try:
        with main_guard(prog, debug=debug):
            yield
    except OmegaConfBaseException as err:  # a key or interpolation of the user's config that does not resolve
        if debug:
            raise
        sys.exit(report(prog, err))


def run_hydra(main: Callable[[], object]) -> None:
    """Call a ``@hydra.main`` function. Hydra reports a config it cannot compose (an unknown key or option,
    bad override syntax) in one message and exits 1 before the task starts: that is a user error, so it
    exits :data:`EXIT_USER_ERROR` like the others."""
    try:
        main()
    except SystemExit as stop:
        if stop.code == 1 and not _HYDRA_TASK_STARTED:
            sys.exit(EXIT_USER_ERROR)
        raise
