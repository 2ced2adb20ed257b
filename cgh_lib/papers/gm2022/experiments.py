"""GM2022 Figure 3 (blog Fig. 3): coherence during training, real vs random labels.

Two registered experiments, each an existing trainer plus a measurement hook (no new trainer):

* ``gm-coherence-mlp``: the CG2020 784-2048-10 MLP (`papers.cg2020.fig1_label_noise`'s config and
  the stacked trainer, whose ``probe`` hook runs at every evaluation of the log schedule).
* ``gm-coherence-cnn``: the WS machinery (`papers.ws.experiments.run_one`, the DataLoader trainer
  with its ``probe`` hook): the small CNN on Fashion-MNIST on CPUs, and at the paper profile
  ResNet-50 on ImageNet with the WS Appendix A recipe (batch 256, lr 0.1 x0.1 at epochs 30/60 of
  90, momentum 0.9, no augmentation or weight decay) because GM2022's own recipe is not in the
  texts we have.

At each measurement the hook computes `grads.coherence` on a fixed sample of ``m_train``
training examples (with the labels as trained on: random ones for 100% noise) and ``m_test``
test examples (true labels), with BatchNorm in eval mode (running statistics), and records
alpha, the ratio m*alpha, the sample's mean loss, and each layer's alpha and share.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from cgh_lib.data.images import sample_indices, stream_seed
from cgh_lib.errors import UserError, choice_error
from cgh_lib.grads.coherence import CoherenceAccumulator
from cgh_lib.papers.cg2020 import fig1_label_noise as cg1
from cgh_lib.papers.ws import experiments as ws
from cgh_lib.store.experiments import (
    Experiment,
    RunOptions,
    default_seeds,
    ensure_runs,
    group_key,
    make_config,
    register,
)
from cgh_lib.store.provenance import provenance
from cgh_lib.store.runstore import RunResult
from cgh_lib.train.eval_schedule import eval_steps
from cgh_lib.train.loader import lr_at
from cgh_lib.train.stacked import METRICS, StackSpec, train_stack

ARCHS = ("mlp", "cnn")
# how a page names each architecture's experiment (the explorer's architecture control)
ARCH_NAMES = {"gm-coherence-mlp": "MLP", "gm-coherence-cnn": "CNN"}
NOISES = (0.0, 1.0)
# An architecture that runs fewer seeds than the book's default at a profile (none today: the
# small MLP's seeds 1, 2 were added once there was CPU time for them).
REDUCED_SEEDS: dict[tuple[str, str], tuple[int, ...]] = {}


def arch_seeds(arch: str, profile: str) -> tuple[int, ...]:
    """The seeds Figure 3 runs for ``arch`` at ``profile``."""
    return REDUCED_SEEDS.get((arch, profile), default_seeds(profile))


def _check_m(cfg: Any) -> None:
    for name in ("m_train", "m_test"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 2:
            raise UserError(f"parameter {name}={v!r} is invalid; accepted: an integer >= 2 (the coherence sample size)")


# ------------------------------------------------------------------ the hook
def _measure(model: torch.nn.Module, batches: Callable[[], Any], device: torch.device
             ) -> dict[str, float]:
    acc = CoherenceAccumulator(model)
    for x, y in batches():
        acc.add(x.to(device), y.to(device))
    r = acc.result()
    out = {"alpha": r.alpha, "ratio": r.ratio, "loss": r.loss, "m": float(r.m)}
    for i, (name, lc) in enumerate(r.per_layer.items()):
        out[f"layer{i:03d}_alpha"] = lc.alpha
        out[f"layer{i:03d}_share"] = lc.share
    return out


def layer_names(model: torch.nn.Module) -> list[str]:
    """The per-layer keys' order (layer000, layer001, ...) as module names, for labels."""
    seen: list[str] = []
    for n, p in model.named_parameters():
        if p.requires_grad:
            lay = n.rsplit(".", 1)[0] if "." in n else ""
            if lay not in seen:
                seen.append(lay)
    return seen


