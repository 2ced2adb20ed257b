"""Experiment registry and the "cached or computed" entry point.

An experiment is a config class plus a function that trains a *group* of
configs (configs that can share a stack). `ensure_runs` is what notebooks and
the CLI call: it returns stored results where they exist and trains only what
is missing, grouping missing configs that can be stacked.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch

from cgh_lib.errors import Diverged, UserError, choice_error
from cgh_lib.store.budget import check_budget
from cgh_lib.store.config import apply_overrides, config_hash
from cgh_lib.store.provenance import provenance
from cgh_lib.store.runstore import RunResult, RunStore

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class RunOptions:
    """How to run (never what to run): none of this enters the config hash."""

    data_root: str | None = None
    device: str = "auto"
    store: RunStore = field(default_factory=RunStore)
    force: bool = False
    progress: bool = True
    checkpoint_every_s: float = 60.0
    checkpoint_every_steps: int = 0

    def __post_init__(self) -> None:
        if self.checkpoint_every_steps < 0:
            raise UserError(f"--checkpoint-every-steps {self.checkpoint_every_steps} is negative; accepted: 0 (off) "
                            "or a positive number of steps")
        if not self.checkpoint_every_s > 0:
            raise UserError(f"checkpoint interval {self.checkpoint_every_s} s is not positive; accepted: seconds > 0")

    def torch_device(self) -> torch.device:
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise choice_error("device", self.device, DEVICES)
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise UserError(f"device {self.device!r} requested but no CUDA GPU is available; accepted: auto, cpu")
        return torch.device(self.device)


@dataclass
class Experiment:
    name: str
    config_cls: type
    run_group: Callable[[Sequence[Any], RunOptions], list[RunResult]]
    stack_key: Callable[[Any], Any]
    profiles: dict[str, dict[str, Any]]
    description: str
    # dry check that the data a config needs is there (raises UserError), without training
    check_data: Callable[[Any, str | None], None] | None = None


EXPERIMENTS: dict[str, Experiment] = {}
# large: the paper's settings on the data at hand offline (CG2020: MNIST-22k), sized for CPU hours;
# defined only by experiments that list it in their profiles
PROFILES = ("smoke", "small", "large", "paper")


def register(exp: Experiment) -> Experiment:
    EXPERIMENTS[exp.name] = exp
    return exp


def get_experiment(name: str) -> Experiment:
    """A registered experiment. Papers register theirs when imported; callers that
    look experiments up by name from outside a paper (the CLI, the book) go through
    `cgh_lib.book.registry`, which imports every paper package first."""
    if name not in EXPERIMENTS:
        raise choice_error("experiment", name, sorted(EXPERIMENTS))
    return EXPERIMENTS[name]


# Seeds a figure shows at each profile: init, label-noise draw and data order all derive
# from a config's ``seed``, so these are independent replicates. Smoke stays one seed
# (seconds); the paper profile keeps one unless a figure is asked for more. Three seeds is
# what a run-based verdict needs (`book.claims.MIN_SEEDS`); a figure whose grid is too
# costly for three at a profile declares fewer (`Figure.seeds`, e.g. CG2020 Figure 4 at large).
SEEDS: dict[str, tuple[int, ...]] = {"smoke": (0,), "small": (0, 1, 2), "large": (0, 1, 2), "paper": (0,)}


def default_seeds(profile: str) -> tuple[int, ...]:
    """The seeds a figure runs and its claims aggregate over at ``profile``."""
    return SEEDS[check_profile(profile)]


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise choice_error("profile", profile, PROFILES)
    return profile


def make_config(experiment: str, profile: str | None = None, overrides: dict[str, Any] | None = None) -> Any:
    """The config of ``experiment`` at ``profile`` (None = the paper's defaults) with overrides."""
    exp = get_experiment(experiment)
    cfg = exp.config_cls()
    if profile is not None:
        if check_profile(profile) not in exp.profiles:
            raise choice_error(f"profile of experiment {experiment!r}", profile, exp.profiles)
        cfg = apply_overrides(cfg, exp.profiles[profile])
    return apply_overrides(cfg, overrides or {})


def sweep_configs(experiment: str, profile: str, points: Iterable[dict[str, Any]],
                  overrides: dict[str, Any] | None = None) -> list[Any]:
    """One config per point of a figure's sweep (e.g. ``{"noise": 0.25}``): the
    profile, then the user's overrides, then the point itself."""
    return [make_config(experiment, profile, {**(overrides or {}), **point}) for point in points]


def group_key(configs: Sequence[Any]) -> str:
    """Checkpoint key of a stack: a hash of its members' hashes, in order."""
    return hashlib.sha256(",".join(config_hash(c) for c in configs).encode()).hexdigest()[:16]


def check_runnable(configs: Sequence[Any], data_root: str | None = None, device: str = "auto",
                   store: RunStore | None = None) -> None:
    """Everything `ensure_runs` would check before training, without training: the
    device, and for configs not yet stored, that their data are there and large
    enough (each distinct dataset once). Raises `UserError`."""
    RunOptions(device=device).torch_device()
    if data_root not in (None, "") and not Path(str(data_root)).expanduser().is_dir():
        raise UserError(f"data root {str(data_root)!r} (from data_root) does not exist; accepted: an existing "
                        "folder holding the datasets (e.g. ../shared/data), or None for $CGH_DATA")
    store = store or RunStore()
    seen: set[str] = set()
    for c in configs:
        if not hasattr(c, "EXPERIMENT"):  # a figure may plan other things than configs
            continue
        exp = get_experiment(type(c).EXPERIMENT)
        if store.has(c):
            continue
        check_budget(c)
        if exp.check_data is None:
            continue
        key = repr(exp.stack_key(c)) + exp.name
        if key not in seen:
            seen.add(key)
            exp.check_data(c, data_root)


def ensure_runs(configs: Sequence[Any], opts: RunOptions | None = None,
                allow_diverged: bool = False) -> list[RunResult]:
    """Results for ``configs`` in order: cached where stored, trained where missing.

    ``opts.force`` recomputes even stored configs, but the stored result stays
    in place until the new one is complete (the store swaps them). Each group is
    trained under the store's lock on its configs, so a second process asking
    for the same runs waits and then reads them instead of training them again
    (its results then say ``cached``). Every missing config is checked against
    the machine's resources first (`check_budget`). A run whose loss diverges is
    stored as ``diverged``; unless ``allow_diverged``, a diverged result (new or
    stored) then ends the call with a one-line `UserError` naming it.
    """
    opts = opts or RunOptions()
    if not configs:
        return []
    exp = get_experiment(type(configs[0]).EXPERIMENT)
    results: dict[str, RunResult] = {}
    missing: dict[Any, list[Any]] = {}
    for c in configs:
        if not os.environ.get("CGH_STORED_ONLY"):
            opts.store.recover(c)  # a save a kill interrupted after staging its record
        r = None if opts.force else opts.store.load(c)
        if r is not None:
            results[config_hash(c)] = r
        elif config_hash(c) not in {config_hash(m) for g in missing.values() for m in g}:
            missing.setdefault(exp.stack_key(c), []).append(c)
    if missing and os.environ.get("CGH_STORED_ONLY"):  # the stored book build: read, never train
        n = sum(len(g) for g in missing.values())
        raise UserError(f"{n} run(s) of {exp.name} not stored (first: {config_hash(next(iter(missing.values()))[0])}) "
                        "and CGH_STORED_ONLY is set; accepted: stored runs only (unset it to train them)")
    for group in missing.values():
        for c in group:
            check_budget(c)
    for group in missing.values():
        with opts.store.lock(group):
            todo = []
            for c in group:  # another process may have stored it while we waited for the lock
                r = None if opts.force else opts.store.load(c)
                if r is not None:
                    results[config_hash(c)] = r
                else:
                    todo.append(c)
            _train(exp, todo, opts, results)
    out = [results[config_hash(c)] for c in configs]
    bad = [(c, r) for c, r in zip(configs, out) if r.diverged]
    if bad and not allow_diverged:
        c, r = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise UserError(f"run {exp.name} {config_hash(c)} diverged: {r.diverged}{more}; stored as diverged (claims "
                        "show n/a); accepted: a smaller lr, or --force to recompute")
    return out


def _train(exp: Experiment, todo: list[Any], opts: RunOptions, results: dict[str, RunResult]) -> None:
    """Train ``todo`` (a group); members whose loss diverges are stored as diverged and the rest
    trained again without them (a smaller stack: equal up to float reordering)."""
    while todo:
        t0 = time.time()
        try:
            for c, r in zip(todo, exp.run_group(todo, opts)):
                r.cached = False
                results[config_hash(c)] = r
            return
        except Diverged as e:
            def saved_now(c: Any) -> bool:  # stored by this attempt, before the divergence
                p = opts.store.run_dir(c) / "result.json"
                return p.exists() and p.stat().st_mtime >= t0 - 1 and opts.store.load(c) is not None

            done = [c for c in todo if saved_now(c)]
            rest = [c for c in todo if c not in done]
            if e.members is not None and not done:  # one stack: the members it names
                bad = [todo[i] for i in e.members if i < len(todo)]
            else:  # one config at a time: the first not yet stored is the one that diverged
                bad = rest[:1]
            prov = provenance(opts.torch_device())
            for c in done:
                r = opts.store.load(c)
                r.cached = False  # type: ignore[union-attr]
                results[config_hash(c)] = r  # type: ignore[assignment]
            for c in bad:
                r = opts.store.save_diverged(c, e.reason, e.step, prov)
                results[config_hash(c)] = r
                opts.store.drop_checkpoint(exp.name, config_hash(c))
            opts.store.drop_checkpoint(exp.name, group_key(todo))
            todo = [c for c in rest if c not in bad]
