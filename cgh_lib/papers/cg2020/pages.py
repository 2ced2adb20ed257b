"""What the CG2020 figure pages (notebooks/cg2020_*.md) call to get their runs: every seed's
runs, trained if missing, with the words the page's profile line shows (read from the configs)."""

from __future__ import annotations

from typing import Any, Sequence

from cgh_lib.book.page import PageRuns
from cgh_lib.papers.cg2020 import fig1_label_noise, fig4_winsorized, figs23_loss_reduction
from cgh_lib.store.experiments import RunOptions, default_seeds, ensure_runs


def _mlp(c: Any) -> str:
    return f"{c.dataset}, {c.n_train:,} training examples, {c.steps:,} steps"


def fig1_runs(profile: str, data_root: str | None, device: str, overrides: dict, seeds: Sequence[int] | None,
              noise_levels: Sequence[float]) -> PageRuns:
    """Figure 1: {seed: {noise: run}}."""
    opts = RunOptions(data_root=data_root, device=device)
    by_seed = {s: dict(zip(noise_levels, ensure_runs(fig1_label_noise.figure1_configs(
        profile, noise_levels, {**overrides, "seed": s}), opts))) for s in (seeds or default_seeds(profile))}
    c0 = fig1_label_noise.figure1_configs(profile, noise_levels, overrides)[0]
    return PageRuns(profile, by_seed, f"{_mlp(c0)}, hidden {c0.hidden}, noise scheme `{c0.noise_scheme}`")


def figs23_runs(profile: str, data_root: str | None, device: str, overrides: dict, seeds: Sequence[int] | None,
                noise_levels: Sequence[float], estimator: str | None) -> PageRuns:
    """Figures 2 and 3 (the same runs): {seed: {noise: run}}; ``extra["overrides"]`` with the estimator."""
    over = dict(overrides, **({"estimator": estimator} if estimator else {}))
    opts = RunOptions(data_root=data_root, device=device)
    by_seed = {s: dict(zip(noise_levels, ensure_runs(figs23_loss_reduction.figure_configs(
        profile, noise_levels, {**over, "seed": s}), opts))) for s in (seeds or default_seeds(profile))}
    c0 = figs23_loss_reduction.figure_configs(profile, noise_levels, over)[0]
    sample = "all" if c0.stat_examples == 0 else f"{c0.stat_examples:,}"
    est = (f"exact statistic: all weights, {sample} sampled training examples" if c0.estimator == "exact" else
           f"paper's estimator: {sample} sampled examples x {c0.stat_weights} weights per weight matrix")
    return PageRuns(profile, by_seed, f"{_mlp(c0)}, hidden {c0.hidden}, noise scheme `{c0.noise_scheme}`; {est}; "
                                      f"{c0.n_null} null worlds", {"overrides": over})


def fig4_runs(profile: str, data_root: str | None, device: str, overrides: dict, seeds: Sequence[int] | None,
              noise_levels: Sequence[float] | None, c_levels: Sequence[int] | None) -> PageRuns:
    """Figure 4: {seed: {(c, noise): run}}. A cell that diverged is shown as such (at the paper's lr a
    noisy winsorized cell can break down late in a long run); a grid where every cell diverged is a
    bad setting (e.g. lr=1e4) and stops with `ensure_runs`' one-line error."""
    opts = RunOptions(data_root=data_root, device=device)
    by_seed = {}
    for s in seeds or fig4_winsorized.figure_seeds(profile):
        cfgs = fig4_winsorized.grid_configs(profile, noise_levels, c_levels, {**overrides, "seed": s})
        results = ensure_runs(cfgs, opts, allow_diverged=True)
        if all(r.diverged for r in results):
            ensure_runs(cfgs, opts)  # stored now: raises the one-line "diverged" error
        by_seed[s] = fig4_winsorized.as_grid(cfgs, results)
    configs = fig4_winsorized.grid_configs(profile, noise_levels, c_levels, overrides)
    c0 = configs[0]
    return PageRuns(profile, by_seed, f"{_mlp(c0)}, MLP 784-{'-'.join(map(str, c0.hidden))}-10, batch "
                                      f"{c0.batch_size}, lr {c0.lr}, noise scheme `{c0.noise_scheme}`; grid: noise "
                                      f"{sorted({c.noise for c in configs})} x c {sorted({c.c for c in configs})}")


def fig1_finals(runs: PageRuns) -> Any:
    """Final metrics per noise level, the mean over seeds."""
    import pandas as pd

    final = pd.DataFrame({f"{n:.0%}": pd.DataFrame([r.final for r in rs]).mean(numeric_only=True)
                          for n, rs in runs.by_key.items()}).T
    cols = {"train_acc": "train acc", "test_acc": "test acc", "pristine_acc": "pristine acc",
            "corrupt_acc": "corrupt acc", "train_loss": "train loss", "pristine_fraction": "pristine share"}
    return final[list(cols)].rename(columns=cols).rename_axis("noise").round(3)


def fig4_finals(runs: PageRuns) -> Any:
    """Final values of the grid, first seed."""
    return fig4_winsorized.summary_table({k: rs[0] for k, rs in runs.by_key.items()})
