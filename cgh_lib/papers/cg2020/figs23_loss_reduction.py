"""CG2020 §2.4 (Figures 2 and 3): who reduces the loss, pristine or corrupt examples?

The CG2020 MLP is trained on MNIST with 25/50/75% label noise (Figure 1's
recipe). At scheduled steps t, on a fixed random *sample* of training examples
(its clean/noisy split being the real one), we measure with g_t the summed
gradient of the sample, g^p_t / g^c_t the sums over its pristine / corrupt part:

* Figure 2: f_p(t) = <g_t, g^p_t> / <g_t, g_t> and f_c = 1 - f_p;
* Figure 3: i_p(t) = (1/|p|) sum_{t'<=t} <g_t', g^p_t'> and i_c likewise, over
  the first ``contrib_steps`` steps;

each also in ``n_null`` *null worlds*, where the pristine/corrupt designations
are randomly permuted among the sampled examples (same set sizes).

Everything follows from one number per example, s_e = <g_t, grad l_e>: then
<g, g^p> = sum_{e in p} s_e for *any* designation, so the null worlds cost
nothing extra and no pairwise products are ever formed. Two estimators
(config field ``estimator``):

* ``"paper"``: as the paper, 400 sampled examples and 300 sampled weights from
  each weight matrix (600 for 784-2048-10), fixed for the whole run; s_e is
  the dot product of the example's sampled gradient with the sampled g.
* ``"exact"``: all parameters of the model, over a sample of ``stat_examples``
  examples (0 = the whole training set): one pass for g (a summed backward),
  one pass for the s_e (per-example factors of each Linear layer).

Seeds: init ``seed``, label noise ``seed+1``, batch order ``seed+2`` (as
Figure 1, so 25/50/75% share init and order); the statistic's example/weight
sample and the null worlds use their own streams (`stream_seed`), which can
never coincide with the noise stream. (An earlier version drew the sample with
the noise seed, so the "random" sample was exactly the examples chosen for
corruption; tests/test_loss_reduction.py guards against that.)
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cgh_lib.data.tensors import TensorData, corrupt_labels
from cgh_lib.errors import UserError
from cgh_lib.grads.per_example import linear_factors, linear_fast_path_ok, per_example_grads
from cgh_lib.grads.pristine_corrupt import choose_grad_sample, null_world_masks
from cgh_lib.models.mlp import StackedMLP, mlp
from cgh_lib.papers.cg2020.fig1_label_noise import check_data, load_data
from cgh_lib.papers.cg2020.mlp_config import validate_mlp_run
from cgh_lib.store.config import config_hash
from cgh_lib.store.experiments import Experiment, RunOptions, group_key, register, sweep_configs
from cgh_lib.store.provenance import provenance
from cgh_lib.store.runstore import RunResult
from cgh_lib.train.eval_schedule import eval_steps
from cgh_lib.train.stacked import METRICS, Member, StackSpec, train_stack

NOISE_LEVELS = (0.25, 0.5, 0.75)
ESTIMATORS = ("paper", "exact")


def stream_seed(tag: str, seed: int) -> int:
    """A seed for the named random stream of run ``seed`` (a hash, so streams never
    collide with each other or with the small integer seeds seed, seed+1, ...)."""
    return int.from_bytes(hashlib.sha256(f"cg2020-loss-reduction/{tag}/{int(seed)}".encode()).digest()[:6], "big")


@dataclass(frozen=True)
class LossReductionConfig:
    """One noise level of CG2020 Figures 2/3; defaults are the paper's settings."""

    EXPERIMENT: ClassVar[str] = "cg2020-loss-reduction"

    dataset: str = "mnist"
    n_train: int = 60_000
    n_test: int = 10_000
    noise: float = 0.5
    noise_scheme: str = "exact"
    hidden: tuple[int, ...] = (2048,)
    init: str = "xavier"
    lr: float = 0.1
    batch_size: int = 100
    steps: int = 100_000
    eval_schedule: str = "authors"   # when f_p is measured (plus every step up to contrib_steps)
    estimator: str = "paper"         # "paper" (400 examples x 300 weights per matrix) or "exact"
    stat_examples: int = 400         # size of the fixed example sample (0 = all training examples)
    stat_weights: int = 300          # "paper" estimator: weights sampled per weight matrix
    contrib_steps: int = 10          # Figure 3: i_p, i_c over steps 0..contrib_steps
    n_null: int = 3                  # null worlds
    seed: int = 0

    def validate(self) -> None:
        validate_mlp_run(self, choices=[("estimator", self.estimator, ESTIMATORS)], positive=["stat_weights"])
        if not 0.0 < self.noise < 1.0:
            empty = "corrupt" if self.noise == 0.0 else "pristine"
            raise UserError(f"parameter noise={self.noise:g} leaves the {empty} set empty, so f_p / i_p are "
                            "undefined; accepted: 0 < noise < 1")
        for name in ("stat_examples", "contrib_steps", "n_null"):
            if getattr(self, name) < 0:
                raise UserError(f"parameter {name}={getattr(self, name)} must be >= 0; "
                                "accepted: a non-negative integer")
        if self.stat_examples == 1 or self.stat_examples > self.n_train:
            raise UserError(f"parameter stat_examples={self.stat_examples} is invalid; accepted: 0 (all) or "
                            f"2..n_train={self.n_train}")
        if self.contrib_steps > self.steps:
            raise UserError(f"parameter contrib_steps={self.contrib_steps} exceeds steps={self.steps}; "
                            f"accepted: 0..{self.steps}")


