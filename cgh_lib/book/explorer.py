"""Interactive explorers that work in the static site, without a kernel.

An explorer shows one precomputed *view* (a small figure and its numbers) per
combination of control values, e.g. one per (noise level, c) of a sweep. The
views are rendered once, in Python, as inline PNG + HTML; the controls choose
among them in the browser: each control's ``index`` is linked with
``widgets.jslink`` to the ``selected_index`` of ``widgets.Stack`` containers,
one level of nested stacks per control. jslink runs client-side, so the same
widget works in Jupyter (live) and in the built book (from the widget state
papermill stores in the executed notebook), with no Python behind it.

Controls form a tree: a control offers only the values that exist under the values
chosen above it (a profile's own noise levels, batch sizes, seeds), so every button
leads to a stored run and the default view (the first value of each) always has data.

A figure's explorer shows that figure's own panels for the chosen run: a paper
registers a view per figure id (`register_view`, called by its ``plots`` modules);
a figure without one gets `curves_view` (accuracy and loss curves).

The cost is size: every view is in the page, so keep views small (a 2-panel figure
at 100 dpi, legible in the text column).
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from cgh_lib.store.runstore import RunResult

# the curves a default view draws when a run stores them (label, array key)
ACC_CURVES = (("train", "train_acc"), ("test", "test_acc"),
              ("pristine", "pristine_acc"), ("corrupt", "corrupt_acc"),
              ("easy test", "e_test_acc"), ("hard test", "h_test_acc"))
LOSS_CURVES = (("train", "train_loss"), ("test", "test_loss"),
               ("pristine", "pristine_loss"), ("corrupt", "corrupt_loss"),
               ("easy test", "e_test_loss"), ("hard test", "h_test_loss"))
# final metrics a default view lists, in this order, when present
FINAL_KEYS = ("train_acc", "test_acc", "pristine_acc", "corrupt_acc", "e_test_acc", "h_test_acc",
              "train_loss", "test_loss",
              "overfit", "proper_acc", "f_p_first", "f_p_last", "pristine_fraction")
LABELS = {"train_acc": "training accuracy (noisy labels)", "test_acc": "test accuracy",
          "pristine_acc": "pristine accuracy", "e_test_acc": "easy test accuracy",
          "h_test_acc": "hard test accuracy", "corrupt_acc": "corrupt accuracy (fits noisy labels)",
          "train_loss": "training loss", "test_loss": "test loss", "overfit": "overfit",
          "proper_acc": "proper accuracy (pristine fraction)", "f_p_first": "f_p at the first step",
          "f_p_last": "f_p at the last step", "pristine_fraction": "pristine fraction"}

View = Callable[[Any, RunResult], str]
# draws one run on the explorer's two axes; returns the numbers listed under it
Draw = Callable[[RunResult, Any], Mapping[str, Any]]
VIEW_WIDTH_IN, VIEW_HEIGHT_IN, VIEW_DPI = 7.6, 3.0, 100  # 760 px: shown at most ~680 px wide, fonts >= 9 px
_VIEWS: dict[str, View] = {}


def register_view(view: View, *fig_ids: str) -> None:
    """Make ``view`` the explorer view of these figures (a paper's plots module calls it at import)."""
    for f in fig_ids:
        _VIEWS[f] = view


def figure_view(fig_id: str) -> View:
    """The view registered for ``fig_id`` (importing every paper's plots modules first), else `curves_view`."""
    import importlib
    import pkgutil

    from cgh_lib.book.registry import PAPERS_PACKAGE, discover

    if fig_id not in _VIEWS:
        discover()
        pkg = importlib.import_module(PAPERS_PACKAGE)
        for paper in pkgutil.iter_modules(pkg.__path__):
            sub = importlib.import_module(f"{PAPERS_PACKAGE}.{paper.name}")
            for m in pkgutil.iter_modules(getattr(sub, "__path__", [])):
                if m.name.endswith("plots"):
                    importlib.import_module(f"{PAPERS_PACKAGE}.{paper.name}.{m.name}")
    return _VIEWS.get(fig_id, curves_view)


def _x_axis(run: RunResult) -> tuple[np.ndarray, str]:
    if "epoch" in run.arrays and run.arrays["epoch"].size and run.config.get("epochs"):
        return np.asarray(run.arrays["epoch"], dtype=float), "epoch"
    return np.asarray(run.arrays.get("step", np.arange(0)), dtype=float), "training step"


def _is_log_spaced(x: np.ndarray) -> bool:
    d = np.diff(x[x > 0])
    return d.size > 3 and d.min() > 0 and d.max() / d.min() > 20


def png_data_uri(fig: Any, dpi: int = 72) -> str:
    """A matplotlib figure as a data: URI (closed afterwards, so it is not shown twice)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def numbers_html(values: Mapping[str, Any]) -> str:
    """A two-column HTML table of labelled numbers (human labels, 4 significant digits)."""
    rows = []
    for k, v in values.items():
        if isinstance(v, float):
            v = "n/a" if not math.isfinite(v) else f"{v:.4g}"
        rows.append(f"<tr><td>{html.escape(LABELS.get(k, k))}</td><td style='text-align:right'>"
                    f"{html.escape(str(v))}</td></tr>")
    return "<table class='cgh-numbers'>" + "".join(rows) + "</table>"


_CANVAS: dict[str, Any] = {}


def _canvas() -> tuple[Any, Any]:
    """One reusable 2-panel figure for every view: building a figure costs more than drawing it
    (an explorer renders up to a few hundred views per page)."""
    import matplotlib.pyplot as plt

    fig = _CANVAS.get("fig")
    if fig is None or not plt.fignum_exists(fig.number):
        fig, axes = plt.subplots(1, 2, figsize=(VIEW_WIDTH_IN, VIEW_HEIGHT_IN))
        # fixed margins: tight_layout / bbox_inches="tight" would more than double the time per view
        fig.subplots_adjust(left=0.09, right=0.98, bottom=0.17, top=0.84, wspace=0.3)
        _CANVAS.update(fig=fig, axes=axes)
    for ax in _CANVAS["axes"]:
        ax.cla()
        ax.set_xscale("linear")
        ax.set_yscale("linear")
    return _CANVAS["fig"], _CANVAS["axes"]


def _release_canvas() -> None:
    import matplotlib.pyplot as plt

    fig = _CANVAS.pop("fig", None)
    _CANVAS.clear()
    if fig is not None:
        plt.close(fig)


def _png(fig: Any, dpi: int = VIEW_DPI) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _curves(run: RunResult, axes: Any) -> Mapping[str, Any]:
    """The generic view: accuracy and loss curves of one run, and its final numbers."""
    x, xlabel = _x_axis(run)
    noisy = bool(run.config.get("noise"))
    for ax, curves, ylabel in ((axes[0], ACC_CURVES, "accuracy"), (axes[1], LOSS_CURVES, "loss")):
        for label, key in curves:
            y = run.arrays.get(key)
            if y is not None and len(y) == len(x) and np.isfinite(y).any():
                ax.plot(x, y, label=label + (" (noisy labels)" if key == "train_acc" and noisy else ""), lw=1.5)
        if _is_log_spaced(x):
            ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    if axes[0].lines:
        axes[0].set_ylim(-0.02, 1.02)
        axes[0].legend(loc="best")
    return {k: run.final[k] for k in FINAL_KEYS if k in run.final}


def panel_view(draw: Draw) -> View:
    """A view that draws a run with ``draw(run, axes)`` on the explorer's two panels and lists the
    numbers it returns under them."""
    def view(title: str, run: RunResult) -> str:
        if getattr(run, "diverged", None):  # stored as diverged: no curves, the reason instead
            return (f"<div class='cgh-view cgh-empty'><p>{html.escape(title)}: this run diverged "
                    f"({html.escape(str(run.diverged))}); it has no curves.</p></div>")
        fig, axes = _canvas()
        finals = draw(run, axes)
        if not run.config.get("noise"):  # no label noise: the training labels are the true ones
            finals = {("training accuracy" if k == "train_acc" else k): v for k, v in finals.items()}
        has_data = any(ax.lines or ax.collections or ax.patches for ax in axes)
        fig.suptitle(title, fontsize=10.5)
        if not has_data:
            return f"<div class='cgh-view cgh-empty'><p>No data stored for {html.escape(title)}.</p></div>"
        return (f"<div class='cgh-view'><img alt='{html.escape(title)}' src='{_png(fig)}' "
                f"style='max-width:100%'/>{numbers_html(finals)}</div>")
    return view


curves_view = panel_view(_curves)
curves_view.__doc__ = "Default view of one run: its accuracy and loss curves, and its final numbers."


def _fmt(name: str, value: Any) -> str:
    if isinstance(value, float) and name in ("noise", "noise level"):
        return f"{value:.0%}"
    if isinstance(value, str):
        return value.upper() if len(value) <= 3 else value
    return str(value)


def explorer(runs: Mapping[Any, RunResult], controls: Sequence[str], view: View | None = None,
             title: str = "Explore the runs", orders: Mapping[str, Sequence[Any]] | None = None) -> Any:
    """A widget: one control per varying position of ``runs``' keys, one precomputed view per run.

    ``runs`` maps a key (a tuple, or a scalar for one control) to a stored run;
    ``controls`` names the key's positions (e.g. ``["aggregator", "noise", "c"]``).
    Positions with a single value get no control. The controls form a tree: each
    control offers the values that exist under the values chosen before it, so
    every choice shows a run and the first of each is the default view.
    ``view(title, run)`` returns the HTML of one view (default: `curves_view`).
    ``orders`` gives a control's values in display order (e.g. profiles from
    largest to smallest); others are sorted. Returns an ``ipywidgets.VBox``.
    """
    import ipywidgets as widgets

    view = view or curves_view
    by_key = {k if isinstance(k, tuple) else (k,): r for k, r in runs.items()}
    keys = list(by_key)
    if not keys:
        return widgets.HTML("<p>No runs to explore.</p>")
    if any(len(k) != len(controls) for k in keys):
        raise ValueError(f"run keys {keys[0]!r} do not match controls {list(controls)!r}")
    orders = orders or {}

    def ordered(i: int) -> list[Any]:
        present = {k[i] for k in keys}
        first = [v for v in orders.get(controls[i], ()) if v in present]
        return first + sorted(present - set(first), key=lambda v: (str(type(v)), v))

    values = [ordered(i) for i in range(len(controls))]
    varying = {i for i, v in enumerate(values) if len(v) > 1}
    fixed = {controls[i]: values[i][0] for i in range(len(controls)) if i not in varying}
    links: list[Any] = []
    toggles: list[Any] = []

    def node(depth: int, prefix: tuple) -> Any:
        if depth == len(controls):
            label = ", ".join(f"{controls[i]} {_fmt(controls[i], prefix[i])}" for i in range(len(controls)))
            return widgets.HTML(view(label, by_key[prefix]))
        here = [v for v in values[depth] if any(k[:depth + 1] == prefix + (v,) for k in keys)]
        if depth not in varying:
            return node(depth + 1, prefix + (here[0],))
        toggle = widgets.ToggleButtons(options=[(_fmt(controls[depth], v), j) for j, v in enumerate(here)], value=0,
                                       description=controls[depth],
                                       style={"button_width": "auto", "description_width": "initial"})
        toggles.append(toggle)  # in page order: a control before the controls under it
        children = [node(depth + 1, prefix + (v,)) for v in here]
        if len(children) == 1:  # the one value there is: shown, not chosen
            return widgets.VBox([toggle, children[0]])
        stack = widgets.Stack(children=children, selected_index=0)
        links.append(widgets.jslink((toggle, "index"), (stack, "selected_index")))
        return widgets.VBox([toggle, stack])

    try:
        body = node(0, ())
    finally:  # the shared canvas must not outlive the views (Jupyter would show it under the cell)
        _release_canvas()
    note = ", ".join(f"{k} {_fmt(k, v)}" for k, v in fixed.items())
    head = widgets.HTML(f"<b>{html.escape(title)}</b>" + (f" <span>({html.escape(note)} in every run)</span>"
                                                          if note else ""))
    box = widgets.VBox([head, body], layout=widgets.Layout(border="1px solid #ddd", padding="6px"))
    box.links = links  # the client-side links (kept with the box; tests inspect them)
    box.toggles = toggles
    return box


def iter_runs(runs: Any) -> list[RunResult]:
    """Every `RunResult` inside ``runs`` (a run, or dicts / lists / tuples of them, nested), once each."""
    out: dict[int, RunResult] = {}

    def walk(x: Any) -> None:
        if isinstance(x, RunResult):
            out.setdefault(id(x), x)
        elif isinstance(x, Mapping):
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)

    walk(runs)
    return list(out.values())


def run_field(run: RunResult, field: str) -> Any:
    """A run's value of a config field; ``experiment`` is the store folder it lives in."""
    if field == "experiment":
        return run.path.parent.name
    value = run.config.get(field)
    return tuple(value) if isinstance(value, list) else value