# ------------------------------------------------------------------ MLP (stacked trainer)
@dataclass(frozen=True)
class GMCoherenceMLPConfig(cg1.LabelNoiseConfig):
    """CG2020's MNIST MLP run (paper defaults: full MNIST, 10^5 steps) with coherence measured on
    fixed samples of m_train training and m_test test examples at every evaluation."""

    EXPERIMENT: ClassVar[str] = "gm-coherence-mlp"
    m_train: int = 10_000
    m_test: int = 10_000

    def validate(self) -> None:
        super().validate()
        _check_m(self)


MLP_PROFILES: dict[str, dict[str, Any]] = {
    "smoke": dict(dataset="synthetic", n_train=1000, n_test=500, hidden=(256,), steps=300, eval_schedule="log",
                  m_train=200, m_test=200),
    "small": dict(dataset="mnist", n_train=22_699, n_test=10_000, hidden=(2048,), steps=10_000, eval_schedule="log",
                  m_train=2000, m_test=2000),
    "paper": dict(eval_schedule="log"),
}


def _mlp_stack_key(cfg: GMCoherenceMLPConfig) -> tuple:
    return cg1.stack_key(cfg) + (cfg.m_train, cfg.m_test)


def run_mlp_group(configs: Sequence[GMCoherenceMLPConfig], opts: RunOptions) -> list[RunResult]:
    """CG2020 Figure 1's stacked trainer with a coherence probe (one stack for all noises and seeds)."""
    for c in configs:
        c.validate()
    device = opts.torch_device()
    first = configs[0]
    data = cg1.load_data(first, opts.data_root)
    members = [cg1.member(c, data) for c in configs]
    tr_idx = sample_indices(len(data.y_train), first.m_train, stream_seed(0, "gm-coherence-train"))
    te_idx = sample_indices(len(data.y_test), first.m_test, stream_seed(0, "gm-coherence-test"))
    x_tr, x_te = data.x_train[tr_idx].to(device), data.x_test[te_idx].to(device)
    y_te = data.y_test[te_idx].to(device)
    y_tr = [m.labels[tr_idx].to(device) for m in members]

    def probe(step: int, model) -> dict[str, np.ndarray]:
        rows: list[dict[str, float]] = []
        for k in range(model.k):
            net = model.member(k).to(device)
            row = {f"train_{n}": v for n, v in _measure(net, lambda k=k: [(x_tr, y_tr[k])], device).items()}
            row.update({f"test_{n}": v for n, v in _measure(net, lambda: [(x_te, y_te)], device).items()})
            rows.append(row)
        return {n: np.array([r[n] for r in rows]) for n in rows[0]}

    spec = StackSpec(first.hidden, first.lr, first.batch_size, first.steps,
                     eval_steps(first.eval_schedule, first.steps))
    key = group_key(configs)
    exp = first.EXPERIMENT
    ckpt = (lambda st: opts.store.save_checkpoint(exp, key, st), lambda: opts.store.load_checkpoint(exp, key))
    t0 = time.time()
    prov = provenance(device)
    arrays, timing = train_stack(data, members, spec, device=device, checkpoint=ckpt,
                                 checkpoint_every_s=opts.checkpoint_every_s,
                                 checkpoint_every_steps=opts.checkpoint_every_steps, probe=probe,
                                 progress=opts.progress, desc=f"gm-coherence-mlp x{len(configs)}")
    prov.update(wall_time_s=round(time.time() - t0 + timing.prior_wall_s, 3), train_time_s=round(timing.train_s, 3),
                eval_time_s=round(timing.eval_s, 3), resumed=timing.resumed, stacked_with=len(configs),
                data=data.describe(), layers=layer_names(model_layers(first, data)),
                coherence_samples=f"{len(tr_idx):,} train (labels as trained) / {len(te_idx):,} test (true labels)")
    out = []
    for c, arr in zip(configs, arrays):
        final = {m: float(arr[m][-1]) for m in METRICS}
        final.update(step=int(arr["step"][-1]), train_ratio=float(arr["probe_train_ratio"][-1]),
                     test_ratio=float(arr["probe_test_ratio"][-1]))
        out.append(opts.store.save(c, final, arr, prov))
    opts.store.drop_checkpoint(exp, key)
    return out