PROFILES: dict[str, dict[str, Any]] = {
    # seconds on a CPU: generated data, exact statistic over all 1,000 examples
    "smoke": dict(dataset="synthetic", n_train=1000, n_test=500, hidden=(256,), steps=200,
                  eval_schedule="log", estimator="exact", stat_examples=0),
    # ~3 minutes on a CPU: real MNIST (first 22,699 images), the paper's net, 3,000 steps,
    # exact statistic (all weights) over 5,000 examples
    "small": dict(dataset="mnist", n_train=22_699, n_test=10_000, hidden=(2048,), steps=3000,
                  eval_schedule="log", estimator="exact", stat_examples=5000),
    # the paper: full MNIST, 10^5 steps, 400 examples x 600 weights (GPU)
    "paper": dict(dataset="mnist", n_train=60_000, n_test=10_000, hidden=(2048,), steps=100_000,
                  eval_schedule="authors", estimator="paper", stat_examples=400),
}
# the paper's settings (incl. its 400 x 600 estimator) on MNIST-22k: CPU hours
# (the training set size is the only difference from "paper")
PROFILES["large"] = {**PROFILES["paper"], "n_train": 22_699}


def stack_key(cfg: LossReductionConfig) -> tuple:
    """Noise levels (and seeds) of otherwise equal configs train as one stack."""
    return (cfg.dataset, cfg.n_train, cfg.n_test, cfg.hidden, cfg.lr, cfg.batch_size, cfg.steps,
            cfg.eval_schedule, cfg.estimator, cfg.stat_examples, cfg.stat_weights, cfg.contrib_steps, cfg.n_null)


def stat_schedule(cfg: LossReductionConfig) -> list[int]:
    """Steps at which the statistic (and the usual evaluation) is taken."""
    return sorted(set(eval_steps(cfg.eval_schedule, cfg.steps)) | set(range(cfg.contrib_steps + 1)))


def member(cfg: LossReductionConfig, data: TensorData) -> Member:
    """Figure 1's seeds: init ``seed``, noise ``seed+1``, batch order ``seed+2``."""
    y, corrupt = corrupt_labels(data.y_train, cfg.noise, cfg.seed + 1, cfg.noise_scheme)
    return Member(y, corrupt, cfg.init, cfg.seed, cfg.seed + 2)


def sample_rows(cfg: LossReductionConfig, n: int) -> Tensor:
    """The fixed example sample (sorted indices), from its own seed stream."""
    m = n if cfg.stat_examples == 0 else min(cfg.stat_examples, n)
    if m == n:
        return torch.arange(n)
    gen = torch.Generator().manual_seed(stream_seed("examples", cfg.seed))
    return torch.randperm(n, generator=gen)[:m].sort().values


def weight_names(model: nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad and p.dim() == 2]


@dataclass
class StatPlan:
    """What one member's statistic looks at: the sampled examples and designations."""

    rows: Tensor                 # [m] example indices
    x: Tensor                    # [m, in] on the device
    y: Tensor                    # [m] training (noisy) labels
    masks: Tensor                # [1 + n_null, m] bool pristine designations; row 0 = the real one
    coords: dict[str, Tensor] | None = None  # "paper" estimator: sampled flat weight indices


def make_plan(cfg: LossReductionConfig, data: TensorData, mem: Member, model: nn.Module,
              device: torch.device) -> StatPlan:
    rows = sample_rows(cfg, len(mem.labels))
    real = ~mem.corrupt.cpu()[rows]
    n_p = int(real.sum())
    if n_p == 0 or n_p == len(rows):
        raise UserError(f"noise={cfg.noise:g}: the statistic's sample of {len(rows)} examples has "
                        f"{'no pristine' if n_p == 0 else 'no corrupt'} example; accepted: a noise level or "
                        "stat_examples giving both groups")
    nulls = null_world_masks(real, cfg.n_null, stream_seed("null", cfg.seed))
    coords = None
    if cfg.estimator == "paper":
        shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
        idx = choose_grad_sample(shapes, 1, stream_seed("weights", cfg.seed), 1, cfg.stat_weights,
                                 names=weight_names(model))
        coords = {n: c.to(device) for n, c in idx.coords.items()}
    return StatPlan(rows, data.x_train[rows.to(data.x_train.device)].to(device),
                    mem.labels[rows].to(device), torch.stack([real, *nulls]).to(device), coords)


