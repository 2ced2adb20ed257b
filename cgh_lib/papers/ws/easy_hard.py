"""WS §4, easy and hard examples: Figure 4, the Figure 5(a) difficulty table, the §4.4 cross-evaluation.

Two registered experiments:

* ``ws-easy-hard-classify`` (`WSClassifyConfig`, §4.2): train with the normal
  protocol until the training accuracy first reaches 50% (``stop_at``), measured
  by an eval-mode pass over a fixed sample of ``monitor`` training examples every
  ``eval_every_steps`` steps (the stop condition of `train_with_loader`); then one
  eval-mode pass over the *whole* training set records which examples the model
  gets right ("learned" = easy; the rest hard), stored as bits with the labels.
  Eight seeds give each example a *difficulty* 0-8 (§4.3).
* ``ws-easy-hard`` (`WSEasyHardConfig`): train from scratch on ``subset`` =
  ``easy`` (e-train), ``hard`` (h-train) or ``full`` (the whole training set).
  e-train / e-test and h-train / h-test are drawn without replacement from the
  easy and hard examples of the classification named by the ``cls_*`` fields
  (the paper: 500K / 100K each); the index lists are stored with the run. Every
  run evaluates, after every epoch, a training sample, e-test, h-test and the
  usual test set; at the end it stores per-example correctness on those test
  sets (and, with ``dump_train``, on the whole training set, for Figure 5(a)).

Choices the paper leaves open (configurable, and stated on the pages): "50% training
accuracy" is measured in eval mode on a fixed training sample at a fixed step
resolution, and "learned" by one eval-mode pass over the whole training set at the
stopping step; the normal protocol is §2's (no augmentation, no weight decay,
momentum 0.9) for the classification and Figure 4, §3's (no momentum) for the
Figure 5(a) RM3 run and its SGD counterpart; "full" is trained with the same
recipe and epochs as e-train / h-train.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np
from torch.utils.data import Dataset, Subset

from cgh_lib.data.images import sample_indices, stream_seed
from cgh_lib.data.splits import (
    accuracy_by_difficulty,
    balanced_accuracy,
    class_counts,
    difficulty_counts,
    difficulty_levels,
    draw_disjoint,
    independent_difficulty_counts,
    split_by_mask,
)
from cgh_lib.errors import UserError, choice_error
from cgh_lib.models.vision import MODEL_NAMES, build_vision_model
from cgh_lib.store.config import config_hash
from cgh_lib.store.experiments import Experiment, RunOptions, default_seeds, ensure_runs, make_config, register
from cgh_lib.store.provenance import provenance
from cgh_lib.store.runstore import RunResult
from cgh_lib.train.example_dump import pack_mask, predict_per_example, unpack_mask
from cgh_lib.train.loader import LoaderTrainConfig, train_with_loader

SUBSETS = ("easy", "hard", "full")
DATASETS = ("imagenet", "fashion-mnist", "synthetic")
AGGREGATORS = ("sgd", "rm3", "ra3")
EVALS = ("train", "e_test", "h_test", "test")  # curves every easy/hard/full run records

# The paper's own numbers (WS Figure 5(a) and the §4.4 table), shown beside ours.
PAPER_FIG5A = {  # difficulty: (RM3 top-1 training accuracy, count)
    0: (0.9915, 328400), 1: (0.9782, 100599), 2: (0.9673, 72814), 3: (0.9569, 63783), 4: (0.9446, 60389),
    5: (0.9285, 62617), 6: (0.9056, 71495), 7: (0.8661, 99056), 8: (0.6101, 422014)}
PAPER_TAB44 = {("easy", "e_test"): 0.85, ("easy", "h_test"): 0.17, ("hard", "e_test"): 0.44,
               ("hard", "h_test"): 0.21}


def _check_common(cfg: Any) -> None:
    for name, value, accepted in (("model", cfg.model, MODEL_NAMES), ("dataset", cfg.dataset, DATASETS)):
        if value not in accepted:
            raise choice_error(name, value, accepted)
    for name in ("batch_size", "width"):
        if getattr(cfg, name) < 1:
            raise UserError(f"parameter {name}={getattr(cfg, name)} must be >= 1; accepted: a positive integer")
    if not cfg.lr > 0:
        raise UserError(f"parameter lr={cfg.lr} must be > 0; accepted: a positive number")
    if not 0 <= cfg.momentum < 1:
        raise UserError(f"parameter momentum={cfg.momentum} is invalid; accepted: 0 <= momentum < 1")


@dataclass(frozen=True)
class WSClassifyConfig:
    """WS §4.2: train to 50% training accuracy; the examples learned by then are easy, the rest hard."""

    EXPERIMENT: ClassVar[str] = "ws-easy-hard-classify"

    model: str = "resnet18"
    dataset: str = "imagenet"
    n_data: int = 0             # 0 = the whole training set (synthetic: how many to generate)
    image_size: int = 0
    width: int = 32             # small_cnn only
    lr: float = 0.1
    momentum: float = 0.9
    batch_size: int = 256
    stop_at: float = 0.5        # training accuracy at which to stop
    monitor: int = 50_000       # training sample the stop is tested on (0 = whole training set)
    eval_every_steps: int = 250 # resolution of the crossing
    epochs: int = 30            # cap: give up if 50% is not reached by then
    seed: int = 0

    def validate(self) -> None:
        _check_common(self)
        if not 0 < self.stop_at <= 1:
            raise UserError(f"parameter stop_at={self.stop_at} is invalid; accepted: 0 < stop_at <= 1")
        for name in ("eval_every_steps", "epochs"):
            if getattr(self, name) < 1:
                raise UserError(f"parameter {name}={getattr(self, name)} must be >= 1; accepted: a positive integer")
        for name in ("n_data", "image_size", "monitor", "seed"):
            if getattr(self, name) < 0:
                raise UserError(f"parameter {name}={getattr(self, name)} must be >= 0; accepted: 0 or a positive "
                                "integer")


@dataclass(frozen=True)
class WSEasyHardConfig:
    """WS §4.2-4.4: train on e-train, h-train or the full training set; evaluate on e-test, h-test, test."""

    EXPERIMENT: ClassVar[str] = "ws-easy-hard"

    subset: str = "easy"
    model: str = "resnet18"
    dataset: str = "imagenet"
    n_data: int = 0
    image_size: int = 0
    width: int = 32
    aggregator: str = "sgd"
    epochs: int = 90
    batch_size: int = 256
    lr: float = 0.1
    momentum: float = 0.9
    lr_milestones: tuple[int, ...] = (30, 60)
    train_sample: int = 50_000  # training-accuracy sample of the run's own training set (0 = all of it)
    n_test_full: int = 0        # usual test set: 0 = all of it
    n_train: int = 500_000      # e-train and h-train sizes
    n_test: int = 100_000       # e-test and h-test sizes
    split_seed: int = 0
    dump_train: bool = False    # per-example correctness over the whole training set at the end (Figure 5(a))
    seed: int = 0
    # the classification the easy / hard split comes from (a WSClassifyConfig; see classify_config)
    cls_lr: float = 0.1
    cls_momentum: float = 0.9
    cls_batch_size: int = 256
    cls_stop_at: float = 0.5
    cls_monitor: int = 50_000
    cls_eval_every_steps: int = 250
    cls_epochs: int = 30
    cls_seed: int = 0

    def validate(self) -> None:
        _check_common(self)
        if self.subset not in SUBSETS:
            raise choice_error("subset", self.subset, SUBSETS)
        if self.aggregator not in AGGREGATORS:
            raise choice_error("aggregator", self.aggregator, AGGREGATORS)
        for name in ("epochs", "n_train", "n_test"):
            if getattr(self, name) < 1:
                raise UserError(f"parameter {name}={getattr(self, name)} must be >= 1; accepted: a positive integer")
        for name in ("n_data", "image_size", "train_sample", "n_test_full", "split_seed", "seed", "cls_seed"):
            if getattr(self, name) < 0:
                raise UserError(f"parameter {name}={getattr(self, name)} must be >= 0; accepted: 0 or a positive "
                                "integer")
        self.classify_config().validate()

    def classify_config(self, seed: int | None = None) -> WSClassifyConfig:
        """The classification run (seed ``cls_seed`` unless given) whose split this run uses."""
        return WSClassifyConfig(
            model=self.model, dataset=self.dataset, n_data=self.n_data, image_size=self.image_size,
            width=self.width, lr=self.cls_lr, momentum=self.cls_momentum, batch_size=self.cls_batch_size,
            stop_at=self.cls_stop_at, monitor=self.cls_monitor, eval_every_steps=self.cls_eval_every_steps,
            epochs=self.cls_epochs, seed=self.cls_seed if seed is None else seed)


# Profiles. smoke: generated data, seconds. small: the whole Fashion-MNIST training set (60,000),
# small CNN of width 8, a classification lr 20x below the paper's (0.005 with momentum 0.9: at 0.1 the 50%
# crossing comes after ~20 steps of 128 and moves ~5 points between evaluations; at 0.005 it takes
# ~100+ steps), tested every 5 steps on 3,000 training examples; e/h sets of 20,000 / 4,000 (the paper's
# 5:1), 10 epochs instead of 90 (x0.1 at epoch 7), evaluation on 5,000 test images.
_CLS_SMOKE = dict(cls_lr=0.05, cls_momentum=0.9, cls_batch_size=32, cls_monitor=200, cls_eval_every_steps=2,
                  cls_epochs=10)
_CLS_SMALL = dict(cls_lr=0.005, cls_momentum=0.9, cls_batch_size=128, cls_monitor=3000, cls_eval_every_steps=5,
                  cls_epochs=5)
_EH_SMOKE = dict(model="small_cnn", dataset="synthetic", n_data=600, width=6, epochs=4, batch_size=32,
                 lr=0.05, lr_milestones=(3,), train_sample=200, n_test_full=200, n_train=150, n_test=30,
                 **_CLS_SMOKE)
_EH_SMALL = dict(model="small_cnn", dataset="fashion-mnist", width=8, epochs=10, batch_size=128, lr=0.05,
                 lr_milestones=(7,), train_sample=2000, n_test_full=5000, n_train=20_000, n_test=4_000,
                 **_CLS_SMALL)


def _cls_profile(eh: dict[str, Any]) -> dict[str, Any]:
    keep = {k: v for k, v in eh.items() if k in ("model", "dataset", "n_data", "width")}
    return {**keep, **{k[4:]: v for k, v in eh.items() if k.startswith("cls_")}}


PROFILES = {
    "ws-easy-hard-classify": {"smoke": _cls_profile(_EH_SMOKE), "small": _cls_profile(_EH_SMALL), "paper": {}},
    "ws-easy-hard": {"smoke": _EH_SMOKE, "small": _EH_SMALL, "paper": {}},
}
N_DIFFICULTY_SEEDS = 8
# Figure 5(a)'s RM3 run and its SGD counterpart follow §3 (no momentum). Without momentum the CPU
# profiles take a 4x larger lr (as the ws-aggregators small profile does) so that 10 epochs learn much.
FIG5A_SETTINGS: dict[str, dict[str, Any]] = {"smoke": dict(momentum=0.0, lr=0.2), "small": dict(momentum=0.0, lr=0.2),
                                             "paper": dict(momentum=0.0)}


# ----------------------------------------------------------------------------- data
def _datasets(cfg: Any, data_root: str | None) -> tuple[Dataset, Dataset, int, dict[str, Any], str]:
    from cgh_lib.papers.ws.experiments import WSConfig, build_datasets

    ws = WSConfig(model=cfg.model, dataset=cfg.dataset, n_train=cfg.n_data, n_test=0,
                  image_size=cfg.image_size, width=cfg.width)
    return build_datasets(ws, data_root)


def _labels(ds: Dataset) -> np.ndarray:
    from cgh_lib.data.images import dataset_targets

    return dataset_targets(ds).numpy().astype(np.int64)


def _dist_context(opts: RunOptions):
    from cgh_lib.papers.ws.experiments import _dist_context as ctx

    return ctx(opts)


def _workers(ctx: Any) -> int:
    return int(os.environ.get("CGH_NUM_WORKERS", "8" if ctx.device.type == "cuda" else "0"))


def _arrays(history: dict[str, list]) -> dict[str, np.ndarray]:
    out = {k: np.array([np.nan if v is None else v for v in vals], dtype=np.float64) for k, vals in history.items()}
    out["step"] = out["step"].astype(np.int64)
    return out


class _Wall:
    """Wall time across resumes: what earlier attempts spent is kept next to the checkpoint."""

    def __init__(self, ckpt: Any) -> None:
        self.file = ckpt.with_suffix(".wall.json")
        self.prior = json.loads(self.file.read_text())["wall_s"] if ckpt.is_file() and self.file.is_file() else 0.0
        self.t0 = time.time()

    def total(self) -> float:
        return self.prior + time.time() - self.t0

    def save(self) -> None:
        self.file.write_text(json.dumps({"wall_s": self.total()}))


def _finish(opts: RunOptions, cfg: Any, ctx: Any, final: dict, arrays: dict, prov: dict, ckpt: Any,
            wall: _Wall) -> RunResult:
    if ctx.is_main:
        prov.update(wall_time_s=round(wall.total(), 3), world_size=ctx.world_size)
        res = opts.store.save(cfg, final, arrays, prov, drop=(ckpt, wall.file))
    ctx.barrier()
    if not ctx.is_main:
        res = opts.store.load(cfg)
        if res is None:
            raise RuntimeError(f"rank {ctx.rank}: rank 0 stored no result at {opts.store.run_dir(cfg)}")
    return res


# ----------------------------------------------------------------------------- classification
def run_classify(cfg: WSClassifyConfig, opts: RunOptions) -> RunResult:
    """Train to ``stop_at`` training accuracy, then record which training examples are right (easy)."""
    cfg.validate()
    ctx = _dist_context(opts)
    train, _test, k, model_kw, desc = _datasets(cfg, opts.data_root)
    monitor = train if not cfg.monitor or cfg.monitor >= len(train) else Subset(
        train, sample_indices(len(train), cfg.monitor, stream_seed(cfg.seed, "ws-easy-hard-monitor")).tolist())
    model = build_vision_model(cfg.model, k, seed=cfg.seed, **model_kw)
    ckpt = opts.store.checkpoint_path(cfg.EXPERIMENT, config_hash(cfg))
    wall, prov = _Wall(ckpt), provenance(ctx.device)
    lcfg = LoaderTrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, momentum=cfg.momentum,
                             schedule="constant", eval_every_steps=cfg.eval_every_steps, seed=cfg.seed + 3,
                             num_workers=_workers(ctx), progress=opts.progress and ctx.is_main,
                             stop_metric="train_acc", stop_at=cfg.stop_at)
    hist = train_with_loader(model, train, {"train": monitor}, lcfg, checkpoint_path=ckpt, ctx=ctx,
                             on_epoch_end=lambda e, h: wall.save() if ctx.is_main else None,
                             checkpoint_every_steps=opts.checkpoint_every_steps, run_id=config_hash(cfg))
    pred, labels = predict_per_example(model, train, ctx, batch_size=max(cfg.batch_size, 256),
                                       num_workers=_workers(ctx))
    learned = pred == labels
    arrays = _arrays(hist)
    arrays.update(learned=pack_mask(learned), labels=labels.astype(np.int16), n=np.array(len(learned)))
    reached = bool(hist["train_acc"][-1] >= cfg.stop_at)
    final = dict(step=int(arrays["step"][-1]), epoch=float(arrays["epoch"][-1]), reached=reached,
                 monitor_acc=float(arrays["train_acc"][-1]), easy_fraction=float(learned.mean()),
                 n_easy=int(learned.sum()), n=int(len(learned)))
    prov.update(data=desc)
    return _finish(opts, cfg, ctx, final, arrays, prov, ckpt, wall)


def learned_mask(run: RunResult) -> np.ndarray:
    """The stored easy (True) / hard (False) vector over the whole training set."""
    return unpack_mask(run.arrays["learned"], int(run.arrays["n"]))


def split_indices(cfg: WSEasyHardConfig, learned: np.ndarray) -> dict[str, np.ndarray]:
    """e_train, e_test, h_train, h_test: disjoint index lists drawn from the easy / hard examples."""
    easy, hard = split_by_mask(learned)
    e_tr, e_te = draw_disjoint(easy, (cfg.n_train, cfg.n_test), stream_seed(cfg.split_seed, "ws-easy-split"),
                               "easy set")
    h_tr, h_te = draw_disjoint(hard, (cfg.n_train, cfg.n_test), stream_seed(cfg.split_seed, "ws-hard-split"),
                               "hard set")
    return {"e_train": e_tr, "e_test": e_te, "h_train": h_tr, "h_test": h_te}


# ----------------------------------------------------------------------------- easy / hard / full training
def run_easy_hard(cfg: WSEasyHardConfig, opts: RunOptions) -> RunResult:
    """Train on the run's subset from scratch; curves on train sample, e-test, h-test, test; final dumps."""
    cfg.validate()
    nested = dataclasses.replace(opts, force=False)
    cls_run = ensure_runs([cfg.classify_config()], nested)[0]
    ctx = _dist_context(opts)
    train, test, k, model_kw, desc = _datasets(cfg, opts.data_root)
    learned = learned_mask(cls_run)
    if len(learned) != len(train):
        raise UserError(f"classification run {cls_run.path} covers {len(learned):,} examples but the training "
                        f"set has {len(train):,}; accepted: the same dataset / n_data")
    idx = split_indices(cfg, learned)
    own = {"easy": idx["e_train"], "hard": idx["h_train"], "full": np.arange(len(train))}[cfg.subset]
    train_set = Subset(train, own.tolist()) if cfg.subset != "full" else train
    sample = own if not cfg.train_sample or cfg.train_sample >= len(own) else own[
        sample_indices(len(own), cfg.train_sample, stream_seed(cfg.seed, "ws-easy-hard-train-sample")).numpy()]
    if cfg.n_test_full and cfg.n_test_full < len(test):
        test = Subset(test, sample_indices(len(test), cfg.n_test_full, stream_seed(0, "ws-test-subset")).tolist())
    evals = {"train": Subset(train, sample.tolist()), "e_test": Subset(train, idx["e_test"].tolist()),
             "h_test": Subset(train, idx["h_test"].tolist()), "test": test}
    from cgh_lib.papers.ws.experiments import WSConfig, make_aggregator_for

    model = build_vision_model(cfg.model, k, seed=cfg.seed, **model_kw)
    agg = make_aggregator_for(WSConfig(aggregator=cfg.aggregator), model)
    ckpt = opts.store.checkpoint_path(cfg.EXPERIMENT, config_hash(cfg))
    wall, prov = _Wall(ckpt), provenance(ctx.device)
    lcfg = LoaderTrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, momentum=cfg.momentum,
                             schedule="step", lr_milestones=tuple(cfg.lr_milestones), seed=cfg.seed + 3,
                             num_workers=_workers(ctx), progress=opts.progress and ctx.is_main)
    hist = train_with_loader(model, train_set, evals, lcfg, aggregator=agg, checkpoint_path=ckpt, ctx=ctx,
                             on_epoch_end=lambda e, h: wall.save() if ctx.is_main else None,
                             checkpoint_every_steps=opts.checkpoint_every_steps, run_id=config_hash(cfg))
    arrays = _arrays(hist)
    arrays.update({name: v.astype(np.int32) for name, v in idx.items()})
    bs = max(cfg.batch_size, 256)
    final: dict[str, Any] = {f"{g}_{m}": float(arrays[f"{g}_{m}"][-1]) for g in EVALS for m in ("acc", "loss")}
    labels_all = _labels(train)
    for name in ("e_test", "h_test", "test"):
        pred, lab = predict_per_example(model, evals[name], ctx, batch_size=bs, num_workers=_workers(ctx))
        arrays[f"{name}_correct"] = pack_mask(pred == lab)
        final[f"{name}_balanced_acc"] = balanced_accuracy(pred == lab, lab, k)
    arrays["test_labels"] = _labels(test).astype(np.int16)
    if cfg.dump_train:
        pred, lab = predict_per_example(model, train, ctx, batch_size=bs, num_workers=_workers(ctx))
        arrays["train_correct"] = pack_mask(pred == lab)
        final["train_full_acc"] = float((pred == lab).mean())
    arrays["n"] = np.array(len(train))
    arrays["labels"] = labels_all.astype(np.int16)
    final.update(step=int(arrays["step"][-1]), epoch=float(arrays["epoch"][-1]), n_train_set=len(own),
                 cls_easy_fraction=float(learned.mean()))
    prov.update(data=desc, aggregator=repr(agg), classify_run=str(cls_run.path.name))
    return _finish(opts, cfg, ctx, final, arrays, prov, ckpt, wall)


