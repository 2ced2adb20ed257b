"""Figures of WS §4 (easy and hard examples): Figure 4, Figure 5(a) as bars, the §4.4 cross-evaluation."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from cgh_lib.book.explorer import iter_runs
from cgh_lib.book.plotting import GROUP_COLORS, METHOD_COLORS, as_seed_lists, panel_width, seed_line, seeds_note
from cgh_lib.book.plotting import stamp  # noqa: F401  (re-exported for the notebooks)
from cgh_lib.store.runstore import RunResult

SUBSET_COLORS = {k: GROUP_COLORS[k] for k in ("full", "easy", "hard")}
PAPER_COLOR = "0.72"  # the paper's numbers, beside ours
_OWN = {"easy": ("e_test", "e-test"), "hard": ("h_test", "h-test"), "full": ("test", "test")}


def fig4(runs: dict[Any, Any], title: str) -> plt.Figure:
    """WS Figure 4: (a) training (solid) and own-test (dashed) accuracy of full / easy / hard,
    (b) training (solid) and own-test (dashed) loss, by epoch. ``runs``: {subset: run} or
    {subset: [run of each seed]} (the seeds' mean, with a min-max band)."""
    runs = as_seed_lists({sub: runs[sub] for sub in ("full", "easy", "hard")})
    fig, axes = plt.subplots(1, 2, figsize=(panel_width(2), 4.2), constrained_layout=True)
    for sub, rs in runs.items():
        x, col = rs[0].arrays["epoch"], SUBSET_COLORS[sub]
        key, name = _OWN[sub]
        for ax, metric in ((axes[0], "acc"), (axes[1], "loss")):
            seed_line(ax, x, [r.arrays[f"train_{metric}"] for r in rs], color=col, lw=1.8, label=f"{sub}: train")
            seed_line(ax, x, [r.arrays[f"{key}_{metric}"] for r in rs], color=col, lw=1.4, ls="--",
                      label=f"{sub}: {name}")
    for ax, t, yl in zip(axes, ("(a) accuracy", "(b) loss"), ("top-1 accuracy", "cross-entropy")):
        ax.set_title(t)
        ax.set_xlabel("epoch")
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
    fig.suptitle(f"{title}\n({seeds_note(runs)})")
    return fig


def fig5a(table: Any, classify_runs: list[RunResult], title: str) -> plt.Figure:
    """WS Figure 5(a) as bars: (a) training accuracy by difficulty (ours RM3 / SGD, paper RM3), (b) the
    share of examples at each difficulty (ours, paper, and what independent runs would give), (c) the
    classification runs' monitored training accuracy up to their 50% stop."""
    d = table.index.to_numpy()
    fig, axes = plt.subplot_mosaic("ab;cc", figsize=(panel_width(2), 7.4), constrained_layout=True)
    axes = [axes["a"], axes["b"], axes["c"]]
    w = 0.27
    axes[0].bar(d - w, table["paper RM3 acc"], w, color=PAPER_COLOR, label="paper: RM3 (ImageNet)")
    axes[0].bar(d, table["ours RM3 acc"], w, color=METHOD_COLORS["rm3"], label="ours: RM3")
    axes[0].bar(d + w, table["ours SGD acc"], w, color=METHOD_COLORS["sgd"], label="ours: SGD")
    axes[0].set_ylabel("final training accuracy")
    axes[0].set_title("(a) accuracy by difficulty")
    axes[1].bar(d - w, table["paper share"], w, color=PAPER_COLOR, label="paper")
    axes[1].bar(d, table["ours share"], w, color=GROUP_COLORS["pristine"], label="ours")
    axes[1].bar(d + w, table["share if runs were independent"], w, color=GROUP_COLORS["easy"],
                label="ours, independent runs")
    axes[1].set_ylabel("share of training examples")
    axes[1].set_title("(b) examples per difficulty")
    for ax in axes[:2]:
        ax.set_xlabel("difficulty")
        ax.set_xticks(d)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)
    for r in classify_runs:
        a = r.arrays
        axes[2].plot(a["step"], a["train_acc"], lw=1.0, marker=".", ms=3, label=f"seed {r.config['seed']}")
    if classify_runs:
        axes[2].axhline(classify_runs[0].config["stop_at"], color="k", lw=0.8, ls=":")
    axes[2].set_xlabel("training step")
    axes[2].set_ylabel("monitored training accuracy")
    axes[2].set_title("(c) classification runs up to the stop (difficulty: runs that call an example hard)")
    axes[2].grid(alpha=0.3)
    axes[2].legend(ncol=4)
    fig.suptitle(title)
    return fig


def tab44(table: Any, mix: Any, title: str) -> plt.Figure:
    """The §4.4 2x2 as bars (paper, ours, ours class-balanced) and the class mix of the four sets."""
    fig, axes = plt.subplots(1, 2, figsize=(panel_width(2), 4.4), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1.1, 1]})
    x = np.arange(len(table))
    w = 0.27
    axes[0].bar(x - w, table["paper"], w, color=PAPER_COLOR, label="paper")
    axes[0].bar(x, table["ours"], w, color=GROUP_COLORS["pristine"], label="ours")
    axes[0].bar(x + w, table["ours, class-balanced"], w, color=GROUP_COLORS["easy"], label="ours, class-balanced")
    axes[0].set_xticks(x, [f"{a.split()[0]}\n-> {b}" for a, b in zip(table["trained on"], table["evaluated on"])])
    axes[0].set_ylabel("top-1 accuracy")
    axes[0].set_title("(a) trained on -> evaluated on")
    axes[0].grid(alpha=0.3, axis="y")
    axes[0].legend()
    cols = ["e_train", "e_test", "h_train", "h_test", "all"]
    im = axes[1].imshow(mix[cols].to_numpy().T, aspect="auto", cmap="viridis")
    axes[1].set_yticks(range(len(cols)), [c.replace("_", "-") for c in cols])
    axes[1].set_xlabel("class")
    axes[1].set_title("(b) class mix (share of each set)")
    fig.colorbar(im, ax=axes[1], fraction=0.04)
    fig.suptitle(title)
    return fig


def eh_stamp(profile: str, runs: dict[Any, Any]) -> str:
    """The provenance line of the runs shown (one seed's dict, or {seed: runs})."""
    from cgh_lib.papers.ws.plots import ws_stamp

    # training runs first: the stamp reads its length from the first run (a classification's epochs are a cap)
    order = sorted(iter_runs(runs), key=lambda r: "subset" not in r.config)
    return ws_stamp(profile, order)
