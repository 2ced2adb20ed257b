"""WS paper ("Weak and strong gradient directions", Zielinski et al.): the experiments behind Figures 1-3 and 6-8.

Three registered experiments share one config class and one runner:

* ``ws-label-noise`` (Figures 1, 6, 7; §2, App. A): ResNet-18 / Inception-V3 /
  VGG-13 on ImageNet with 0-100% label noise, SGD with momentum 0.9, batch 256,
  lr 0.1 (x0.1 at epochs 30, 60 of 90 for ResNet-18; cosine for the others).
* ``ws-aggregators`` (Figures 2, 3; §3.3): ResNet-18 on ImageNet at 0/50/100%
  noise, SGD vs RM3 / RA3 / M3, **no momentum**, batch 256. M3 splits the batch
  into 3 equal groups, so its paper-profile batch is 264 (8 GPUs x 33, as the
  paper's footnote 2 states).
* ``ws-winsorize`` (Figure 8; App. B): CIFAR-10 ResNet-32, batch 32, SGD
  (no momentum: the paper says "SGD"), lr 0.1 x0.1 at 40k steps then every 20k,
  100k steps, winsorization s in {0, 2, 4} (``c``) at 0 / 100% noise.

All train without augmentation or weight decay, through
`loader_training.train_with_loader` (bf16 autocast + channels_last on CUDA),
with the gradient of the chosen aggregator. Each run evaluates, at step 0 and
after every epoch (or every ``eval_every_steps``), the training sample (noisy
labels), the test set, and fixed samples of ``n_track`` pristine and corrupt
training examples (the paper: 50k each). Label noise is the authors' WS scheme
(``uniform``: each example with probability p gets a uniformly random class;
corrupt = label changed).

Seeds: model init ``seed``, noise ``seed+1``, tracking samples ``seed+2``
(hashed streams, see `imagedata.stream_seed`), batch order ``seed+3``; so runs
that differ only in noise or aggregator share init and batch order.

Runs checkpoint after every epoch into the run store (``<exp>/_ckpt/<hash>.pt``)
and resume from there. Launched under ``torchrun`` (``WORLD_SIZE`` > 1), every
rank trains its shard with DDP and rank 0 alone writes the store; the other
ranks read the result back.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from cgh_lib.data.images import (
    IMAGENET_SIZES,
    IndexedDataset,
    NoisyLabels,
    sample_indices,
    stream_seed,
    tracking_subsets,
)
from cgh_lib.data.label_noise import NOISE_SCHEMES, check_fraction
from cgh_lib.errors import UserError, choice_error
from cgh_lib.models.vision import MODEL_NAMES, build_vision_model
from cgh_lib.store.config import config_hash
from cgh_lib.store.experiments import Experiment, RunOptions, ensure_runs, make_config, register
from cgh_lib.store.provenance import provenance
from cgh_lib.store.runstore import RunResult
from cgh_lib.train.loader import LR_SCHEDULES, LoaderTrainConfig, train_with_loader

DATASETS = ("imagenet", "imagenet-mini", "cifar10", "fashion-mnist", "synthetic")
AGGREGATORS = ("sgd", "m3", "rm3", "ra3", "winsorized")
NOISE_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
GROUPS = ("train", "test", "pristine", "corrupt")


@dataclass(frozen=True)
class WSConfig:
    """One WS run; defaults are the paper's ResNet-18 label-noise settings (Figure 1)."""

    EXPERIMENT: ClassVar[str] = "ws-label-noise"

    model: str = "resnet18"
    dataset: str = "imagenet"
    n_train: int = 0            # 0 = the whole training set, else a fixed random sample
    n_test: int = 0             # 0 = the whole test / val set
    image_size: int = 0         # ImageNet crop (0 = the model's: 224, Inception 299); synthetic image side
    width: int = 32             # small_cnn only
    noise: float = 0.0
    noise_scheme: str = "uniform"
    aggregator: str = "sgd"
    c: int = 0                  # winsorization level s (aggregator "winsorized")
    epochs: int = 90            # 0: train max_steps steps
    max_steps: int = 0          # 0: no step limit
    batch_size: int = 256       # global, over all ranks
    lr: float = 0.1
    momentum: float = 0.9
    schedule: str = "step"
    lr_milestones: tuple[int, ...] = (30, 60)
    step_first: int = 40_000    # "multistep_steps": first x0.1 ...
    step_every: int = 20_000    # ... then every this many steps
    eval_every_steps: int = 0   # 0: evaluate after every epoch
    n_track: int = 50_000       # pristine / corrupt tracking samples, each
    train_sample: int = 50_000  # training-accuracy sample (0 = the whole training set)
    seed: int = 0

    def validate(self) -> None:
        check_fraction(self.noise)
        for name, value, accepted in (("model", self.model, MODEL_NAMES), ("dataset", self.dataset, DATASETS),
                                      ("noise scheme", self.noise_scheme, NOISE_SCHEMES),
                                      ("aggregator", self.aggregator, AGGREGATORS),
                                      ("schedule", self.schedule, LR_SCHEDULES)):
            if value not in accepted:
                raise choice_error(name, value, accepted)
        for name in ("batch_size", "width"):
            if getattr(self, name) < 1:
                raise UserError(f"parameter {name}={getattr(self, name)} must be >= 1; accepted: a positive integer")
        for name in ("n_train", "n_test", "image_size", "c", "epochs", "max_steps", "eval_every_steps",
                     "n_track", "train_sample", "seed"):
            if getattr(self, name) < 0:
                raise UserError(f"parameter {name}={getattr(self, name)} must be >= 0; accepted: 0 or a positive integer")
        if self.epochs == 0 and self.max_steps == 0:
            raise UserError("parameters epochs=0 and max_steps=0 leave no training; accepted: a positive "
                            "epochs or max_steps")
        if self.schedule == "cosine" and self.epochs == 0:
            raise UserError("parameter schedule='cosine' needs epochs > 0; accepted: a positive epochs")
        if not self.lr > 0:
            raise UserError(f"parameter lr={self.lr} must be > 0; accepted: a positive number")
        if not 0 <= self.momentum < 1:
            raise UserError(f"parameter momentum={self.momentum} is invalid; accepted: 0 <= momentum < 1")
        if self.aggregator == "m3" and self.batch_size % 3:
            raise UserError(f"parameter batch_size={self.batch_size} does not split into the 3 equal groups "
                            "M3 needs; accepted: a multiple of 3 (the paper profile uses 264)")
        if self.aggregator == "winsorized" and 2 * self.c + 2 > self.batch_size:
            raise UserError(f"parameter c={self.c} is too large for batch_size={self.batch_size}; accepted: "
                            f"0 <= c <= {max((self.batch_size - 2) // 2, 0)}")
        if self.aggregator != "winsorized" and self.c:
            raise UserError(f"parameter c={self.c} only applies to aggregator 'winsorized'; accepted: c=0 "
                            f"with aggregator {self.aggregator!r}")

    def loader_config(self, progress: bool = False, num_workers: int = 0) -> LoaderTrainConfig:
        return LoaderTrainConfig(
            epochs=self.epochs or None, max_steps=self.max_steps or None, batch_size=self.batch_size,
            lr=self.lr, momentum=self.momentum, schedule=self.schedule, lr_milestones=tuple(self.lr_milestones),
            step_first=self.step_first, step_every=self.step_every,
            eval_every_steps=self.eval_every_steps or None, num_workers=num_workers, seed=self.seed + 3,
            progress=progress)


