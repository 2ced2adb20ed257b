"""Epoch-based trainer for DataLoader-fed models (ImageNet / CIFAR-10 scale).

Complements the in-memory step trainer (`training.py`) for datasets too large
to hold as one tensor. What it reproduces from the WS paper: SGD from lr 0.1
with momentum 0.9 (label-noise figures) or 0 (aggregator figures), no weight
decay, no augmentation, global batch 256, and one of three lr schedules:

* ``"step"``: x0.1 at given epochs (ResNet-18: 30 and 60 of 90);
* ``"cosine"``: cosine annealing to 0 over ``epochs``, stepped once per epoch
  (VGG-13 and Inception-V3; like ``CosineAnnealingLR(T_max=epochs)``);
* ``"multistep_steps"``: x0.1 at ``step_first`` steps and then every
  ``step_every`` steps (Figure 8: 40k, 60k, 80k of 100k);
* ``"constant"``.

The gradient comes from an *aggregator* (see `GradientAggregator`), so SGD,
RM3, RA3, M3, ... plug in unchanged and compose with the momentum optimizer.

Evaluation (eval mode, no grad) happens before training and after every epoch
(or every ``eval_every_steps`` steps and at the end), on named datasets such as
``train`` (the noisy training set or a sample), ``test``, ``pristine`` and
``corrupt``. Items may be ``(x, y)`` or ``(x, y, index)``.

Optionally training stops early at the first evaluation where a metric reaches a
threshold (``stop_metric="train_acc", stop_at=0.5``: WS §4's "trained to 50% training
accuracy"); the stop is checkpointed, so calling again returns the stopped model
instead of training on, and a run killed before its stop resumes to the same stop.

A checkpoint is written atomically after every epoch, and optionally every N
steps within one (model, optimizer with its momentum buffers, aggregator, RNG
states, counters, position in the epoch, history), always after the step's
evaluation; SIGINT / SIGTERM stop at the next step boundary after writing one.
Calling the trainer again with the same path resumes and ends bit-identical to
an uninterrupted run on CPU.

Typical WS Figure 1 run (launch with ``torchrun --nproc_per_node 8 script.py``)::

    ctx = setup_distributed()
    train, val = imagenet_datasets(model_name="resnet18")        # or $CGH_IMAGENET
    noisy = NoisyLabels(train, fraction=0.5, seed=0)             # authors' "uniform" scheme
    evals = tracking_subsets(noisy, n_per_group=50_000, seed=0, train_sample=50_000)
    evals["test"] = IndexedDataset(val)
    model = build_vision_model("resnet18", 1000, seed=0)
    hist = train_with_loader(model, noisy, evals, LoaderTrainConfig(epochs=90),
                             checkpoint_path="runs/x/checkpoints/last.pt", ctx=ctx)
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import random
import signal
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol, runtime_checkable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from cgh_lib.errors import Interrupted, UserError, choice_error
from cgh_lib.store import faults
from cgh_lib.store.runstore import read_checkpoint, write_checkpoint
from cgh_lib.train.distributed import (
    DistContext,
    ShardSampler,
    all_reduce_sum,
    per_rank_batch_size,
    train_sampler,
    unwrap_model,
    wrap_model,
)
from cgh_lib.train.divergence import check_loss
from cgh_lib.train.interrupt import DeferredSignals

__all__ = [
    "LR_SCHEDULES", "GradientAggregator", "MeanGradient", "LoaderTrainConfig", "lr_at",
    "train_with_loader", "evaluate", "load_checkpoint", "save_checkpoint", "stop_reached",
]

log = logging.getLogger(__name__)

LR_SCHEDULES = ("step", "cosine", "multistep_steps", "constant")
CHECKPOINT_FORMAT = 2  # 2: run-store file format, mid-epoch position
_DDP_SIGNAL_EVERY = 50  # under DDP, ranks agree on a pending SIGINT / SIGTERM every this many steps


@runtime_checkable
class GradientAggregator(Protocol):
    """What the trainer needs from a gradient aggregator.

    ``backward`` computes the loss on ``(x, y)``, leaves the aggregated gradient
    in ``p.grad`` and returns the (mean) loss. An aggregator that only updates
    every k calls (serial M3) may expose ``ready: bool``; the optimizer steps
    only when it is True (absent means always).
    """

    def backward(self, model: nn.Module, loss_fn: Callable[..., torch.Tensor],
                 x: torch.Tensor, y: torch.Tensor) -> torch.Tensor: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class MeanGradient:
    """Plain SGD: the gradient of the mini-batch mean loss."""

    def backward(self, model: nn.Module, loss_fn: Callable[..., torch.Tensor],
                 x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss.detach()

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


@dataclass
class LoaderTrainConfig:
    """Hyper-parameters; defaults are the paper's ResNet-18 label-noise setup."""

    epochs: int | None = 90
    max_steps: int | None = None  # stop after this many steps (Figure 8: 100_000)
    batch_size: int = 256  # global, over all ranks
    lr: float = 0.1
    momentum: float = 0.9  # 0.9 label-noise figures, 0 aggregator figures
    schedule: str = "step"
    lr_milestones: tuple[int, ...] = (30, 60)  # epochs, for "step"
    lr_gamma: float = 0.1
    step_first: int = 40_000  # for "multistep_steps"
    step_every: int = 20_000
    eval_every_steps: int | None = None  # None: evaluate at epoch boundaries
    eval_batch_size: int | None = None  # per rank; default: per-rank training batch
    num_workers: int = 0
    seed: int = 0
    amp: bool = True  # bf16 autocast, only on CUDA
    channels_last: bool = True  # only on CUDA
    progress: bool = False  # tqdm bar on rank 0
    # Stop at the first evaluation where history[stop_metric] >= stop_at (e.g. "train_acc", 0.5);
    # epochs / max_steps stay the cap. Resolution = the evaluation schedule (eval_every_steps).
    stop_metric: str | None = None
    stop_at: float | None = None

    # Fields that change the trajectory: a checkpoint made with other values is refused.
    _MATH = ("max_steps", "batch_size", "lr", "momentum", "schedule", "lr_milestones", "lr_gamma",
             "step_first", "step_every", "eval_every_steps", "seed", "stop_metric", "stop_at")

    def validate(self) -> None:
        if self.schedule not in LR_SCHEDULES:
            raise choice_error("lr schedule", self.schedule, LR_SCHEDULES)
        if self.epochs is None and self.max_steps is None:
            raise UserError("give epochs or max_steps (or both); accepted: positive integers")
        for name in ("epochs", "max_steps", "eval_every_steps", "eval_batch_size"):
            v = getattr(self, name)
            if v is not None and int(v) < 1:
                raise UserError(f"{name} {v!r} is invalid; accepted: a positive integer or None")
        if self.schedule == "cosine" and self.epochs is None:
            raise UserError("the cosine schedule needs epochs; accepted: a positive integer")
        if self.lr <= 0 or not (0 <= self.momentum < 1):
            raise UserError(f"lr {self.lr!r} / momentum {self.momentum!r} invalid; accepted: lr > 0, 0 <= momentum < 1")
        if (self.stop_metric is None) != (self.stop_at is None):
            raise UserError(f"stop_metric={self.stop_metric!r} / stop_at={self.stop_at!r}: give both or neither; "
                            "accepted: e.g. stop_metric='train_acc', stop_at=0.5")


