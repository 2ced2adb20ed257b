"""Figures of the WS paper (Figures 1-3, 6-8), drawn from stored runs.

Figures 1, 6 and 7 are one function (`label_noise_figure`) applied to
different models' runs; every figure carries a stamp with profile, data,
device, commit and wall time (`ws_stamp`). Each function takes ``{key: run}`` (one
seed) or ``{key: [run per seed]}``: with several seeds a curve is their mean with a
min-max band.
"""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np

from cgh_lib.book.plotting import (GROUP_COLORS, METHOD_COLORS, SPLIT_COLORS, as_seed_lists, device_name, distinct,
                                   method_label, noise_colors, panel_width, seed_line, seeds_note, stamp, stamp_commit)
from cgh_lib.store.runstore import RunResult

AGG_COLORS = METHOD_COLORS  # one colour per method across the book


def ws_stamp(profile: str, runs: Sequence[RunResult]) -> str:
    """One line: profile, data, length, device, commit and total stored wall time."""
    p = runs[0].provenance
    c = runs[0].config
    walls = [r.wall_time_s for r in {str(r.path): r for r in runs}.values()]
    length = f"{c['epochs']} epochs" if c.get("epochs") else f"{c.get('max_steps', 0):,} steps"
    device = distinct(runs, lambda q: device_name(q) + (f" x {q['world_size']} processes"
                                                        if int(q.get("world_size") or 1) > 1 else ""))
    return (f"profile: {profile} | data: {p.get('data', '?')} | {c['model']}, {length} | "
            f"device: {device} | torch {distinct(runs, lambda q: q.get('torch'))} | "
            f"commit {stamp_commit(runs)} | stored wall time {np.nansum(walls) / 60:.1f} min")


def _x(run: RunResult, by: str) -> np.ndarray:
    return run.arrays[by]


def _xaxis(ax: plt.Axes, by: str) -> None:
    ax.set_xlabel("epoch" if by == "epoch" else "training step")
    ax.grid(alpha=0.3)


def label_noise_figure(runs: dict[float, Any], title: str, by: str = "epoch") -> plt.Figure:
    """WS Figures 1/6/7 as a 2x2 grid: (a) train (solid) and test (dashed) accuracy, (b) training
    loss, (c) pristine (solid) and corrupt (dashed) accuracy, (d) their losses; one colour per noise level."""
    runs = as_seed_lists(runs)
    levels = sorted(runs)
    colors = noise_colors(levels)
    fig, grid = plt.subplots(2, 2, figsize=(panel_width(2), 6.4), constrained_layout=True, sharex=True)
    axes = grid.flat
    for n in levels:
        rs, col = runs[n], colors[n]
        x = _x(rs[0], by)
        seed_line(axes[0], x, [r.arrays["train_acc"] for r in rs], color=col, lw=1.6, label=f"{n:.0%} noise")
        seed_line(axes[0], x, [r.arrays["test_acc"] for r in rs], color=col, lw=1.2, ls="--")
        seed_line(axes[1], x, [r.arrays["train_loss"] for r in rs], color=col, lw=1.6)
        for key, ls in (("pristine", "-"), ("corrupt", "--")):
            if np.isfinite(rs[0].arrays[f"{key}_acc"]).any():
                seed_line(axes[2], x, [r.arrays[f"{key}_acc"] for r in rs], color=col, lw=1.4, ls=ls)
                seed_line(axes[3], x, [r.arrays[f"{key}_loss"] for r in rs], color=col, lw=1.4, ls=ls)
    for ax, t in zip(axes, ("(a) accuracy: train (solid), test (dashed)", "(b) training loss",
                            "(c) accuracy: pristine (solid), corrupt (dashed)", "(d) loss: pristine, corrupt")):
        ax.set_title(t)
        _xaxis(ax, by)
    for ax in grid[0]:
        ax.set_xlabel("")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=len(levels))
    fig.suptitle(f"{title}\n({seeds_note(runs)})")
    return fig