def _sampled_grads(model: nn.Module, x: Tensor, y: Tensor, coords: dict[str, Tensor]) -> Tensor:
    """[m, d'] per-example gradients at the sampled weight coordinates, from the
    per-example factors (dW_e[o, i] = dz_e[o] a_e[i]): never the full [m, out, in]."""
    res = linear_factors(model, F.cross_entropy, x, y) if linear_fast_path_ok(model) else None
    cols = []
    if res is None:
        grads = per_example_grads(model, F.cross_entropy, x, y)
        for n, c in coords.items():
            cols.append(grads[n].reshape(x.shape[0], -1)[:, c])
        return torch.cat(cols, 1)
    factors = {f.weight: f for f in res[0] if f.weight is not None}
    shapes = dict(model.named_parameters())
    for n, c in coords.items():
        f = factors[n]
        n_in = shapes[n].shape[1]
        o, i = c // n_in, c % n_in
        col = sum((dz[:, :, o] * a[:, :, i]).sum(1) for a, dz in zip(f.a, f.dz))
        cols.append(col)
    return torch.cat(cols, 1)


def example_scores_exact(model: nn.Module, x: Tensor, y: Tensor, chunk: int = 2048) -> Tensor:
    """s_e = <g, grad l_e> over all trainable parameters, g = sum_e grad l_e (float64 [m]).

    Pass 1 sums the gradients (backward of the summed loss, in chunks); pass 2
    gets each example's score from the per-example factors of each Linear
    (s_e = sum_layers dz_e . (G a_e) + dz_e . G_b), or, for other models, from
    per-example gradients (vmap). Cost: about two training passes over x.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    g = [torch.zeros_like(p) for p in params]
    for s in range(0, x.shape[0], chunk):
        loss = F.cross_entropy(model(x[s:s + chunk]), y[s:s + chunk], reduction="sum")
        for acc, gi in zip(g, torch.autograd.grad(loss, params)):
            acc += gi
    gd = dict(zip(names, g))
    fast = linear_fast_path_ok(model)
    out = []
    for s in range(0, x.shape[0], chunk):
        xs, ys = x[s:s + chunk], y[s:s + chunk]
        res = linear_factors(model, F.cross_entropy, xs, ys) if fast else None
        if res is None:
            pe = per_example_grads(model, F.cross_entropy, xs, ys)
            out.append(sum((pe[n].reshape(xs.shape[0], -1).double() @ gd[n].reshape(-1).double())
                           for n in names))
            continue
        score = torch.zeros(xs.shape[0], dtype=torch.float64, device=x.device)
        for f in res[0]:
            for a, dz in zip(f.a, f.dz):
                if f.weight is not None:
                    score += (torch.matmul(a, gd[f.weight].T) * dz).sum((1, 2)).double()
                if f.bias is not None:
                    score += (dz @ gd[f.bias]).sum(1).double()
        out.append(score)
    return torch.cat(out)


def example_scores(model: nn.Module, plan: StatPlan) -> Tensor:
    """s_e for the plan's estimator (float64 [m])."""
    if plan.coords is None:
        return example_scores_exact(model, plan.x, plan.y)
    mat = _sampled_grads(model, plan.x, plan.y, plan.coords).double()
    return mat @ mat.sum(0)


def world_inner_products(scores: Tensor, masks: Tensor) -> Tensor:
    """[worlds, 2]: (<g, g_p>, <g, g_c>) for each designation (rows of ``masks``)."""
    s = scores.double()
    ip = (masks.double() * s).sum(1)
    return torch.stack([ip, s.sum() - ip], 1)


def _probe(plans: list[StatPlan], template: nn.Module, device: torch.device):
    def probe(step: int, model: StackedMLP) -> dict[str, np.ndarray]:
        inner = []
        for k, plan in enumerate(plans):
            net = _load_member(template, model, k)
            inner.append(world_inner_products(example_scores(net, plan), plan.masks).cpu().numpy())
        return {"inner": np.stack(inner)}
    return probe