@dataclass(frozen=True)
class WSAggregatorConfig(WSConfig):
    """§3.3 (Figures 2, 3): like Figure 1 but without momentum."""

    EXPERIMENT: ClassVar[str] = "ws-aggregators"
    momentum: float = 0.0


@dataclass(frozen=True)
class WSWinsorizeConfig(WSConfig):
    """Appendix B (Figure 8): CIFAR-10 ResNet-32, batch 32, 100k steps, winsorization level c (the paper's s)."""

    EXPERIMENT: ClassVar[str] = "ws-winsorize"
    model: str = "resnet32"
    dataset: str = "cifar10"
    aggregator: str = "winsorized"
    epochs: int = 0
    max_steps: int = 100_000
    batch_size: int = 32
    momentum: float = 0.0
    schedule: str = "multistep_steps"
    eval_every_steps: int = 2_000
    n_track: int = 10_000
    train_sample: int = 10_000


# Profiles of each experiment: smoke = seconds, generated data; small = minutes on a CPU, real
# data (Fashion-MNIST, a small CNN); paper = the config defaults (GPUs, ImageNet / CIFAR-10).
_SMOKE = dict(model="small_cnn", dataset="synthetic", n_train=240, n_test=100, width=8, epochs=4,
              batch_size=24, lr_milestones=(3,), n_track=60, train_sample=120)
