"""Robust aggregators against slow references."""

from __future__ import annotations

import copy
import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cgh_lib.grads.aggregators as agg_mod
from cgh_lib.errors import UserError
from cgh_lib.grads.aggregators import (
    M3Aggregator,
    make_aggregator,
    median_of_three,
    winsorized_mean,
)
from cgh_lib.grads.per_example import per_example_grads

LOSS = F.cross_entropy


def winsor_reference(x: torch.Tensor, c: int) -> torch.Tensor:
    """Full sort per coordinate, clip, mean."""
    s = x.sort(0).values
    return x.clamp(s[c], s[x.shape[0] - 1 - c]).mean(0)


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))


class TinyCNN(nn.Module):
    def __init__(self, bn: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.bn = nn.BatchNorm2d(3) if bn else nn.Identity()
        self.fc = nn.Linear(3 * 3 * 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)  # 8 -> 6 -> 3
        return self.fc(x.flatten(1))


def batches(n: int, batch: int = 12, shape: tuple[int, ...] = (8,), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, *shape, generator=g), torch.randint(0, 3, (batch,), generator=g)) for _ in range(n)]


def plain_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.autograd.grad(LOSS(model(x), y), list(model.parameters())))


# --- winsorized mean ---------------------------------------------------------


@pytest.mark.parametrize("c", [0, 1, 2, 4])
def test_winsorized_matches_sort_reference_with_ties(c: int) -> None:
    torch.manual_seed(c)
    x = torch.randint(-3, 4, (11, 5, 7)).float()  # many ties
    torch.testing.assert_close(winsorized_mean(x, c), winsor_reference(x, c))
    torch.testing.assert_close(agg_mod._winsorized_sum_topk(x.reshape(11, -1), c) / 11, winsor_reference(x, c).reshape(-1))


def test_winsorized_max_c_chunks_and_continuous(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agg_mod, "_CPU_CHUNK", 7)  # force several uneven column chunks
    torch.manual_seed(0)
    x = torch.randn(10, 30)
    x[:, 3] = 1.5  # a fully tied column
    for c in (0, 1, 4):  # 4 = the largest allowed for batch 10
        torch.testing.assert_close(winsorized_mean(x, c), winsor_reference(x, c))
    assert torch.equal(winsorized_mean(x, 0), x.mean(0))


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_winsorized_rejects_bad_c(bad: object) -> None:
    with pytest.raises(UserError, match="non-negative integer"):
        winsorized_mean(torch.randn(10, 3), bad)  # type: ignore[arg-type]


def test_winsorized_rejects_c_too_large() -> None:
    with pytest.raises(UserError, match=r"2c\+2=12.*got 11.*0 <= c <= 4"):
        winsorized_mean(torch.randn(11, 3), 5)


def _has_cxx() -> bool:
    import shutil

    return shutil.which("g++") is not None or shutil.which("c++") is not None


@pytest.mark.skipif(not _has_cxx(), reason="torch.compile's CPU backend needs a C++ compiler")
def test_compiled_kernel_matches_reference_with_ties() -> None:
    """The torch.compile'd insertion network agrees with the full-sort reference
    (small batch: the network unrolls over rows, so compile time grows with B*c)."""
    torch.manual_seed(0)
    x = torch.randint(-3, 4, (7, 40)).float()  # many ties
    x[:, 0] = 2.0  # a fully tied column
    torch.testing.assert_close(winsorized_mean(x, 1, kernel="compiled"), winsor_reference(x, 1))
    model, (xb, yb) = mlp(), batches(1, batch=7)[0]
    eager = make_aggregator("winsorized", c=1, kernel="eager")
    compiled = make_aggregator("winsorized", c=1, kernel="compiled")
    eager.backward(model, LOSS, xb, yb)
    want = [p.grad.clone() for p in model.parameters()]
    compiled.backward(model, LOSS, xb, yb)
    for w, p in zip(want, model.parameters()):
        torch.testing.assert_close(p.grad, w)


