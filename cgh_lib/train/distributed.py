"""Multi-process data-parallel (DDP) plumbing, compatible with ``torchrun``.

The WS paper trained on 8 GPUs with a *global* mini-batch of 256 (264 for M3).
We keep that meaning: ``batch_size`` is always global and each of the
``world_size`` ranks gets ``batch_size / world_size`` examples. DDP all-reduces
(averages) the gradients inside ``backward()``, so an aggregator such as RM3
that reads ``p.grad`` after backward acts on the global mean gradient, the same
on every rank, and every rank then takes the same step.

Caveats written down on purpose:

* BatchNorm statistics are per rank (per-GPU batch of 32 at 8x256), as in the
  authors' trainer; ``wrap_model(..., sync_bn=True)`` converts to SyncBatchNorm
  if you want full-batch statistics instead.
* Aggregators that need per-example gradients (winsorization) do not compose
  with DDP's all-reduce; use them single-process.

Launch with ``torchrun --nproc_per_node N your_script.py``; `setup_distributed`
reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from the environment and falls back
to a single process when they are absent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import Dataset, DistributedSampler, Sampler

from cgh_lib.errors import UserError

__all__ = [
    "DistContext", "setup_distributed", "cleanup_distributed", "wrap_model", "unwrap_model",
    "train_sampler", "ShardSampler", "per_rank_batch_size", "all_reduce_sum",
]


@dataclass(frozen=True)
class DistContext:
    """Who this process is. ``world_size == 1`` means plain single-process training."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """Only rank 0 writes checkpoints and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def setup_distributed(
    backend: str | None = None, device: str | torch.device | None = None,
    init_method: str | None = None, rank: int | None = None, world_size: int | None = None,
) -> DistContext:
    """Initialise the process group if launched with several processes.

    Defaults: ``nccl`` with one GPU per rank (``cuda:LOCAL_RANK``) when CUDA is
    available, otherwise ``gloo`` on CPU. ``rank``/``world_size``/``init_method``
    override the torchrun environment variables (useful in tests).
    """
    env = os.environ
    world = int(world_size if world_size is not None else env.get("WORLD_SIZE", 1))
    rk = int(rank if rank is not None else env.get("RANK", 0))
    local = int(env.get("LOCAL_RANK", rk))
    if device is None:
        dev = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    else:
        dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world <= 1:
        return DistContext(0, 1, 0, dev, None)
    if not (0 <= rk < world):
        raise UserError(f"rank {rk} is outside world size {world}; accepted: 0 <= rank < world_size")
    be = backend or ("nccl" if dev.type == "cuda" else "gloo")
    if be not in ("nccl", "gloo"):
        raise UserError(f"unknown distributed backend {be!r}; accepted: nccl, gloo")
    if not dist.is_initialized():
        dist.init_process_group(be, init_method=init_method or "env://", rank=rk, world_size=world)
    return DistContext(rk, world, local, dev, be)


def cleanup_distributed(ctx: DistContext) -> None:
    """Tear the process group down (safe to call in single-process mode)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: nn.Module, ctx: DistContext, sync_bn: bool = False) -> nn.Module:
    """Move to the rank's device and wrap in DDP when distributed (identity otherwise)."""
    if ctx.distributed and sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(ctx.device)
    if not ctx.distributed:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare module inside a DDP wrapper (for checkpoints that load anywhere)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def per_rank_batch_size(global_batch: int, ctx: DistContext) -> int:
    """Split the global batch evenly over ranks; refuse uneven splits (they change the math)."""
    if global_batch < 1 or global_batch % ctx.world_size:
        raise UserError(
            f"batch size {global_batch} cannot be split over {ctx.world_size} processes; "
            f"accepted: a positive multiple of {ctx.world_size}"
        )
    return global_batch // ctx.world_size


def train_sampler(dataset: Dataset, ctx: DistContext, seed: int, shuffle: bool = True) -> DistributedSampler:
    """Shuffling sampler whose order depends only on (seed, epoch): call ``set_epoch``.

    Used for one process too, so that ranks 0..W-1 with per-rank batch b see,
    together, exactly the examples one process sees with batch W*b (the
    sampler interleaves one permutation over ranks).
    """
    return DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank,
                              shuffle=shuffle, seed=int(seed), drop_last=False)


class ShardSampler(Sampler[int]):
    """Evaluation shard ``rank::world`` with no padding, so summed metrics are exact."""

    def __init__(self, n: int, ctx: DistContext) -> None:
        self.indices = list(range(ctx.rank, n, ctx.world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def all_reduce_sum(t: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum a tensor over ranks in place (no-op single-process)."""
    if ctx.distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t
