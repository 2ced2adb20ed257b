"""Figure helpers shared by all notebooks: consistent style and an honest provenance caption.

Every figure carries a stamp saying at which profile, on which data and device,
and from which commit its numbers came, so a reader never mistakes a smoke
run for the paper's scale.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from cgh_lib.store.runstore import RunResult


def noise_colors(levels: Sequence[float]) -> dict[float, Any]:
    pal = sns.color_palette("viridis_r", len(levels))
    return dict(zip(levels, pal))


def _commit(p: Mapping[str, Any]) -> str:
    return (p.get("commit") or "unknown")[:10] + ("+dirty" if p.get("dirty") else "")


def distinct(runs: Sequence[RunResult], value: Any) -> str:
    """``value(provenance)`` of the runs shown: the one value, or each value with its number of
    runs when they differ (seeds computed on other machines or commits say so in the caption)."""
    counts: dict[str, int] = {}
    for r in {str(r.path): r for r in runs}.values():
        v = str(value(r.provenance))
        counts[v] = counts.get(v, 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{v} ({n} run{'s' if n != 1 else ''})" for v, n in counts.items())


def stamp_device(runs: Sequence[RunResult]) -> str:
    return distinct(runs, lambda p: p.get("device_name", p.get("device")))


def stamp_commit(runs: Sequence[RunResult]) -> str:
    return distinct(runs, _commit)


def run_stamp(profile: str, runs: Sequence[RunResult]) -> str:
    """One line: profile, data, steps, device, commit and total wall time of the runs shown."""
    p = runs[0].provenance
    # runs trained as one stack share one provenance record (and one wall time): count it once
    groups = {(q.get("finished_at"), q.get("host"), q.get("wall_time_s")): r
              for r in {str(r.path): r for r in runs}.values() for q in [r.provenance]}
    wall = sum(r.wall_time_s for r in groups.values() if r.wall_time_s == r.wall_time_s)
    steps = runs[0].config.get("steps")
    return (f"profile: {profile} | data: {p.get('data', '?')} | {steps:,} steps | "
            f"device: {stamp_device(runs)} | torch {distinct(runs, lambda q: q.get('torch'))} | "
            f"commit {stamp_commit(runs)} | stored wall time {wall / 60:.1f} min"
            # the winsorization kernel decides the last digits: a fallback to eager must show
            + (f" | kernel {distinct(runs, lambda q: q.get('winsorize_kernel') or 'not recorded')}"
               if any(r.provenance.get("winsorize_kernel") or "c" in r.config for r in runs) else ""))


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def stamp(fig: plt.Figure | Sequence[plt.Figure], text: str) -> None:
    """Attach the provenance line to a figure, or to a figure split into several images.

    In a notebook: show the figure(s), then the line as one caption under them (text a
    reader can read and search, not pixels inside the image). Elsewhere (a script
    saving the figure): draw it small under the axes of the (last) figure.
    """
    figs = [fig] if isinstance(fig, plt.Figure) else list(fig)
    if not _in_kernel():
        figs[-1].text(0.5, -0.01, text, ha="center", va="top", fontsize=7, color="0.35", wrap=True)
        return
    from IPython.display import Markdown, display

    for f in figs:
        display(f)
        plt.close(f)  # shown once, here, before its caption
    display(Markdown("*Provenance of the runs shown:* " + text.replace(" | ", " · ")))


def step_axis(ax: plt.Axes, steps: np.ndarray) -> None:
    """Symmetric-log step axis: step 0 (the initial model) stays visible."""
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlim(0, max(1, int(steps[-1])))
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)


def as_seed_lists(runs: Mapping[Any, Any]) -> dict[Any, list[RunResult]]:
    """{key: [run of each seed]} from either {key: run} (one seed) or {key: [runs]}."""
    return {k: (list(v) if isinstance(v, (list, tuple)) else [v]) for k, v in runs.items()}


def by_key(runs_by_seed: Mapping[int, Mapping[Any, RunResult]]) -> dict[Any, list[RunResult]]:
    """{seed: {key: run}} -> {key: [run of each seed, in seed order]} (keys of the first seed)."""
    seeds = list(runs_by_seed)
    return {k: [runs_by_seed[s][k] for s in seeds if k in runs_by_seed[s]] for k in runs_by_seed[seeds[0]]}


def seed_line(ax: plt.Axes, x: np.ndarray, ys: Sequence[np.ndarray], **kw: Any) -> None:
    """One curve over seeds: the mean, and with several seeds a min-max band around it
    (seeds share the evaluation grid; a curve of another length is drawn on its own)."""
    ys = [np.asarray(y, dtype=float) for y in ys]
    same = [y for y in ys if len(y) == len(x)]
    if not same:
        return
    stack = np.vstack(same)
    with warnings.catch_warnings():  # all-NaN columns (a metric undefined at some step) stay NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(stack, 0) if len(same) > 1 else stack[0]
        lo, hi = np.nanmin(stack, 0), np.nanmax(stack, 0)
    (line,) = ax.plot(x, mean, **kw)
    if len(same) > 1:
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.18, lw=0)


def seeds_note(runs: Mapping[Any, Sequence[RunResult]]) -> str:
    """"mean of n seeds (band: min-max)" or "1 seed", for titles and captions."""
    n = max((len(v) for v in runs.values()), default=1)
    return f"lines: mean of {n} seeds, bands: min-max over seeds" if n > 1 else "1 seed"
