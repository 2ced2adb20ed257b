"""The native (C++) winsorization kernels are bit-equal to the reference definition."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cgh_lib.grads.aggregators as agg_mod
from cgh_lib.errors import UserError
from cgh_lib.grads import native_winsorize as nw
from cgh_lib.grads.aggregators import make_aggregator, winsorize_kernel, winsorized_mean, winsorized_mean_reference
from cgh_lib.grads.batchnorm import BNWinsorizedAggregator, per_example_grads_shared_forward
from cgh_lib.grads.per_example import per_example_grads

pytestmark = pytest.mark.skipif(not nw.available(), reason=f"native kernel not built: {nw.build_error()}")


def sort_reference(x: torch.Tensor, c: int) -> torch.Tensor:
    """Independent check of the definition: full sort, clip, mean (to float rounding)."""
    s = x.sort(0).values
    return x.clamp(s[c], s[x.shape[0] - 1 - c]).mean(0)


def outer_values(dz: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return dz[:, :, None] * a[:, None, :]


@pytest.mark.parametrize("batch,c", [(10, 0), (10, 1), (10, 4), (11, 4), (100, 2), (100, 8), (40, 12)])
def test_rows_bit_equal_reference_ties_and_continuous(batch: int, c: int) -> None:
    g = torch.Generator().manual_seed(batch * 31 + c)
    ties = torch.randint(-3, 4, (batch, 77), generator=g).float()  # many ties; 77: a ragged tail
    ties[:, 5] = 1.5  # a fully tied column
    cont = torch.randn(batch, 77, generator=g) * torch.logspace(-3, 3, 77)
    for x in (ties, cont):
        got = nw.winsor_rows(x, c)
        assert torch.equal(got, winsorized_mean_reference(x, c))
        torch.testing.assert_close(got, sort_reference(x, c))


@pytest.mark.parametrize("batch,c", [(10, 0), (10, 4), (100, 2), (100, 8), (30, 11)])
def test_outer_bit_equal_reference(batch: int, c: int) -> None:
    """Both outer-product paths: split (a >= 0, both signs of dz) and full (any sign)."""
    g = torch.Generator().manual_seed(c)
    dz = torch.randint(-3, 4, (batch, 9), generator=g).float()
    a = torch.relu(torch.randint(-2, 3, (batch, 45), generator=g).float())  # ties and zeros
    dz2 = torch.randn(batch, 9, generator=g)
    dz2[:, 0] = dz2[:, 0].abs()  # one sign only: the full path for that row
    dz2[: batch // 2, 1] = 0.0
    a2 = torch.relu(torch.randn(batch, 45, generator=g)) ** 3
    cases = [(dz, a), (dz2, a2), (dz2, torch.randn(batch, 45, generator=g)), (dz2, torch.zeros(batch, 45))]
    for d, x in cases:
        got = nw.winsor_outer(d, x, c)
        want = winsorized_mean_reference(outer_values(d, x), c)
        assert torch.equal(got, want)


def test_c_max_and_bad_c() -> None:
    x = torch.randn(10, 3)
    assert torch.equal(winsorized_mean(x, 4, kernel="native"), winsorized_mean_reference(x, 4))
    with pytest.raises(UserError, match=r"0 <= c <= 4"):
        winsorized_mean(x, 5, kernel="native")


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))


@pytest.mark.parametrize("c", [1, 3])
def test_fused_aggregator_bit_equal_reference_on_per_example_grads(c: int) -> None:
    """The fused step equals the reference applied to the materialized per-example
    gradients (post-ReLU inputs take the split path, post-Tanh ones the full path)."""
    model = mlp()
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(12, 20, generator=g), torch.randint(0, 3, (12,), generator=g)
    per = per_example_grads(model, F.cross_entropy, x, y)
    make_aggregator("winsorized", c=c, kernel="native").backward(model, F.cross_entropy, x, y)
    for n, p in model.named_parameters():
        assert torch.equal(p.grad, winsorized_mean_reference(per[n], c)), n
    eager = mlp()
    make_aggregator("winsorized", c=c, kernel="eager").backward(eager, F.cross_entropy, x, y)
    for p, q in zip(model.parameters(), eager.parameters()):
        torch.testing.assert_close(p.grad, q.grad)


def test_batchnorm_shared_forward_path_uses_native() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 3))
    x, y = torch.randn(10, 1, 8, 8), torch.randint(0, 3, (10,))
    per, _ = per_example_grads_shared_forward(net, F.cross_entropy, x, y)
    BNWinsorizedAggregator(c=2).backward(net, F.cross_entropy, x, y)
    for n, p in net.named_parameters():
        assert torch.equal(p.grad, winsorized_mean_reference(per[n], 2)), n


def test_auto_falls_back_to_eager_without_a_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nw, "_state", {"lib": None, "error": "no C++ compiler found"})
    assert winsorize_kernel() == "eager"
    assert make_aggregator("winsorized", c=1).kernel == "eager"
    with pytest.raises(UserError, match="'native' cannot be built: no C\\+\\+ compiler"):
        winsorize_kernel("native")
    monkeypatch.setenv(agg_mod.KERNEL_ENV, "native")
    with pytest.raises(UserError, match="cannot be built"):
        make_aggregator("winsorized", c=1)


def test_build_failure_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """A broken compiler leaves the library unavailable with the reason, after one warning."""
    monkeypatch.setattr(nw, "_state", {})
    monkeypatch.setenv("CGH_NATIVE_CACHE", str(tmp_path))
    monkeypatch.setenv("CXX", "false")  # exists, always fails
    monkeypatch.setattr(nw, "_compiler", lambda: "false")
    with pytest.warns(RuntimeWarning, match="native winsorization kernel unavailable"):
        assert nw.load() is None
    assert "could not compile" in (nw.build_error() or "")


@pytest.mark.parametrize("threads", [2, 3])
def test_thread_count_does_not_change_results(threads: int) -> None:
    g = torch.Generator().manual_seed(threads)
    dz, a = torch.randn(40, 17, generator=g), torch.relu(torch.randn(40, 200, generator=g))
    x = torch.randn(40, 1001, generator=g)
    for c in (1, 5, 12):
        assert torch.equal(nw.winsor_outer(dz, a, c, threads=threads), nw.winsor_outer(dz, a, c, threads=1))
        assert torch.equal(nw.winsor_rows(x, c, threads=threads), winsorized_mean_reference(x, c))


@pytest.mark.parametrize("batch,c", [(100, 1), (100, 2), (100, 8), (64, 4), (65, 3), (130, 9), (12, 5)])
def test_outer_skipping_zeros_is_bit_equal_reference(batch: int, c: int) -> None:
    """Sparse inputs (MNIST-like pixels, ReLU activations, deltas that are 0 where a unit is off) take
    the zero-skipping path, columns visited densest first: still bit-equal to the reference, with
    whole zero columns, zero rows, examples past the first 64-bit mask word and rows short of one sign."""
    g = torch.Generator().manual_seed(batch * 7 + c)
    n_in = 75  # not a multiple of a tile
    a = torch.relu(torch.randn(batch, n_in, generator=g) - 0.9)  # ~80% zeros
    a[:, 3] = 0.0  # a column no example uses
    a[:, 10:40:3] = 0.0
    a[batch // 3] = 0.0  # an example with no input at all
    a[:, 7] = torch.rand(batch, generator=g) + 0.1  # a dense column
    dz = torch.randn(batch, 13, generator=g) * (torch.rand(batch, 13, generator=g) < 0.5)  # half off
    dz[:, 0] = 0.0  # an output no example reaches
    dz[:, 1] = dz[:, 1].abs()  # one sign only: the full path for that row
    dz[: batch - 1, 2] = 0.0  # a single non-zero delta
    dz[::2, 3] = torch.randint(-2, 3, (len(dz[::2, 3]),), generator=g).float()  # ties
    a[::5, 11] = 1.0  # ties in a
    got = nw.winsor_outer(dz, a, c)
    assert torch.equal(got, winsorized_mean_reference(outer_values(dz, a), c))
    assert torch.equal(nw.winsor_outer(dz, a, c, threads=3), got)
    # dz not finite: the zero-skipping path is not taken, the result is what it was before
    bad = dz.clone()
    bad[0, 5] = float("nan")
    ok = winsorized_mean_reference(outer_values(dz[:, 6:], a), c)
    assert torch.equal(nw.winsor_outer(bad, a, c)[6:], ok)


@pytest.mark.parametrize("c", [1, 4])
def test_outer_tile_with_fewer_non_zero_rows_than_c(c: int) -> None:
    """A tile whose non-zero input rows are fewer than c+1 (one example uses column 33, another 36,
    none uses 32-119 otherwise): the clipping bounds there are 0, from the skipped zeros, as in the
    reference (73% of the inputs are 0: the zero-skipping path)."""
    g = torch.Generator().manual_seed(c)
    a = torch.zeros(20, 120)
    a[:, :32] = torch.rand(20, 32, generator=g) + 0.1  # dense: the first tile
    a[5, 33] = 2.0
    a[9, 36] = 0.5
    dz = torch.randn(20, 6, generator=g)
    got = nw.winsor_outer(dz, a, c)
    assert torch.equal(got, winsorized_mean_reference(outer_values(dz, a), c))
    assert torch.all(got[:, 32:] == 0)