def model_layers(cfg: GMCoherenceMLPConfig, data) -> torch.nn.Module:
    from cgh_lib.models.mlp import mlp
    return mlp(data.x_train.shape[1], cfg.hidden, data.num_classes)


register(Experiment(
    name=GMCoherenceMLPConfig.EXPERIMENT, config_cls=GMCoherenceMLPConfig, run_group=run_mlp_group,
    stack_key=_mlp_stack_key, profiles=MLP_PROFILES,
    description="GM2022: coherence of the CG2020 MNIST MLP during training, real vs random labels"))


# ------------------------------------------------------------------ CNN (WS DataLoader trainer)
@dataclass(frozen=True)
class GMCoherenceCNNConfig(ws.WSConfig):
    """A WS label-noise run (paper defaults: ResNet-50, ImageNet, the WS Appendix A recipe) with
    coherence measured on m_train training / m_test validation images on a log step schedule."""

    EXPERIMENT: ClassVar[str] = "gm-coherence-cnn"
    model: str = "resnet50"
    m_train: int = 50_000
    m_test: int = 50_000
    coherence_batch: int = 256

    def validate(self) -> None:
        super().validate()
        _check_m(self)
        if self.coherence_batch < 1:
            raise UserError(f"parameter coherence_batch={self.coherence_batch} must be >= 1; accepted: a positive integer")


CNN_PROFILES: dict[str, dict[str, Any]] = {
    "smoke": dict(model="small_cnn", dataset="synthetic", n_train=240, n_test=100, width=8, epochs=4, batch_size=24,
                  lr_milestones=(3,), n_track=60, train_sample=120, m_train=100, m_test=100),
    "small": dict(model="small_cnn", dataset="fashion-mnist", n_train=2000, n_test=2000, width=16, epochs=60,
                  batch_size=100, lr_milestones=(40,), n_track=500, train_sample=2000, m_train=1000, m_test=1000),
    "paper": {},
}


def total_steps(cfg: GMCoherenceCNNConfig, n_train: int, world: int = 1) -> int:
    """The loader trainer's step count (no dropped batches: SGD)."""
    per_rank = cfg.batch_size // world
    spe = math.ceil(math.ceil(n_train / world) / per_rank)
    total = spe * cfg.epochs if cfg.epochs else cfg.max_steps
    return min(total, cfg.max_steps) if cfg.max_steps else total


def _loader_batches(ds: Dataset, idx: torch.Tensor, batch: int) -> Callable[[], Any]:
    import os
    workers = int(os.environ.get("CGH_NUM_WORKERS", "0"))

    def it():
        for b in DataLoader(Subset(ds, idx.tolist()), batch_size=batch, shuffle=False, num_workers=workers):
            yield b[0], torch.as_tensor(b[1])
    return it


def run_cnn_one(cfg: GMCoherenceCNNConfig, opts: RunOptions) -> RunResult:
    cfg.validate()

    def make_probe(noisy: Dataset, test: Dataset, device: torch.device):
        tr_idx = sample_indices(len(noisy), cfg.m_train, stream_seed(0, "gm-coherence-train"))
        te_idx = sample_indices(len(test), cfg.m_test, stream_seed(0, "gm-coherence-test"))
        tr, te = _loader_batches(noisy, tr_idx, cfg.coherence_batch), _loader_batches(test, te_idx, cfg.coherence_batch)
        world = int(__import__("os").environ.get("WORLD_SIZE", "1"))
        at = set(eval_steps("log", total_steps(cfg, len(noisy), world)))

        def probe(step: int, model: torch.nn.Module) -> dict[str, float] | None:
            if step not in at:
                return None
            out = {f"train_{k}": v for k, v in _measure(model, tr, device).items()}
            out.update({f"test_{k}": v for k, v in _measure(model, te, device).items()})
            return out
        return probe

    res = ws.run_one(cfg, opts, make_probe=make_probe)
    return res


