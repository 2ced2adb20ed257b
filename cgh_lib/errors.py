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


class Diverged(ArithmeticError):
    """A run whose training loss became non-finite or exploded (e.g. far too large a learning rate).

    Raised by the trainers' divergence guard (`cgh_lib.train.divergence`) at the
    evaluation or step where it is seen; the run store records the run as
    ``diverged`` (never as a valid result). ``members``: the stack members that
    diverged (indices into the trained group), None for all of them.
    """

    def __init__(self, reason: str, step: int, members: tuple[int, ...] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.step = step
        self.members = members


def os_error_line(e: OSError) -> str:
    """One line for an ``OSError`` (disk full, read-only folder, a file where a folder should be):
    what happened, the path, and what to do about it."""
    import errno

    path = e.filename or ""
    if e.filename2:
        path = f"{path} -> {e.filename2}"
    fixes = {
        errno.ENOSPC: "free some space there, or point --runs / $CGH_RUNS at a disk with room",
        errno.EDQUOT: "free some space there, or point --runs / $CGH_RUNS at a disk with room",
        errno.EROFS: "the filesystem is read-only: point --runs / $CGH_RUNS at a writable folder",
        errno.EACCES: "make it writable for this user, or point --runs / $CGH_RUNS at a writable folder",
        errno.EPERM: "make it writable for this user, or point --runs / $CGH_RUNS at a writable folder",
        errno.ENOTDIR: "a file stands where a folder should be: move that file away, or choose another folder",
        errno.EEXIST: "a file stands where a folder should be: move that file away, or choose another folder",
        errno.ENOENT: "the path does not exist: create it, or choose an existing folder",
        errno.EISDIR: "a folder stands where a file should be: move it away",
    }
    if e.errno in (errno.ENOTDIR, errno.EEXIST) and e.filename:  # name the file that is in the way
        import os

        p = str(e.filename)
        while p and p != os.path.dirname(p) and not os.path.isfile(p):
            p = os.path.dirname(p)
        if os.path.isfile(p):
            path = p
    fix = fixes.get(e.errno or -1, "check the path and its filesystem")
    what = e.strerror or type(e).__name__
    return f"{what}{f': {path}' if path else ''}; {fix}"
