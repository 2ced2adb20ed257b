"""CG2020 Figure 4 engine: config errors, resume after an interruption, the grid and its claims."""

import numpy as np
import pytest
import torch

from cgh_lib.book.registry import make_config
from cgh_lib.errors import UserError
from cgh_lib.grads.aggregators import SGDAggregator, WinsorizedAggregator
from cgh_lib.papers.cg2020 import fig4_winsorized as ws
from cgh_lib.store.experiments import RunOptions, ensure_runs
from cgh_lib.store.runstore import RunStore

TINY = dict(n_train=300, n_test=100, hidden=(16, 16, 16), steps=45, eval_schedule="log")


@pytest.mark.parametrize("over, msg", [
    ({"c": -1}, "parameter c=-1 is negative; accepted: an integer 0 <= c <= 49 (batch_size=100)"),
    ({"c": 50}, "parameter c=50 needs batch_size >= 2c+2 = 102"),
    ({"c": 4, "batch_size": 9}, "accepted: an integer 0 <= c <= 3"),
    ({"noise": 1.5}, "noise fraction 1.5 is outside [0, 1]"),
    ({"batch_size": 5000, "n_train": 1000}, "batch_size=5000 exceeds n_train=1000"),
])
def test_config_errors_name_value_and_range(over, msg):
    with pytest.raises(UserError) as e:
        make_config("cg2020-winsorized", "smoke", over)
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_largest_valid_c_is_accepted():
    assert make_config("cg2020-winsorized", "smoke", {"c": 49}).c == 49


def test_c0_is_plain_sgd_and_c_positive_winsorizes(monkeypatch):
    """c = 0 gives exactly SGD's gradient without a per-example pass; c > 0 differs from it."""
    import torch.nn.functional as F

    import cgh_lib.grads.aggregators as agg_mod
    from cgh_lib.models.mlp import mlp

    torch.manual_seed(0)
    model = mlp(12, (8,), 3, "xavier", 0)
    x, y = torch.randn(10, 12), torch.randint(0, 3, (10,))
    SGDAggregator().backward(model, F.cross_entropy, x, y)
    sgd = [p.grad.clone() for p in model.parameters()]
    monkeypatch.setattr(agg_mod, "linear_factors", None)  # c = 0 must not reach a per-example path
    monkeypatch.setattr(agg_mod, "per_example_grads_with_loss", None)
    WinsorizedAggregator(0).backward(model, F.cross_entropy, x, y)
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), sgd))
    monkeypatch.undo()
    WinsorizedAggregator(4).backward(model, F.cross_entropy, x, y)
    assert not all(torch.allclose(p.grad, g) for p, g in zip(model.parameters(), sgd))


def test_overfit_definition():
    assert ws.overfit(np.array([1.0]), np.array([0.9]), 0.5)[0] == pytest.approx(1.0 - (0.05 + 0.45))
    assert ws.overfit(np.array([0.3]), np.array([0.2]), 1.0)[0] == pytest.approx(0.2)


def test_resume_after_interrupt_equals_uninterrupted(tmp_path, monkeypatch):
    cfg = make_config("cg2020-winsorized", "smoke", dict(TINY, noise=0.5, c=2))
    ref = ensure_runs([cfg], RunOptions(store=RunStore(tmp_path / "a"), progress=False))[0]

    calls = {"n": 0}
    real_update = ws.sgd_update

    def flaky(model, lr):
        calls["n"] += 1
        if calls["n"] == 23:  # mid-epoch (3 steps per epoch), between two evaluations
            raise KeyboardInterrupt
        real_update(model, lr)

    store = RunStore(tmp_path / "b")
    opts = RunOptions(store=store, progress=False, checkpoint_every_steps=5)
    monkeypatch.setattr(ws, "sgd_update", flaky)
    with pytest.raises(KeyboardInterrupt):
        ensure_runs([cfg], opts)
    monkeypatch.setattr(ws, "sgd_update", real_update)
    ckpt = store.load_checkpoint(cfg.EXPERIMENT, ws.group_key([cfg]))  # a stack of one on CPU
    # an exception inside a step never checkpoints that half-done state: the last periodic one stays
    assert ckpt is not None and ckpt["step"] == 20 and store.load(cfg) is None
    res = ensure_runs([cfg], opts)[0]
    assert res.provenance["resumed"] == 1
    assert set(ref.arrays) == set(res.arrays)
    for k in ref.arrays:
        np.testing.assert_array_equal(ref.arrays[k], res.arrays[k], err_msg=k)
    assert store.load_checkpoint(cfg.EXPERIMENT, ws.group_key([cfg])) is None  # dropped when done