def _run_group(configs: Sequence[Any], opts: RunOptions) -> list[RunResult]:
    fn = run_classify if isinstance(configs[0], WSClassifyConfig) else run_easy_hard
    return [fn(c, opts) for c in configs]


for _cls in (WSClassifyConfig, WSEasyHardConfig):
    register(Experiment(name=_cls.EXPERIMENT, config_cls=_cls, run_group=_run_group, stack_key=config_hash,
                        profiles=PROFILES[_cls.EXPERIMENT], description=_cls.__doc__.splitlines()[0]))


# ----------------------------------------------------------------------------- figure configs
FIGURES = ("ws-fig4", "ws-fig5a", "ws-tab44")


def figure_configs(fig_id: str, profile: str, overrides: dict[str, Any] | None = None) -> dict[Any, Any]:
    """The configs a figure shows, keyed by role.

    ``ws-fig4`` / ``ws-tab44``: ``easy``, ``hard``, ``full`` (SGD, momentum 0.9) and the
    classification. ``ws-fig5a``: the classifications of seeds 0..7 (``("classify", s)``), the
    RM3 and SGD runs on the full training set without momentum (``rm3``, ``sgd``).
    """
    if fig_id not in FIGURES:
        raise choice_error("WS §4 figure", fig_id, FIGURES)
    ov = dict(overrides or {})
    base = make_config("ws-easy-hard", profile, ov)
    out: dict[Any, Any] = {}
    if fig_id in ("ws-fig4", "ws-tab44"):
        out["classify"] = base.classify_config()
        for sub in SUBSETS:
            out[sub] = make_config("ws-easy-hard", profile, {**ov, "subset": sub})
    else:
        for s in range(N_DIFFICULTY_SEEDS):
            out[("classify", s)] = base.classify_config(seed=s)
        for agg in ("rm3", "sgd"):
            out[agg] = make_config("ws-easy-hard", profile, {**FIG5A_SETTINGS[profile], **ov, "subset": "full",
                                                             "aggregator": agg, "dump_train": True})
    return out


