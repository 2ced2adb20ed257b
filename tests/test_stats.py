"""CG2020 §2.4 statistics against a slow pairwise reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cgh_lib.errors import UserError
from cgh_lib.grads.per_example import flatten_grads, per_example_grads
from cgh_lib.grads.pristine_corrupt import (
    choose_grad_sample,
    cumulative_contributions,
    gather_grad_sample,
    model_fractions,
    model_inner_products,
    null_world_masks,
    pristine_corrupt_fractions,
    subsample_grads,
)


def pairwise_fp(mat: torch.Tensor, mask: torch.Tensor) -> float:
    """f_p = sum_{e, e' in p} <g_e, g_e'> / sum_{e, e'} <g_e, g_e'>, by explicit pairs."""
    m = mat.double()
    num = den = 0.0
    for e in range(m.shape[0]):
        for e2 in range(m.shape[0]):
            d = float(m[e] @ m[e2])
            den += d
            if mask[e2]:
                num += d
    return num / den


def setup(m: int = 24, seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(10, 12), nn.ReLU(), nn.Linear(12, 4))
    x, y = torch.randn(m, 10), torch.randint(0, 4, (m,))
    mask = torch.zeros(m, dtype=torch.bool)
    mask[torch.randperm(m)[: m // 3]] = True
    return model, x, y, mask


def test_matrix_fractions_match_pairwise() -> None:
    torch.manual_seed(1)
    mat = torch.randn(15, 40) + 0.3  # a shared component, so <g, g> is far from 0
    mask = torch.rand(15) < 0.6
    f_p, f_c = pristine_corrupt_fractions(mat, mask)
    assert f_p == pytest.approx(pairwise_fp(mat, mask), rel=1e-9)
    assert f_p + f_c == pytest.approx(1.0, abs=1e-12)


def test_model_chunked_fractions_match_pairwise() -> None:
    model, x, y, mask = setup()
    mat = flatten_grads(per_example_grads(model, F.cross_entropy, x, y))
    ref = pairwise_fp(mat, mask)
    f_p, f_c = model_fractions(model, F.cross_entropy, x, y, mask, chunk_size=7)  # uneven chunks
    assert f_p == pytest.approx(ref, rel=1e-4)
    assert f_p + f_c == pytest.approx(1.0, abs=1e-12)
    ip, ic = model_inner_products(model, F.cross_entropy, x, y, mask, chunk_size=100)
    assert ip / (ip + ic) == pytest.approx(ref, rel=1e-4)
    assert all(p.grad is None for p in model.parameters())


def test_subsampled_estimator() -> None:
    model, x, y, mask = setup(m=30)
    grads = per_example_grads(model, F.cross_entropy, x, y)
    names = ["0.weight", "2.weight"]
    s = subsample_grads(grads, seed=3, n_examples=20, k_per_param=25, names=names)
    assert s.matrix.shape == (20, 25 + 25)
    assert list(s.index.coords) == names
    # Column j of the sample is coordinate coords[j] of the named tensor, rows as chosen.
    r, c = s.index.rows, s.index.coords["2.weight"]
    torch.testing.assert_close(s.matrix[:, 25:], grads["2.weight"].reshape(30, -1)[r][:, c])
    # Same seed, same choice (the fixed sample reused at every step); other seed differs.
    again = choose_grad_sample({n: g.shape[1:] for n, g in grads.items()}, 30, seed=3, n_examples=20, k_per_param=25, names=names)
    assert torch.equal(again.rows, r) and torch.equal(again.coords["0.weight"], s.index.coords["0.weight"])
    other = subsample_grads(grads, seed=4, n_examples=20, k_per_param=25, names=names)
    assert not torch.equal(other.index.coords["0.weight"], s.index.coords["0.weight"])
    # Gathering from grads of only the sampled rows gives the same matrix.
    only = {n: g[r] for n, g in grads.items()}
    torch.testing.assert_close(gather_grad_sample(only, s.index, rows_selected=True), s.matrix)
    f_p, _ = pristine_corrupt_fractions(s.matrix, mask[r])
    assert f_p == pytest.approx(pairwise_fp(s.matrix, mask[r]), rel=1e-6)
    # Counts are capped at what exists; default = every tensor.
    full = subsample_grads(grads, seed=0, n_examples=400, k_per_param=300)
    assert full.matrix.shape[0] == 30 and full.matrix.shape[1] == 120 + 12 + 48 + 4


def test_cumulative_contributions_closed_form() -> None:
    ip_seq = [2.0] * 5
    ic_seq = [1.0, 2.0, 3.0, 4.0, 5.0]
    i_p, i_c = cumulative_contributions(ip_seq, ic_seq, n_p=4, n_c=3)
    torch.testing.assert_close(i_p, torch.tensor([2.0, 4, 6, 8, 10], dtype=torch.float64) / 4)
    t = torch.arange(1, 6, dtype=torch.float64)
    torch.testing.assert_close(i_c, t * (t + 1) / 2 / 3)
    with pytest.raises(UserError):
        cumulative_contributions([1.0], [1.0, 2.0], 1, 1)
    with pytest.raises(UserError):
        cumulative_contributions([1.0], [1.0], 0, 1)


def test_null_worlds() -> None:
    torch.manual_seed(0)
    mask = torch.rand(200) < 0.25
    worlds = null_world_masks(mask, 3, seed=11)
    assert len(worlds) == 3
    for w in worlds:
        assert w.dtype == torch.bool and int(w.sum()) == int(mask.sum())
        assert not torch.equal(w, mask)
    assert not torch.equal(worlds[0], worlds[1])
    again = null_world_masks(mask, 5, seed=11)
    assert all(torch.equal(a, b) for a, b in zip(worlds, again[:3]))
    assert not torch.equal(null_world_masks(mask, 1, seed=12)[0], worlds[0])
    assert null_world_masks(mask, 0, seed=1) == []
    with pytest.raises(UserError, match="n_worlds"):
        null_world_masks(mask, -1, seed=0)


def test_errors() -> None:
    mat = torch.randn(4, 3)
    with pytest.raises(UserError, match="pristine set is empty"):
        pristine_corrupt_fractions(mat, torch.zeros(4, dtype=torch.bool))
    with pytest.raises(UserError, match="corrupt set is empty"):
        pristine_corrupt_fractions(mat, torch.ones(4, dtype=torch.bool))
    with pytest.raises(UserError, match="5 entries"):
        pristine_corrupt_fractions(mat, torch.tensor([True, False, True, False, True]))
    with pytest.raises(UserError, match="bool"):
        pristine_corrupt_fractions(mat, torch.tensor([1, 0, 1, 0]))
    with pytest.raises(UserError, match=r"\[m, d\]"):
        pristine_corrupt_fractions(torch.randn(4), torch.tensor([True, False, True, False]))
    model, x, y, mask = setup()
    with pytest.raises(UserError, match="corrupt set is empty"):
        model_fractions(model, F.cross_entropy, x, y, torch.ones_like(mask))
    with pytest.raises(UserError, match="unknown parameter"):
        subsample_grads(per_example_grads(model, F.cross_entropy, x, y), seed=0, names=["nope"])