def _matches(run: RunResult, only: Mapping[str, Any]) -> bool:
    for field, allowed in only.items():
        allowed = allowed if isinstance(allowed, (list, tuple, set, frozenset)) else (allowed,)
        if run_field(run, field) not in allowed:
            return False
    return True


def stored_other_profiles(fig_id: str, profile: str) -> dict[str, list[RunResult]]:
    """The runs stored for ``fig_id`` at every profile but ``profile``, with the figure's default
    parameters. Reads the store only: an explorer never trains."""
    from cgh_lib.book.build import figure_configs, profile_order
    from cgh_lib.book.registry import discover, get_figure
    from cgh_lib.store.runstore import RunStore

    discover()
    fig, store = get_figure(fig_id), RunStore()
    out: dict[str, list[RunResult]] = {}
    for p in profile_order():
        if p == profile:
            continue
        got = [r for r in (store.load(c) for c in figure_configs(fig, p) if hasattr(c, "EXPERIMENT"))
               if r is not None]
        if got:
            out[p] = got
    return out


def figure_explorer(fig_id: str, profile: str, runs: Any, controls: Sequence[Any],
                    only: Mapping[str, Any] | None = None, view: View | None = None,
                    title: str = "Explore the runs", other_profiles: bool = True) -> Any:
    """An `explorer` over a figure's runs keyed by their config fields, with a seed control and a
    profile control (the runs stored at the figure's other profiles) added.

    ``runs``: the runs the notebook computed at ``profile`` (any nesting). ``controls``: config
    fields, or (label, field) pairs, e.g. ``["noise", ("s", "c")]``, or (label, field, {value:
    name shown}) triples. ``only``: keep runs whose
    fields take these values (e.g. ``{"aggregator": "sgd"}``). The controls are read from each
    run's stored config, so the same call serves every profile and every seed.
    """
    from cgh_lib.book.build import profile_order

    triples = [(c, c, {}) if isinstance(c, str) else (str(c[0]), str(c[1]), dict(c[2]) if len(c) > 2 else {})
               for c in controls]
    if "seed" not in {f for _, f, _ in triples}:
        triples.append(("seed", "seed", {}))
    by_profile = {profile: iter_runs(runs)}
    if other_profiles:
        by_profile.update(stored_other_profiles(fig_id, profile))
    keyed: dict[tuple, RunResult] = {}
    for p, rs in by_profile.items():
        for r in rs:
            if only and not _matches(r, only):
                continue
            key = [run_field(r, f) for _, f, _ in triples]
            keyed.setdefault((p, *(names.get(v, v) for v, (_, _, names) in zip(key, triples))), r)
    order = [profile] + [p for p in profile_order() if p != profile]
    return explorer(keyed, ["profile", *(label for label, _, _ in triples)], view or figure_view(fig_id), title,
                    orders={"profile": order})


def explore_figure(fig_id: str, profile: str, runs: Any, controls: Sequence[Any],
                   only: Mapping[str, Any] | None = None, view: View | None = None,
                   title: str = "Explore the runs: the figure's panels for one run") -> None:
    """Display a `figure_explorer` (the one call a figure notebook makes)."""
    from IPython.display import display

    display(figure_explorer(fig_id, profile, runs, controls, only, view, title))


def explore(runs: Mapping[Any, RunResult], controls: Sequence[str], view: View | None = None,
            title: str = "Explore the runs") -> None:
    """Display an `explorer` (the one call a figure notebook makes)."""
    from IPython.display import display

    display(explorer(runs, controls, view, title))


__all__ = ["explorer", "explore", "figure_explorer", "explore_figure", "iter_runs", "run_field", "curves_view",
           "panel_view", "register_view", "figure_view", "numbers_html", "png_data_uri"]
