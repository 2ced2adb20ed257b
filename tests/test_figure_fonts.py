"""Every figure is legible in the page: each text renders at >= 9 px when the PNG (100 dpi,
cropped to its content) is shown at most a 1280 px page's figure column wide (919 px).

Rendered size = font size (pt) * dpi / 72 * min(1, column / natural width); the figures are
drawn from the committed smoke runs, as the notebooks draw them.
"""

from __future__ import annotations

import io
from collections import defaultdict

import matplotlib.pyplot as plt
import pytest
from conftest import REPO

from cgh_lib.book import plotting
from cgh_lib.book.registry import get_figure
from cgh_lib.store.runstore import RunStore


def _runs(fig_id: str) -> list:
    store = RunStore(REPO / "runs")
    out = [store.load(c) for c in get_figure(fig_id).configs("smoke")]
    assert all(r is not None for r in out), f"{fig_id}: smoke runs not committed"
    return out


def _by(runs: list, *fields: str) -> dict:
    d: dict = defaultdict(list)
    for r in runs:
        key = tuple(r.config[f] for f in fields)
        d[key if len(key) > 1 else key[0]].append(r)
    return dict(d)


def _figures(fig_id: str) -> list[plt.Figure]:
    from cgh_lib.papers.cg2020 import plots as cg
    from cgh_lib.papers.gm2022 import plots as gm
    from cgh_lib.papers.ws import plots as ws

    runs = _runs(fig_id)
    title = f"{fig_id} reproduced (profile: smoke), a title as long as the notebooks' titles"
    if fig_id == "cg2020-fig1":
        return cg.figure1(_by(runs, "noise"), title)
    if fig_id == "cg2020-fig2":
        return [cg.figure2(_by(runs, "noise"), title)]
    if fig_id == "cg2020-fig3":
        return [cg.figure3(_by(runs, "noise"), title)]
    if fig_id == "cg2020-fig4":
        return cg.figure4(_by(runs, "c", "noise"), title)
    if fig_id in ("ws-fig1", "ws-fig6", "ws-fig7"):
        return [ws.label_noise_figure(_by(runs, "noise"), title)]
    if fig_id == "ws-fig2":
        return [ws.aggregator_figure(_by(runs, "aggregator", "noise"), title)]
    if fig_id == "ws-fig3":
        return [ws.pristine_corrupt_figure(_by([r for r in runs if r.config["noise"] == 0.5], "aggregator"), title)]
    if fig_id == "ws-fig8":
        return [ws.winsorize_figure(_by(runs, "c", "noise"), title)]
    if fig_id == "ws-rm3-batch":
        return [ws.rm3_batch_figure(_by(runs, "aggregator", "batch_size"), title)]
    if fig_id == "gm-fig3":
        figs = []
        for exp in sorted({r.path.parent.name for r in runs}):
            by = {(r.config["noise"], r.config["seed"]): r for r in runs if r.path.parent.name == exp}
            figs += [gm.coherence_figure(by, title), gm.layer_figure(by, title + ": first, middle, last layer")]
        return figs
    raise KeyError(fig_id)


FIGS = ["cg2020-fig1", "cg2020-fig2", "cg2020-fig3", "cg2020-fig4", "ws-fig1", "ws-fig2", "ws-fig3", "ws-fig8",
        "ws-rm3-batch", "gm-fig3"]


def test_rendered_size_follows_dpi_width_and_column():
    fig, ax = plt.subplots(figsize=(20, 3))
    ax.set_title("wide", fontsize=10)
    px = dict((t, p) for p, t in plotting.rendered_font_px(fig))["wide"]
    buf = io.BytesIO()  # the PNG as the inline backend writes it: cropped to content, padded
    fig.savefig(buf, format="png", dpi=plotting.DPI, bbox_inches="tight")
    natural = plt.imread(io.BytesIO(buf.getvalue())).shape[1]
    assert px == pytest.approx(10 * 100 / 72 * plotting.FULL_WIDTH_PX / natural, rel=2e-3)
    assert plotting.illegible(fig)  # a 20-inch figure in a 919 px column: 10 pt is ~6 px
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.set_title("narrow", fontsize=10)
    assert dict((t, p) for p, t in plotting.rendered_font_px(fig))["narrow"] == pytest.approx(10 * 100 / 72)
    plt.close(fig)


@pytest.mark.parametrize("fig_id", FIGS)
def test_figure_text_renders_at_9px_or_more(fig_id):
    figs = _figures(fig_id)
    try:
        for f in figs:
            assert not plotting.illegible(f), f"{fig_id}: {plotting.illegible(f)[:5]}"
            axes_per_row = {round(ax.get_position().y0, 2) for ax in f.axes if ax.get_visible() and ax.has_data()}
            rows = max(1, len(axes_per_row))
            cols = sum(1 for ax in f.axes if ax.has_data()) / rows
            assert cols <= 3 or f.get_figwidth() <= plotting.MAX_WIDTH_IN, f"{fig_id}: {cols} panels in a row"
    finally:
        for f in figs:
            plt.close(f)


def test_a_method_has_one_colour_on_every_page():
    from cgh_lib.papers.ws import plots as ws

    assert ws.AGG_COLORS["sgd"] == plotting.METHOD_COLORS["sgd"]
    assert plotting.noise_colors([0.0, 0.5])[0.5] == plotting.noise_colors([0.25, 0.5, 0.75])[0.5]