def stop_reached(cfg: LoaderTrainConfig, history: Mapping[str, list]) -> bool:
    """Whether the last evaluation in ``history`` meets ``cfg``'s stop condition (False without one)."""
    if cfg.stop_metric is None or not history.get(cfg.stop_metric):
        return False
    v = history[cfg.stop_metric][-1]
    return v is not None and v >= float(cfg.stop_at)  # type: ignore[arg-type]


def lr_at(cfg: LoaderTrainConfig, epoch: int, step: int) -> float:
    """Learning rate for the step taken at 0-based ``step`` during 0-based ``epoch``.

    A pure function of the counters, so resuming needs no scheduler state.
    """
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "step":
        return cfg.lr * cfg.lr_gamma ** sum(1 for m in cfg.lr_milestones if epoch >= m)
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / int(cfg.epochs)))
    if cfg.schedule == "multistep_steps":
        if step < cfg.step_first:
            return cfg.lr
        return cfg.lr * cfg.lr_gamma ** (1 + (step - cfg.step_first) // cfg.step_every)
    raise choice_error("lr schedule", cfg.schedule, LR_SCHEDULES)


# ------------------------------------------------------------------ evaluation
def _batch_xy(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return batch[0], batch[1]


def _amp_ctx(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if channels_last and device.type == "cuda" and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def evaluate(
    model: nn.Module, dataset: Dataset, ctx: DistContext, batch_size: int = 256,
    amp: bool = True, channels_last: bool = True, num_workers: int = 0,
) -> dict[str, float | int | None]:
    """Mean loss, top-1 and top-5 accuracy (fractions) over ``dataset``, exact under DDP.

    Each rank evaluates a disjoint shard; sums are all-reduced. An empty
    dataset (e.g. no corrupt examples at 0% noise) gives ``None`` metrics.
    """
    net = unwrap_model(model)
    net.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=ctx.device)  # loss, top1, top5, n
    if len(dataset) > 0:
        loader = DataLoader(dataset, batch_size=batch_size, sampler=ShardSampler(len(dataset), ctx),
                            num_workers=num_workers, pin_memory=ctx.device.type == "cuda",
                            generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            for batch in loader:
                x, y = _batch_xy(batch)
                x, y = _to_device(x, ctx.device, channels_last), y.to(ctx.device)
                with _amp_ctx(ctx.device, amp):
                    out = net(x)
                out = out.float()
                k = min(5, out.shape[1])
                topk = out.topk(k, dim=1).indices
                hit = topk == y.unsqueeze(1)
                sums[0] += F.cross_entropy(out, y, reduction="sum").double()
                sums[1] += hit[:, 0].sum()
                sums[2] += hit.any(dim=1).sum()
                sums[3] += y.numel()
    all_reduce_sum(sums, ctx)
    n = int(sums[3].item())
    if n == 0:
        return {"loss": None, "acc": None, "acc5": None, "n": 0}
    s = sums.tolist()
    return {"loss": s[0] / n, "acc": s[1] / n, "acc5": s[2] / n, "n": n}


def _sync_buffers(model: nn.Module, ctx: DistContext) -> None:
    """Give every rank rank-0's BatchNorm statistics before evaluating (DDP keeps them per rank)."""
    if ctx.distributed:
        for b in unwrap_model(model).buffers():
            dist.broadcast(b, src=0)


# ------------------------------------------------------------------ checkpoint
def _rng_state(device: torch.device) -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(), "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write atomically with a checksum (the run store's checkpoint format)."""
    write_checkpoint(path, state)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any] | None:
    """Load a checkpoint onto the CPU with ``weights_only=True`` (tensors and plain
    containers only, so a checkpoint from elsewhere cannot run code); None if
    absent, or damaged (then deleted, with a message)."""
    return read_checkpoint(path)


def _new_history(names: list[str]) -> dict[str, list]:
    h: dict[str, list] = {"epoch": [], "step": [], "lr": [], "train_running_loss": []}
    for n in names:
        for m in ("loss", "acc", "acc5", "n"):
            h[f"{n}_{m}"] = []
    return h


# --------------------------------------------------------------------- trainer
def train_with_loader(
    model: nn.Module,
    train_set: Dataset,
    eval_sets: Mapping[str, Dataset],
    cfg: LoaderTrainConfig,
    aggregator: GradientAggregator | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    ctx: DistContext | None = None,
    on_epoch_end: Callable[[int, dict[str, list]], None] | None = None,
    checkpoint_every_steps: int = 0,
    run_id: str | None = None,
    probe: Callable[[int, nn.Module], dict[str, float] | None] | None = None,
) -> dict[str, list]:
    """Train ``model`` in place and return the metrics history (JSON-serialisable dict of lists).

    ``model`` is the bare module (it is moved to ``ctx.device`` and wrapped in
    DDP here when ``ctx`` is distributed). With ``checkpoint_path`` set and a
    checkpoint there, training resumes from it. ``on_epoch_end(epochs_done,
    history)`` runs after each epoch's checkpoint (on every rank).
    ``probe(step, model)`` is a measurement hook called before training and after
    every step, on the bare model; when it returns a dict (it decides its own
    schedule, e.g. GM2022's coherence on a log schedule), the values are recorded
    as ``probe_<key>`` with ``probe_step`` (part of the history, so checkpointed).

    Checkpoints are written after every epoch and, with ``checkpoint_every_steps``,
    every that many steps within one; always after the step's evaluation.
    SIGINT / SIGTERM stop the run at the next step boundary, after a checkpoint
    (`interrupt.DeferredSignals`); ``run_id`` names the run in the "resuming"
    line.
    """
    cfg.validate()
    ctx = ctx or DistContext()
    agg = aggregator if aggregator is not None else MeanGradient()
    if not isinstance(agg, GradientAggregator):
        raise TypeError("aggregator needs backward(model, loss_fn, x, y), state_dict(), load_state_dict()")
    dev = ctx.device
    cuda = dev.type == "cuda"
    per_rank = per_rank_batch_size(cfg.batch_size, ctx)
    eval_bs = cfg.eval_batch_size or per_rank

    model = model.to(dev)
    if cuda and cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = wrap_model(model, ctx)
    optimizer = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=0.0)
    loss_fn = nn.CrossEntropyLoss()

    if cfg.batch_size > len(train_set):  # else one short batch per "epoch" would be stored as if batch_size
        raise UserError(f"parameter batch_size={cfg.batch_size} is larger than the training set ({len(train_set):,} "
                        f"examples); accepted: batch_size <= {len(train_set):,}")
    sampler = train_sampler(train_set, ctx, seed=cfg.seed)
    # An aggregator that splits each minibatch (M3: 3 equal groups) cannot take the
    # epoch's short last batch: drop it, as the authors' fixed-size loaders did.
    drop_last = bool(getattr(agg, "needs_full_batches", False)) and len(sampler) % per_rank != 0
    steps_per_epoch = len(sampler) // per_rank if drop_last else math.ceil(len(sampler) / per_rank)
    if steps_per_epoch == 0:
        raise UserError("the training set is empty; accepted: a dataset with at least one example")
    total = steps_per_epoch * cfg.epochs if cfg.epochs is not None else cfg.max_steps
    total_steps = min(total, cfg.max_steps) if cfg.max_steps is not None else total
    n_epochs = math.ceil(total_steps / steps_per_epoch)

    names = list(eval_sets)
    if cfg.stop_metric is not None and cfg.stop_metric not in _new_history(names):
        raise choice_error("stop metric", cfg.stop_metric, sorted(_new_history(names)))
    history = _new_history(names)
    start_epoch, skip, step = 0, 0, 0
    running = torch.zeros(2, dtype=torch.float64, device=dev)  # loss sum, count since last record
    last_lr = lr_at(cfg, 0, 0)

    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
    state = load_checkpoint(ckpt) if ckpt is not None else None
    if state is not None and state.get("format") != CHECKPOINT_FORMAT:
        if ctx.is_main:
            print(f"cgh: discarding a stale checkpoint {ckpt} (format {state.get('format')!r}, this code writes "
                  f"{CHECKPOINT_FORMAT}); starting from step 0", file=sys.stderr)
        state = None
    if state is not None:
        saved = state.get("config", {})
        bad = [k for k in LoaderTrainConfig._MATH if k in saved and _plain(saved[k]) != _plain(getattr(cfg, k))]
        if bad:
            raise UserError(
                f"checkpoint {str(ckpt)!r} was made with different {', '.join(bad)}; "
                "accepted: the same settings, or a new checkpoint path"
            )
        unwrap_model(net).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        agg.load_state_dict(state["aggregator"])
        start_epoch, skip, step, history = state["epoch"], state["batch_in_epoch"], state["step"], state["history"]
        running = state["running"].to(dev)
        last_lr = state["last_lr"]
        _set_rng_state(state["rng"], dev)
        if ctx.is_main:
            print(f"resuming {run_id or ckpt} from step {step} of {total_steps}", file=sys.stderr)
        if state.get("stopped"):  # the stop condition was met: the model is the stopped one
            return history

    def record() -> None:
        _sync_buffers(net, ctx)
        r = all_reduce_sum(running.clone(), ctx)
        history["epoch"].append(round(step / steps_per_epoch, 6))
        history["step"].append(step)
        history["lr"].append(last_lr)
        history["train_running_loss"].append(float(r[0] / r[1]) if r[1] > 0 else None)
        if r[1] > 0:  # NaN / exploding: stop, store as diverged
            check_loss(step, history["train_running_loss"][-1])
        running.zero_()
        for name in names:
            m = evaluate(net, eval_sets[name], ctx, eval_bs, cfg.amp, cfg.channels_last, cfg.num_workers)
            for k, v in m.items():
                history[f"{name}_{k}"].append(v)
            faults.point("eval", step)
        if ctx.is_main:
            log.info("step %d: %s", step, {k: v[-1] for k, v in history.items() if k.endswith("_acc")})

    def save(epoch: int, batch_in_epoch: int) -> None:
        """Checkpoint at a step boundary, after that step's evaluation: resuming
        re-enters ``epoch`` after its first ``batch_in_epoch`` batches."""
        if ckpt is None:
            return
        if ctx.is_main:
            write_checkpoint(ckpt, {
                "format": CHECKPOINT_FORMAT, "epoch": epoch, "batch_in_epoch": batch_in_epoch, "step": step,
                "stopped": stopped,
                "model": unwrap_model(net).state_dict(), "optimizer": optimizer.state_dict(),
                "aggregator": agg.state_dict(), "rng": _rng_state(dev), "history": _plain_tree(history),
                "running": running.cpu(), "last_lr": last_lr, "config": _config_dict(cfg),
            })
            faults.point("checkpoint", step)
        ctx.barrier()

    def stop_requested(sig: DeferredSignals, always: bool) -> bool:
        """Whether to stop here. Under DDP every rank must agree, so the flag is
        all-reduced, only every `_DDP_SIGNAL_EVERY` steps (and at epoch ends)."""
        if not ctx.distributed:
            return sig.requested
        if not always and step % _DDP_SIGNAL_EVERY:
            return False
        flag = torch.tensor([1.0 if sig.requested else 0.0], dtype=torch.float64, device=dev)
        return bool(all_reduce_sum(flag, ctx).item() > 0)

    def stop(sig: DeferredSignals) -> None:
        raise Interrupted(sig.signum or signal.SIGTERM)  # another rank got the signal: same exit

    def run_probe() -> None:
        if probe is None:
            return
        got = probe(step, unwrap_model(net))
        if got is not None:
            history.setdefault("probe_step", []).append(step)
            for k, v in got.items():
                history.setdefault(f"probe_{k}", []).append(v)

    if start_epoch == 0 and step == 0:
        record()  # the paper's curves start at the untrained model
        run_probe()
    stopped = stop_reached(cfg, history)

    with DeferredSignals() as sig:
        for epoch in range(start_epoch, n_epochs):
            if stopped:
                break
            sampler.set_epoch(epoch)
            done = skip if epoch == start_epoch else 0  # batches of this epoch already trained
            loader = DataLoader(
                train_set, batch_size=per_rank, sampler=_SkipSampler(sampler, done * per_rank),
                num_workers=cfg.num_workers, pin_memory=cuda, drop_last=drop_last,
                generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch),
            )
            net.train()
            batches: Any = loader
            if cfg.progress and ctx.is_main:
                from tqdm.auto import tqdm

                batches = tqdm(loader, desc=f"epoch {epoch + 1}/{n_epochs}", leave=False)
            first = True
            for batch in batches:
                if not first:  # a boundary between two steps of this epoch
                    halt = stop_requested(sig, False)
                    if halt or (checkpoint_every_steps and step % checkpoint_every_steps == 0):
                        save(epoch, done)
                    if halt:
                        stop(sig)
                first = False
                if step >= total_steps:
                    break
                x, y = _batch_xy(batch)
                x, y = _to_device(x, dev, cfg.channels_last), y.to(dev, non_blocking=True)
                last_lr = lr_at(cfg, epoch, step)
                for g in optimizer.param_groups:
                    g["lr"] = last_lr
                optimizer.zero_grad(set_to_none=True)
                with _amp_ctx(dev, cfg.amp):
                    loss = agg.backward(net, loss_fn, x, y)
                faults.point("mid_step", step + 1)
                if getattr(agg, "ready", True):  # GradientAggregator protocol: an aggregator may defer its step
                    optimizer.step()
                running[0] += torch.as_tensor(loss).detach().double().to(dev)
                running[1] += 1
                step += 1
                done += 1
                run_probe()
                if cfg.eval_every_steps is not None and (step % cfg.eval_every_steps == 0 or step == total_steps):
                    record()
                    net.train()
                    if stop_reached(cfg, history):
                        stopped = True
                        break
            if cfg.eval_every_steps is None:
                record()
                stopped = stop_reached(cfg, history)
            save(epoch + 1, 0)
            if on_epoch_end is not None and not stopped:
                on_epoch_end(epoch + 1, history)
            if stop_requested(sig, True):
                stop(sig)
    return history


class _SkipSampler(Sampler[int]):
    """The epoch's sampler order without its first ``n`` indices: resuming mid-epoch
    trains exactly the batches the interrupted run had left, without loading the others."""

    def __init__(self, base: Sampler[int], n: int) -> None:
        self.base, self.n = base, n

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.base), self.n, None)

    def __len__(self) -> int:
        return max(len(self.base) - self.n, 0)  # type: ignore[arg-type]


def _plain_tree(v: Any) -> Any:
    """NumPy scalars and arrays (e.g. from a probe) as Python numbers and lists, which
    ``torch.load(weights_only=True)`` accepts."""
    if isinstance(v, dict):
        return {k: _plain_tree(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain_tree(x) for x in v]
    if isinstance(v, (np.ndarray, np.generic)):
        return v.tolist()
    return v


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, (tuple, list)) else v


def _config_dict(cfg: LoaderTrainConfig) -> dict[str, Any]:
    return {k: _plain(v) for k, v in asdict(cfg).items()}