def aggregator_figure(runs: dict[tuple[str, float], Any], title: str,
                      pairs: Sequence[str] = ("rm3", "ra3", "m3"), by: str = "epoch") -> plt.Figure:
    """WS Figure 2: one row per aggregator vs SGD, one column per noise level; train solid, test dashed."""
    runs = as_seed_lists(runs)
    noises = sorted({n for _, n in runs})
    rows = [a for a in pairs if (a, noises[0]) in runs]
    fig, axes = plt.subplots(len(rows), len(noises), figsize=(panel_width(len(noises)), 2.7 * len(rows) + 0.8),
                             squeeze=False, constrained_layout=True, sharey=True)
    for i, agg in enumerate(rows):
        for j, n in enumerate(noises):
            ax = axes[i][j]
            for name in ("sgd", agg):
                rs = runs[(name, n)]
                x = _x(rs[0], by)
                seed_line(ax, x, [r.arrays["train_acc"] for r in rs], color=AGG_COLORS[name], lw=1.6,
                          label=f"{method_label(name)} train")
                seed_line(ax, x, [r.arrays["test_acc"] for r in rs], color=AGG_COLORS[name], lw=1.2, ls="--",
                          label=f"{method_label(name)} test")
            ax.set_title(f"{method_label(agg)} vs SGD, {n:.0%} noise")
            _xaxis(ax, by)
            if j == 0:
                ax.set_ylabel("accuracy")
                ax.legend()
    fig.suptitle(f"{title}\n({seeds_note(runs)})")
    return fig


def pristine_corrupt_figure(runs: dict[str, Any], title: str, by: str = "epoch") -> plt.Figure:
    """WS Figure 3: pristine (solid) and corrupt (dashed) training accuracy, one panel per aggregator
    (two panels per row)."""
    runs = as_seed_lists(runs)
    aggs = list(runs)
    ncols = min(2, len(aggs))
    nrows = -(-len(aggs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_width(2), 2.9 * nrows + 0.8), squeeze=False,
                             constrained_layout=True, sharey=True, sharex=True)
    for ax, agg in zip(axes.flat, aggs):
        rs = runs[agg]
        x = _x(rs[0], by)
        seed_line(ax, x, [r.arrays["pristine_acc"] for r in rs], color=AGG_COLORS[agg], lw=1.8, label="pristine")
        seed_line(ax, x, [r.arrays["corrupt_acc"] for r in rs], color=AGG_COLORS[agg], lw=1.8, ls="--",
                  label="corrupt")
        ax.set_title(method_label(agg))
        _xaxis(ax, by)
        ax.legend()
    for ax in axes.flat[len(aggs):]:
        ax.set_axis_off()
    for row in axes:
        row[0].set_ylabel("training accuracy")
    fig.suptitle(f"{title}\n({seeds_note(runs)})")
    return fig


def winsorize_figure(runs: dict[tuple[int, float], Any], title: str) -> plt.Figure:
    """WS Figure 8: rows = noise level, columns = winsorization s; train solid, test dashed, by step."""
    runs = as_seed_lists(runs)
    cs = sorted({c for c, _ in runs})
    noises = sorted({n for _, n in runs})
    fig, axes = plt.subplots(len(noises), len(cs), figsize=(panel_width(len(cs)), 2.7 * len(noises) + 0.8), squeeze=False,
                             constrained_layout=True, sharey=True)
    for i, n in enumerate(noises):
        for j, c in enumerate(cs):
            ax, rs = axes[i][j], runs[(c, n)]
            x = rs[0].arrays["step"]
            seed_line(ax, x, [r.arrays["train_acc"] for r in rs], color=SPLIT_COLORS["train"], lw=1.6, label="train")
            seed_line(ax, x, [r.arrays["test_acc"] for r in rs], color=SPLIT_COLORS["test"], lw=1.4, ls="--",
                      label="test")
            ax.set_title(f"s = {c}, {n:.0%} noise")
            _xaxis(ax, "step")
            if j == 0:
                ax.set_ylabel("accuracy")
                ax.legend()
    fig.suptitle(f"{title}\n({seeds_note(runs)})")
    return fig


def rm3_batch_figure(runs: dict[tuple[str, int], Any], title: str, chance: float = 0.1) -> plt.Figure:
    """The RM3 mini-batch sweep: final corrupt-sample (and pristine-sample) accuracy vs batch size,
    one line per aggregator at 50% noise; each seed a point, the line through their mean."""
    runs = as_seed_lists(runs)
    aggs = sorted({a for a, _ in runs}, key=lambda a: ("sgd", "rm3", "m3").index(a) if a in ("sgd", "rm3", "m3") else 9)
    batches = sorted({b for _, b in runs})
    fig, axes = plt.subplots(1, 2, figsize=(panel_width(2), 3.8), constrained_layout=True, sharey=True)
    for ax, key, what in ((axes[0], "corrupt_acc", "corrupt sample"), (axes[1], "pristine_acc", "pristine sample")):
        for agg in aggs:
            vals = [[float(r.arrays[key][-1]) for r in runs[(agg, b)]] for b in batches]
            ax.plot(batches, [np.mean(v) for v in vals], color=AGG_COLORS[agg], lw=1.6, marker="o",
                    label=method_label(agg))
            for b, v in zip(batches, vals):
                ax.scatter([b] * len(v), v, color=AGG_COLORS[agg], s=12, alpha=0.5)
        ax.axhline(chance, color="0.5", lw=0.8, ls=":", label="chance")
        ax.set_xscale("log", base=2)
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.set_xlabel("mini-batch size (M3: next multiple of 3)")
        ax.set_title(f"{what}, 50% noise")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("final training accuracy (noisy labels)")
    axes[0].legend()
    fig.suptitle(f"{title}\n({seeds_note(runs)})")
    return fig