_SMALL = dict(model="small_cnn", dataset="fashion-mnist", n_train=6000, n_test=2000, width=16, epochs=12,
              batch_size=128, lr_milestones=(8,), n_track=1000, train_sample=2000)
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "ws-label-noise": {"smoke": _SMOKE, "small": _SMALL, "paper": {}},
    # no momentum: a larger lr keeps the CPU profiles' short runs moving. small: 1,000 images for
    # 150 epochs, so that plain SGD does memorize noisy labels on a CPU in about a minute per run
    # (with 6,000 images x 15 epochs it never did, and the suppression claims were untestable)
    "ws-aggregators": {"smoke": {**_SMOKE, "lr": 0.2, "batch_size": 12, "width": 6, "epochs": 6,
                                 "lr_milestones": (5,), "eval_every_steps": 40},
                       "small": {**_SMALL, "lr": 0.2, "n_train": 1000, "epochs": 150, "lr_milestones": (100,),
                                 "train_sample": 1000, "n_track": 500}, "paper": {}},
    "ws-winsorize": {
        "smoke": dict(model="small_cnn", dataset="synthetic", n_train=160, n_test=100, width=8, batch_size=16,
                      max_steps=30, step_first=20, step_every=5, eval_every_steps=10, n_track=50,
                      train_sample=100, lr=0.2),
        "small": dict(model="small_cnn", dataset="fashion-mnist", n_train=2000, n_test=1000, width=8,
                      max_steps=2000, step_first=1200, step_every=400, eval_every_steps=250, n_track=500,
                      train_sample=2000, lr=0.1),
        "paper": {}},
}

_CLASSES = {"ws-label-noise": WSConfig, "ws-aggregators": WSAggregatorConfig, "ws-winsorize": WSWinsorizeConfig}


def _stack_key(cfg: WSConfig) -> str:
    return config_hash(cfg)  # every run trains alone


# ----------------------------------------------------------------------------- data
def _imagenet_mini_root(data_root: str | None) -> Path:
    cands = []
    for base in (data_root, os.environ.get("CGH_DATA")):
        if base:
            cands += [Path(base).expanduser() / "imagenet-mini", Path(base).expanduser()]
    for c in cands:
        if (c / "train").is_dir() and (c / "val").is_dir():
            return c
    raise UserError(f"imagenet-mini not found (tried {', '.join(map(str, cands)) or 'nothing: no data_root'}); "
                    "accepted: data_root (or CGH_DATA) pointing at a folder holding imagenet-mini/{train,val} "
                    "(e.g. ../shared/data)")


def _tensor_images(x: torch.Tensor, y: torch.Tensor) -> TensorDataset:
    side = int(round(math.sqrt(x.shape[1])))
    return TensorDataset(x.reshape(len(x), 1, side, side), y)


def build_datasets(cfg: WSConfig, data_root: str | None) -> tuple[Dataset, Dataset, int, dict[str, Any], str]:
    """(train, test, num_classes, model kwargs, description) for ``cfg`` (no noise yet)."""
    from cgh_lib.data import images as imagedata
    from cgh_lib.data.tensors import load_dataset, synthetic_dataset

    model_kw: dict[str, Any] = {}
    if cfg.dataset in ("imagenet", "imagenet-mini"):
        root = _imagenet_mini_root(data_root) if cfg.dataset == "imagenet-mini" else (
            imagedata.resolve_imagenet_root(data_root) if data_root else imagedata.resolve_imagenet_root(None))
        crop = cfg.image_size or (32 if cfg.model == "small_cnn" else IMAGENET_SIZES.get(cfg.model, (256, 224))[1])
        if cfg.model in IMAGENET_SIZES and not cfg.image_size:
            train, test = imagedata.imagenet_datasets(root, model_name=cfg.model)
        else:
            train, test = imagedata.imagenet_datasets(root, crop_size=crop)
        in_ch, side, k, src = 3, crop, len(train.classes), str(root)
    elif cfg.dataset == "cifar10":
        no_dl = os.environ.get("CGH_NO_DOWNLOAD", "") in ("1", "true")
        train, test = imagedata.cifar10_datasets(data_root, download=not no_dl)
        in_ch, side, k, src = 3, 32, 10, str(imagedata.resolve_data_root(data_root))
    else:
        if cfg.dataset == "synthetic":
            d = synthetic_dataset(cfg.n_train or 2000, cfg.n_test or 1000, seed=0, side=cfg.image_size or 28)
        else:
            d = load_dataset("fashion-mnist", data_root)
        train, test = _tensor_images(d.x_train, d.y_train), _tensor_images(d.x_test, d.y_test)
        in_ch, side, k, src = 1, int(train.tensors[0].shape[-1]), d.num_classes, d.source
    if cfg.n_train and cfg.n_train < len(train):
        train = Subset(train, sample_indices(len(train), cfg.n_train, stream_seed(0, "ws-train-subset")).tolist())
    if cfg.n_test and cfg.n_test < len(test):
        test = Subset(test, sample_indices(len(test), cfg.n_test, stream_seed(0, "ws-test-subset")).tolist())
    if cfg.model == "small_cnn":
        model_kw = dict(in_channels=in_ch, image_size=side, width=cfg.width)
    elif cfg.model == "resnet32":
        model_kw = dict(in_channels=in_ch)
    elif in_ch != 3:
        raise UserError(f"model {cfg.model!r} takes colour images but dataset {cfg.dataset!r} is greyscale; "
                        "accepted: small_cnn or resnet32 for fashion-mnist / synthetic")
    desc = f"{cfg.dataset} ({len(train):,} train / {len(test):,} test, {k} classes; {src})"
    return train, test, k, model_kw, desc


