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

On CPU the cells of one grid row (one c, every noise level) train together in
one process (`train_cells`), step for step, each member with its own weights,
labels and batch order, so a member's numbers do not depend on what it was
stacked with: every stored array is bit-equal to training the cell alone with
`train_run` (tested). For c > 0 the step is `fused_backward`: the forward and
the per-example deltas by hand (no autograd graph, hooks or vmap, ~1 ms of a
~5 ms step at the large profile) and the native kernel per layer and member.
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
from cgh_lib.errors import Diverged, UserError
from cgh_lib.grads import native_winsorize
from cgh_lib.grads.aggregators import WinsorizedAggregator, winsorize_kernel
from cgh_lib.models.mlp import mlp
from cgh_lib.papers.cg2020.fig1_label_noise import check_data, load_data
from cgh_lib.papers.cg2020.mlp_config import validate_mlp_run
from cgh_lib.store.config import config_hash
from cgh_lib.store import faults
from cgh_lib.store.experiments import (Experiment, RunOptions, check_profile, default_seeds, group_key, register,
                                       sweep_configs)
from cgh_lib.store.provenance import provenance
from cgh_lib.store.runstore import RunResult
from cgh_lib.train.divergence import check_loss, divergence_reason
from cgh_lib.train.eval_schedule import eval_steps
from cgh_lib.train.stacked import Timing, drive

NOISE_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
C_LEVELS = (0, 1, 2, 4, 8)
CHECKPOINT_FORMAT = 2  # bump when the checkpoint's content changes: older ones are discarded, not misread
STACK_CHECKPOINT_FORMAT = 1  # the same for `train_cells`' checkpoints (one per stack, keyed by its members)
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


def stack_key(cfg: WinsorizedConfig) -> tuple:
    """Cells that differ only in noise / scheme / init / seed train as one stack: a grid row (one c).

    Why per c: every member of a row costs the same per step, so the 5 rows are 5
    jobs of similar length (`cgh sweep` runs one job per stack).
    """
    return (cfg.dataset, cfg.n_train, cfg.n_test, cfg.hidden, cfg.lr, cfg.batch_size, cfg.steps,
            cfg.eval_schedule, cfg.c)


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


def fused_ok(model: nn.Module, agg: WinsorizedAggregator, x: torch.Tensor) -> bool:
    """Whether `fused_backward` applies: c > 0 on CPU with the native kernel, a Linear/ReLU MLP in float32."""
    return (agg.c > 0 and agg.kernel == "native" and native_winsorize.supports(x)
            and isinstance(model, nn.Sequential) and isinstance(model[-1], nn.Linear)
            and all(isinstance(m, nn.Linear) == (i % 2 == 0) and (i % 2 == 0 or isinstance(m, nn.ReLU))
                    for i, m in enumerate(model)))


@torch.no_grad()
def fused_backward(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, c: int) -> None:
    """Leave in each parameter's ``.grad`` exactly what ``WinsorizedAggregator(c).backward`` leaves.

    Why by hand: the aggregator's route (forward hooks, a vmapped per-example loss,
    autograd back to every pre-activation) costs ~1 ms of a ~5 ms step at the large
    profile for what is three matmuls forward and back. The ops are the ones autograd
    runs (``addmm`` forward, ``log_softmax`` backward with the -1 of each example's
    own loss, ``dz @ W`` and ReLU's ``threshold_backward``), in the same layouts, so
    the deltas and hence the native kernel's results are bit-equal
    (tests/test_winsorized_runs.py checks whole runs).
    """
    lins = [m for m in model if isinstance(m, nn.Linear)]
    acts, h = [x], x
    for i, lin in enumerate(lins):
        z = torch.addmm(lin.bias, h, lin.weight.t())  # F.linear's own op for a 2-D input
        if i < len(lins) - 1:
            h = torch.relu(z)
            acts.append(h)
    # d(sum of the per-example cross-entropies)/d(logits): softmax - onehot, as log_softmax's backward forms it
    onehot_grad = torch.zeros_like(z).scatter_(1, y.unsqueeze(1), -1.0)
    dz = torch._log_softmax_backward_data(onehot_grad, torch.log_softmax(z, 1), 1, z.dtype)
    for i in range(len(lins) - 1, -1, -1):
        lin = lins[i]
        prev = torch.ops.aten.threshold_backward(dz.mm(lin.weight), acts[i], 0.0) if i > 0 else None
        lin.bias.grad = native_winsorize.winsor_rows(dz, c)
        lin.weight.grad = native_winsorize.winsor_outer(dz, acts[i], c)
        dz = prev