def test_tiny_grid_runs_and_claims(tmp_path):
    configs = ws.grid_configs("smoke", (0.0, 1.0), (0, 2), TINY)
    assert [(c.c, c.noise) for c in configs] == [(0, 0.0), (0, 1.0), (2, 0.0), (2, 1.0)]
    runs = ensure_runs(configs, RunOptions(progress=False))
    grid = ws.as_grid(configs, runs)
    for (c, n), r in grid.items():
        a = r.arrays
        assert a["step"][0] == 0 and a["step"][-1] == 45
        assert np.allclose(a["overfit"], ws.overfit(a["train_acc"], a["test_acc"], n))
        assert r.final["proper_acc"] == pytest.approx(1.0 - a["corrupt"].mean())
        assert np.all((a["train_acc"] >= 0) & (a["train_acc"] <= 1))
    # same init for every c at one noise level: identical step-0 evaluation, different training
    assert grid[(0, 0.0)].arrays["train_loss"][0] == grid[(2, 0.0)].arrays["train_loss"][0]
    assert grid[(0, 0.0)].arrays["train_loss"][-1] != grid[(2, 0.0)].arrays["train_loss"][-1]
    assert grid[(0, 1.0)].final["proper_acc"] < 0.2
    from cgh_lib.book.claims import evaluate_seed
    from cgh_lib.papers.cg2020.claims import FIG4

    assert all(evaluate_seed(c, 0, grid).status in ("holds", "fails", "uninformative", "n/a") for c in FIG4)
    table = ws.summary_table(grid)
    assert table.shape == (2 * 4, 2)  # rows (c, metric), columns noise


def test_smoke_profile_learns_the_clean_data():
    """The smoke profile is large enough that plain SGD learns (so its claims table is not about noise)."""
    torch.manual_seed(0)
    cfg = make_config("cg2020-winsorized", "smoke", {"noise": 0.0, "c": 0})
    r = ensure_runs([cfg], RunOptions(progress=False))[0]
    assert r.final["test_acc"] > 0.5 and r.final["train_acc"] > 0.5


def _assert_same_arrays(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k], equal_nan=True), k


@pytest.mark.parametrize("c", [0, 2, 8])
def test_stacked_row_is_bit_equal_to_cells_trained_alone(c, tmp_path):
    """A grid row trained as one stack (CPU) stores, per cell, exactly what `train_run` computes
    for that cell alone: every curve, bit for bit (c > 0 takes `fused_backward`, c = 0 autograd)."""
    configs = ws.grid_configs("smoke", (0.0, 0.5, 1.0), (c,), dict(TINY, hidden=(24, 16, 16)))
    configs.append(make_config("cg2020-winsorized", "smoke", dict(TINY, hidden=(24, 16, 16), c=c, noise=0.5,
                                                                    seed=3)))  # a member with its own seeds
    assert len({ws.stack_key(cfg) for cfg in configs}) == 1
    runs = ensure_runs(configs, RunOptions(store=RunStore(tmp_path / "stack"), progress=False))
    data = ws.load_data(configs[0], None)
    for cfg, run in zip(configs, runs):
        assert run.provenance["stacked_with"] == len(configs)
        alone, _ = ws.train_run(cfg, data, RunOptions(store=RunStore(tmp_path / "alone"), progress=False))
        _assert_same_arrays(run.arrays, alone)
    assert not list((tmp_path / "stack").rglob("*.pt")), "the stack's checkpoint is dropped with its last result"


def test_a_diverging_member_stops_alone_and_the_rest_equal_their_runs_alone(tmp_path, monkeypatch):
    """In a stack, a member whose loss diverges is stored as diverged at that step; the other
    members train on and store exactly what they store trained alone (no restart of the row)."""
    configs = ws.grid_configs("smoke", (0.0, 0.5), (2,), dict(TINY, hidden=(24, 16, 16)))
    real = ws.evaluate
    calls = {"noisy": 0, "clean": 0}

    def evaluate(model, data, y, corrupt, **kw):  # the noisy member's loss turns NaN at its 4th evaluation
        out = real(model, data, y, corrupt, **kw)
        calls["clean"] += not bool(corrupt.any())
        if bool(corrupt.any()):
            calls["noisy"] += 1
            if calls["noisy"] >= 4:
                out["train_loss"] = float("nan")
        return out

    monkeypatch.setattr(ws, "evaluate", evaluate)
    store = RunStore(tmp_path / "stack")
    with pytest.raises(UserError) as e:
        ensure_runs(configs, RunOptions(store=store, progress=False))
    assert "diverged" in str(e.value) and "train loss nan" in str(e.value) and "\n" not in str(e.value)
    assert calls["noisy"] == 4, "the diverged member is neither evaluated nor trained after it diverged"
    clean, noisy = (store.load(c) for c in configs)
    assert noisy.diverged and "train loss nan at step" in noisy.diverged
    assert not clean.diverged and clean.final["step"] == configs[0].steps
    # the diverged member keeps the stack's time it shared (`cgh list --plan` counts it)
    assert noisy.provenance["wall_time_s"] == clean.provenance["wall_time_s"] > 0
    assert noisy.provenance["stacked_with"] == clean.provenance["stacked_with"] == 2
    monkeypatch.undo()
    alone, _ = ws.train_run(configs[0], ws.load_data(configs[0], None),
                            RunOptions(store=RunStore(tmp_path / "alone"), progress=False))
    _assert_same_arrays(clean.arrays, alone)
    assert calls["clean"] == len(alone["step"]), "the clean member trained once, not restarted"
    assert not list((tmp_path / "stack").rglob("*.pt")), "no checkpoint is left behind"


