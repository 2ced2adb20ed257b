"""Resource bounds: refuse, before any work, a run that cannot fit.

Why: ``-p steps=1e30`` or a smoke run with ``-p n_train=1e9`` used to be killed
by the kernel's OOM killer with no message (the evaluation schedule of 10^30
steps, or 10^9 generated images, were built in memory); ``-p hidden=1e9`` died
in an allocation with a traceback. `check_budget` estimates from a config's
fields (what every experiment here names the same way: ``steps``, ``epochs``,
``n_train`` / ``n_data``, ``hidden``, ``batch_size``) the step count and the
memory the run needs, and raises a one-line `UserError` for what cannot fit on
this machine. The estimate is a lower bound (weights, gradients, the data held
in memory); it only refuses what is certainly too large.
"""

from __future__ import annotations

import os
from typing import Any

from cgh_lib.errors import UserError

MAX_STEPS = 10**9  # the papers' longest run is 10^5 steps; 10^9 is years on a CPU
IN_MEMORY_DATASETS = {"mnist": 784, "fashion": 784, "fashion_mnist": 784, "fashion-mnist": 784,
                      "synthetic": 784, "generated": 784}


def available_bytes() -> int:
    """Memory this process may still allocate (``MemAvailable``; else total RAM)."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def estimate(cfg: Any) -> dict[str, Any]:
    """(steps, bytes, what) a config needs at least, from the fields it has."""
    f = {k: getattr(cfg, k) for k in ("steps", "max_steps", "epochs", "n_train", "n_test", "n_data", "hidden",
                                       "batch_size", "dataset") if hasattr(cfg, k)}
    steps = max(int(f.get("steps") or 0), int(f.get("max_steps") or 0))
    parts: dict[str, float] = {}
    dim = IN_MEMORY_DATASETS.get(str(f.get("dataset", "")).lower())
    n_train = int(f.get("n_train") or f.get("n_data") or 0)
    if dim is not None and "hidden" in f:  # the CG2020 MLPs: data in memory as float32
        parts["data"] = 4.0 * dim * (n_train + int(f.get("n_test") or 0))
        sizes = [dim, *[int(h) for h in f["hidden"]], 10]
        params = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
        parts["weights, gradients and update"] = 4.0 * 3 * params
        parts["activations"] = 4.0 * 2 * int(f.get("batch_size") or 1) * sum(sizes)
    return {"steps": steps, "bytes": sum(parts.values()), "parts": parts}


def check_budget(cfg: Any) -> None:
    """Raise a one-line `UserError` if ``cfg`` cannot run here: too many steps, more memory
    than the machine has, or a batch larger than its training set."""
    name = type(cfg).__name__
    est = estimate(cfg)
    if est["steps"] > MAX_STEPS:
        raise UserError(f"parameter steps={est['steps']:.3g} of {name} is more than {MAX_STEPS:.0e} steps (years of "
                        "compute); accepted: up to 1e9 (the papers' longest run is 1e5)")
    for field in ("epochs",):
        if getattr(cfg, field, 0) and getattr(cfg, field) > 10**6:
            raise UserError(f"parameter {field}={getattr(cfg, field)} of {name} is more than 1e6; accepted: up to 1e6")
    n_train = getattr(cfg, "n_train", None) or getattr(cfg, "n_data", None)
    batch = getattr(cfg, "batch_size", None)
    if n_train and batch and hasattr(cfg, "hidden") and batch > n_train:
        raise UserError(f"parameter batch_size={batch} is larger than the training set (n_train={n_train}); "
                        "accepted: batch_size <= n_train")
    need, have = est["bytes"], available_bytes()
    if need > have:
        biggest = max(est["parts"], key=est["parts"].get)  # type: ignore[arg-type]
        raise UserError(f"{name} {_fields(cfg)} needs at least {_gib(need)} of memory ({biggest}: "
                        f"{_gib(est['parts'][biggest])}); this machine has {_gib(have)} available; accepted: "
                        "a smaller hidden / n_train")


def _fields(cfg: Any) -> str:
    keep = [k for k in ("hidden", "n_train", "n_data", "batch_size") if hasattr(cfg, k)]
    return "(" + ", ".join(f"{k}={getattr(cfg, k)}" for k in keep) + ")"
