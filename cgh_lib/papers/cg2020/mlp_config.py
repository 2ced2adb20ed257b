"""What the CG2020 MLP experiments (Figures 1-4) share: their configs' common checks.

Each experiment's config adds its own fields and checks on top of these; keeping
the common ones here means a new accepted value (a dataset, an init) is added once.
"""

from __future__ import annotations

from typing import Any, Iterable

from cgh_lib.data.label_noise import NOISE_SCHEMES, check_fraction
from cgh_lib.data.tensors import DATASETS
from cgh_lib.errors import UserError, choice_error
from cgh_lib.models.mlp import INITS
from cgh_lib.train.eval_schedule import EVAL_SCHEDULES


def validate_mlp_run(cfg: Any, choices: Iterable[tuple[str, Any, Iterable[Any]]] = (),
                     positive: Iterable[str] = ()) -> None:
    """One-line UserErrors for the fields every MLP run has (dataset, noise, noise
    scheme, init, eval schedule, sizes, widths, lr), plus ``choices`` given as
    (name, value, accepted) and further ``positive`` integer fields."""
    check_fraction(cfg.noise)
    for name, value, accepted in (("dataset", cfg.dataset, DATASETS),
                                  ("noise scheme", cfg.noise_scheme, NOISE_SCHEMES[:2]),
                                  ("init", cfg.init, INITS),
                                  ("eval schedule", cfg.eval_schedule, EVAL_SCHEDULES),
                                  *choices):
        accepted = tuple(accepted)
        if value not in accepted:
            raise choice_error(name, value, accepted)
    for name in ("n_train", "n_test", "batch_size", "steps", *positive):
        if getattr(cfg, name) < 1:
            raise UserError(f"parameter {name}={getattr(cfg, name)} must be >= 1; accepted: a positive integer")
    if not cfg.hidden or min(cfg.hidden) < 1:
        raise UserError(f"parameter hidden={cfg.hidden} is invalid; accepted: comma-separated positive widths")
    if not cfg.lr > 0:
        raise UserError(f"parameter lr={cfg.lr} must be > 0; accepted: a positive number")