def test_winsorize_kernel_choice_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match=r"'fast'.*eager.*compiled"):
        winsorized_mean(torch.randn(10, 3), 1, kernel="fast")
    monkeypatch.setenv(agg_mod.KERNEL_ENV, "jit")
    with pytest.raises(UserError, match=r"CGH_WINSORIZE_KERNEL.*'jit'"):
        make_aggregator("winsorized", c=1)


def test_median_of_three_with_ties() -> None:
    torch.manual_seed(0)
    a, b, c = torch.randint(-2, 3, (3, 400)).float()
    want = torch.stack([a, b, c]).median(0).values
    assert torch.equal(median_of_three(a, b, c), want)
    out = torch.empty_like(a)
    assert median_of_three(a, b, c, out=out) is out and torch.equal(out, want)


# --- aggregators ---------------------------------------------------------------


def test_sgd_and_winsorized_gradients() -> None:
    model = mlp()
    (x, y), = batches(1, batch=10)
    make_aggregator("sgd").backward(model, LOSS, x, y)
    for p, g in zip(model.parameters(), plain_grads(model, x, y)):
        torch.testing.assert_close(p.grad, g)
    per_ex = per_example_grads(model, LOSS, x, y)
    loss = make_aggregator("winsorized", c=2).backward(model, LOSS, x, y)
    torch.testing.assert_close(loss, LOSS(model(x), y))
    for (n, p) in model.named_parameters():
        torch.testing.assert_close(p.grad, winsor_reference(per_ex[n], 2))
    with pytest.raises(UserError, match="2c\\+2"):
        make_aggregator("winsorized", c=5).backward(model, LOSS, x, y)


def test_rolling_history_and_resume() -> None:
    model = mlp()
    data = batches(5)
    ref = [plain_grads(model, x, y) for x, y in data]  # the model is not stepped
    rm3 = make_aggregator("rm3")
    for t, (x, y) in enumerate(data[:2]):
        rm3.backward(model, LOSS, x, y)
        want = ref[0] if t == 0 else [(a + b) / 2 for a, b in zip(ref[0], ref[1])]
        for p, w in zip(model.parameters(), want):
            torch.testing.assert_close(p.grad, w)
    buf = io.BytesIO()
    torch.save(rm3.state_dict(), buf)
    buf.seek(0)
    resumed = make_aggregator("rm3")
    resumed.load_state_dict(torch.load(buf))
    for t in range(2, 5):
        x, y = data[t]
        resumed.backward(model, LOSS, x, y)
        got = [p.grad.clone() for p in model.parameters()]
        rm3.backward(model, LOSS, x, y)
        for i, p in enumerate(model.parameters()):
            want = torch.stack([ref[t - 2][i], ref[t - 1][i], ref[t][i]]).median(0).values
            torch.testing.assert_close(got[i], want)
            torch.testing.assert_close(p.grad, want)
    with pytest.raises(UserError, match="not 'ra3'"):
        make_aggregator("ra3").load_state_dict(rm3.state_dict())


def test_ra3_mean_of_last_three_and_skip_warmup() -> None:
    model = mlp()
    data = batches(4)
    ref = [plain_grads(model, x, y) for x, y in data]
    ra3 = make_aggregator("ra3", warmup="skip")
    for t, (x, y) in enumerate(data):
        ra3.backward(model, LOSS, x, y)
        for i, p in enumerate(model.parameters()):
            if t < 2:
                assert p.grad is None  # torch optimizers skip the step
            else:
                torch.testing.assert_close(p.grad, (ref[t - 2][i] + ref[t - 1][i] + ref[t][i]) / 3)