@dataclass
class _Cell:
    """One member of a `train_cells` stack: what `train_run` keeps for its one cell."""

    cfg: WinsorizedConfig
    y: torch.Tensor
    corrupt: torch.Tensor
    model: nn.Sequential
    agg: WinsorizedAggregator
    gen: torch.Generator
    order: dict[str, Any]
    perm: torch.Tensor
    hist: dict[str, list]
    fused: bool = False
    diverged: tuple[str, int] | None = None  # (reason, step) once its loss diverged: it steps no more


class _AllDiverged(Exception):
    """Every member of a stack has diverged: nothing is left to train."""


def train_cells(configs: Sequence[WinsorizedConfig], data: TensorData, opts: RunOptions
                ) -> tuple[list[dict[str, np.ndarray] | Diverged], Timing]:
    """Train cells sharing a `stack_key` in lockstep in one process; per member, what `train_run` returns.

    Each member has its own model, labels, aggregator and batch-order generator and
    takes exactly `train_run`'s step, so its stored arrays are bit-equal to training it
    alone on the same machine; the stack shares the data, the step loop, evaluations'
    schedule and one checkpoint (keyed by its members, resumed bit-identically).

    A member whose loss diverges (`check_loss`'s rule) stops there and is returned
    as a `Diverged` (reason, step); the others train on undisturbed, as they would
    alone. Why not stop the stack: at the large profile a noisy cell can diverge
    after 40,000 of 60,000 steps, and restarting the other members without it
    would redo two thirds of the row.
    """
    device = opts.torch_device()
    first = configs[0]
    exp, key = first.EXPERIMENT, group_key(configs)
    data = data.to(device)
    n = data.x_train.shape[0]
    per_epoch = n // first.batch_size
    cells = []
    for cfg in configs:
        y, corrupt = corrupt_labels(data.y_train, cfg.noise, cfg.seed + 1, cfg.noise_scheme)
        model = mlp(data.x_train.shape[1], cfg.hidden, data.num_classes, cfg.init, cfg.seed).to(device)
        agg = WinsorizedAggregator(cfg.c)
        cells.append(_Cell(cfg, y.to(device), corrupt.to(device), model, agg,
                           torch.Generator().manual_seed(cfg.seed + 2),
                           {"perm": torch.empty(0, dtype=torch.long), "pos": per_epoch},
                           torch.empty(0, dtype=torch.long, device=device), {m: [] for m in (*METRICS, "step")},
                           fused=fused_ok(model, agg, data.x_train)))
    timing, step = Timing(), 0
    started = time.perf_counter()
    state = opts.store.load_checkpoint(exp, key)
    if state is not None and (state.get("format") != STACK_CHECKPOINT_FORMAT
                              or len(state.get("members", ())) != len(cells)):
        print(f"cgh: discarding a stale checkpoint of {key} (format {state.get('format')!r}, this code writes "
              f"{STACK_CHECKPOINT_FORMAT}); starting from step 0", file=sys.stderr)
        state = None
    if state is not None:
        for cell, st in zip(cells, state["members"]):
            cell.model.load_state_dict(st["model"])
            cell.gen.set_state(st["gen"])
            cell.order, cell.hist = st["order"], st["hist"]
            cell.perm = cell.order["perm"].to(device)
            cell.diverged = tuple(st["diverged"]) if st.get("diverged") else None  # type: ignore[assignment]
        step = state["step"]
        timing = Timing(**state["timing"])
        timing.resumed += 1
        print(f"resuming {', '.join(config_hash(c) for c in configs)} from step {step} of {first.steps}",
              file=sys.stderr)

    def save(step: int) -> None:
        opts.store.save_checkpoint(exp, key, {
            "format": STACK_CHECKPOINT_FORMAT, "step": step,
            "members": [{"model": {k: v.detach().cpu().clone() for k, v in c.model.state_dict().items()},
                         "gen": c.gen.get_state(), "order": {"perm": c.order["perm"].clone(), "pos": c.order["pos"]},
                         "hist": {k: list(v) for k, v in c.hist.items()},
                         **({"diverged": list(c.diverged)} if c.diverged else {})} for c in cells],
            "timing": dict(vars(timing), prior_wall_s=timing.prior_wall_s + time.perf_counter() - started)})

    def evaluate_at(step: int) -> None:
        t0 = time.perf_counter()
        live = [c for c in cells if c.diverged is None]
        for c in live:
            for k, v in evaluate(c.model, data, c.y, c.corrupt).items():
                c.hist[k].append(v)
        faults.point("eval", step)
        for c in live:
            c.hist["step"].append(step)
            # NaN / exploding loss: this member stops (run_group stores it as diverged), the rest go on
            reason = divergence_reason(c.hist["train_loss"][-1], c.hist["train_loss"][0])
            if reason is not None:
                c.diverged = (f"{reason} at step {step}", step)
        timing.eval_s += time.perf_counter() - t0
        if all(c.diverged for c in cells):
            raise _AllDiverged

    def one_step() -> None:
        batches = []
        live = [c for c in cells if c.diverged is None]
        for c in live:  # train_run's batch order, per member
            if c.order["pos"] >= per_epoch:
                c.order["perm"], c.order["pos"] = torch.randperm(n, generator=c.gen), 0
                c.perm = c.order["perm"].to(device)
            batches.append(c.perm[c.order["pos"] * c.cfg.batch_size:(c.order["pos"] + 1) * c.cfg.batch_size])
            c.order["pos"] += 1
        taken[0] += 1
        faults.point("mid_step", taken[0])
        for c, idx in zip(live, batches):
            x = data.x_train[idx]
            if c.fused:
                fused_backward(c.model, x, c.y[idx], c.cfg.c)
            else:
                c.agg.backward(c.model, F.cross_entropy, x, c.y[idx])
            sgd_update(c.model, c.cfg.lr)

    taken = [step]  # steps taken so far (for fault injection)
    if not cells[0].hist["step"]:
        evaluate_at(step)
    try:
        if not all(c.diverged for c in cells):
            drive(one_step, evaluate_at, save, start=step, steps=first.steps,
                  eval_at=eval_steps(first.eval_schedule, first.steps), timing=timing, device=device,
                  checkpoint_every_s=opts.checkpoint_every_s, checkpoint_every_steps=opts.checkpoint_every_steps,
                  progress=opts.progress, desc=f"c {first.c} noise {','.join(f'{c.noise:g}' for c in configs)}")
    except _AllDiverged:
        pass
    timing.extra["wall_s"] = timing.prior_wall_s + time.perf_counter() - started
    out: list[dict[str, np.ndarray] | Diverged] = []
    for c in cells:
        if c.diverged:
            out.append(Diverged(c.diverged[0], c.diverged[1]))
            continue
        arrays = {k: np.asarray(v, dtype=np.int64 if k == "step" else np.float64) for k, v in c.hist.items()}
        arrays["corrupt"] = c.corrupt.cpu().numpy()
        arrays["overfit"] = overfit(arrays["train_acc"], arrays["test_acc"], c.cfg.noise)
        out.append(arrays)
    return out, timing