def check_data(cfg: WSConfig, data_root: str | None) -> None:
    """The dry data check of `cgh figure`: the datasets resolve (as a run would build them)."""
    build_datasets(cfg, data_root)


def make_aggregator_for(cfg: WSConfig, model: torch.nn.Module) -> Any:
    from cgh_lib.grads.aggregators import make_aggregator
    from cgh_lib.grads.batchnorm import BNWinsorizedAggregator, has_batchnorm

    if cfg.aggregator == "winsorized" and has_batchnorm(model):
        return BNWinsorizedAggregator(cfg.c)
    if cfg.aggregator == "winsorized":
        return make_aggregator("winsorized", c=cfg.c)
    return make_aggregator(cfg.aggregator)


# ----------------------------------------------------------------------------- runner
def _dist_context(opts: RunOptions):
    from cgh_lib.train.distributed import DistContext, setup_distributed

    dev = opts.torch_device()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return setup_distributed(device="cpu" if dev.type == "cpu" else None)
    return DistContext(device=dev)


def _arrays(history: dict[str, list], corrupt_mask: torch.Tensor) -> dict[str, np.ndarray]:
    out = {k: np.array([np.nan if v is None else v for v in vals], dtype=np.float64) for k, vals in history.items()}
    out["step"] = out["step"].astype(np.int64)
    out["corrupt"] = corrupt_mask.numpy().astype(bool)
    return out


