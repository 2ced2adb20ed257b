"""Plots of CG2020 Figures 1 (label noise), 2, 3 (loss reduction by pristine vs corrupt examples) and 4 (winsorization).

Same layout as the paper: Figures 2 and 3 have one column per noise level and
one row for the real designations followed by one row per null world;
Figure 4 has one column per noise level and one row per winsorization level c.
Every function takes ``{key: run}`` (one seed) or ``{key: [run per seed]}``: with
several seeds each curve is their mean with a min-max band.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from cgh_lib.book.plotting import (GROUP_COLORS, MAX_WIDTH_IN, SPLIT_COLORS, as_seed_lists, noise_colors, panel_width,
                                   seed_line, seeds_note, step_axis)
from cgh_lib.papers.cg2020.fig1_label_noise import learned_curve
from cgh_lib.papers.cg2020.figs23_loss_reduction import contributions, fractions
from cgh_lib.store.runstore import RunResult

PRISTINE, CORRUPT = GROUP_COLORS["pristine"], GROUP_COLORS["corrupt"]


def _world_label(w: int) -> str:
    return "actual" if w == 0 else f"null {w}"


def _worlds_grid(runs: dict[float, list[RunResult]]) -> tuple[plt.Figure, np.ndarray, list[float], int]:
    """One column per noise level, one row per world (actual, then the null worlds), titled and labelled."""
    levels = sorted(runs)
    worlds = runs[levels[0]][0].arrays["inner"].shape[1]
    fig, axes = plt.subplots(worlds, len(levels), figsize=(panel_width(len(levels)), 2.4 * worlds),
                             sharex=True, sharey=True, squeeze=False, constrained_layout=True)
    for j, n in enumerate(levels):
        axes[0, j].set_title(f"{n:.0%} label noise")
    for w in range(worlds):
        axes[w, 0].set_ylabel(_world_label(w))
    return fig, axes, levels, worlds


def figure2(runs: dict[float, Any], title: str) -> plt.Figure:
    """f_p(t) and f_c(t) per noise level (columns) and world (rows). The y range covers every
    value: f_p can exceed 1 (and f_c fall below 0) when the corrupt share is negative."""
    runs = as_seed_lists(runs)
    fig, axes, levels, worlds = _worlds_grid(runs)
    lo, hi = -0.05, 1.05
    for j, n in enumerate(levels):
        rs = runs[n]
        step = rs[0].arrays["step"]
        fs = [fractions(r.arrays["inner"]) for r in rs]
        pf = float(np.mean([r.arrays["masks"][0].mean() for r in rs]))
        for w in range(worlds):
            ax = axes[w, j]
            seed_line(ax, step, [f[:, w] for f in fs], color=PRISTINE, lw=1.5, label="$f^p_t$ (pristine)")
            seed_line(ax, step, [1 - f[:, w] for f in fs], color=CORRUPT, lw=1.5, label="$f^c_t$ (corrupt)")
            ax.axhline(pf, color="0.5", lw=0.8, ls=":", label="pristine fraction of sample")
            ax.axhline(0.5, color="0.75", lw=0.6)
            lo = min(lo, float(np.nanmin([np.nanmin(1 - f[:, w]) for f in fs])) - 0.05)
            hi = max(hi, float(np.nanmax([np.nanmax(f[:, w]) for f in fs])) + 0.05)
            step_axis(ax, step)
            if w < worlds - 1:
                ax.set_xlabel("")
    axes[0, 0].set_ylim(lo, hi)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
    fig.suptitle(f"{title}\n({seeds_note(runs)})")
    return fig


def figure3(runs: dict[float, Any], title: str) -> plt.Figure:
    """i_p(t), i_c(t) over the first steps per noise level (columns) and world (rows)."""
    runs = as_seed_lists(runs)
    fig, axes, levels, worlds = _worlds_grid(runs)
    for j, n in enumerate(levels):
        cs = [contributions(r) for r in runs[n]]
        for w in range(worlds):
            ax = axes[w, j]
            seed_line(ax, cs[0]["step"], [c["i_p"][:, w] for c in cs], color=PRISTINE, lw=1.5, marker=".",
                      label="$i^p_t$ (pristine)")
            seed_line(ax, cs[0]["step"], [c["i_c"][:, w] for c in cs], color=CORRUPT, lw=1.5, marker=".",
                      label="$i^c_t$ (corrupt)")
            ax.grid(alpha=0.3)
            if w == worlds - 1:
                ax.set_xlabel("training step")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=2)
    fig.suptitle(f"{title}\n({seeds_note(runs)})")
    return fig


def figure4(grid: dict[tuple[int, float], Any], title: str) -> list[plt.Figure]:
    """Training accuracy, test accuracy and overfit per noise level (columns), one figure per c.

    The paper's 5x5 grid is split into its rows, each a full-width image (the noise levels side
    by side, one shared y axis), so its labels stay legible in the page's column."""
    grid = as_seed_lists(grid)
    cs = sorted({c for c, _ in grid})
    ns = sorted({n for _, n in grid})
    figs = []
    for i, c in enumerate(cs):
        fig, axes = plt.subplots(1, len(ns), figsize=(MAX_WIDTH_IN, 2.7 if i else 3.3), sharey=True,
                                 squeeze=False, constrained_layout=True)
        for j, n in enumerate(ns):
            ax = axes[0, j]
            rs = grid.get((c, n))
            if not rs:
                ax.set_axis_off()
                continue
            gone = [r for r in rs if r.diverged]
            rs = [r for r in rs if not r.diverged]
            if gone:  # a diverged run has no curves: say so in its panel, never drop it silently
                at = ", ".join(f"step {int(r.final['step']):,}" if "step" in r.final else "an unknown step"
                               for r in gone)
                ax.text(0.5, 0.5 if not rs else 0.08, f"diverged at {at}" + ("" if rs else "\n(no curves)"),
                        transform=ax.transAxes, ha="center", va="center", fontsize=10, color="0.25")
            ax.set_title(f"{n:.0%} noise")
            if not rs:
                ax.set_xticks([])
                continue
            step = rs[0].arrays["step"]
            for key, color, label in (("train_acc", SPLIT_COLORS["train"], "ta (train, noisy labels)"),
                                      ("test_acc", SPLIT_COLORS["test"], "va (test)"),
                                      ("overfit", GROUP_COLORS["overfit"], "overfit")):
                label = "ta (train)" if key == "train_acc" and n == 0 else label
                seed_line(ax, step, [r.arrays[key] for r in rs], color=color, lw=1.6, label=label)
            ax.axhline(float(np.mean([r.final["proper_acc"] for r in rs])), color="0.4", lw=1.0, ls="--",
                       label="proper accuracy")
            step_axis(ax, step)
            ax.set_xlabel("step")
            ax.set_ylim(-0.1, 1.05)
        axes[0, 0].set_ylabel("accuracy")
        if i == len(cs) - 1:
            handles, labels = axes[0, -1].get_legend_handles_labels()
            fig.legend(handles, labels, loc="outside lower center", ncol=4)
        batch = next(iter(grid.values()))[0].config.get("batch_size", "the")  # diverged runs keep their config
        what = ("plain SGD" if c == 0 else
                f"the {c} smallest and {c} largest of {batch} per-example values of each weight clipped")
        head = f"{title}\n{seeds_note(grid)}\n" if i == 0 else ""
        fig.suptitle(f"{head}c = {c}: {what}")
        figs.append(fig)
    return figs


