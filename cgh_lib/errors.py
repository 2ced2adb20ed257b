"""User-facing errors.

Anything a user can get wrong (a bad parameter, a missing dataset) raises
`UserError`; the CLI prints its message on one line and exits with code 2,
without a traceback. Internal bugs stay ordinary exceptions.
"""

from __future__ import annotations

from typing import Iterable


class UserError(ValueError):
    """A bad value supplied by the user; the message names it and what is accepted."""


def choice_error(what: str, value: object, accepted: Iterable[object]) -> UserError:
    """Build the standard 'unknown X' error listing the accepted values."""
    acc = ", ".join(str(a) for a in accepted)
    return UserError(f"unknown {what} {value!r}; accepted: {acc}")


class Interrupted(KeyboardInterrupt):
    """A run stopped by SIGINT / SIGTERM at a step boundary, after checkpointing.

    ``signum`` lets the CLI exit with the conventional 128 + signal number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class FigureFailed(Exception):
    """A figure notebook failed for a reason other than bad input (a bug, a crash).

    The CLI prints its one-line message (which says where the executed notebook
    with the full traceback was kept) and exits with 1.
    """