def seed_overrides(fig_id: str, seed: int) -> dict[str, int]:
    """What one seed of a figure sets. Figure 4 and §4.4: the trainings' init and order *and* their
    own classification to 50% (so the easy / hard split varies too). Figure 5(a): the RM3 / SGD
    trainings only; its difficulty always comes from the classifications of seeds 0..7."""
    return {"seed": seed} if fig_id == "ws-fig5a" else {"seed": seed, "cls_seed": seed}


def figure_plan(fig_id: str, profile: str, params: dict[str, Any]) -> list[Any]:
    """Every config the figure's notebook shows with these parameters (each seed's; shared runs once)."""
    out: dict[str, Any] = {}
    for s in params.get("seeds") or default_seeds(profile):
        ov = {**(params.get("overrides") or {}), **seed_overrides(fig_id, s)}
        for c in figure_configs(fig_id, profile, ov).values():
            out.setdefault(config_hash(c), c)
    return list(out.values())


def figure_runs_by_seed(fig_id: str, profile: str, data_root: str | None = None, device: str = "auto",
                        overrides: dict[str, Any] | None = None, seeds: Sequence[int] | None = None,
                        progress: bool = False) -> dict[int, dict[Any, RunResult]]:
    """{seed: the figure's runs for that seed (keyed like `figure_configs`)}; ``seeds`` None means
    the profile's seeds (small: 0, 1, 2)."""
    return {s: figure_runs(fig_id, profile, data_root, device, {**(overrides or {}), **seed_overrides(fig_id, s)},
                           progress)
            for s in (seeds or default_seeds(profile))}


