"""Fault injection: make this process signal itself at a named point of a run.

Why: "a run survives any interruption" is only testable if the interruption can
be placed exactly (mid-step, on an evaluation step, right after a checkpoint,
during the final save) in a real ``cgh run`` process. The test suite sets
``CGH_FAULT`` in the child's environment; the trainers and the run store call
`point` at those places. Unset (always, outside tests) it costs one dict lookup.

``CGH_FAULT`` is a comma-separated list of ``NAME[@STEP]:SIGNAL``, e.g.
``mid_step@7:INT,checkpoint@20:KILL``; SIGNAL is INT, TERM or KILL. Points:

* ``mid_step@S``: inside training step S (1-based), after the batch was drawn
  and before the weights change;
* ``eval@S``: inside the evaluation after step S, after part of it was recorded;
* ``checkpoint@S``: right after the checkpoint of step S was written;
* ``final_save``: inside the run store's save, after staging the arrays, before the result;
* ``final_swap``: inside the run store's save, after staging both, before renaming them into place.

Each point fires at most once per process.
"""

from __future__ import annotations

import os
import signal

ENV = "CGH_FAULT"
_SIGNALS = {"INT": signal.SIGINT, "TERM": signal.SIGTERM, "KILL": signal.SIGKILL}
_plan: dict[tuple[str, int | None], int] | None = None


def _parse(spec: str) -> dict[tuple[str, int | None], int]:
    out: dict[tuple[str, int | None], int] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        where, _, sig = item.rpartition(":")
        name, _, step = where.partition("@")
        out[(name, int(step) if step else None)] = _SIGNALS[sig.upper()]
    return out


def point(name: str, step: int | None = None) -> None:
    """Deliver the planned signal to this process if ``name`` (at ``step``) is planned."""
    global _plan
    if _plan is None:
        _plan = _parse(os.environ.get(ENV, ""))
    if not _plan:
        return
    sig = _plan.pop((name, step), None)
    if sig is not None:
        os.kill(os.getpid(), sig)