def test_fused_backward_leaves_the_aggregators_grads():
    """The hand-written step leaves the same .grad tensors as WinsorizedAggregator.backward, bit for bit,
    on MNIST-like inputs (non-negative, many zeros) and every c the grid uses."""
    import torch.nn.functional as F

    from cgh_lib.models.mlp import mlp

    g = torch.Generator().manual_seed(0)
    x = torch.relu(torch.randn(100, 60, generator=g) - 0.8)  # ~80% zeros, like MNIST pixels
    y = torch.randint(0, 10, (100,), generator=g)
    for c in (1, 2, 4, 8):
        ref, fused = mlp(60, (32, 32, 32), 10, "xavier", c), mlp(60, (32, 32, 32), 10, "xavier", c)
        agg = WinsorizedAggregator(c)
        if not ws.fused_ok(fused, agg, x):
            pytest.skip("the native kernel is not available")
        agg.backward(ref, F.cross_entropy, x, y)
        ws.fused_backward(fused, x, y, c)
        for (name, p), q in zip(ref.named_parameters(), fused.parameters()):
            assert torch.equal(p.grad, q.grad), (c, name)


def test_stacked_row_reproduces_the_committed_small_runs(tmp_path, shared_data):
    """The committed small-profile Figure 4 runs (seed 1, c = 2, computed cell after cell) are
    reproduced bit for bit by the stacked trainer, where this machine is the one they name
    (CPU model, torch build, 1 thread); elsewhere floats may reorder (README) and this skips."""
    from cgh_lib.store.provenance import REPO_ROOT, cpu_model, torch_build

    committed = RunStore(REPO_ROOT / "runs")
    configs = ws.grid_configs("small", None, (2,), {"seed": 1})
    stored = [committed.load(c) for c in configs]
    assert all(stored), "the committed small runs"
    prov = stored[0].provenance
    here = (cpu_model(), torch_build(), torch.__version__)
    if (prov["cpu"], prov["torch_build"], prov["torch"]) != here or torch.get_num_threads() != 1:
        pytest.skip(f"committed on {prov['cpu']} ({prov['torch_build'].get('cpu_capability')}) / torch "
                    f"{prov['torch']}, {prov['torch_threads']} thread; this is {here[0]} "
                    f"({here[1].get('cpu_capability')}) / torch {here[2]}, {torch.get_num_threads()} threads")
    runs = ensure_runs(configs, RunOptions(store=RunStore(tmp_path), progress=False, data_root=str(shared_data)))
    for ref, run in zip(stored, runs):
        assert run.provenance["stacked_with"] == 5
        _assert_same_arrays(ref.arrays, run.arrays)


def test_the_fig4_page_shows_a_diverged_cell_instead_of_failing(tmp_path, monkeypatch):
    """A grid with a diverged cell (as the large profile can store) still draws every page part: the
    cell's panel says it diverged and where, its table row says so, the other cells are drawn."""
    import matplotlib

    matplotlib.use("Agg")
    from cgh_lib.book import page
    from cgh_lib.papers.cg2020 import pages, plots, scale
    from cgh_lib.store.provenance import provenance

    monkeypatch.setenv("CGH_RUNS", str(tmp_path / "runs"))
    over = dict(TINY, hidden=(16, 16, 16))
    cfgs = ws.grid_configs("smoke", (0.0, 0.5), (0, 2), over)
    ensure_runs(cfgs[:3], RunOptions(progress=False))
    RunStore().save_diverged(cfgs[3], "train loss nan at step 30", 30, provenance("cpu"))
    runs = pages.fig4_runs("smoke", None, "cpu", over, None, (0.0, 0.5), (0, 2))
    assert runs.by_seed[0][(2, 0.5)].diverged
    figs = plots.figure4(runs.by_key, "t")
    texts = [t.get_text() for t in figs[1].axes[1].texts]
    assert any("diverged" in t and "30" in t for t in texts), texts
    assert figs[1].axes[0].lines, "the other cell of the row is drawn"
    table = pages.fig4_finals(runs)
    assert table.loc[("c=2", "train acc"), "50% noise"] == "diverged"
    assert isinstance(table.loc[("c=2", "train acc"), "0% noise"], float)
    page.caption(figs, "smoke", runs)
    page.explore("cg2020-fig4", "smoke", runs.by_key, ["c", "noise"])
    page.claims("cg2020-fig4", "smoke", over, runs.seeds)
    page.wall_time("cg2020-fig4", "smoke")