def stamp_text(profile: str, runs: Any) -> str:
    from cgh_lib.book.plotting import run_stamp
    return run_stamp(profile, list(runs))


def figure1(runs: dict[float, Any], title: str) -> list[plt.Figure]:
    """CG2020 Figure 1 as two images: (a) train acc, (b) test acc, (c) train loss; then (d) as
    captioned, "first training step when an example is learned" (cumulative fraction of pristine /
    corrupt examples classified as their training label at least once), and (e) the fraction
    learned *for good* (correct from then on). Five panels in one row cannot be read in a column."""
    runs = as_seed_lists(runs)
    levels = sorted(runs)
    colors = noise_colors(levels)
    step = runs[levels[0]][0].arrays["step"]
    top, axes = plt.subplots(1, 3, figsize=(panel_width(3), 3.4), constrained_layout=True)
    for ax, key, label in zip(axes, ("train_acc", "test_acc", "train_loss"),
                              ("(a) training accuracy", "(b) test accuracy", "(c) training loss")):
        for n in levels:
            seed_line(ax, step, [r.arrays[key] for r in runs[n]], color=colors[n], label=f"{n:.0%} noise", lw=1.6)
        step_axis(ax, step)
        ax.set_title(label)
    axes[2].set_yscale("log")
    top.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=len(levels))
    top.suptitle(f"{title}\n({seeds_note(runs)})")
    bottom, axes = plt.subplots(1, 2, figsize=(panel_width(3), 3.6), constrained_layout=True, sharey=True)
    for ax, first, label in ((axes[0], True, "(d) first step learned (cumulative)"),
                             (axes[1], False, "(e) learned for good")):
        for n in levels:
            groups = (("pristine", "-"), ("corrupt", "--")) if 0 < n < 1 else (("all", "-"),)
            for g, ls in groups:
                name = g if g != "all" else ("pristine" if n == 0 else "corrupt")
                seed_line(ax, step, [learned_curve(r, g, first=first) for r in runs[n]], color=colors[n], ls=ls,
                          lw=1.6 if g != "all" else 2.4, alpha=1 if g != "all" else 0.6, label=f"{n:.0%}: {name}")
        step_axis(ax, step)
        ax.set_title(label)
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("fraction of examples")
    bottom.legend(*axes[0].get_legend_handles_labels(), loc="outside right center")
    return [top, bottom]