def _per_seed(runs: dict[Any, Any]) -> list[dict[Any, RunResult]]:
    """[runs of each seed] from {seed: runs} or from one seed's runs."""
    if runs and all(isinstance(k, int) and isinstance(v, dict) for k, v in runs.items()):
        return list(runs.values())
    return [runs]


def mean_over_seeds(tables: Sequence[Any], spread: Sequence[str] = ()) -> Any:
    """The mean of per-seed tables of one shape (numeric columns); each ``spread`` column also gets
    its per-seed values as "a / b / c" beside it, so the seeds' disagreement stays visible."""
    import warnings

    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if len(tables) == 1:
        return tables[0]
    out = tables[0].copy()
    for col in out.columns:
        same = all(t[col].equals(out[col]) for t in tables)  # e.g. set sizes, the paper's numbers: kept as they are
        if not same and is_numeric_dtype(out[col].dtype) and not is_bool_dtype(out[col].dtype):
            with warnings.catch_warnings():  # an all-NaN column (a paper value it does not give) stays NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                out[col] = np.nanmean(np.stack([t[col].to_numpy(dtype=float) for t in tables]), axis=0)
    for col in spread:
        pos = list(out.columns).index(col) + 1
        out.insert(pos, f"{col}, per seed", [" / ".join(f"{float(t[col].iloc[i]):.3f}" for t in tables)
                                              for i in range(len(out))])
    return out.round(4)


