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
