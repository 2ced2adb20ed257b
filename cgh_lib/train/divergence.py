"""Divergence guard: stop a run whose training loss is non-finite or exploding.

Why: a far too large learning rate (``-p lr=1e4``) makes the loss NaN or huge
within a few steps; training on would waste the whole budget and store
garbage as a valid result (a bare NaN, "holds" from broken runs). Trainers call
`check_loss` where they already have the training loss (each evaluation, or
the running loss of the loader trainer), which costs nothing extra; it raises
`Diverged` naming the step, the loss and the stack members concerned, and
`ensure_runs` records those runs as ``diverged``.

The rule: a loss is diverged when it is not finite, or more than
`EXPLODE_FACTOR` times the larger of its initial value (step 0) and 1. A
cross-entropy starts near ln(classes) (2.3 for 10) and only falls while
training works; 100x that is far outside any run that learns.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cgh_lib.errors import Diverged

EXPLODE_FACTOR = 100.0


def divergence_reason(loss: float, initial: float | None = None, factor: float = EXPLODE_FACTOR) -> str | None:
    """Why ``loss`` counts as diverged (e.g. ``"train loss nan"``), or None if it does not."""
    if loss is None:
        return None
    loss = float(loss)
    if not math.isfinite(loss):
        return f"train loss {loss}"
    ref = max(float(initial), 1.0) if initial is not None and math.isfinite(float(initial)) else 1.0
    if loss > factor * ref:
        return f"train loss {loss:.3g}, over {factor:g}x its initial {ref:.3g}"
    return None


def check_loss(step: int, loss: Any, initial: Any = None, factor: float = EXPLODE_FACTOR) -> None:
    """Raise `Diverged` if any member's training loss (a number, or one per stack member)
    is non-finite or exploded; ``initial``: the loss at step 0 (same shape), if known."""
    losses = np.atleast_1d(np.asarray(loss, dtype=np.float64))
    inits = np.broadcast_to(np.atleast_1d(np.asarray(initial if initial is not None else np.nan,
                                                     dtype=np.float64)), losses.shape)
    bad = [(i, r) for i, (v, v0) in enumerate(zip(losses, inits))
           if (r := divergence_reason(v, None if math.isnan(v0) else v0, factor)) is not None]
    if bad:
        members = tuple(i for i, _ in bad)
        who = "" if losses.size == 1 else f" (stack member{'s' if len(bad) > 1 else ''} {', '.join(map(str, members))})"
        raise Diverged(f"{bad[0][1]} at step {step}{who}", step, members if losses.size > 1 else None)