def figure_runs(fig_id: str, profile: str, data_root: str | None = None, device: str = "auto",
                overrides: dict[str, Any] | None = None, progress: bool = False) -> dict[Any, RunResult]:
    """Stored (or freshly trained) runs of a figure, keyed like `figure_configs`."""
    cfgs = figure_configs(fig_id, profile, overrides)
    opts = RunOptions(data_root=data_root, device=device, progress=progress)
    out: dict[Any, RunResult] = {}
    for key, cfg in cfgs.items():  # classifications first (dict order), then what depends on them
        out[key] = ensure_runs([cfg], opts)[0]
    return out


# ----------------------------------------------------------------------------- analysis
def gap(run: RunResult) -> float:
    """Final generalization gap: training accuracy (own training sample) minus own-test accuracy."""
    own = {"easy": "e_test", "hard": "h_test", "full": "test"}[run.config["subset"]]
    return float(run.final["train_acc"] - run.final[f"{own}_acc"])


def own_test(run: RunResult) -> str:
    return {"easy": "e_test", "hard": "h_test", "full": "test"}[run.config["subset"]]


def speed(run: RunResult, key: str = "train_acc", upto: float = 0.25) -> float:
    """Mean of a curve over the first ``upto`` of training (after step 0): how fast it rises early."""
    a = run.arrays
    ep = a["epoch"]
    m = (ep > 0) & (ep <= upto * ep[-1] + 1e-9)
    return float(np.nanmean(a[key][m])) if m.any() else float("nan")


