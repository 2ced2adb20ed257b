"""CG2020 §2 (Figure 1): MNIST MLPs trained on 0-100% label noise.

The config's defaults are the paper's settings; profiles scale them down.
Analysis functions turn stored runs into the curves of panel (d).

"Learned" (panel d, as captioned: "first training step when an example is
learned"): an example counts as learned from the first evaluation at which it is
classified as its (possibly noisy) training label (``learnt_first``). A second
panel shows it learned *for good*: correct at that evaluation and every later one
(the authors' ``learnt_last``). The paper's statements are checked in
`cgh_lib.papers.cg2020.claims`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np

from cgh_lib.data.tensors import TensorData, corrupt_labels, load_dataset
from cgh_lib.errors import UserError
from cgh_lib.papers.cg2020.mlp_config import validate_mlp_run
from cgh_lib.store.config import config_hash
from cgh_lib.store.experiments import Experiment, RunOptions, group_key, register, sweep_configs
from cgh_lib.store.provenance import provenance
from cgh_lib.store.runstore import RunResult
from cgh_lib.train.eval_schedule import eval_steps
from cgh_lib.train.stacked import METRICS, Member, StackSpec, train_stack

NOISE_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class LabelNoiseConfig:
    """One CG2020 label-noise run; defaults are the paper's §2.1 settings."""

    EXPERIMENT: ClassVar[str] = "cg2020-label-noise"

    dataset: str = "mnist"
    n_train: int = 60_000           # first n training examples (the paper: all 60,000)
    n_test: int = 10_000
    noise: float = 0.0
    noise_scheme: str = "exact"     # paper text; "bernoulli" = authors' code
    hidden: tuple[int, ...] = (2048,)
    init: str = "xavier"
    lr: float = 0.1
    batch_size: int = 100
    steps: int = 100_000
    eval_schedule: str = "authors"
    seed: int = 0

    def validate(self) -> None:
        validate_mlp_run(self)


PROFILES: dict[str, dict[str, Any]] = {
    # seconds on a CPU, no files: a generated 10-class dataset
    "smoke": dict(dataset="synthetic", n_train=1000, n_test=500, hidden=(256,), steps=300),
    # minutes on a CPU, real MNIST (the first 22,699 training images, the offline subset)
    "small": dict(dataset="mnist", n_train=22_699, n_test=10_000, hidden=(2048,), steps=10_000,
                  eval_schedule="log"),
    # the paper: full MNIST, 10^5 steps (GPU)
    "paper": dict(dataset="mnist", n_train=60_000, n_test=10_000, hidden=(2048,), steps=100_000,
                  eval_schedule="authors"),
}
# the paper's settings on MNIST-22k (all 22,699 offline training images): ~40+ CPU minutes
# (the training set size is the only difference from "paper")
PROFILES["large"] = {**PROFILES["paper"], "n_train": 22_699}


def stack_key(cfg: LabelNoiseConfig) -> tuple:
    """Configs differing only in noise / scheme / init / seed can train as one stack."""
    return (cfg.dataset, cfg.n_train, cfg.n_test, cfg.hidden, cfg.lr, cfg.batch_size, cfg.steps, cfg.eval_schedule)


def load_data(cfg: LabelNoiseConfig, data_root: str | None) -> TensorData:
    data = load_dataset(cfg.dataset, data_root, n_train=cfg.n_train, n_test=cfg.n_test)
    if len(data.y_train) < cfg.n_train or len(data.y_test) < cfg.n_test:
        raise UserError(f"dataset {cfg.dataset!r} at {data.source} has {len(data.y_train):,} train / "
                        f"{len(data.y_test):,} test examples but the config asks for n_train={cfg.n_train:,}, "
                        f"n_test={cfg.n_test:,}; accepted: at most what the data has (pass -p n_train=... or "
                        "point data_root / CGH_DATA at the full dataset)")
    return data


def check_data(cfg: Any, data_root: str | None) -> None:
    """The dry data check of `cgh figure` (the data are there, large enough), shared by the CG2020 experiments."""
    load_data(cfg, data_root)


def member(cfg: LabelNoiseConfig, data: TensorData) -> Member:
    """Seeds: init from ``seed``, noise from ``seed+1``, batch order from ``seed+2``,
    so noise levels with the same seed share init and batch order (only the data differs)."""
    y, corrupt = corrupt_labels(data.y_train, cfg.noise, cfg.seed + 1, cfg.noise_scheme)
    return Member(y, corrupt, cfg.init, cfg.seed, cfg.seed + 2)