def run_cnn_group(configs: Sequence[GMCoherenceCNNConfig], opts: RunOptions) -> list[RunResult]:
    return [run_cnn_one(c, opts) for c in configs]


register(Experiment(
    name=GMCoherenceCNNConfig.EXPERIMENT, config_cls=GMCoherenceCNNConfig, run_group=run_cnn_group,
    stack_key=lambda c: ws._stack_key(c), profiles=CNN_PROFILES,
    description="GM2022: coherence of a CNN during training (paper: ResNet-50 ImageNet), real vs random labels"))


# ------------------------------------------------------------------ figure configs / runs
def fig3_configs(profile: str, arch: str, overrides: dict[str, Any] | None = None,
                 seeds: Sequence[int] | None = None) -> dict[tuple[float, int], Any]:
    """{(noise, seed): config} of one architecture's real (0%) vs random (100%) runs."""
    if arch not in ARCHS:
        raise choice_error("architecture", arch, ARCHS)
    exp = "gm-coherence-mlp" if arch == "mlp" else "gm-coherence-cnn"
    seeds = tuple(seeds) if seeds is not None else arch_seeds(arch, profile)
    return {(n, s): make_config(exp, profile, {**(overrides or {}), "noise": n, "seed": s})
            for s in seeds for n in NOISES}


def figure3_configs(profile: str) -> list[Any]:
    return [c for a in ARCHS for c in fig3_configs(profile, a).values()]


def fig3_runs(profile: str, arch: str, data_root: str | None = None, device: str = "auto",
              overrides: dict[str, Any] | None = None, seeds: Sequence[int] | None = None,
              progress: bool = False) -> dict[tuple[float, int], RunResult]:
    cfgs = fig3_configs(profile, arch, overrides, seeds)
    res = ensure_runs(list(cfgs.values()), RunOptions(data_root=data_root, device=device, progress=progress))
    return dict(zip(cfgs, res))


# ------------------------------------------------------------------ curves and Theorem 1
@dataclass
class Curves:
    """One run's coherence measurements, whatever trainer made them."""

    step: np.ndarray
    lr: np.ndarray            # lr of the step that follows each measurement
    lr_sums: np.ndarray       # [len(step) - 1]: sum of eta_t over the steps between measurements j and j+1
    train: dict[str, np.ndarray]
    test: dict[str, np.ndarray]
    m_train: int
    m_test: int
    layers: list[str]


