"""GM2022 figures: the §3 example's exact values, the interactive toy, the coherence experiments
(smoke), Theorem 1's term, Figure 4's reuse of the WS runs, and the claims' quotes."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from conftest import REPO

from cgh_lib.errors import UserError
from cgh_lib.grads import coherence_of_vectors
from cgh_lib.papers.gm2022 import claims as gm_claims
from cgh_lib.papers.gm2022 import example as ex
from cgh_lib.papers.gm2022 import experiments as gm
from cgh_lib.papers.ws import experiments as ws


# ---------------------------------------------------------------- §3 example
def test_example_exact_values():
    real, rand = ex.train_gd("real"), ex.train_gd("random")
    assert real.ratio[0] == pytest.approx(2.5, abs=1e-12)
    assert rand.ratio[0] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(real.w[-1], [0.2, 0.2, 0.2, 0.2, 0, 0.8], atol=1e-5)
    np.testing.assert_allclose(rand.w[-1], [1, 1, 1, 1, 0, 0], atol=1e-5)
    assert real.test_error[-1] == pytest.approx(0.04, abs=1e-5)
    assert rand.test_error[-1] == pytest.approx(1.0, abs=1e-5)
    # random data: w_6 never moves and the gradients stay orthogonal
    assert np.all(rand.w[:, 5] == 0) and np.allclose(rand.ratio, 1.0)
    # GD moves the shared weight faster than each idiosyncratic one on real data
    assert real.w[1, 5] > real.w[1, 0] > 0
    from cgh_lib.book.claims import evaluate_figure
    assert [v.verdict for v in evaluate_figure("gm-fig1", "smoke")] == ["holds"] * 3


def test_example_bad_input():
    with pytest.raises(UserError, match="accepted: real, random"):
        ex.example_data("noisy")
    with pytest.raises(UserError, match="lr"):
        ex.train_gd("real", lr=0)


@pytest.mark.parametrize("k", [2, 5])
@pytest.mark.parametrize("frac", [0.0, 0.3, 1.0])
def test_toy_ratio_formula(k, frac):
    s, i = frac, 1 - frac
    g = torch.zeros(k, k + 1, dtype=torch.float64)
    g[:, 0] = s
    g[torch.arange(k), torch.arange(1, k + 1)] = i
    assert ex.toy_ratio(s, i, k) == pytest.approx(k * coherence_of_vectors(g), rel=1e-12)
    assert ex.toy_ratio(s, i, k) == pytest.approx((k * s * s + i * i) / (s * s + i * i), rel=1e-12)


def test_interactive_toy_links_slider_to_precomputed_views_client_side():
    import ipywidgets as w
    tab = ex.interactive_toy(ks=(2,), fractions=(0.0, 0.5, 1.0))
    slider, stack = tab.children[0].children
    assert isinstance(stack, w.Stack) and len(stack.children) == 3
    assert all(isinstance(c, w.Image) and c.value[:4] == b"\x89PNG" for c in stack.children)
    from ipywidgets.widgets.widget_link import Link
    (link,) = tab.links
    assert isinstance(link, Link)  # jslink: runs in the browser, no kernel callback
    assert link.source == (slider, "value") and link.target == (stack, "selected_index")


# ---------------------------------------------------------------- experiments (smoke)
@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    import os
    old = os.environ.get("CGH_RUNS")
    os.environ["CGH_RUNS"] = str(tmp_path_factory.mktemp("runs"))
    try:
        yield gm.fig3_runs_by_seed("smoke", device="cpu")
    finally:
        if old is None:
            os.environ.pop("CGH_RUNS", None)
        else:
            os.environ["CGH_RUNS"] = old


def test_smoke_coherence_runs_record_the_probe(smoke_runs):
    by = smoke_runs[0]
    assert set(by) == {(a, n) for a in gm.ARCHS for n in gm.NOISES}
    for (a, n), r in by.items():
        cv = gm.curves(r)
        assert cv.step[0] == 0 and list(cv.step) == sorted(set(cv.step.tolist()))
        for split, m in (("train", cv.m_train), ("test", cv.m_test)):
            d = cv.train if split == "train" else cv.test
            assert np.all((d["ratio"] >= 0) & (d["ratio"] <= m + 1e-6))
            np.testing.assert_allclose(d["ratio"], m * d["alpha"], rtol=1e-9)
            assert np.all(d["m"] == m)
            shares = sum(d[f"{k}_share"] for k in {k[:8] for k in d if k.startswith("layer")})
            np.testing.assert_allclose(shares, 1.0, rtol=1e-6)
        assert len(cv.layers) >= 2


def test_cnn_probe_follows_the_log_schedule(smoke_runs):
    from cgh_lib.train.eval_schedule import eval_steps
    r = smoke_runs[0][("cnn", 0.0)]
    c = gm.curves(r)
    n_train = r.config["n_train"]
    total = gm.total_steps(gm.GMCoherenceCNNConfig(**{**ws.PROFILES["ws-label-noise"]["smoke"],
                                                      **gm.CNN_PROFILES["smoke"]}), n_train)
    assert list(c.step) == eval_steps("log", total)
    assert int(r.arrays["step"][-1]) == total


def test_theorem1_term_by_hand(smoke_runs):
    cv = gm.curves(smoke_runs[0][("mlp", 0.0)])  # constant lr
    want = sum(cv.lr[j] * (cv.step[j + 1] - cv.step[j]) * math.sqrt(2 * (1 - cv.train["alpha"][j]))
               for j in range(len(cv.step) - 1))
    assert gm.theorem1_term(cv) == pytest.approx(want)
    # bounded by the alpha = 0 value and above the alpha = 1 value (zero)
    assert 0 < gm.theorem1_term(cv) <= math.sqrt(2) * float(np.sum(cv.lr_sums)) + 1e-9
    # the CNN's step schedule (x0.1 at epoch 3 of 4): the step sizes summed step by step
    cnn = smoke_runs[0][("cnn", 0.0)]
    cc = gm.curves(cnn)
    spe = math.ceil(cnn.config["n_train"] / cnn.config["batch_size"])
    lrs = [0.1 if t < 3 * spe else 0.1 * 0.1 for t in range(int(cc.step[-1]))]
    assert float(np.sum(cc.lr_sums)) == pytest.approx(sum(lrs))


def test_fig3_claims_evaluate_on_smoke(smoke_runs):
    from cgh_lib.book.claims import evaluate_figure
    from cgh_lib.store.runstore import RunStore
    verdicts = evaluate_figure("gm-fig3", "smoke", store=RunStore(smoke_runs[0][("mlp", 0.0)].path.parent.parent))
    assert [v.claim.id for v in verdicts] == [c.id for c in gm_claims.FIG3_CLAIMS]
    assert all(re.match(r"holds|fails|mixed \d+/\d+|n/a", v.verdict) for v in verdicts)
    # the claim configs are the figure's configs, so the smoke runs above are found
    assert set(gm_claims.fig3_claim_configs("smoke", 0)) == set(smoke_runs[0])


def test_bad_coherence_sample_size():
    with pytest.raises(UserError, match="m_train"):
        gm.make_config("gm-coherence-mlp", "smoke", {"m_train": 1}).validate()
    with pytest.raises(UserError, match="architecture"):
        gm.fig3_configs("smoke", "transformer")


# ---------------------------------------------------------------- Figure 4 reuses WS Figure 3
def test_fig4_small_reuses_ws_fig3_runs_and_paper_is_resnet50():
    small = gm.fig4_configs("small")
    ws3 = ws.figure_configs("ws-fig3", "small")
    assert small == {"sgd": ws3[("sgd", 0.5, 0)], "m3": ws3[("m3", 0.5, 0)]}
    paper = gm.fig4_configs("paper")
    assert {c.model for c in paper.values()} == {"resnet50"}
    assert paper["m3"].batch_size == 264 and paper["sgd"].batch_size == 256
    assert {c.noise for c in paper.values()} == {0.5} and {c.momentum for c in paper.values()} == {0.0}
    # the paper profile of Figure 3's CNN is ResNet-50 on ImageNet with m = 50,000 + 50,000
    cnn = gm.fig3_configs("paper", "cnn")[(1.0, 0)]
    assert (cnn.model, cnn.dataset, cnn.m_train, cnn.m_test, cnn.epochs) == ("resnet50", "imagenet", 50_000, 50_000, 90)


# ---------------------------------------------------------------- quotes are verbatim
def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def test_every_quote_occurs_in_the_gm2022_texts():
    from cgh_lib.book.claims import paper_text
    if not (REPO.parent / "shared" / "papers").is_dir():
        pytest.skip("paper texts not found")
    text = paper_text("GM2022")
    for c in gm_claims.FIG1_CLAIMS + gm_claims.FIG3_CLAIMS + gm_claims.FIG4_CLAIMS:
        if c.source == "quote":  # paraphrase / derived rows are not the paper's words (see test_claims)
            assert _norm(c.quote) in text, c.id


def test_reduced_seeds_leave_an_architecture_out_of_those_seeds_claims(monkeypatch):
    assert gm.arch_seeds("mlp", "small") == (0, 1, 2) and gm.arch_seeds("cnn", "small") == (0, 1, 2)
    assert {a for a, _ in gm_claims.fig3_claim_configs("small", 2)} == {"mlp", "cnn"}
    monkeypatch.setitem(gm.REDUCED_SEEDS, ("mlp", "small"), (0,))
    assert set(gm.fig3_configs("small", "mlp")) == {(0.0, 0), (1.0, 0)}
    assert {a for a, _ in gm_claims.fig3_claim_configs("small", 0)} == {"mlp", "cnn"}
    assert {a for a, _ in gm_claims.fig3_claim_configs("small", 2)} == {"cnn"}
