"""DDP on CPU with gloo: 2 ranks end identical and equal one process with the same global batch."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch.utils.data import TensorDataset

from cgh_lib.data.images import IndexedDataset
from cgh_lib.errors import UserError
from cgh_lib.models.vision import build_vision_model
from cgh_lib.train.distributed import DistContext, cleanup_distributed, per_rank_batch_size, setup_distributed
from cgh_lib.train.loader import LoaderTrainConfig, train_with_loader

CFG = dict(epochs=2, batch_size=16, lr=0.1, momentum=0.9, schedule="step", lr_milestones=(1,), seed=3)


def _datasets() -> tuple[TensorDataset, TensorDataset]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(80, 1, 8, 8, generator=g)
    y = (x.mean((1, 2, 3)) > 0).long() + 2 * (x[:, 0, 0, :].mean(1) > 0).long()
    return TensorDataset(x[:64], y[:64]), TensorDataset(x[64:], y[64:])


def _run(ctx: DistContext, ckpt: Path | None = None) -> tuple[dict, dict]:
    train, test = _datasets()
    model = build_vision_model("small_cnn", 4, seed=0, image_size=8, width=4, hidden=16)
    evals = {"train": IndexedDataset(train), "test": test}
    hist = train_with_loader(model, IndexedDataset(train), evals, LoaderTrainConfig(**CFG),
                             checkpoint_path=ckpt, ctx=ctx)
    return hist, {k: v.detach().clone() for k, v in model.state_dict().items()}


def _worker(rank: int, world: int, port: int, out: str) -> None:
    # What torchrun would export.
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    ctx = setup_distributed(backend="gloo", device="cpu")
    try:
        hist, params = _run(ctx, Path(out) / "ckpt.pt")
        torch.save({"hist": hist, "params": params}, Path(out) / f"rank{rank}.pt")
    finally:
        cleanup_distributed(ctx)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_match_single_process(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    for k in r0["params"]:  # (a) both ranks hold the same parameters
        assert torch.equal(r0["params"][k], r1["params"][k]), k
    assert r0["hist"] == r1["hist"]
    assert (tmp_path / "ckpt.pt").is_file()  # written by rank 0

    single_hist, single = _run(DistContext())  # (b) one process, same global batch of 16
    for k in single:
        torch.testing.assert_close(r0["params"][k], single[k], rtol=1e-5, atol=1e-6)
    assert r0["hist"]["step"] == single_hist["step"] == [0, 4, 8]
    assert r0["hist"]["test_n"] == [16, 16, 16] and r0["hist"]["train_n"] == [64, 64, 64]
    for key in ("train_loss", "test_loss", "train_running_loss"):
        assert r0["hist"][key][1:] == pytest.approx(single_hist[key][1:], rel=1e-5)
    assert r0["hist"]["test_acc"] == single_hist["test_acc"]


def test_single_process_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    ctx = setup_distributed(device="cpu")
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.distributed) == (0, 1, True, False)
    assert per_rank_batch_size(256, DistContext(world_size=8)) == 32
    with pytest.raises(UserError, match="multiple of 8"):
        per_rank_batch_size(260, DistContext(world_size=8))