@pytest.mark.parametrize("make", [lambda: mlp(), lambda: TinyCNN()])
def test_m3_batched_equals_serial(make) -> None:
    model = make()
    shape = (8,) if isinstance(model, nn.Sequential) else (1, 8, 8)
    (x, y), = batches(1, batch=12, shape=shape)
    loss_b = M3Aggregator("batched").backward(model, LOSS, x, y)
    got = [p.grad.clone() for p in model.parameters()]
    loss_s = M3Aggregator("serial").backward(model, LOSS, x, y)
    torch.testing.assert_close(loss_b, loss_s)
    groups = [plain_grads(model, xg, yg) for xg, yg in zip(x.chunk(3), y.chunk(3))]
    for i, p in enumerate(model.parameters()):
        torch.testing.assert_close(got[i], p.grad, rtol=1e-5, atol=1e-6)
        ref = torch.stack([g[i] for g in groups]).median(0).values
        torch.testing.assert_close(p.grad, ref, rtol=1e-5, atol=1e-6)


def test_m3_train_batchnorm_goes_serial() -> None:
    model = TinyCNN(bn=True).train()
    (x, y), = batches(1, batch=9, shape=(1, 8, 8))
    with pytest.raises(UserError, match="serial"):
        M3Aggregator("batched").backward(model, LOSS, x, y)
    M3Aggregator("auto").backward(copy.deepcopy(model), LOSS, x, y)
    with pytest.raises(UserError, match="multiple of 3"):
        M3Aggregator().backward(model, LOSS, x[:8], y[:8])


@pytest.mark.parametrize("name,kw", [("rm3", {}), ("winsorized", {"c": 1}), ("m3", {})])
def test_composes_with_sgd_momentum(name: str, kw: dict) -> None:
    """torch.optim.SGD(momentum) on the aggregated grad == a manual momentum update."""
    lr, mu = 0.1, 0.9
    model = mlp(1)
    manual = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=mu)
    agg, agg_manual = make_aggregator(name, **kw), make_aggregator(name, **kw)
    bufs = [torch.zeros_like(p) for p in manual.parameters()]
    for x, y in batches(4, batch=12, seed=3):
        agg.backward(model, LOSS, x, y)
        opt.step()
        agg_manual.backward(manual, LOSS, x, y)
        with torch.no_grad():
            for b, p in zip(bufs, manual.parameters()):
                b.mul_(mu).add_(p.grad)
                p.sub_(lr * b)
        for p, q in zip(model.parameters(), manual.parameters()):
            torch.testing.assert_close(p, q)


def test_make_aggregator_errors() -> None:
    with pytest.raises(UserError, match="accepted: sgd, winsorized, m3, rm3, ra3"):
        make_aggregator("median")
    with pytest.raises(UserError, match="bad option"):
        make_aggregator("rm3", c=2)
    with pytest.raises(UserError, match="accepted: mean, skip"):
        make_aggregator("ra3", warmup="zeros")
    with pytest.raises(UserError, match="non-negative"):
        make_aggregator("winsorized", c=-1)


def test_ddp_single_process(tmp_path) -> None:
    """Under DDP (1 gloo rank) rm3 and m3 (serial micro-batches) match the bare model."""
    import torch.distributed as dist

    if not dist.is_available():
        pytest.skip("torch.distributed not available")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1)
    try:
        for name in ("rm3", "m3"):
            bare = mlp(2)
            wrapped = nn.parallel.DistributedDataParallel(copy.deepcopy(bare))
            a, b = make_aggregator(name), make_aggregator(name)
            for x, y in batches(3, batch=12, seed=5):
                a.backward(bare, LOSS, x, y)
                b.backward(wrapped, LOSS, x, y)
                for p, q in zip(bare.parameters(), wrapped.module.parameters()):
                    torch.testing.assert_close(p.grad, q.grad)
        with pytest.raises(UserError, match="DistributedDataParallel"):
            make_aggregator("winsorized", c=1).backward(wrapped, LOSS, x, y)
    finally:
        dist.destroy_process_group()
