"""Interactive explorers that work in the static site, without a kernel.

An explorer shows one precomputed *view* (a small figure and its numbers) per
combination of control values, e.g. one per (noise level, c) of a sweep. The
views are rendered once, in Python, as inline PNG + HTML; the controls choose
among them in the browser: each control's ``index`` is linked with
``widgets.jslink`` to the ``selected_index`` of ``widgets.Stack`` containers,
one level of nested stacks per control. jslink runs client-side, so the same
widget works in Jupyter (live) and in the built book (from the widget state
papermill stores in the executed notebook), with no Python behind it.

The cost is size: every view is in the page, so keep views small (the default
is a 2-panel figure at 72 dpi, ~20-30 KB each).
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
ACC_CURVES = (("train (noisy labels)", "train_acc"), ("test", "test_acc"),
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
        fig, axes = plt.subplots(1, 2, figsize=(8.0, 2.8))
        # fixed margins: tight_layout / bbox_inches="tight" would more than double the time per view
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.17, top=0.86, wspace=0.28)
        _CANVAS.update(fig=fig, axes=axes)
    for ax in _CANVAS["axes"]:
        ax.cla()
    return _CANVAS["fig"], _CANVAS["axes"]


def _release_canvas() -> None:
    import matplotlib.pyplot as plt

    fig = _CANVAS.pop("fig", None)
    _CANVAS.clear()
    if fig is not None:
        plt.close(fig)


def _png(fig: Any, dpi: int = 72) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def curves_view(title: str, run: RunResult) -> str:
    """Default view of one run: its accuracy and loss curves, and its final numbers."""
    x, xlabel = _x_axis(run)
    fig, axes = _canvas()
    for ax, curves, ylabel in ((axes[0], ACC_CURVES, "accuracy"), (axes[1], LOSS_CURVES, "loss")):
        for label, key in curves:
            y = run.arrays.get(key)
            if y is not None and len(y) == len(x) and np.isfinite(y).any():
                ax.plot(x, y, label=label, lw=1.5)
        if _is_log_spaced(x):
            ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    if axes[0].lines:
        axes[0].set_ylim(-0.02, 1.02)
        axes[0].legend(fontsize=8, loc="best")
    fig.suptitle(title, fontsize=10)
    finals = {k: run.final[k] for k in FINAL_KEYS if k in run.final}
    return (f"<div class='cgh-view'><img alt='{html.escape(title)}' src='{_png(fig)}' "
            f"style='max-width:100%'/>{numbers_html(finals)}</div>")


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
    Positions with a single value get no control. ``view(title, run)`` returns the
    HTML of one view (default: `curves_view`). ``orders`` gives a control's values
    in display order (e.g. profiles from largest to smallest); others are sorted.
    Returns an ``ipywidgets.VBox``.
    """
    import ipywidgets as widgets

    view = view or curves_view
    keys = [k if isinstance(k, tuple) else (k,) for k in runs]
    if not keys:
        return widgets.HTML("<p>No runs to explore.</p>")
    if any(len(k) != len(controls) for k in keys):
        raise ValueError(f"run keys {keys[0]!r} do not match controls {list(controls)!r}")
    by_key = {k if isinstance(k, tuple) else (k,): r for k, r in runs.items()}
    orders = orders or {}

    def ordered(i: int) -> list[Any]:
        present = {k[i] for k in keys}
        first = [v for v in orders.get(controls[i], ()) if v in present]
        return first + sorted(present - set(first), key=lambda v: (str(type(v)), v))

    values = [ordered(i) for i in range(len(controls))]
    varying = [i for i, v in enumerate(values) if len(v) > 1]
    fixed = {controls[i]: values[i][0] for i in range(len(controls)) if i not in varying}

    def leaf(choice: tuple) -> Any:
        full = list(choice)
        key = tuple(full[varying.index(i)] if i in varying else values[i][0] for i in range(len(controls)))
        label = ", ".join(f"{controls[i]} {_fmt(controls[i], key[i])}" for i in range(len(controls)))
        run = by_key.get(key)
        if run is None:
            return widgets.HTML(f"<p>No stored run for {html.escape(label)}.</p>")
        return widgets.HTML(view(label, run))

    # nested stacks: level d is chosen by control varying[d]; every stack of a level is linked to it
    toggles = [widgets.ToggleButtons(options=[(_fmt(controls[i], v), j) for j, v in enumerate(values[i])],
                                     value=0, description=controls[i],
                                     style={"button_width": "auto", "description_width": "initial"})
               for i in varying]

    links: list[Any] = []

    def build(depth: int, prefix: tuple) -> Any:
        if depth == len(varying):
            return leaf(prefix)
        children = [build(depth + 1, prefix + (v,)) for v in values[varying[depth]]]
        stack = widgets.Stack(children=children, selected_index=0)
        links.append(widgets.jslink((toggles[depth], "index"), (stack, "selected_index")))
        return stack

    try:
        body = build(0, ())
    finally:  # the shared canvas must not outlive the views (Jupyter would show it under the cell)
        _release_canvas()
    note = ", ".join(f"{k} {_fmt(k, v)}" for k, v in fixed.items())
    head = widgets.HTML(f"<b>{html.escape(title)}</b>" + (f" <span>({html.escape(note)} in every run)</span>"
                                                          if note else ""))
    box = widgets.VBox([head, *toggles, body], layout=widgets.Layout(border="1px solid #ddd", padding="6px"))
    box.links = links  # the client-side links (kept with the box; tests inspect them)
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
    return explorer(keyed, ["profile", *(label for label, _, _ in triples)], view, title, orders={"profile": order})


def explore_figure(fig_id: str, profile: str, runs: Any, controls: Sequence[Any],
                   only: Mapping[str, Any] | None = None, view: View | None = None,
                   title: str = "Explore the runs: curves and final numbers of one run") -> None:
    """Display a `figure_explorer` (the one call a figure notebook makes)."""
    from IPython.display import display

    display(figure_explorer(fig_id, profile, runs, controls, only, view, title))


def explore(runs: Mapping[Any, RunResult], controls: Sequence[str], view: View | None = None,
            title: str = "Explore the runs") -> None:
    """Display an `explorer` (the one call a figure notebook makes)."""
    from IPython.display import display

    display(explorer(runs, controls, view, title))


__all__ = ["explorer", "explore", "figure_explorer", "explore_figure", "iter_runs", "run_field", "curves_view", "numbers_html", "png_data_uri"]