def overfit(ta: np.ndarray, va: np.ndarray, noise: float) -> np.ndarray:
    """The paper's overfit ta - [e/10 + (1-e) va] (§3.3)."""
    return ta - (noise / 10.0 + (1.0 - noise) * va)


def run_group(configs: Sequence[WinsorizedConfig], opts: RunOptions) -> list[RunResult]:
    """Train configs sharing a stack key and store each result: on CPU as one `train_cells`
    stack, on a GPU cell after cell (`train_run`)."""
    for c in configs:
        c.validate()
    device = opts.torch_device()
    data = load_data(configs[0], opts.data_root)
    prov = provenance(device)
    if device.type == "cpu":
        arrays, timing = train_cells(configs, data, opts)
        trained = [(cfg, arr, timing) for cfg, arr in zip(configs, arrays)]
        drops = [[] for _ in configs]
        drops[-1] = [opts.store.checkpoint_path(configs[0].EXPERIMENT, group_key(configs))]
    else:
        trained, drops = [], []
        for cfg in configs:
            arrays, timing = train_run(cfg, data, opts)
            trained.append((cfg, arrays, timing))
            drops.append([opts.store.checkpoint_path(cfg.EXPERIMENT, config_hash(cfg))])
    out = []
    for (cfg, arrays, timing), drop in zip(trained, drops):
        p = dict(prov)
        # a stack's times are the whole stack's (as Figure 1's); stacked_with says how many runs shared them
        p.update(wall_time_s=round(timing.extra["wall_s"], 3), train_time_s=round(timing.train_s, 3),
                 eval_time_s=round(timing.eval_s, 3), resumed=timing.resumed, data=data.describe(),
                 stacked_with=len(configs) if device.type == "cpu" else 1)
        if isinstance(arrays, Diverged):  # a stack member that diverged while the others trained on
            out.append(opts.store.save_diverged(cfg, arrays.reason, arrays.step, p, drop=drop))
            continue
        p["winsorize_kernel"] = "none (c = 0: plain SGD)" if cfg.c == 0 else (
            "topk (GPU)" if device.type == "cuda" else winsorize_kernel())
        final = {m: float(arrays[m][-1]) for m in METRICS}
        final.update(step=int(arrays["step"][-1]), overfit=float(arrays["overfit"][-1]),
                     proper_acc=float(1 - arrays["corrupt"].mean()))
        # the stack's checkpoint goes with its last member's result
        out.append(opts.store.save(cfg, final, arrays, p, drop=drop))
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


