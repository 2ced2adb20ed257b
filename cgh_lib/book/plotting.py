"""Figure helpers shared by all notebooks: one style, one colour scheme, legible sizes, and an
honest provenance caption.

Every figure carries a stamp saying at which profile, on which data and device,
and from which commit its numbers came, so a reader never mistakes a smoke
run for the paper's scale.

Sizes. A figure is shown at its natural width up to the page's figure column
(`FULL_WIDTH_PX` on a 1280 px page; the book's figure cells are full width), so a
font of ``s`` points in a figure ``w`` inches wide renders at
``s * dpi / 72 * min(1, FULL_WIDTH_PX / (w * dpi))`` px. `rendered_font_px` computes
it for every text of a figure; figures keep at most 3 panels per row and
``w <= MAX_WIDTH_IN`` so that the smallest font (``MIN_FONT_PT``) stays >= `MIN_FONT_PX`.

Colours. A method (SGD, RM3, M3, ...), a split (train, test) and a label noise
level have the same colour on every page: `METHOD_COLORS`, `SPLIT_COLORS` and
`noise_color` (a fixed map of the level, not of its position in a figure), all
from seaborn's colour-blind palette and the ``viridis`` map.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from cgh_lib.store.provenance import device_label
from cgh_lib.store.runstore import RunResult


FULL_WIDTH_PX = 919     # a full-width figure cell at a 1280 px window (measured in Chromium)
MIN_FONT_PX = 9.0       # the smallest text a reader is asked to read
MIN_FONT_PT = 9.0       # the smallest font a figure uses (ticks, legends)
MAX_WIDTH_IN = 9.6      # widest figure: 9 pt at 100 dpi stays >= 9 px when scaled to the column
DPI = 100               # the inline backend's figure.dpi

_PAL = sns.color_palette("colorblind")
_BASELINE = (0.25, 0.25, 0.25)  # plain SGD, the baseline every method is compared with: dark grey
METHOD_COLORS: dict[str, Any] = {"sgd": _BASELINE, "rm3": _PAL[3], "ra3": _PAL[0], "m3": _PAL[2],
                                 "winsorized": _PAL[4]}
SPLIT_COLORS: dict[str, Any] = {"train": _PAL[4], "test": _PAL[1]}
GROUP_COLORS: dict[str, Any] = {"pristine": _PAL[0], "corrupt": _PAL[3], "overfit": _PAL[9],
                                "full": _BASELINE, "easy": _PAL[2], "hard": _PAL[3]}
METHOD_LABELS = {"sgd": "SGD", "rm3": "RM3", "ra3": "RA3", "m3": "M3", "winsorized": "winsorized SGD"}
_NOISE_MAP = sns.color_palette("viridis", as_cmap=True)

STYLE = {"font.size": 10.5, "axes.titlesize": 11, "axes.labelsize": 10.5, "xtick.labelsize": 9.5,
         "ytick.labelsize": 9.5, "legend.fontsize": 9, "legend.title_fontsize": 9.5, "figure.titlesize": 12,
         "figure.dpi": DPI, "savefig.dpi": DPI, "axes.grid": True, "grid.alpha": 0.35,
         "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": True,
         "legend.framealpha": 0.85, "legend.edgecolor": "none"}


def apply_style() -> None:
    """The book's matplotlib style: seaborn's whitegrid with the colour-blind palette, and sizes
    that stay legible in the page's column (applied when this module is imported)."""
    sns.set_theme(style="whitegrid", palette="colorblind", rc=STYLE)


apply_style()


def noise_color(level: float) -> Any:
    """The colour of a label noise level, the same on every page (0% green, 100% dark purple)."""
    return _NOISE_MAP(0.8 - 0.8 * float(level))


def noise_colors(levels: Sequence[float]) -> dict[float, Any]:
    return {n: noise_color(n) for n in levels}


def method_label(name: str) -> str:
    return METHOD_LABELS.get(name, name.upper() if len(name) <= 3 else name)


def rendered_font_px(fig: plt.Figure, column_px: float = FULL_WIDTH_PX) -> list[tuple[float, str]]:
    """(rendered height in px, text) of every visible text of ``fig`` when its PNG (``DPI``,
    cropped to its content as the inline backend does) is shown at most ``column_px`` wide."""
    from matplotlib.text import Text

    fig.canvas.draw()
    bbox = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    # the inline backend crops to this box plus savefig.pad_inches on each side (0.1 in: 20 px)
    natural = (bbox.width + 2 * float(plt.rcParams["savefig.pad_inches"])) * DPI
    scale = min(1.0, column_px / natural) if natural > 0 else 1.0
    out = []
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip() and t.figure is fig:
            out.append((t.get_fontsize() * DPI / 72 * scale, t.get_text()))
    return out


def illegible(fig: plt.Figure, column_px: float = FULL_WIDTH_PX) -> list[str]:
    """The texts of ``fig`` that would render under `MIN_FONT_PX` (empty when all are legible)."""
    return [f"{text[:40]!r} at {px:.1f} px" for px, text in rendered_font_px(fig, column_px) if px < MIN_FONT_PX - 1e-6]


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


def device_name(p: Mapping[str, Any]) -> str:
    """A run's device as a reader reads it ("AMD EPYC (1 thread)", not "(1 threads)")."""
    return device_label(p)


def stamp_device(runs: Sequence[RunResult]) -> str:
    return distinct(runs, device_name)


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
    if os.environ.get("CGH_CHECK_FONTS"):  # the tests: an illegible figure fails its notebook
        bad = [b for f in figs for b in illegible(f)]
        if bad:
            raise ValueError(f"figure text under {MIN_FONT_PX:g} px in a {FULL_WIDTH_PX} px column: {bad[:5]}")
    if not _in_kernel():
        figs[-1].text(0.5, -0.01, text, ha="center", va="top", fontsize=MIN_FONT_PT, color="0.35", wrap=True)
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


def panel_rows(n: int, per_row: int = 3) -> list[int]:
    """Panels per image when ``n`` panels are split into images of at most ``per_row`` (balanced:
    5 -> [3, 2], 4 -> [2, 2])."""
    rows = -(-n // per_row)
    base, extra = divmod(n, rows)
    return [base + (i < extra) for i in range(rows)]


def panel_width(ncols: int) -> float:
    """Figure width (inches) for ``ncols`` panels side by side: the column's width, at most."""
    return min(MAX_WIDTH_IN, 1.2 + 3.1 * ncols)


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
