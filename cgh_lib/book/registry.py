"""The registry of figures and experiments, filled by the paper packages.

Each paper package under `cgh_lib.papers` registers its experiments (by
importing its experiment modules, which call `store.experiments.register`) and
its figures (`register_figure`) when it is imported. This module never names a
paper: `discover` imports every package found under `cgh_lib.papers`, so adding
a paper is adding a folder. It is the only way the book layer reaches the
papers (tests/test_layers.py checks that).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

from cgh_lib.book.catalog import DASHBOARD_SPEC, FigureSpec  # one place names the dashboard's source (cgh list reads it torch-free)
from cgh_lib.errors import choice_error
from cgh_lib.store import experiments as _experiments

PAPERS_PACKAGE = "cgh_lib.papers"


@dataclass(frozen=True)
class Figure(FigureSpec):
    """A registered figure: its id and source (`FigureSpec`, which `cgh list` reads torch-free)
    plus what only importing its paper can give."""

    title: str
    paper: str     # which paper section
    # the configs the figure shows at a profile with its notebook's default parameters
    # (what `cgh book` checks is stored, and what a sweep submits)
    configs: Callable[[str], list[Any]] = field(default=lambda profile: [], compare=False, repr=False)
    # the configs the notebook would run with these parameters (profile, {name: value} with every
    # notebook parameter present), built without training: `cgh figure` calls it, then checks the
    # device and data, so bad parameters fail in one line before papermill starts
    plan: Callable[[str, dict[str, Any]], list[Any]] | None = field(default=None, compare=False, repr=False)
    # the seeds it shows at a profile (`store.experiments.default_seeds` unless the figure declares fewer)
    seeds: Callable[[str], tuple[int, ...]] = field(default=_experiments.default_seeds, compare=False, repr=False)


_FIGURES: dict[str, Figure] = {}
_discovered = False


def register_figure(*figures: Figure) -> None:
    """Called by a paper package at import; the order of calls is the book's order."""
    for fig in figures:
        _FIGURES[fig.id] = fig


# The book's last page: every claim of every paper, one column per profile. It reads the run
# store only, so it needs no configs of its own.
DASHBOARD = Figure(*DASHBOARD_SPEC, "Claims dashboard — every claim, every profile",
                   "all papers")


def discover() -> None:
    """Import every paper package (once), which registers its experiments and figures; then
    register the claims dashboard, which comes after every paper's pages."""
    global _discovered
    if _discovered:
        return
    pkg = importlib.import_module(PAPERS_PACKAGE)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.ispkg:
            importlib.import_module(f"{PAPERS_PACKAGE}.{info.name}")
    _FIGURES.pop(DASHBOARD.id, None)
    register_figure(DASHBOARD)
    _discovered = True


def figures() -> dict[str, Figure]:
    """Every registered figure, id -> Figure, in book order."""
    discover()
    return dict(_FIGURES)


def get_figure(fig_id: str) -> Figure:
    figs = figures()
    if fig_id not in figs:
        raise choice_error("figure", fig_id, figs)
    return figs[fig_id]


def get_experiment(name: str) -> _experiments.Experiment:
    discover()
    return _experiments.get_experiment(name)


def experiment_names() -> list[str]:
    discover()
    return sorted(_experiments.EXPERIMENTS)


def make_config(experiment: str, profile: str | None = None, overrides: dict | None = None):
    """`store.experiments.make_config` after discovering the papers (for callers outside a paper)."""
    discover()
    return _experiments.make_config(experiment, profile, overrides)
