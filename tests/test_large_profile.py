"""The `large` profile: CG2020's paper settings on MNIST-22k; other experiments refuse it by name."""

from __future__ import annotations

import dataclasses

import pytest

from cgh_lib.book.registry import figures, make_config
from cgh_lib.errors import UserError


@pytest.mark.parametrize("experiment", ["cg2020-label-noise", "cg2020-loss-reduction", "cg2020-winsorized"])
def test_large_is_paper_on_mnist22k(experiment: str) -> None:
    large, paper = make_config(experiment, "large"), make_config(experiment, "paper")
    diff = {f.name for f in dataclasses.fields(large) if getattr(large, f.name) != getattr(paper, f.name)}
    assert diff == {"n_train"} and large.n_train == 22_699 and large.dataset == "mnist"


def test_large_figures_and_refusal() -> None:
    figs = figures()
    assert len(figs["cg2020-fig4"].configs("large")) == 25
    assert {c.steps for c in figs["cg2020-fig1"].configs("large")} == {100_000}
    with pytest.raises(UserError, match=r"profile of experiment 'ws-label-noise' 'large'; accepted: smoke, small, paper"):
        make_config("ws-label-noise", "large")


def test_large_seeds_per_figure(tmp_path) -> None:
    """Figures 1-3 run the 3 seeds a run-based verdict needs at `large`; Figure 4's grid (~6 CPU-h a
    seed) declares one, and every consumer (configs, notebook plan, claims, stored book) agrees."""
    from cgh_lib.book import build
    from cgh_lib.book.claims import evaluate_figure
    from cgh_lib.store.runstore import RunStore

    figs = figures()
    for fid in ("cg2020-fig1", "cg2020-fig2", "cg2020-fig3"):
        assert figs[fid].seeds("large") == (0, 1, 2)
        assert {c.seed for c in figs[fid].configs("large")} == {0, 1, 2}
    f4 = figs["cg2020-fig4"]
    assert f4.seeds("large") == (0,) and f4.seeds("small") == (0, 1, 2)
    assert {c.seed for c in f4.configs("large")} == {0}
    params = {k: build._literal(v) for k, v in build.notebook_parameters(f4).items()}
    assert {c.seed for c in f4.plan("large", params)} == {0}
    assert [o.seed for o in evaluate_figure("cg2020-fig4", "large", store=RunStore(tmp_path))[0].outcomes] == [0]
    assert [o.seed for o in evaluate_figure("cg2020-fig1", "large", store=RunStore(tmp_path))[0].outcomes] == [0, 1, 2]
