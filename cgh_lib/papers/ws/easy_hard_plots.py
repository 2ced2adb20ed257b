"""Figures of WS §4 (easy and hard examples): Figure 4, Figure 5(a) as bars, the §4.4 cross-evaluation."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from cgh_lib.book.explorer import iter_runs
from cgh_lib.book.plotting import as_seed_lists, seed_line, seeds_note
from cgh_lib.book.plotting import stamp  # noqa: F401  (re-exported for the notebooks)
from cgh_lib.store.runstore import RunResult

SUBSET_COLORS = {"full": "0.25", "easy": "tab:green", "hard": "tab:red"}
_OWN = {"easy": ("e_test", "e-test"), "hard": ("h_test", "h-test"), "full": ("test", "test")}


def fig4(runs: dict[Any, Any], title: str) -> plt.Figure:
    """WS Figure 4: (a) training (solid) and own-test (dashed) accuracy of full / easy / hard,
    (b) training (solid) and own-test (dashed) loss, by epoch. ``runs``: {subset: run} or
    {subset: [run of each seed]} (the seeds' mean, with a min-max band)."""
    runs = as_seed_lists({sub: runs[sub] for sub in ("full", "easy", "hard")})
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.0), constrained_layout=True)
    for sub, rs in runs.items():
        x, col = rs[0].arrays["epoch"], SUBSET_COLORS[sub]
        key, name = _OWN[sub]
        for ax, metric in ((axes[0], "acc"), (axes[1], "loss")):
            seed_line(ax, x, [r.arrays[f"train_{metric}"] for r in rs], color=col, lw=1.8, label=f"{sub}: train")
            seed_line(ax, x, [r.arrays[f"{key}_{metric}"] for r in rs], color=col, lw=1.4, ls="--",
                      label=f"{sub}: {name}")
    for ax, t, yl in zip(axes, ("(a) accuracy", "(b) loss"), ("top-1 accuracy", "cross-entropy")):
        ax.set_title(t, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{title} ({seeds_note(runs)})", fontsize=11)
    return fig


def fig5a(table: Any, classify_runs: list[RunResult], title: str) -> plt.Figure:
    """WS Figure 5(a) as bars: (a) training accuracy by difficulty (ours RM3 / SGD, paper RM3), (b) the
    share of examples at each difficulty (ours, paper, and what independent runs would give), (c) the
    classification runs' monitored training accuracy up to their 50% stop."""
    d = table.index.to_numpy()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.0), constrained_layout=True)
    w = 0.27
    axes[0].bar(d - w, table["paper RM3 acc"], w, color="0.7", label="paper: RM3 (ImageNet, ResNet-18)")
    axes[0].bar(d, table["ours RM3 acc"], w, color="tab:red", label="ours: RM3")
    axes[0].bar(d + w, table["ours SGD acc"], w, color="0.25", label="ours: SGD (same recipe)")
    axes[0].set_ylabel("training accuracy at the end")
    axes[0].set_title("(a) accuracy by difficulty", fontsize=10)
    axes[1].bar(d - w, table["paper share"], w, color="0.7", label="paper")
    axes[1].bar(d, table["ours share"], w, color="tab:blue", label="ours")
    axes[1].bar(d + w, table["share if runs were independent"], w, color="tab:orange",
                label="ours if the runs were independent")
    axes[1].set_ylabel("share of training examples")
    axes[1].set_title("(b) examples per difficulty", fontsize=10)
    for ax, loc in zip(axes[:2], ("lower left", "upper center")):
        ax.set_xlabel("difficulty (runs that call the example hard)")
        ax.set_xticks(d)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8, loc=loc, framealpha=0.9)
    for r in classify_runs:
        a = r.arrays
        axes[2].plot(a["step"], a["train_acc"], lw=1.0, marker=".", ms=3, label=f"seed {r.config['seed']}")
    if classify_runs:
        axes[2].axhline(classify_runs[0].config["stop_at"], color="k", lw=0.8, ls=":")
    axes[2].set_xlabel("training step")
    axes[2].set_ylabel("monitored training accuracy")
    axes[2].set_title("(c) classification runs up to the stop", fontsize=10)
    axes[2].grid(alpha=0.3)
    axes[2].legend(fontsize=7, ncol=2)
    fig.suptitle(title, fontsize=11)
    return fig


def tab44(table: Any, mix: Any, title: str) -> plt.Figure:
    """The §4.4 2x2 as bars (paper, ours, ours class-balanced) and the class mix of the four sets."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.0), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1.1, 1]})
    x = np.arange(len(table))
    w = 0.27
    axes[0].bar(x - w, table["paper"], w, color="0.7", label="paper")
    axes[0].bar(x, table["ours"], w, color="tab:purple", label="ours")
    axes[0].bar(x + w, table["ours, class-balanced"], w, color="tab:cyan", label="ours, class-balanced")
    axes[0].set_xticks(x, [f"{a.split()[0]} -> {b}" for a, b in zip(table["trained on"], table["evaluated on"])])
    axes[0].set_ylabel("top-1 accuracy")
    axes[0].set_title("(a) trained on -> evaluated on", fontsize=10)
    axes[0].grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8)
    cols = ["e_train", "e_test", "h_train", "h_test", "all"]
    im = axes[1].imshow(mix[cols].to_numpy().T, aspect="auto", cmap="viridis")
    axes[1].set_yticks(range(len(cols)), [c.replace("_", "-") for c in cols])
    axes[1].set_xlabel("class")
    axes[1].set_title("(b) class mix (share of each set)", fontsize=10)
    fig.colorbar(im, ax=axes[1], fraction=0.04)
    fig.suptitle(title, fontsize=11)
    return fig


def eh_stamp(profile: str, runs: dict[Any, Any]) -> str:
    """The provenance line of the runs shown (one seed's dict, or {seed: runs})."""
    from cgh_lib.papers.ws.plots import ws_stamp

    # training runs first: the stamp reads its length from the first run (a classification's epochs are a cap)
    order = sorted(iter_runs(runs), key=lambda r: "subset" not in r.config)
    return ws_stamp(profile, order)