def run_group(configs: Sequence[LabelNoiseConfig], opts: RunOptions) -> list[RunResult]:
    """Train configs sharing a stack key as one stack; store each result."""
    for c in configs:
        c.validate()
    device = opts.torch_device()
    first = configs[0]
    data = load_data(first, opts.data_root)
    spec = StackSpec(first.hidden, first.lr, first.batch_size, first.steps,
                     eval_steps(first.eval_schedule, first.steps))
    key = group_key(configs)
    exp = first.EXPERIMENT
    ckpt = (lambda st: opts.store.save_checkpoint(exp, key, st), lambda: opts.store.load_checkpoint(exp, key))
    t0 = time.time()
    prov = provenance(device)  # the code that runs is the code at this commit
    desc = f"noise {','.join(f'{c.noise:g}' for c in configs)}"
    arrays, timing = train_stack(data, [member(c, data) for c in configs], spec, device=device,
                                 checkpoint=ckpt, checkpoint_every_s=opts.checkpoint_every_s,
                                 checkpoint_every_steps=opts.checkpoint_every_steps,
                                 progress=opts.progress, desc=desc,
                                 run_id=", ".join(config_hash(c) for c in configs))
    prov.update(wall_time_s=round(time.time() - t0 + timing.prior_wall_s, 3),
                train_time_s=round(timing.train_s, 3), eval_time_s=round(timing.eval_s, 3),
                resumed=timing.resumed, stacked_with=len(configs), data=data.describe())
    out = []
    for c, arr in zip(configs, arrays):
        final = {m: float(arr[m][-1]) for m in METRICS}
        final.update(step=int(arr["step"][-1]), pristine_fraction=float(1 - arr["corrupt"].mean()))
        last = c is configs[-1]  # the stack's checkpoint goes with its last member's result
        out.append(opts.store.save(c, final, arr, prov, drop=[opts.store.checkpoint_path(exp, key)] if last else ()))
    return out


EXPERIMENT = register(Experiment(
    name=LabelNoiseConfig.EXPERIMENT, config_cls=LabelNoiseConfig, run_group=run_group,
    stack_key=stack_key, profiles=PROFILES, check_data=check_data,
    description="CG2020 §2: MLP on MNIST with 0-100% label noise (Figure 1)"))


# --------------------------------------------------------------------------- analysis

def learned_curve(run: RunResult, group: str = "all", first: bool = True) -> np.ndarray:
    """Fraction of the group (``all``, ``pristine``, ``corrupt``) learned by each evaluation step.

    ``first=True`` (Figure 1(d)'s caption, "first training step when an example is learned"):
    classified as its training label at that evaluation or an earlier one (``learnt_first``).
    ``first=False``: learned *for good*, correct from then on to the end (``learnt_last``).
    """
    learnt, corrupt = run.arrays["learnt_first" if first else "learnt_last"], run.arrays["corrupt"].astype(bool)
    mask = {"all": np.ones_like(corrupt), "pristine": ~corrupt, "corrupt": corrupt}[group]
    if mask.sum() == 0:
        return np.full(len(run.arrays["step"]), np.nan)
    sel = learnt[mask]
    return np.array([np.mean((sel >= 0) & (sel <= s)) for s in run.arrays["step"]])


def steps_to_reach(steps: np.ndarray, values: np.ndarray, level: float) -> float:
    """First evaluation step at which ``values`` reaches ``level`` (inf if never)."""
    hit = np.nonzero(values >= level)[0]
    return float(steps[hit[0]]) if len(hit) else math.inf


def curve_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute gap between two curves on the same evaluation steps."""
    return float(np.nanmean(np.abs(a - b)))


def figure1_configs(profile: str, noise_levels: Sequence[float] = NOISE_LEVELS,
                    overrides: dict[str, Any] | None = None) -> list[LabelNoiseConfig]:
    """The configs Figure 1 needs at ``profile`` (one per noise level)."""
    return sweep_configs(LabelNoiseConfig.EXPERIMENT, profile, ({"noise": n} for n in noise_levels), overrides)


def config_id(cfg: LabelNoiseConfig) -> str:
    return config_hash(cfg)