def early_loss_slope(run: RunResult) -> float:
    """Training loss drop per epoch between step 0 and the first evaluation after it (steeper = larger)."""
    a = run.arrays
    return float((a["train_loss"][0] - a["train_loss"][1]) / max(a["epoch"][1], 1e-9))


def fig4_table(runs: dict[Any, Any]) -> Any:
    """Figure 4's numbers per training set: one seed's, or the mean over ``{seed: runs}``."""
    per_seed = [_fig4_table(r) for r in _per_seed(runs)]
    return mean_over_seeds(per_seed, ["final own-test acc", "gap (train - test)"])


def _fig4_table(runs: dict[Any, RunResult]) -> Any:
    import pandas as pd

    rows = []
    for sub in SUBSETS:
        r = runs[sub]
        t = own_test(r)
        rows.append({"run": sub, "trained on": {"easy": "e-train", "hard": "h-train", "full": "train"}[sub],
                     "examples": r.final["n_train_set"], "final train acc": r.final["train_acc"],
                     "final own-test acc": r.final[f"{t}_acc"], "own test set": t.replace("_", "-"),
                     "gap (train - test)": gap(r), "early train acc (first quarter)": speed(r),
                     "loss drop / epoch (first eval)": early_loss_slope(r)})
    return pd.DataFrame(rows).round(4)


def cross_table(runs: dict[Any, Any]) -> Any:
    """The §4.4 2x2: trained on easy / hard x evaluated on e-test / h-test, beside the paper's numbers
    (one seed's, or the mean over ``{seed: runs}`` with each seed's value)."""
    return mean_over_seeds([_cross_table(r) for r in _per_seed(runs)], ["ours"])