# The 5 x 5 grid at `large` is ~6 CPU-hours a seed (60,000 winsorized steps per cell), so the
# book shows it for seed 0 only and its run-based verdicts there are n/a (fewer than 3 seeds).
REDUCED_SEEDS: dict[str, tuple[int, ...]] = {"large": (0,)}


def figure_seeds(profile: str) -> tuple[int, ...]:
    """The seeds Figure 4 runs at ``profile``: the book's default unless `REDUCED_SEEDS` names fewer."""
    return REDUCED_SEEDS.get(profile, default_seeds(profile))


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
    """Final train / test accuracy, overfit and proper accuracy per cell as a DataFrame: rows
    (c, metric), columns noise (a long table, so it fits a book column at any grid size)."""
    import pandas as pd

    cs = sorted({c for c, _ in grid})
    ns = sorted({n for _, n in grid})
    metrics = (("train acc", "train_acc"), ("test acc", "test_acc"), ("overfit", "overfit"),
               ("proper acc", "proper_acc"))
    index = pd.MultiIndex.from_product([[f"c={c}" for c in cs], [m for m, _ in metrics]])
    def value(r: RunResult, key: str) -> Any:  # a diverged cell has no final metrics: it says so
        return "diverged" if r.diverged else round(float(r.final[key]), 3)

    rows = [[value(grid[(c, n)], key) for n in ns] for c in cs for _, key in metrics]
    return pd.DataFrame(rows, index=index, columns=[f"{n:.0%} noise" for n in ns])
