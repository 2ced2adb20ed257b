"""Evaluation schedules: when to measure the whole train and test sets.

Panel (d) of Figure 1 needs fine resolution early (most examples are learned
in the first few hundred steps) and little later, so schedules are roughly
logarithmic. Evaluation at step s means "after s training steps"; step 0 is the
initial model.
"""

from __future__ import annotations

from cgh_lib.errors import choice_error

EVAL_SCHEDULES = ("authors", "log")


def eval_steps(kind: str, total: int) -> list[int]:
    """Sorted unique evaluation steps in [0, total], always including 0 and ``total``.

    * ``authors``: the authors' CG2020 code: 0-9, 10-90 by 10, 100-900 by 100,
      1000-9000 by 1000, then every 10,000, and the last step (47 points for 10^5).
    * ``log``: 1, 2, 3, 5 per decade (18 points for 10^4), so evaluation stays a
      small fraction of a shorter run on the CPU.
    """
    if kind == "authors":
        pts = set(range(0, 10))
        for base in (10, 100, 1000):
            pts.update(range(base, 10 * base, base))
        pts.update(range(10_000, total + 1, 10_000))
    elif kind == "log":
        pts = {0}
        decade = 1
        while decade <= total:
            for m in (1, 2, 3, 5):
                pts.add(int(round(m * decade)))
            decade *= 10
    else:
        raise choice_error("eval schedule", kind, EVAL_SCHEDULES)
    pts.add(total)
    return sorted(p for p in pts if 0 <= p <= total)