def _cross_table(runs: dict[Any, RunResult]) -> Any:
    import pandas as pd

    rows = []
    for tr in ("easy", "hard"):
        for te in ("e_test", "h_test"):
            r = runs[tr]
            rows.append({"trained on": f"{tr} ({tr[0]}-train)", "evaluated on": te.replace("_", "-"),
                         "paper": PAPER_TAB44[(tr, te)], "ours": r.final[f"{te}_acc"],
                         "ours, class-balanced": r.final[f"{te}_balanced_acc"]})
    return pd.DataFrame(rows).round(4)


def class_mix(runs: dict[Any, Any]) -> Any:
    """Share of each class in e-train, e-test, h-train, h-test (the confound of the cross-evaluation);
    of the first seed's split when given ``{seed: runs}``."""
    import pandas as pd

    r = _per_seed(runs)[0]["easy"]
    labels = r.arrays["labels"].astype(np.int64)
    k = int(labels.max()) + 1
    cols = {name: class_counts(labels, r.arrays[name], k) / max(len(r.arrays[name]), 1)
            for name in ("e_train", "e_test", "h_train", "h_test")}
    cols["all"] = class_counts(labels, None, k) / len(labels)
    return pd.DataFrame(cols).rename_axis("class").round(3)


def difficulty_table(runs: dict[Any, Any]) -> Any:
    """WS Figure 5(a): count and RM3 (and SGD) training accuracy per difficulty, beside the paper's
    (one seed's trainings, or the mean over ``{seed: runs}``; the difficulty is the same for all)."""
    return mean_over_seeds([_difficulty_table(r) for r in _per_seed(runs)], ["ours RM3 acc"])


def _difficulty_table(runs: dict[Any, RunResult]) -> Any:
    import pandas as pd

    lv, n_runs = difficulty(runs)
    counts = difficulty_counts(lv, n_runs)
    indep = independent_difficulty_counts([1 - runs[("classify", s)].final["easy_fraction"]
                                           for s in range(n_runs)], len(lv))
    rows = []
    for agg in ("rm3", "sgd"):
        correct = unpack_mask(runs[agg].arrays["train_correct"], int(runs[agg].arrays["n"]))
        acc, _ = accuracy_by_difficulty(lv, correct, n_runs)
        for d in range(n_runs + 1):
            if agg == "rm3":
                rows.append({"difficulty": d, "paper RM3 acc": PAPER_FIG5A[d][0] if n_runs == 8 else np.nan,
                             "paper count": PAPER_FIG5A[d][1] if n_runs == 8 else np.nan,
                             "paper share": PAPER_FIG5A[d][1] / sum(c for _, c in PAPER_FIG5A.values()),
                             "ours RM3 acc": acc[d], "ours count": int(counts[d]),
                             "ours share": counts[d] / len(lv), "share if runs were independent": indep[d] / len(lv)})
            else:
                rows[d]["ours SGD acc"] = acc[d]
    return pd.DataFrame(rows).set_index("difficulty").round(4)


def difficulty(runs: dict[Any, RunResult]) -> tuple[np.ndarray, int]:
    """(difficulty per training example, number of classification runs) from the ``("classify", s)`` runs."""
    seeds = sorted(s for k, s in (key for key in runs if isinstance(key, tuple)) if k == "classify")
    hard = np.stack([~learned_mask(runs[("classify", s)]) for s in seeds])
    return difficulty_levels(hard), len(seeds)


