"""What the GM2022 pages (notebooks/gm_*.md) call: the §3 example's exact GD traces, and the
coherence runs of blog Figure 3 split by architecture, each with its profile line."""

from __future__ import annotations

import inspect
from typing import Any

from cgh_lib.book.page import PageRuns
from cgh_lib.papers.gm2022 import example as ex
from cgh_lib.papers.gm2022 import experiments as gm
from cgh_lib.papers.gm2022 import plots as gm_plots


def example_traces(profile: str, overrides: dict) -> dict[str, Any]:
    """The §3 example trained by exact GD on the real and the random data (no run store); shows
    what was computed, with the GD settings read from `train_gd`'s defaults and ``overrides``."""
    from IPython.display import Markdown, display

    defaults = {k: v.default for k, v in inspect.signature(ex.train_gd).parameters.items() if k != "kind"}
    gd = {**defaults, **overrides}
    display(Markdown(f"**profile: {profile}** (the same at every profile: an exact 6-weight computation, "
                     f"no data, no run store) | GD lr {gd['lr']}, {gd['steps']} steps"))
    return {k: ex.train_gd(k, **overrides) for k in ex.DATASETS}


def example_stamp(profile: str) -> str:
    """The caption of the §3 figure: exact GD, the commit it was computed at."""
    from cgh_lib.store.provenance import provenance

    return f"profile: {profile} | exact GD on the §3 example, float64 | commit {(provenance('cpu').get('commit') or '?')[:10]}"


def fig3_runs(profile: str, data_root: str | None, device: str, overrides: dict) -> PageRuns:
    """Blog Figure 3: {seed: {(architecture, noise): run}}, and its profile line (``extra["notes"]``)."""
    by_seed = gm.fig3_runs_by_seed(profile, data_root, device, overrides)
    return PageRuns(profile, by_seed, extra={"notes": gm_plots.fig3_profile_line(profile, by_seed)})


def per_arch(runs: PageRuns) -> dict[str, dict[tuple[float, int], Any]]:
    """{architecture: {(noise, seed): run}}, how the coherence plots and Theorem 1's table take them."""
    return {arch: {(n, s): r for s, by in runs.by_seed.items() for (a, n), r in by.items() if a == arch}
            for arch in gm.ARCHS}


def fig3_figures(runs: PageRuns, profile: str) -> None:
    """Per architecture: coherence against training, then per layer, each with its caption."""
    for arch, arch_runs in per_arch(runs).items():
        title = f"GM2022 blog Fig. 3 reproduced, {arch.upper()} (profile: {profile})"
        gm_plots.stamp(gm_plots.coherence_figure(arch_runs, title), gm_plots.fig3_stamp(profile, runs.by_seed, arch))
        fig = gm_plots.layer_figure(arch_runs, f"Per-layer coherence, {arch.upper()}: first, middle, last layer")
        gm_plots.stamp(fig, gm_plots.fig3_stamp(profile, runs.by_seed, arch))


def theorem1_tables(runs: PageRuns) -> None:
    """Theorem 1's coherence term beside the measured gaps, per architecture."""
    from IPython.display import Markdown, display

    for arch, arch_runs in per_arch(runs).items():
        display(Markdown(f"**{arch.upper()}**"))
        display(gm_plots.theorem1_table(arch_runs).style.hide(axis="index"))