def curves(run: RunResult) -> Curves:
    a, c = run.arrays, run.config
    if "probe_step" in a:  # loader trainer
        step = a["probe_step"].astype(np.int64)
        lcfg = ws.WSConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in c.items()
                             if k in ws.WSConfig.__dataclass_fields__}).loader_config()
        data = str(run.provenance.get("data", ""))
        n = int(data.split("(")[1].split(" train")[0].replace(",", "")) if "(" in data else 0
        spe = max(1, math.ceil(n / c["batch_size"])) if n else 1

        def lr_of(t: int) -> float:
            return lr_at(lcfg, t // spe, t)
    else:
        step = a["step"].astype(np.int64)

        def lr_of(t: int) -> float:
            return float(c["lr"])
    lr = np.array([lr_of(int(t)) for t in step])
    # sum of the step sizes of the steps between consecutive measurements (exact, step by step)
    lr_sums = np.array([sum(lr_of(t) for t in range(int(step[j]), int(step[j + 1])))
                        for j in range(len(step) - 1)])
    pick = {s: {k[len(f"probe_{s}_"):]: a[k] for k in a if k.startswith(f"probe_{s}_")} for s in ("train", "test")}
    layers = run.provenance.get("layers") or _cnn_layer_names(c) or sorted(
        {k[:8] for k in pick["train"] if k.startswith("layer")})
    return Curves(step, lr, lr_sums, pick["train"], pick["test"], int(c["m_train"]), int(c["m_test"]), list(layers))


def _cnn_layer_names(c: dict[str, Any]) -> list[str] | None:
    """Module names behind the layer000.. keys of a WS-trainer run (the model is rebuilt, untrained)."""
    from cgh_lib.models.vision import build_vision_model
    try:
        kw: dict[str, Any] = {}
        if c["model"] == "small_cnn":
            grey = c["dataset"] in ("fashion-mnist", "synthetic")
            kw = dict(in_channels=1 if grey else 3, width=c["width"],
                      image_size=(c["image_size"] or 28) if grey else (c["image_size"] or 32))
        return layer_names(build_vision_model(c["model"], 10, seed=0, **kw))
    except Exception:  # a label only: fall back to the keys
        return None


def theorem1_term(cv: Curves, which: str = "train") -> float:
    """sum_t eta_t sqrt(2 (1 - alpha_t)) over the run's steps, with each step's own eta_t and alpha
    held at its last measured value (the log schedule measures only some steps); the factor
    prod(1 + eta_k beta) and L^2/m of Theorem 1 are left out (beta is not measured)."""
    alpha = (cv.train if which == "train" else cv.test)["alpha"]
    return float(sum(cv.lr_sums[j] * math.sqrt(max(0.0, 2 * (1 - alpha[j]))) for j in range(len(cv.step) - 1)))


def measured_gap(run: RunResult) -> tuple[float, float]:
    """(train - test accuracy, test - train loss) at the end of training."""
    f = run.final
    return f["train_acc"] - f["test_acc"], f["test_loss"] - f["train_loss"]




def fig3_runs_by_seed(profile: str, data_root: str | None = None, device: str = "auto",
                      overrides: dict[str, Any] | None = None, archs: Sequence[str] = ARCHS,
                      seeds: Sequence[int] | None = None) -> dict[int, dict[tuple[str, float], RunResult]]:
    """{seed: {(arch, noise): run}}: every run the figure shows (trained if missing)."""
    out: dict[int, dict[tuple[str, float], RunResult]] = {}
    for a in archs:
        for (n, s), r in fig3_runs(profile, a, data_root, device, (overrides or {}).get(a), seeds).items():
            out.setdefault(s, {})[(a, n)] = r
    return out


# ------------------------------------------------------------------ Figure 4: M3 vs SGD at 50% noise
FIG4_AGGREGATORS = ("sgd", "m3")


def fig4_configs(profile: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """{aggregator: config}: WS Figure 3's 50%-noise runs (``ws-aggregators``). The CPU profiles reuse
    WS Fig 3's small-CNN runs as they are; the paper profile sets model=resnet50 (blog Fig. 4) on the
    WS §3 recipe (ImageNet, batch 256 / M3 264, lr 0.1 x0.1 at 30/60 of 90, no momentum)."""
    over = dict(overrides or {})
    if profile == "paper":
        over.setdefault("model", "resnet50")
    cfgs = ws.figure_configs("ws-fig3", profile, over or None)
    return {agg: cfgs[(agg, 0.5, 0)] for agg in FIG4_AGGREGATORS}


def fig4_runs(profile: str, data_root: str | None = None, device: str = "auto",
              overrides: dict[str, Any] | None = None,
              seeds: Sequence[int] | None = None) -> dict[str, list[RunResult]]:
    """{aggregator: [run of each seed]}; ``seeds`` None means the profile's seeds (small: 0, 1, 2)."""
    cfgs = fig4_plan(profile, {"overrides": overrides or {}, "seeds": seeds})
    res = ensure_runs(cfgs, RunOptions(data_root=data_root, device=device, progress=False))
    out: dict[str, list[RunResult]] = {}
    for c, r in zip(cfgs, res):
        out.setdefault(c.aggregator, []).append(r)
    return out


def fig4_plan(profile: str, params: dict[str, Any]) -> list[Any]:
    """The configs Figure 4's notebook shows with these parameters: every seed's SGD and M3 runs."""
    seeds = params.get("seeds") or default_seeds(profile)
    return [c for s in seeds for c in fig4_configs(profile, {**(params.get("overrides") or {}), "seed": s}).values()]