# ----------------------------------------------------------------------------- compute budget
def paper_budget(train_img_s: float = 2500.0, eval_img_s: float = 7500.0, gpus: int = 8,
                 gpu: str = "NVIDIA A100 80GB", classify_epochs: float = 10.0) -> Any:
    """GPU-hours of the paper profile of ws-fig4 / ws-fig5a / ws-tab44, from a *stated* throughput.

    No GPU was available to measure ResNet-18 here, so the throughput is an assumption:
    ``train_img_s`` images/s per GPU for training (bf16, channels_last; ImageNet JPEG
    decoding with 8 workers per GPU usually bounds ResNet-18 near this on an A100) and
    ``eval_img_s`` for eval-mode passes. ``classify_epochs`` is the assumed epoch at which
    ResNet-18 reaches 50% training accuracy (the paper does not say). Returns a DataFrame,
    one row per run, with GPU-hours and wall hours on ``gpus`` GPUs.
    """
    import pandas as pd

    n_train, n_val = 1_281_167, 50_000
    cls = make_config("ws-easy-hard-classify", "paper")
    eh = make_config("ws-easy-hard", "paper")
    steps_per_epoch = n_train / cls.batch_size
    cls_evals = classify_epochs * steps_per_epoch / cls.eval_every_steps
    rows = []

    def add(what: str, count: int, train_imgs: float, eval_imgs: float) -> None:
        h = (train_imgs / train_img_s + eval_imgs / eval_img_s) / 3600
        rows.append({"run": what, "count": count, "GPU-hours each": round(h, 1),
                     "GPU-hours total": round(h * count, 1), f"wall hours on {gpus} GPUs": round(h * count / gpus, 1)})

    add("classify to 50% (seeds 0-7; seed 0 for Fig 4)", N_DIFFICULTY_SEEDS, classify_epochs * n_train,
        cls_evals * cls.monitor + n_train)
    per_epoch_eval = eh.train_sample + 2 * eh.n_test + n_val
    add("e-train / h-train (Fig 4, §4.4)", 2, eh.epochs * eh.n_train, eh.epochs * per_epoch_eval + 2 * eh.n_test + n_val)
    add("full, SGD momentum 0.9 (Fig 4)", 1, eh.epochs * n_train, eh.epochs * per_epoch_eval + 2 * eh.n_test + n_val)
    add("full, RM3 / SGD momentum 0 (Fig 5a)", 2, eh.epochs * n_train,
        eh.epochs * per_epoch_eval + 2 * eh.n_test + n_val + n_train)
    df = pd.DataFrame(rows)
    df.attrs["assumption"] = (f"{gpu}: {train_img_s:,.0f} training and {eval_img_s:,.0f} eval images/s per GPU "
                              f"(stated, not measured); classification assumed to reach 50% by epoch "
                              f"{classify_epochs:g}")
    return df


# ----------------------------------------------------------------------------- page text
def crossing(run: RunResult) -> dict[str, Any]:
    """How finely a classification run resolved its 50% crossing: evaluations before it, and the
    monitored accuracy at the last evaluation below the threshold and at the stop."""
    a, c = run.arrays, run.config
    acc = a["train_acc"]
    return {"seed": c["seed"], "stop step": int(a["step"][-1]), "stop epoch": round(float(a["epoch"][-1]), 3),
            "evaluations": len(acc), "acc before": float(acc[-2]) if len(acc) > 1 else float("nan"),
            "acc at stop": float(acc[-1]), "reached": bool(run.final["reached"]),
            "easy fraction (whole training set)": float(run.final["easy_fraction"])}


def classify_table(runs: dict[Any, Any]) -> Any:
    """One row per classification run the figure uses (every seed's, once each)."""
    import pandas as pd

    cls = {r.path: r for one in _per_seed(runs) for k, r in one.items()
           if k == "classify" or (isinstance(k, tuple) and k[0] == "classify")}
    rows = sorted((crossing(r) for r in cls.values()), key=lambda row: row["seed"])
    return pd.DataFrame(rows).set_index("seed").round(4)


def profile_notes(fig_id: str, profile: str, runs: dict[Any, RunResult]) -> str:
    """Markdown: the profile's data, model and recipes, read from the stored configs (nothing typed in);
    with ``{seed: runs}``, the first seed's configs and a line naming the seeds."""
    by_seed = _per_seed(runs)
    runs = by_seed[0]
    cls = next(r for k, r in runs.items() if k == "classify" or (isinstance(k, tuple) and k[0] == "classify"))
    c = cls.config
    lines = [f"**profile: {profile}** | data: {cls.provenance.get('data')} | model `{c['model']}`"
             + (f" (width {c['width']})" if c["model"] == "small_cnn" else ""),
             f"- **Classification** (easy = right at the stop): SGD lr {c['lr']}, momentum {c['momentum']}, batch "
             f"{c['batch_size']}, stop at the first evaluation with training accuracy >= {c['stop_at']:.0%}, measured "
             f"in eval mode on {c['monitor'] or 'all'} training examples every {c['eval_every_steps']} steps; then one "
             "eval-mode pass over the whole training set decides easy / hard."]
    for key in ("easy", "rm3"):
        if key in runs:
            e = runs[key].config
            what = ("e-train / h-train / full" if key == "easy" else "RM3 and SGD on the full training set")
            lines.append(f"- **Training** ({what}): {e['epochs']} epochs, batch {e['batch_size']}, lr {e['lr']} "
                         f"(x0.1 at epochs {', '.join(map(str, e['lr_milestones']))}), momentum {e['momentum']}, no "
                         f"augmentation or weight decay" + (f"; e-train / h-train {e['n_train']:,}, e-test / h-test "
                                                            f"{e['n_test']:,} examples" if key == "easy" else "")
                         + f"; test set: {e['n_test_full'] or 'all'} images.")
    if len(by_seed) > 1:
        seeds = [next(r for k, r in one.items() if k in ("easy", "rm3")).config["seed"] for one in by_seed]
        lines.append(f"- **Seeds** {', '.join(map(str, seeds))}: curves show their mean and min-max band, tables "
                     "their mean (with each seed's value beside the main columns), and every claim is checked "
                     "per seed.")
    return "\n".join(lines)
