"""CG2020 §3 (Figure 4): suppressing weak gradient directions by winsorization.

An MLP 784-256-256-256-10 (ReLU, Xavier init) is trained with SGD (lr 0.1,
batch 100, 60,000 steps in the paper) on MNIST with 0-100% label noise, where
each weight's update is the c-winsorized mean of its per-example gradients in
the minibatch: the c largest and c smallest values are clipped to the
(c+1)-th extremes (`aggregation.WinsorizedAggregator`; c = 0 is plain SGD, run
as such). We record training accuracy (on the noisy labels) ``ta``, test
accuracy ``va`` and the paper's *overfit* = ta - [e/10 + (1-e) va], e the noise
level (test labels are clean, so a net that learned only the true rule would
score about e/10 + (1-e) va on the noisy training set).

The data live on the device as tensors (no DataLoader); a run checkpoints its
whole state (weights, batch-order generator, epoch permutation, history) and
resumes bit-identically on CPU. Seeds: init ``seed``, noise ``seed+1``, batch
order ``seed+2``, so every c at one noise level starts from the same weights
and sees the same minibatches.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cgh_lib.data.tensors import TensorData, corrupt_labels
from cgh_lib.errors import UserError
from cgh_lib.grads.aggregators import WinsorizedAggregator, winsorize_kernel
from cgh_lib.models.mlp import mlp
from cgh_lib.papers.cg2020.fig1_label_noise import check_data, load_data
from cgh_lib.papers.cg2020.mlp_config import validate_mlp_run
from cgh_lib.store.config import config_hash
from cgh_lib.store import faults
from cgh_lib.store.experiments import Experiment, RunOptions, check_profile, register, sweep_configs
from cgh_lib.store.provenance import provenance
from cgh_lib.store.runstore import RunResult
from cgh_lib.train.divergence import check_loss
from cgh_lib.train.eval_schedule import eval_steps
from cgh_lib.train.stacked import Timing, drive

NOISE_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
C_LEVELS = (0, 1, 2, 4, 8)
CHECKPOINT_FORMAT = 2  # bump when the checkpoint's content changes: older ones are discarded, not misread
METRICS = ("train_acc", "test_acc", "train_loss", "test_loss", "pristine_acc", "corrupt_acc")


@dataclass(frozen=True)
class WinsorizedConfig:
    """One cell of CG2020 Figure 4; defaults are the paper's §3.1 settings."""

    EXPERIMENT: ClassVar[str] = "cg2020-winsorized"

    dataset: str = "mnist"
    n_train: int = 60_000
    n_test: int = 10_000
    noise: float = 0.0
    noise_scheme: str = "exact"
    c: int = 0                        # clipped values at each end, per coordinate and minibatch
    hidden: tuple[int, ...] = (256, 256, 256)
    init: str = "xavier"
    lr: float = 0.1
    batch_size: int = 100
    steps: int = 60_000
    eval_schedule: str = "authors"
    seed: int = 0

    def validate(self) -> None:
        validate_mlp_run(self)
        c_max = max((self.batch_size - 2) // 2, 0)
        if self.c < 0:
            raise UserError(f"parameter c={self.c} is negative; accepted: an integer 0 <= c <= {c_max} "
                            f"(batch_size={self.batch_size})")
        if 2 * self.c + 2 > self.batch_size:
            raise UserError(f"parameter c={self.c} needs batch_size >= 2c+2 = {2 * self.c + 2} (c values are "
                            f"clipped at each end and two must remain), but batch_size={self.batch_size}; "
                            f"accepted: an integer 0 <= c <= {c_max}")
        if self.batch_size > self.n_train:
            raise UserError(f"parameter batch_size={self.batch_size} exceeds n_train={self.n_train}; "
                            f"accepted: 1..{self.n_train}")


PROFILES: dict[str, dict[str, Any]] = {
    # under a minute on a CPU for the smoke grid (`GRIDS`): generated data, a narrow net, 150 steps
    # (15 epochs), lr 0.05 (at 0.1 this narrow net oscillates on the generated data, and whether
    # it has learned at step 150 then depends on float rounding, e.g. the CPU thread count);
    # checks the code path, not the paper's claims
    "smoke": dict(dataset="synthetic", n_train=1000, n_test=500, hidden=(32, 32, 32), steps=150,
                  lr=0.05, eval_schedule="log"),
    # ~15-20 CPU minutes (2 shared cores) for the 5x5 grid: real MNIST (first 3,000 images), a narrower net
    # (784-64x3-10), 1,000 steps (33 epochs); the per-example clipping is what costs
    "small": dict(dataset="mnist", n_train=3000, n_test=10_000, hidden=(64, 64, 64), steps=1000,
                  eval_schedule="log"),
    # the paper: full MNIST, 784-256x3-10, 60,000 steps = 100 epochs (GPU)
    "paper": dict(dataset="mnist", n_train=60_000, n_test=10_000, hidden=(256, 256, 256), steps=60_000,
                  eval_schedule="authors"),
}
# the paper's settings on MNIST-22k: 60,000 steps x 25 cells, CPU hours with the native kernel
# (the training set size is the only difference from "paper")
PROFILES["large"] = {**PROFILES["paper"], "n_train": 22_699}


def stack_key(cfg: WinsorizedConfig) -> str:
    """Every cell trains on its own (per-example clipping does not stack)."""
    return config_hash(cfg)


def sgd_update(model: nn.Module, lr: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p.sub_(p.grad, alpha=lr)


@torch.no_grad()
def evaluate(model: nn.Module, data: TensorData, y_train: torch.Tensor, corrupt: torch.Tensor,
             chunk: int = 8192) -> dict[str, float]:
    def run(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        losses, ok = [], []
        for s in range(0, x.shape[0], chunk):
            out = model(x[s:s + chunk])
            losses.append(F.cross_entropy(out, y[s:s + chunk], reduction="none"))
            ok.append(out.argmax(1) == y[s:s + chunk])
        return torch.cat(losses), torch.cat(ok).double()

    tr_loss, tr_ok = run(data.x_train, y_train)
    te_loss, te_ok = run(data.x_test, data.y_test)
    nan = float("nan")
    return {"train_acc": float(tr_ok.mean()), "test_acc": float(te_ok.mean()),
            "train_loss": float(tr_loss.mean()), "test_loss": float(te_loss.mean()),
            "pristine_acc": float(tr_ok[~corrupt].mean()) if (~corrupt).any() else nan,
            "corrupt_acc": float(tr_ok[corrupt].mean()) if corrupt.any() else nan}


def train_run(cfg: WinsorizedConfig, data: TensorData, opts: RunOptions) -> tuple[dict[str, np.ndarray], Timing]:
    """Train one cell; return its arrays (curves over the evaluation steps) and timing."""
    device = opts.torch_device()
    exp, key = cfg.EXPERIMENT, config_hash(cfg)
    data = data.to(device)
    y, corrupt = corrupt_labels(data.y_train, cfg.noise, cfg.seed + 1, cfg.noise_scheme)
    y, corrupt = y.to(device), corrupt.to(device)
    n = data.x_train.shape[0]
    model = mlp(data.x_train.shape[1], cfg.hidden, data.num_classes, cfg.init, cfg.seed).to(device)
    agg = WinsorizedAggregator(cfg.c)  # c = 0: the plain mean gradient, no per-example pass
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    per_epoch = n // cfg.batch_size
    order = {"perm": torch.empty(0, dtype=torch.long), "pos": per_epoch}
    hist: dict[str, list] = {m: [] for m in (*METRICS, "step")}
    timing, step = Timing(), 0
    started = time.perf_counter()
    state = opts.store.load_checkpoint(exp, key)
    if state is not None and state.get("format") != CHECKPOINT_FORMAT:
        print(f"cgh: discarding a stale checkpoint of {key} (format {state.get('format')!r}, this code writes "
              f"{CHECKPOINT_FORMAT}); starting from step 0", file=sys.stderr)
        state = None
    if state is not None:
        model.load_state_dict(state["model"])
        gen.set_state(state["gen"])
        order, step, hist = state["order"], state["step"], state["hist"]
        timing = Timing(**state["timing"])
        timing.resumed += 1
        print(f"resuming {key} from step {step} of {cfg.steps}", file=sys.stderr)
    perm_dev = order["perm"].to(device)

    def save(step: int) -> None:
        opts.store.save_checkpoint(exp, key, {
            "format": CHECKPOINT_FORMAT,
            "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "gen": gen.get_state(), "order": {"perm": order["perm"].clone(), "pos": order["pos"]}, "step": step,
            "hist": {k: list(v) for k, v in hist.items()},
            "timing": dict(vars(timing), prior_wall_s=timing.prior_wall_s + time.perf_counter() - started)})

    def evaluate_at(step: int) -> None:
        t0 = time.perf_counter()
        for k, v in evaluate(model, data, y, corrupt).items():
            hist[k].append(v)
        faults.point("eval", step)
        hist["step"].append(step)
        check_loss(step, hist["train_loss"][-1], hist["train_loss"][0])  # NaN / exploding: stored as diverged
        timing.eval_s += time.perf_counter() - t0

    def one_step() -> None:
        nonlocal perm_dev
        if order["pos"] >= per_epoch:
            order["perm"], order["pos"] = torch.randperm(n, generator=gen), 0
            perm_dev = order["perm"].to(device)
        idx = perm_dev[order["pos"] * cfg.batch_size:(order["pos"] + 1) * cfg.batch_size]
        order["pos"] += 1
        taken[0] += 1
        faults.point("mid_step", taken[0])
        agg.backward(model, F.cross_entropy, data.x_train[idx], y[idx])
        sgd_update(model, cfg.lr)

    taken = [step]  # steps taken so far (for fault injection)
    if not hist["step"]:
        evaluate_at(step)
    drive(one_step, evaluate_at, save, start=step, steps=cfg.steps, eval_at=eval_steps(cfg.eval_schedule, cfg.steps),
          timing=timing, device=device, checkpoint_every_s=opts.checkpoint_every_s,
          checkpoint_every_steps=opts.checkpoint_every_steps, progress=opts.progress,
          desc=f"noise {cfg.noise:g} c {cfg.c}")
    timing.extra["wall_s"] = timing.prior_wall_s + time.perf_counter() - started
    arrays = {k: np.asarray(v, dtype=np.int64 if k == "step" else np.float64) for k, v in hist.items()}
    arrays["corrupt"] = corrupt.cpu().numpy()
    arrays["overfit"] = overfit(arrays["train_acc"], arrays["test_acc"], cfg.noise)
    return arrays, timing


def overfit(ta: np.ndarray, va: np.ndarray, noise: float) -> np.ndarray:
    """The paper's overfit ta - [e/10 + (1-e) va] (§3.3)."""
    return ta - (noise / 10.0 + (1.0 - noise) * va)


def run_group(configs: Sequence[WinsorizedConfig], opts: RunOptions) -> list[RunResult]:
    for c in configs:
        c.validate()
    out = []
    data = None
    for cfg in configs:
        if data is None:
            data = load_data(cfg, opts.data_root)
        prov = provenance(opts.torch_device())
        arrays, timing = train_run(cfg, data, opts)
        prov.update(wall_time_s=round(timing.extra["wall_s"], 3), train_time_s=round(timing.train_s, 3),
                    eval_time_s=round(timing.eval_s, 3), resumed=timing.resumed, data=data.describe(),
                    winsorize_kernel="none (c = 0: plain SGD)" if cfg.c == 0 else (
                        "topk (GPU)" if opts.torch_device().type == "cuda" else winsorize_kernel()))
        final = {m: float(arrays[m][-1]) for m in METRICS}
        final.update(step=int(arrays["step"][-1]), overfit=float(arrays["overfit"][-1]),
                     proper_acc=float(1 - arrays["corrupt"].mean()))
        out.append(opts.store.save(cfg, final, arrays, prov,
                                   drop=[opts.store.checkpoint_path(cfg.EXPERIMENT, config_hash(cfg))]))
    return out


EXPERIMENT = register(Experiment(
    name=WinsorizedConfig.EXPERIMENT, config_cls=WinsorizedConfig, run_group=run_group,
    stack_key=stack_key, profiles=PROFILES, check_data=check_data,
    description="CG2020 §3: winsorized SGD on MNIST with 0-100% label noise (Figure 4)"))


# --------------------------------------------------------------------------- analysis

# The grid each profile shows: the paper's 5 x 5, except smoke (3 x 3 keeps it under a minute).
GRIDS: dict[str, tuple[tuple[float, ...], tuple[int, ...]]] = {
    "smoke": ((0.0, 0.5, 1.0), (0, 2, 8)),
    "small": (NOISE_LEVELS, C_LEVELS),
    "large": (NOISE_LEVELS, C_LEVELS),
    "paper": (NOISE_LEVELS, C_LEVELS),
}


def grid_configs(profile: str, noise_levels: Sequence[float] | None = None, c_levels: Sequence[int] | None = None,
                 overrides: dict[str, Any] | None = None) -> list[WinsorizedConfig]:
    """Figure 4's cells at ``profile``, row-major (c outer, noise inner); None = the profile's grid."""
    default_n, default_c = GRIDS[check_profile(profile)]
    noise_levels = default_n if noise_levels is None else noise_levels
    c_levels = default_c if c_levels is None else c_levels
    return sweep_configs(WinsorizedConfig.EXPERIMENT, profile,
                         ({"noise": n, "c": c} for c in c_levels for n in noise_levels), overrides)


def as_grid(configs: Sequence[WinsorizedConfig], runs: Sequence[RunResult]) -> dict[tuple[int, float], RunResult]:
    """(c, noise) -> run."""
    return {(cfg.c, cfg.noise): r for cfg, r in zip(configs, runs)}


def summary_table(grid: dict[tuple[int, float], RunResult]) -> "Any":
    """Final ta / va / overfit per cell as a DataFrame (rows c, columns noise)."""
    import pandas as pd

    cs = sorted({c for c, _ in grid})
    ns = sorted({n for _, n in grid})
    cols = pd.MultiIndex.from_product([[f"{n:.0%}" for n in ns], ["ta", "va", "overfit", "proper"]])
    rows = []
    for c in cs:
        row = []
        for n in ns:
            f = grid[(c, n)].final
            row += [f["train_acc"], f["test_acc"], f["overfit"], f["proper_acc"]]
        rows.append(row)
    return pd.DataFrame(rows, index=pd.Index([f"c={c}" for c in cs]), columns=cols).round(3)
