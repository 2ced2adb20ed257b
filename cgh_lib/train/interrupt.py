"""Deferred SIGINT / SIGTERM: a run stops only between two steps, never inside one.

Why: a KeyboardInterrupt raised wherever the signal lands can leave a step half
done (the batch drawn but the weights not updated, one layer updated but not
the next) or an evaluation half recorded; a checkpoint of that state resumes to
different numbers. Instead the handler only records the signal; the trainer
calls `check` at each step boundary (after the step's evaluation, if any),
writes its checkpoint there, and stops with `Interrupted`. A second signal
stops at once, without a checkpoint (the previous one is kept).
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from cgh_lib.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class DeferredSignals:
    """Context manager: while active, SIGINT / SIGTERM set ``signum`` instead of raising."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.signum is not None:  # asked twice: stop now, keep the previous checkpoint
            raise Interrupted(signum)
        self.signum = signum
        print(f"cgh: {signal.Signals(signum).name} received; stopping after the current step "
              "(send it again to stop at once)", file=sys.stderr, flush=True)

    def __enter__(self) -> "DeferredSignals":
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._old[s] = signal.getsignal(s)
                signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, h in self._old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        self._old.clear()

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def check(self) -> None:
        """Raise `Interrupted` if a signal arrived (call after checkpointing)."""
        if self.signum is not None:
            raise Interrupted(self.signum)
