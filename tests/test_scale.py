"""The scale comparison (cgh_lib.papers.cg2020.scale): two profiles side by side from stored runs only,
one generated sentence per claim. Fake stored runs: committed smoke arrays saved under the small and
large configs of a temporary store (nothing is trained)."""

from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")

from cgh_lib.book.registry import get_figure  # noqa: E402
from cgh_lib.papers.cg2020 import scale  # noqa: E402
from cgh_lib.store.provenance import REPO_ROOT  # noqa: E402
from cgh_lib.store.runstore import RunStore  # noqa: E402

COMMITTED = RunStore(REPO_ROOT / "runs")


def _fake_store(tmp_path, profiles) -> RunStore:
    """Every Figure 4 config of ``profiles`` stored with the arrays of the committed smoke cell nearest in (c, noise)."""
    smoke = {(c.c, c.noise): COMMITTED.load(c) for c in get_figure("cg2020-fig4").configs("smoke")}
    assert all(smoke.values()), "the committed smoke Figure 4 runs"
    store = RunStore(tmp_path)
    for p in profiles:
        for cfg in get_figure("cg2020-fig4").configs(p):
            k = min(smoke, key=lambda sc: (abs(sc[0] - cfg.c), abs(sc[1] - cfg.noise)))
            r = smoke[k]
            store.save(cfg, r.final, r.arrays, {"wall_time_s": 1.0, "device_name": "test"})
    return store


def assert_within_width(fig) -> None:
    """No text sticks out of the figure: the cropped PNG would widen, and the page would scale the
    rasterized panels' text inside it below 9 px (the site check reads 12.5 px x column / PNG width)."""
    fig.canvas.draw()
    bb = fig.get_tightbbox(fig.canvas.get_renderer())
    assert bb.x0 >= -0.02 and bb.x1 <= fig.get_figwidth() + 0.02, (bb.x0, bb.x1, fig.get_figwidth())


def test_both_profiles_side_by_side_with_one_sentence_per_claim(tmp_path):
    store = _fake_store(tmp_path, ("small", "large"))
    out = scale.compare_scales("cg2020-fig4", store)
    assert out.stored == {"small": True, "large": True}
    axes = out.figure.get_axes()
    assert len(axes) == 5 * 2  # each c row at both profiles, each an image
    assert all(ax.get_images() for ax in axes)
    recs = out.records
    assert len(out.sentences) == len(recs["small"]) == len(recs["large"]) > 0
    for s, a, b in zip(out.sentences, recs["small"], recs["large"]):
        assert s.startswith(a["id"])
        assert f"at small: {a['verdict']}" in s and f"at large: {b['verdict']}" in s
        for r in (a, b):
            if r["measured"]:
                assert f"(measured {r['measured']})" in s
        if a["verdict"] == b["verdict"]:
            assert "the verdict is the same at both scales" in s
        else:
            assert f"the verdict changed from {a['verdict']} to {b['verdict']} with scale" in s
        assert "steps 1,000 -> 60,000" in s  # the settings that differ, from the configs
    t = out.table()
    assert list(t.columns) == ["claim", "statement", "small", "large", "what changed with scale"]
    assert list(t["small"]) == [r["verdict"] for r in recs["small"]] and list(t["large"]) == [
        r["verdict"] for r in recs["large"]]
    assert_within_width(out.figure)
    out.figure.clear()


def test_a_profile_not_stored_says_so(tmp_path):
    store = _fake_store(tmp_path, ("small",))
    out = scale.compare_scales("cg2020-fig4", store)
    assert out.stored == {"small": True, "large": False} and out.missing["large"] == 25
    texts = [t.get_text() for ax in out.figure.get_axes() for t in ax.texts]
    assert any("large: not stored (25 run(s) missing)" in t for t in texts)
    assert not any("cgh " in t for t in texts), "a reader's figure names no command"
    assert out.sentences and all("at large: not stored" in s and "no comparison until both are stored" in s
                                 for s in out.sentences)
    assert set(out.table()["large"]) == {"not stored"}
    assert_within_width(out.figure)
    out.figure.clear()


def test_sentences_come_from_the_records_only():
    """The claims layer is reached through one adapter; any records give the same sentence form."""
    recs = {"small": [{"id": "x1", "claim": "it learns", "verdict": "fails", "measured": "0.42"}],
            "large": [{"id": "x1", "claim": "it learns", "verdict": "holds", "measured": "0.97"}]}
    (s,) = scale.claim_sentences("cg2020-fig1", recs, {"small": True, "large": True})
    assert s == ("x1 (it learns): at small: fails (measured 0.42); at large: holds (measured 0.97): the verdict "
                 "changed from fails to holds with scale (steps 10,000 -> 100,000, eval_schedule log -> authors).")


def test_unknown_figure_is_one_line():
    from cgh_lib.errors import UserError

    with pytest.raises(UserError, match="unknown figure 'ws-fig1'.*accepted: cg2020-fig1"):
        scale.compare_scales("ws-fig1", RunStore("/nonexistent"))


@pytest.mark.parametrize("figure", ["cg2020-fig1", "cg2020-fig2", "cg2020-fig3"])
def test_every_cg2020_figure_draws_at_both_profiles(figure, tmp_path):
    """Figures 1-3 through the same path as the stored book: the committed smoke runs saved
    under the small and large configs; every panel row of the figure appears at both profiles."""
    smoke = {c.noise: COMMITTED.load(c) for c in get_figure(figure).configs("smoke")}
    assert all(smoke.values()), f"the committed smoke {figure} runs"
    store = RunStore(tmp_path)
    for p in ("small", "large"):
        for cfg in get_figure(figure).configs(p):
            r = smoke[cfg.noise]
            store.save(cfg, r.final, r.arrays, {"wall_time_s": 1.0, "device_name": "test"})
    out = scale.compare_scales(figure, store)
    axes = out.figure.get_axes()
    assert out.stored == {"small": True, "large": True}
    assert len(axes) >= 2 and len(axes) % 2 == 0 and all(ax.get_images() for ax in axes)
    assert_within_width(out.figure)