# ----------------------------------------------------------------------------- explorer views
def _finals(run: RunResult, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: run.final[k] for k in keys if k in run.final}


def _view_fig1(run: RunResult, axes: Any) -> dict[str, Any]:
    """Figure 1's panels for one run: (a, b) train and test accuracy, (d) first step learned."""
    step, noise = run.arrays["step"], float(run.config.get("noise", 0.0))
    axes[0].plot(step, run.arrays["train_acc"], color=SPLIT_COLORS["train"],
                 label="train (noisy labels)" if noise else "train")
    axes[0].plot(step, run.arrays["test_acc"], color=SPLIT_COLORS["test"], label="test")
    axes[0].set_title("(a, b) accuracy")
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].legend()
    groups = ("pristine", "corrupt") if 0 < noise < 1 else ("all",)
    for g in groups:
        name = g if g != "all" else ("pristine" if noise == 0 else "corrupt")
        axes[1].plot(step, learned_curve(run, g, first=True), color=GROUP_COLORS[name], label=name)
    axes[1].set_title("(d) first step learned (cumulative)")
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].legend()
    for ax in axes:
        step_axis(ax, step)
    return _finals(run, ("train_acc", "test_acc", "train_loss", "test_loss"))


def _view_worlds(run: RunResult, axes: Any, fig3: bool) -> dict[str, Any]:
    """Figure 2 (f_p, f_c) or Figure 3 (i_p, i_c) for one run: the actual designation and the first null world."""
    if fig3:
        c = contributions(run)
        step, p, q, names = c["step"], c["i_p"], c["i_c"], ("$i^p_t$ (pristine)", "$i^c_t$ (corrupt)")
    else:
        step, f = run.arrays["step"], fractions(run.arrays["inner"])
        p, q, names = f, 1 - f, ("$f^p_t$ (pristine)", "$f^c_t$ (corrupt)")
    for w, ax in enumerate(axes[: p.shape[1]]):
        ax.plot(step, p[:, w], color=PRISTINE, marker="." if fig3 else None, label=names[0])
        ax.plot(step, q[:, w], color=CORRUPT, marker="." if fig3 else None, label=names[1])
        ax.set_title(_world_label(w) + (" designation" if w == 0 else " world"))
        if fig3:
            ax.set_xlabel("training step")
        else:
            step_axis(ax, step)
            ax.axhline(0.5, color="0.75", lw=0.6)
    axes[0].legend()
    return _finals(run, ("f_p_first", "f_p_last", "pristine_fraction", "train_acc", "test_acc"))


def _view_fig4(run: RunResult, axes: Any) -> dict[str, Any]:
    """Figure 4's grid cell for one run: train, test, overfit and the proper accuracy; the losses."""
    step, noise = run.arrays["step"], float(run.config.get("noise", 0.0))
    for key, color, label in (("train_acc", SPLIT_COLORS["train"], "ta (train, noisy labels)" if noise else "ta (train)"),
                              ("test_acc", SPLIT_COLORS["test"], "va (test)"),
                              ("overfit", GROUP_COLORS["overfit"], "overfit")):
        axes[0].plot(step, run.arrays[key], color=color, label=label)
    if "proper_acc" in run.final:
        axes[0].axhline(run.final["proper_acc"], color="0.4", ls="--", lw=1, label="proper accuracy")
    axes[0].set_ylim(-0.1, 1.05)
    axes[0].set_title("the grid cell: accuracy")
    axes[0].legend()
    for key, color, label in (("train_loss", SPLIT_COLORS["train"], "train"), ("test_loss", SPLIT_COLORS["test"], "test")):
        if key in run.arrays and len(run.arrays[key]) == len(step):
            axes[1].plot(step, run.arrays[key], color=color, label=label)
    axes[1].set_title("loss")
    if axes[1].lines:
        axes[1].legend()
    for ax in axes:
        step_axis(ax, step)
    return _finals(run, ("train_acc", "test_acc", "overfit", "proper_acc"))


def _register_views() -> None:
    from cgh_lib.book.explorer import panel_view, register_view

    register_view(panel_view(_view_fig1), "cg2020-fig1")
    register_view(panel_view(lambda r, a: _view_worlds(r, a, False)), "cg2020-fig2")
    register_view(panel_view(lambda r, a: _view_worlds(r, a, True)), "cg2020-fig3")
    register_view(panel_view(_view_fig4), "cg2020-fig4")


_register_views()
