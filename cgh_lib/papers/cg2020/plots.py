"""Plots of CG2020 Figures 1 (label noise), 2, 3 (loss reduction by pristine vs corrupt examples) and 4 (winsorization).

Same layout as the paper: Figures 2 and 3 have one column per noise level and
one row for the real designations followed by one row per null world;
Figure 4 has one column per noise level and one row per winsorization level c.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from cgh_lib.book.plotting import noise_colors, step_axis
from cgh_lib.papers.cg2020.figs23_loss_reduction import contributions, fractions
from cgh_lib.store.runstore import RunResult

PRISTINE, CORRUPT = "tab:blue", "tab:red"


def _world_label(w: int) -> str:
    return "actual" if w == 0 else f"null {w}"


def _worlds_grid(runs: dict[float, RunResult]) -> tuple[plt.Figure, np.ndarray, list[float], int]:
    """One column per noise level, one row per world (actual, then the null worlds), titled and labelled."""
    levels = sorted(runs)
    worlds = runs[levels[0]].arrays["inner"].shape[1]
    fig, axes = plt.subplots(worlds, len(levels), figsize=(4.2 * len(levels), 2.3 * worlds),
                             sharex=True, sharey=True, squeeze=False, constrained_layout=True)
    for j, n in enumerate(levels):
        axes[0, j].set_title(f"{n:.0%} label noise")
    for w in range(worlds):
        axes[w, 0].set_ylabel(_world_label(w))
    return fig, axes, levels, worlds


def figure2(runs: dict[float, RunResult], title: str) -> plt.Figure:
    """f_p(t) and f_c(t) per noise level (columns) and world (rows)."""
    fig, axes, levels, worlds = _worlds_grid(runs)
    for j, n in enumerate(levels):
        a = runs[n].arrays
        f = fractions(a["inner"])
        pf = float(a["masks"][0].mean())
        for w in range(worlds):
            ax = axes[w, j]
            ax.plot(a["step"], f[:, w], color=PRISTINE, lw=1.5, label="$f^p_t$ (pristine)")
            ax.plot(a["step"], 1 - f[:, w], color=CORRUPT, lw=1.5, label="$f^c_t$ (corrupt)")
            ax.axhline(pf, color="0.5", lw=0.8, ls=":", label="pristine fraction of sample")
            step_axis(ax, a["step"])
            if w < worlds - 1:
                ax.set_xlabel("")
            ax.set_ylim(-0.05, 1.05)
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=11)
    return fig


def figure3(runs: dict[float, RunResult], title: str) -> plt.Figure:
    """i_p(t), i_c(t) over the first steps per noise level (columns) and world (rows)."""
    fig, axes, levels, worlds = _worlds_grid(runs)
    for j, n in enumerate(levels):
        c = contributions(runs[n])
        for w in range(worlds):
            ax = axes[w, j]
            ax.plot(c["step"], c["i_p"][:, w], color=PRISTINE, lw=1.5, marker=".", label="$i^p_t$ (pristine)")
            ax.plot(c["step"], c["i_c"][:, w], color=CORRUPT, lw=1.5, marker=".", label="$i^c_t$ (corrupt)")
            ax.grid(alpha=0.3)
            if w == worlds - 1:
                ax.set_xlabel("training step")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=11)
    return fig


def figure4(grid: dict[tuple[int, float], RunResult], title: str) -> plt.Figure:
    """Training accuracy, test accuracy and overfit per noise level (columns) and c (rows)."""
    cs = sorted({c for c, _ in grid})
    ns = sorted({n for _, n in grid})
    fig, axes = plt.subplots(len(cs), len(ns), figsize=(3.3 * len(ns), 2.2 * len(cs)),
                             sharex=True, sharey=True, squeeze=False, constrained_layout=True)
    for i, c in enumerate(cs):
        for j, n in enumerate(ns):
            ax = axes[i, j]
            r = grid[(c, n)]
            a = r.arrays
            ax.plot(a["step"], a["train_acc"], color="tab:blue", lw=1.4, label="ta (train, noisy labels)")
            ax.plot(a["step"], a["test_acc"], color="tab:green", lw=1.4, label="va (test)")
            ax.plot(a["step"], a["overfit"], color="tab:red", lw=1.4, label="overfit")
            ax.axhline(r.final["proper_acc"], color="0.4", lw=0.8, ls="--", label="proper accuracy")
            step_axis(ax, a["step"])
            if i < len(cs) - 1:
                ax.set_xlabel("")
            ax.set_ylim(-0.1, 1.05)
            if j == 0:
                ax.set_ylabel(f"c = {c}")
            if i == 0:
                ax.set_title(f"{n:.0%} label noise")
    axes[0, 0].legend(fontsize=6, loc="lower right")
    fig.suptitle(title, fontsize=11)
    return fig


def stamp_text(profile: str, runs: Any) -> str:
    from cgh_lib.book.plotting import run_stamp
    return run_stamp(profile, list(runs))


def figure1(runs: dict[float, RunResult], curves: dict[float, dict[str, np.ndarray]], title: str) -> plt.Figure:
    """CG2020 Figure 1: (a) train acc, (b) test acc, (c) train loss, (d) learned fractions."""
    levels = sorted(runs)
    colors = noise_colors(levels)
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.9), constrained_layout=True)
    for ax, key, label in zip(axes[:3], ("train_acc", "test_acc", "train_loss"),
                              ("(a) training accuracy", "(b) test accuracy", "(c) training loss")):
        for n in levels:
            a = runs[n].arrays
            ax.plot(a["step"], a[key], color=colors[n], label=f"{n:.0%} noise", lw=1.6)
        step_axis(ax, runs[levels[0]].arrays["step"])
        ax.set_title(label)
    axes[2].set_yscale("log")
    axes[0].legend(fontsize=8)
    ax = axes[3]
    for n in levels:
        s = runs[n].arrays["step"]
        c = curves[n]
        if 0 < n < 1:
            ax.plot(s, c["pristine"], color=colors[n], lw=1.6, label=f"{n:.0%}: pristine")
            ax.plot(s, c["corrupt"], color=colors[n], lw=1.6, ls="--", label=f"{n:.0%}: corrupt")
        else:
            ax.plot(s, c["all"], color=colors[n], lw=2.4, alpha=0.6,
                    label=f"{n:.0%}: all ({'pristine' if n == 0 else 'corrupt'})")
    step_axis(ax, runs[levels[0]].arrays["step"])
    ax.set_title("(d) fraction learned (correct from then on)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, ncol=1, loc="upper left")
    fig.suptitle(title, fontsize=11)
    return fig
