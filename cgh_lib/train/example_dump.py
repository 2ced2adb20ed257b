"""Per-example predictions over a whole dataset in one eval-mode pass (exact under DDP).

WS §4 needs, for every training example, whether a model gets it right at one
moment (easy = learned when training accuracy reaches 50%; the Figure 5(a) table
= which examples RM3 has learned after training). `evaluate` gives only means;
this gives the vector. Store it compactly with `pack_mask` (1 bit per example:
160 KB for ImageNet's 1.28M images).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

from cgh_lib.train.distributed import DistContext, ShardSampler, all_reduce_sum, unwrap_model
from cgh_lib.train.loader import _amp_ctx, _batch_xy, _to_device

__all__ = ["predict_per_example", "correct_per_example", "pack_mask", "unpack_mask"]


def predict_per_example(model: nn.Module, dataset: Dataset, ctx: DistContext | None = None,
                        batch_size: int = 256, amp: bool = True, channels_last: bool = True,
                        num_workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class, label) for every item of ``dataset``, in dataset order, on every rank.

    Each rank predicts its ``rank::world`` shard; the shards are summed into one
    vector (entries are stored +1 so that 0 means "another rank's"), so every
    rank ends with the whole, identical result.
    """
    ctx = ctx or DistContext()
    net = unwrap_model(model)
    net.eval()
    n = len(dataset)
    out = torch.zeros(2, n, dtype=torch.int64, device=ctx.device)
    sampler = ShardSampler(n, ctx)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                        pin_memory=ctx.device.type == "cuda")
    idx = torch.as_tensor(sampler.indices, dtype=torch.int64, device=ctx.device)
    pos = 0
    with torch.no_grad():
        for batch in loader:
            x, y = _batch_xy(batch)
            x = _to_device(x, ctx.device, channels_last)
            with _amp_ctx(ctx.device, amp):
                pred = net(x).float().argmax(dim=1)
            where = idx[pos:pos + len(pred)]
            out[0, where] = pred + 1
            out[1, where] = torch.as_tensor(y, device=ctx.device).long() + 1
            pos += len(pred)
    all_reduce_sum(out, ctx)
    res = (out - 1).cpu().numpy()
    return res[0], res[1]


def correct_per_example(model: nn.Module, dataset: Dataset, ctx: DistContext | None = None,
                        **kw) -> np.ndarray:
    """Boolean vector: is item i of ``dataset`` classified as its (dataset's own) label."""
    pred, label = predict_per_example(model, dataset, ctx, **kw)
    return pred == label


def pack_mask(mask: np.ndarray) -> np.ndarray:
    """A boolean vector as bits (uint8, 8 per byte); `unpack_mask` needs its length."""
    return np.packbits(np.asarray(mask, dtype=bool))


def unpack_mask(bits: np.ndarray, n: int) -> np.ndarray:
    return np.unpackbits(np.asarray(bits, dtype=np.uint8), count=int(n)).astype(bool)
