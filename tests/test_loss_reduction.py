"""CG2020 Figures 2/3 engine: estimators against slow references, null worlds, seeds, configs, a tiny run."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cgh_lib.book.registry import make_config
from cgh_lib.data.tensors import corrupt_labels, synthetic_dataset
from cgh_lib.errors import UserError
from cgh_lib.grads.pristine_corrupt import choose_grad_sample, model_inner_products
from cgh_lib.models.mlp import mlp
from cgh_lib.papers.cg2020 import figs23_loss_reduction as lr
from cgh_lib.store.experiments import RunOptions, ensure_runs
from cgh_lib.train.stacked import Member


def _per_example_loop(model, x, y):
    """Slow reference: one backward per example, flattened [m, d] (float64)."""
    rows = []
    for i in range(x.shape[0]):
        model.zero_grad()
        F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]).double())
    return torch.stack(rows)


def _pairwise(mat, mask):
    """<g, g_p> and <g, g_c> as sums of pairwise products (the m^2 definition)."""
    ip = sum(float(mat[i] @ mat[j]) for i in range(mat.shape[0]) for j in range(mat.shape[0]) if mask[j])
    ic = sum(float(mat[i] @ mat[j]) for i in range(mat.shape[0]) for j in range(mat.shape[0]) if not mask[j])
    return ip, ic


@pytest.fixture
def small_problem():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(24, 12, generator=g)
    y = torch.randint(0, 5, (24,), generator=g)
    mask = torch.rand(24, generator=g) < 0.6
    return x, y, mask


@pytest.mark.parametrize("model_fn", [
    lambda: mlp(12, (16, 8), 5, seed=1),  # Linear fast path
    lambda: nn.Sequential(nn.Linear(12, 10), nn.Tanh(), nn.LayerNorm(10), nn.Linear(10, 5)),  # vmap path
])
def test_exact_estimator_matches_pairwise_reference(small_problem, model_fn):
    torch.manual_seed(0)
    x, y, mask = small_problem
    model = model_fn().double()
    x = x.double()
    scores = lr.example_scores_exact(model, x, y, chunk=7)  # chunks that do not divide m
    got = lr.world_inner_products(scores, mask.unsqueeze(0))[0]
    ref = _pairwise(_per_example_loop(model, x, y), mask)
    assert got[0].item() == pytest.approx(ref[0], rel=1e-9)
    assert got[1].item() == pytest.approx(ref[1], rel=1e-9)
    ip, ic = model_inner_products(model, F.cross_entropy, x, y, mask)  # stats' route (two masked backwards)
    assert (got[0].item(), got[1].item()) == pytest.approx((ip, ic), rel=1e-9)


def test_paper_estimator_matches_pairwise_on_sampled_coordinates(small_problem):
    x, y, mask = small_problem
    model = mlp(12, (16,), 5, seed=2).double()
    x = x.double()
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    idx = choose_grad_sample(shapes, 1, 11, 1, 7, names=lr.weight_names(model))
    assert set(idx.coords) == {"0.weight", "2.weight"}
    full = _per_example_loop(model, x, y)
    # columns of the full flat matrix at the sampled weights
    offsets, off = {}, 0
    for n, p in model.named_parameters():
        offsets[n] = off
        off += p.numel()
    cols = torch.cat([offsets[n] + c for n, c in idx.coords.items()])
    ref = _pairwise(full[:, cols], mask)
    mat = lr._sampled_grads(model, x, y, idx.coords).double()
    assert torch.allclose(mat, full[:, cols], rtol=1e-9, atol=1e-12)
    plan = lr.StatPlan(torch.arange(24), x, y, mask.unsqueeze(0), idx.coords)
    got = lr.world_inner_products(lr.example_scores(model, plan), plan.masks)[0]
    assert (got[0].item(), got[1].item()) == pytest.approx(ref, rel=1e-9)


def test_fractions_and_contributions_definitions():
    inner = np.array([[[3.0, 1.0], [1.0, 1.0]], [[1.0, 3.0], [0.0, 0.0]]])  # [S=2, worlds=2, 2]
    f = lr.fractions(inner)
    assert f[0, 0] == 0.75 and f[0, 1] == 0.5 and f[1, 0] == 0.25 and np.isnan(f[1, 1])


def _cfg(**kw):
    base = dict(noise=0.5, n_train=2000, stat_examples=400)
    base.update(kw)
    return make_config("cg2020-loss-reduction", "smoke", base)


def test_sample_and_null_worlds_use_their_own_seed_streams():
    """Regression: the sample / null-world seeds once equalled the noise seed (seed+1), which made the
    'random' sample exactly the examples picked for corruption."""
    cfg = _cfg()
    data = synthetic_dataset(cfg.n_train, 100, seed=0)
    mem = lr.member(cfg, data)
    rows = lr.sample_rows(cfg, cfg.n_train)
    assert len(rows) == 400 and len(set(rows.tolist())) == 400
    chosen = torch.randperm(cfg.n_train, generator=torch.Generator().manual_seed(cfg.seed + 1))[:1000]
    assert set(rows.tolist()) != set(chosen[:400].tolist())
    for s in (cfg.seed, cfg.seed + 1, cfg.seed + 2):  # no stream equals a training seed
        assert torch.equal(rows, torch.randperm(cfg.n_train, generator=torch.Generator().manual_seed(s))[:400]
                           .sort().values) is False
    # the sample's corrupt fraction matches the population's (binomial sd ~0.025 for 400 draws)
    frac_sample = float(mem.corrupt[rows].double().mean())
    frac_all = float(mem.corrupt.double().mean())
    assert abs(frac_sample - frac_all) < 0.1
    # the sample does not depend on the noise level (nor the labels on the sample)
    assert torch.equal(rows, lr.sample_rows(_cfg(noise=0.25), cfg.n_train))
    plan = lr.make_plan(cfg, data, mem, mlp(784, (8,), 10), torch.device("cpu"))
    real, nulls = plan.masks[0], plan.masks[1:]
    assert torch.equal(real, ~mem.corrupt[rows])
    assert nulls.shape == (3, 400)
    for w in nulls:
        assert int(w.sum()) == int(real.sum())  # same set sizes
        assert not torch.equal(w, real)  # a permutation, not the real designation
        assert (w != real).double().mean() > 0.2  # and not a near copy of it
    assert not torch.equal(nulls[0], nulls[1]) and not torch.equal(nulls[1], nulls[2])
    # deterministic
    again = lr.make_plan(cfg, data, mem, mlp(784, (8,), 10), torch.device("cpu"))
    assert torch.equal(again.masks, plan.masks)
    assert len({lr.stream_seed(t, 0) for t in ("examples", "null", "weights")} | {0, 1, 2}) == 6


@pytest.mark.parametrize("over, msg", [
    ({"noise": 0.0}, "noise=0 leaves the corrupt set empty"),
    ({"noise": 1.0}, "noise=1 leaves the pristine set empty"),
    ({"estimator": "fast"}, "unknown estimator 'fast'; accepted: paper, exact"),
    ({"stat_examples": 5000}, "stat_examples=5000 is invalid"),
    ({"contrib_steps": 1000}, "contrib_steps=1000 exceeds steps=200"),
])
def test_config_errors(over, msg):
    with pytest.raises(UserError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        make_config("cg2020-loss-reduction", "smoke", over)


def test_sample_without_one_group_is_a_user_error():
    cfg = _cfg(n_train=1000)
    data = synthetic_dataset(1000, 10, seed=0)
    corrupt = torch.zeros(1000, dtype=torch.bool)  # a sample with no corrupt example
    mem = Member(data.y_train, corrupt, "xavier", 0, 2)
    with pytest.raises(UserError, match="no corrupt example"):
        lr.make_plan(cfg, data, mem, mlp(784, (8,), 10), torch.device("cpu"))


@pytest.mark.parametrize("estimator", ["exact", "paper"])
def test_tiny_run_stores_curves_and_claims(tmp_path, estimator):
    over = dict(n_train=600, n_test=100, hidden=(16,), steps=30, estimator=estimator, stat_examples=300,
                stat_weights=20, contrib_steps=10)
    cfgs = lr.figure_configs("smoke", (0.25, 0.75), over)
    runs = dict(zip((0.25, 0.75), ensure_runs(cfgs, RunOptions(progress=False))))
    for n, r in runs.items():
        a = r.arrays
        assert a["inner"].shape == (len(a["step"]), 4, 2)
        assert set(range(11)) <= set(a["step"].tolist())
        f = lr.fractions(a["inner"])
        assert np.all((f > -5) & (f < 5))
        c = lr.contributions(r)
        assert c["i_p"].shape == (11, 4) and np.allclose(c["step"], np.arange(11))
        # i_p, i_c are cumulative sums of the stored per-step inner products
        n_p = a["masks"][0].sum()
        assert np.isclose(c["i_p"][-1, 0], a["inner"][:11, 0, 0].sum() / n_p)
        assert r.final["sample_size"] == 300
    from cgh_lib.book.claims import evaluate_seed
    from cgh_lib.papers.cg2020.claims import FIG2, FIG3

    outcomes = [evaluate_seed(c, 0, runs) for c in FIG2 + FIG3]
    assert all(o.status in ("holds", "fails", "uninformative", "n/a") for o in outcomes)


def test_sustained_crossover_needs_consecutive_evaluations():
    from cgh_lib.papers.cg2020.claims import sustained_crossover

    steps = np.arange(8)
    # one dip below 0.5 is not a crossover
    assert sustained_crossover(steps, np.array([.9, .8, .4, .8, .7, .6, .6, .6]), run=3) == np.inf
    assert sustained_crossover(steps, np.array([.9, .8, .4, .8, .4, .3, .2, .6]), run=3) == 4
    # a window cut short by the end of training is not sustained (no end-of-run dip is a crossover)
    assert sustained_crossover(steps, np.array([.9, .8, .8, .8, .8, .8, .4, .3]), run=3) == np.inf
    assert sustained_crossover(steps, np.array([.9, .8, .8, .8, .8, .4, .3, .3]), run=3) == 5
    assert sustained_crossover(steps, np.array([.4, .3, .2, .2, .2, .2, .2, .2]), run=3) == np.inf  # never above
    # either direction, when asked: starting below and rising above for good is a crossover too
    rising = np.array([.4, .3, .6, .7, .8, .8, .8, .8])
    assert sustained_crossover(steps, rising, run=3) == np.inf
    assert sustained_crossover(steps, rising, run=3, from_above=False) == 2


def test_run_stamp_counts_a_stack_wall_time_once():
    from pathlib import Path

    from cgh_lib.book.plotting import run_stamp
    from cgh_lib.store.runstore import RunResult

    shared = {"finished_at": "t0", "host": "h", "wall_time_s": 60.0, "commit": "abc", "dirty": False}
    stack = [RunResult({"steps": 10}, {}, dict(shared), {}, Path(f"/r/{i}")) for i in range(3)]
    other = RunResult({"steps": 10}, {}, dict(shared, finished_at="t1", wall_time_s=120.0), {}, Path("/r/x"))
    assert "stored wall time 1.0 min" in run_stamp("small", stack)
    assert "stored wall time 3.0 min" in run_stamp("small", stack + [other])