def run_one(cfg: WSConfig, opts: RunOptions,
            on_epoch_end: Callable[[int, dict[str, list]], None] | None = None,
            make_probe: Callable[[Dataset, Dataset, torch.device], Callable] | None = None) -> RunResult:
    """Train one config (resuming from its checkpoint if one exists) and store the result.

    ``make_probe(noisy_train, test, device)`` builds a measurement hook for
    `train_with_loader` (GM2022 measures coherence with it); its values are stored as
    ``probe_*`` arrays."""
    cfg.validate()
    ctx = _dist_context(opts)
    exp, key = cfg.EXPERIMENT, config_hash(cfg)
    train, test, k, model_kw, desc = build_datasets(cfg, opts.data_root)
    noisy = NoisyLabels(train, cfg.noise, seed=cfg.seed + 1, scheme=cfg.noise_scheme, num_classes=k)
    evals = tracking_subsets(noisy, cfg.n_track, seed=cfg.seed + 2, train_sample=cfg.train_sample or None)
    evals = {"train": evals["train"], "test": IndexedDataset(test), "pristine": evals["pristine"],
             "corrupt": evals["corrupt"]}
    model = build_vision_model(cfg.model, k, seed=cfg.seed, **model_kw)
    agg = make_aggregator_for(cfg, model)
    ckpt = opts.store.checkpoint_path(exp, key)
    wall_file = ckpt.with_suffix(".wall.json")
    prior = json.loads(wall_file.read_text())["wall_s"] if ckpt.is_file() and wall_file.is_file() else 0.0
    resumed = ckpt.is_file()
    prov = provenance(ctx.device)  # the code that runs is the code at this commit
    t0 = time.time()

    def epoch_done(epochs: int, hist: dict[str, list]) -> None:
        if ctx.is_main:
            wall_file.write_text(json.dumps({"wall_s": prior + time.time() - t0}))
        if on_epoch_end is not None:
            on_epoch_end(epochs, hist)

    workers = int(os.environ.get("CGH_NUM_WORKERS", "8" if ctx.device.type == "cuda" else "0"))
    hist = train_with_loader(model, noisy, evals, cfg.loader_config(opts.progress and ctx.is_main, workers),
                             aggregator=agg, checkpoint_path=ckpt, ctx=ctx, on_epoch_end=epoch_done,
                             checkpoint_every_steps=opts.checkpoint_every_steps, run_id=key,
                             probe=make_probe(noisy, test, ctx.device) if make_probe is not None else None)
    if ctx.is_main:
        arrays = _arrays(hist, noisy.corrupt_mask)
        final = {f"{g}_{m}": float(arrays[f"{g}_{m}"][-1]) for g in GROUPS for m in ("acc", "loss")}
        final.update(step=int(arrays["step"][-1]), epoch=float(arrays["epoch"][-1]),
                     pristine_fraction=float(1 - noisy.corrupt_mask.float().mean()))
        prov.update(wall_time_s=round(prior + time.time() - t0, 3), resumed=resumed, data=desc,
                    world_size=ctx.world_size, aggregator=repr(agg),
                    global_batch=cfg.batch_size, per_rank_batch=cfg.batch_size // ctx.world_size)
        res = opts.store.save(cfg, final, arrays, prov, drop=(ckpt, wall_file))
    ctx.barrier()
    if not ctx.is_main:
        res = opts.store.load(cfg)
        if res is None:
            raise RuntimeError(f"rank {ctx.rank}: rank 0 stored no result at {opts.store.run_dir(cfg)} "
                               "(the run store must be on a filesystem all ranks share)")
    return res


def run_group(configs: Sequence[WSConfig], opts: RunOptions) -> list[RunResult]:
    return [run_one(c, opts) for c in configs]


for _name, _cls in _CLASSES.items():
    register(Experiment(name=_name, config_cls=_cls, run_group=run_group, stack_key=_stack_key,
                        profiles=PROFILES[_name], description=_cls.__doc__.splitlines()[0],
                        check_data=check_data))


# ----------------------------------------------------------------------------- figures
@dataclass(frozen=True)
class FigureSpec:
    experiment: str
    # per-profile settings on top of the experiment's profile (paper: the model/schedule this figure used)
    settings: dict[str, dict[str, Any]]
    noise_levels: tuple[float, ...]
    aggregators: tuple[str, ...] = ("sgd",)
    c_levels: tuple[int, ...] = (0,)


FIGURE_SPECS: dict[str, FigureSpec] = {
    "ws-fig1": FigureSpec("ws-label-noise", {"paper": dict(model="resnet18", schedule="step")}, NOISE_LEVELS),
    # CPU profiles cannot train Inception-V3 / VGG-13: they keep the small CNN but take the paper's
    # cosine schedule (and, for "VGG", a 2x wider CNN), so Figures 6/7 are at least not Figure 1's runs.
    "ws-fig6": FigureSpec("ws-label-noise", {"paper": dict(model="inception_v3", schedule="cosine"),
                                             "small": dict(schedule="cosine"), "smoke": dict(schedule="cosine")},
                          NOISE_LEVELS),
    "ws-fig7": FigureSpec("ws-label-noise", {"paper": dict(model="vgg13", schedule="cosine"),
                                             "small": dict(schedule="cosine", width=32),
                                             "smoke": dict(schedule="cosine", width=16)}, NOISE_LEVELS),
    "ws-fig2": FigureSpec("ws-aggregators", {}, (0.0, 0.5, 1.0), ("sgd", "rm3", "ra3", "m3")),
    "ws-fig3": FigureSpec("ws-aggregators", {}, (0.5,), ("sgd", "ra3", "m3", "rm3")),
    "ws-fig8": FigureSpec("ws-winsorize", {}, (0.0, 1.0), ("winsorized",), (0, 2, 4)),
}
M3_PAPER_BATCH = 264  # 8 GPUs x 33: the smallest multiple of 3 and 8 above 256


def _m3_batch(batch: int, profile: str) -> int:
    if profile == "paper" and batch == 256:
        return M3_PAPER_BATCH
    return batch if batch % 3 == 0 else batch + (3 - batch % 3)


def figure_configs(fig_id: str, profile: str, overrides: dict[str, Any] | None = None,
                   noise_levels: Sequence[float] | None = None) -> dict[tuple[str, float, int], WSConfig]:
    """{(aggregator, noise, c): config} that figure ``fig_id`` shows at ``profile``."""
    if fig_id not in FIGURE_SPECS:
        raise choice_error("WS figure", fig_id, FIGURE_SPECS)
    spec = FIGURE_SPECS[fig_id]
    base = {**spec.settings.get(profile, {}), **(overrides or {})}
    out: dict[tuple[str, float, int], WSConfig] = {}
    for agg in spec.aggregators:
        extra: dict[str, Any] = {}
        if agg == "m3" and "batch_size" not in (overrides or {}):
            batch = make_config(spec.experiment, profile, base).batch_size
            extra["batch_size"] = _m3_batch(batch, profile)
        for noise in (noise_levels if noise_levels is not None else spec.noise_levels):
            for c in spec.c_levels:
                out[(agg, float(noise), c)] = make_config(
                    spec.experiment, profile, {**base, **extra, "noise": float(noise), "aggregator": agg, "c": c})
    return out


# The RM3 mini-batch-size sweep (WS §3.3: "The larger the mini-batch, the more it behaves like SGD"):
# SGD, RM3 and M3 at 50% noise over these batch sizes (M3 rounded up to a multiple of 3).
RM3_BATCHES: dict[str, tuple[int, ...]] = {"smoke": (6, 12, 24), "small": (16, 32, 96), "paper": (128, 256, 512)}
RM3_SWEEP_AGGREGATORS = ("sgd", "rm3", "m3")


def rm3_batch_configs(profile: str, overrides: dict[str, Any] | None = None,
                      batches: Sequence[int] | None = None) -> dict[tuple[str, int], WSConfig]:
    """{(aggregator, batch size): config} of the RM3 batch-size sweep at ``profile`` (50% noise);
    the key is the batch size asked for, the config holds M3's rounded one."""
    if profile not in RM3_BATCHES:
        raise choice_error("profile of the RM3 batch sweep", profile, RM3_BATCHES)
    out: dict[tuple[str, int], WSConfig] = {}
    for b in (RM3_BATCHES[profile] if batches is None else batches):
        for agg in RM3_SWEEP_AGGREGATORS:
            bb = b if agg != "m3" or b % 3 == 0 else b + (3 - b % 3)
            out[(agg, b)] = make_config("ws-aggregators", profile, {**(overrides or {}), "noise": 0.5,
                                                                    "aggregator": agg, "batch_size": bb})
    return out


def figure_runs(fig_id: str, profile: str, data_root: str | None = None, device: str = "auto",
                overrides: dict[str, Any] | None = None, noise_levels: Sequence[float] | None = None,
                progress: bool = False) -> dict[tuple[str, float, int], RunResult]:
    """Stored (or freshly trained) runs of a figure, keyed like `figure_configs`."""
    cfgs = figure_configs(fig_id, profile, overrides, noise_levels)
    res = ensure_runs(list(cfgs.values()), RunOptions(data_root=data_root, device=device, progress=progress))
    return dict(zip(cfgs, res))


def profile_line(fig_id: str, profile: str, runs: dict[Any, RunResult]) -> str:
    """The Markdown line every WS notebook shows: profile, data, model, schedule, steps."""
    r = next(iter(runs.values()))
    c = r.config
    length = f"{c['epochs']} epochs" if c["epochs"] else f"{c['max_steps']:,} steps"
    batches = sorted({x.config["batch_size"] for x in runs.values()})
    return (f"**profile: {profile}** | data: {r.provenance.get('data')} | model `{c['model']}` | "
            f"{length}, batch {'/'.join(map(str, batches))}, lr {c['lr']} ({c['schedule']}), momentum "
            f"{c['momentum']} | noise scheme `{c['noise_scheme']}` | tracking samples {c['n_track']:,} per group "
            f"| run store: `{r.path.parent}`")


# ----------------------------------------------------------------------------- analysis
def curve_mean(run: RunResult, key: str) -> float:
    """Mean of a curve over its evaluations after step 0: a normalised area under it (learning speed)."""
    v = run.arrays[key][1:]
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def final(run: RunResult, key: str) -> float:
    return float(run.arrays[key][-1])


def chance_accuracy(runs: dict[Any, RunResult]) -> float:
    """Chance accuracy, 1 / number of classes, parsed from the runs' data description (default 10 classes)."""
    data = str(next(iter(runs.values())).provenance.get("data", ""))
    m = re.search(r"(\d[\d,]*) classes", data)
    return 1.0 / int(m.group(1).replace(",", "")) if m else 0.1