def finals_table(runs: dict[Any, RunResult], keys: Sequence[str] = ("train_acc", "test_acc", "pristine_acc",
                                                                     "corrupt_acc", "train_loss")) -> Any:
    """Final metrics per run as a DataFrame (index = the figure's run keys; the mean over seeds)."""
    import pandas as pd

    def mean(values: list) -> float:  # NaN (e.g. corrupt accuracy at 0% noise) when no seed has a value
        finite = [float(v) for v in values if v is not None and v == v]
        return float(np.mean(finite)) if finite else float("nan")

    names = {"train_acc": "train acc. (noisy labels)", "test_acc": "test acc.", "pristine_acc": "pristine acc.",
             "corrupt_acc": "corrupt acc.", "train_loss": "train loss"}
    runs = as_seed_lists(runs)
    table = pd.DataFrame({run_label(k): {m: mean([r.final.get(m) for r in rs]) for m in keys}
                          for k, rs in runs.items()}).T.round(4)
    return table.rename(columns=names)


def run_label(key: Any) -> str:
    """A figure's run key as a reader's label: ('sgd', 0.5) -> 'SGD, 50% noise', (2, 1.0) -> 's = 2, 100% noise',
    ('rm3', 32) -> 'RM3, batch 32' (an integer after an aggregator is the RM3 sweep's mini-batch size)."""
    parts = key if isinstance(key, tuple) else (key,)
    out = []
    for i, v in enumerate(parts):
        if isinstance(v, str):
            out.append(method_label(v))
        elif isinstance(v, float):
            out.append(f"{v:.0%} noise")
        elif i > 0 and isinstance(parts[i - 1], str):
            out.append(f"batch {v}")
        else:
            out.append(f"s = {v}")
    return ", ".join(out)


# ----------------------------------------------------------------------------- explorer views
def _view_run(run: RunResult, axes: Any) -> dict[str, Any]:
    """A WS run as its figure draws it: train (solid) / test (dashed) accuracy in the method's colour,
    then pristine (solid) / corrupt (dashed) accuracy on the training set (or the loss without noise)."""
    a, agg = run.arrays, str(run.config.get("aggregator", "sgd"))
    by = "epoch" if run.config.get("epochs") and "epoch" in a and len(a["epoch"]) else "step"
    x, col = a[by], METHOD_COLORS.get(agg, METHOD_COLORS["sgd"])
    noisy = bool(run.config.get("noise"))
    axes[0].plot(x, a["train_acc"], color=col, label="train (noisy labels)" if noisy else "train")
    axes[0].plot(x, a["test_acc"], color=col, ls="--", label="test")
    axes[0].set_title(f"{method_label(agg)}: accuracy")
    axes[0].set_ylim(-0.02, 1.02)
    if noisy and "pristine_acc" in a and np.isfinite(a["pristine_acc"]).any():
        axes[1].plot(x, a["pristine_acc"], color=GROUP_COLORS["pristine"], label="pristine")
        axes[1].plot(x, a["corrupt_acc"], color=GROUP_COLORS["corrupt"], ls="--", label="corrupt")
        axes[1].set_title("training set: pristine vs corrupt")
        axes[1].set_ylim(-0.02, 1.02)
    else:
        axes[1].plot(x, a["train_loss"], color=col, label="train")
        if "test_loss" in a:
            axes[1].plot(x, a["test_loss"], color=col, ls="--", label="test")
        axes[1].set_title("loss")
    for ax in axes:
        _xaxis(ax, by)
        ax.legend()
    keys = ("train_acc", "test_acc", "pristine_acc", "corrupt_acc", "train_loss")
    return {k: run.final[k] for k in keys if k in run.final}


def _register_views() -> None:
    from cgh_lib.book.explorer import panel_view, register_view

    register_view(panel_view(_view_run), "ws-fig1", "ws-fig2", "ws-fig3", "ws-fig6", "ws-fig7", "ws-fig8",
                  "ws-rm3-batch", "gm-fig4")


_register_views()


__all__ = ["ws_stamp", "label_noise_figure", "aggregator_figure", "pristine_corrupt_figure", "winsorize_figure",
           "rm3_batch_figure", "finals_table", "run_label", "stamp"]