def _load_member(template: nn.Module, model: StackedMLP, k: int) -> nn.Module:
    """Copy member k's weights into a reusable nn.Sequential on the device."""
    lins = [m for m in template if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for lin, w, b in zip(lins, model.weights, model.biases):
            lin.weight.copy_(w[k].T)
            lin.bias.copy_(b[k, 0])
    return template


def run_group(configs: Sequence[LossReductionConfig], opts: RunOptions) -> list[RunResult]:
    """Train the noise levels as one stack, measuring the statistic at `stat_schedule`."""
    for c in configs:
        c.validate()
    device = opts.torch_device()
    first = configs[0]
    data = load_data(first, opts.data_root)
    members = [member(c, data) for c in configs]
    sched = stat_schedule(first)
    spec = StackSpec(first.hidden, first.lr, first.batch_size, first.steps, sched)
    template = mlp(data.x_train.shape[1], first.hidden, data.num_classes, first.init, first.seed).to(device)
    plans = [make_plan(c, data, m, template, device) for c, m in zip(configs, members)]
    key = group_key(configs)
    exp = first.EXPERIMENT
    ckpt = (lambda st: opts.store.save_checkpoint(exp, key, st), lambda: opts.store.load_checkpoint(exp, key))
    t0 = time.time()
    prov = provenance(device)
    desc = f"noise {','.join(f'{c.noise:g}' for c in configs)}"
    arrays, timing = train_stack(data, members, spec, device=device, probe=_probe(plans, template, device),
                                 checkpoint=ckpt, checkpoint_every_s=opts.checkpoint_every_s,
                                 checkpoint_every_steps=opts.checkpoint_every_steps,
                                 progress=opts.progress, desc=desc,
                                 run_id=", ".join(config_hash(c) for c in configs))
    prov.update(wall_time_s=round(time.time() - t0 + timing.prior_wall_s, 3),
                train_time_s=round(timing.train_s, 3), eval_and_stat_time_s=round(timing.eval_s, 3),
                resumed=timing.resumed, stacked_with=len(configs), data=data.describe())
    out = []
    for c, arr, plan in zip(configs, arrays, plans):
        inner = arr.pop("probe_inner")  # [S, worlds, 2]
        arr["inner"] = inner
        arr["sample_rows"] = plan.rows.numpy()
        arr["masks"] = plan.masks.cpu().numpy()
        f = fractions(inner)
        final = {m: float(arr[m][-1]) for m in METRICS}
        n_p = int(plan.masks[0].sum())
        final.update(step=int(arr["step"][-1]), pristine_fraction=float(1 - arr["corrupt"].mean()),
                     sample_size=len(plan.rows), sample_pristine=n_p,
                     f_p_first=float(f[0, 0]), f_p_last=float(f[-1, 0]),
                     null_f_p_mean=float(np.nanmean(f[:, 1:])) if c.n_null else float("nan"))
        last = c is configs[-1]  # the stack's checkpoint goes with its last member's result
        out.append(opts.store.save(c, final, arr, prov, drop=[opts.store.checkpoint_path(exp, key)] if last else ()))
    return out


EXPERIMENT = register(Experiment(
    name=LossReductionConfig.EXPERIMENT, config_cls=LossReductionConfig, run_group=run_group,
    stack_key=stack_key, profiles=PROFILES, check_data=check_data,
    description="CG2020 §2.4: pristine vs corrupt share of the loss reduction (Figures 2 and 3)"))


# --------------------------------------------------------------------------- analysis

def fractions(inner: np.ndarray) -> np.ndarray:
    """f_p [S, worlds] from inner products [S, worlds, 2]; NaN where g = 0."""
    tot = inner[..., 0] + inner[..., 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot != 0, inner[..., 0] / tot, np.nan)


def contributions(run: RunResult) -> dict[str, np.ndarray]:
    """Figure 3: steps 0..contrib_steps and i_p, i_c [S', worlds] (cumulative, size-adjusted)."""
    a = run.arrays
    k = int(run.config["contrib_steps"])
    sel = a["step"] <= k
    inner = a["inner"][sel]
    n_p = a["masks"].sum(1).astype(np.float64)           # same in every world
    n_c = a["masks"].shape[1] - n_p
    return {"step": a["step"][sel], "i_p": np.cumsum(inner[..., 0], 0) / n_p,
            "i_c": np.cumsum(inner[..., 1], 0) / n_c}


def relative_gap(run: RunResult) -> np.ndarray:
    """(i_p - i_c)/(|i_p| + |i_c|) [S', worlds] over steps 0..contrib_steps: Figure 3's scale-free number
    (the inner products scale with the number of weights summed; the ratio does not)."""
    c = contributions(run)
    ip, ic = c["i_p"], c["i_c"]
    return (ip - ic) / np.maximum(np.abs(ip) + np.abs(ic), 1e-300)


def figure_configs(profile: str, noise_levels: Sequence[float] = NOISE_LEVELS,
                   overrides: dict[str, Any] | None = None) -> list[LossReductionConfig]:
    """The configs Figures 2 and 3 need at ``profile`` (one per noise level)."""
    return sweep_configs(LossReductionConfig.EXPERIMENT, profile, ({"noise": n} for n in noise_levels), overrides)


def config_id(cfg: LossReductionConfig) -> str:
    return config_hash(cfg)
