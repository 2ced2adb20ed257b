"""What the WS figure pages (notebooks/ws_*.md, and GM2022's Figure 4, which reuses WS runs)
call to get their runs: every seed's runs, trained if missing, keyed as the page's plot
draws them, with the words its profile line shows (read from the configs)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from cgh_lib.book.page import PageRuns
from cgh_lib.papers.ws import easy_hard
from cgh_lib.papers.ws import experiments as ws
from cgh_lib.store.experiments import RunOptions, default_seeds, ensure_runs

# how each figure's plot keys its runs, from (aggregator, noise, c)
KEYS: dict[str, Callable[[str, float, int], Any]] = {
    "ws-fig1": lambda a, n, c: n, "ws-fig6": lambda a, n, c: n, "ws-fig7": lambda a, n, c: n,
    "ws-fig2": lambda a, n, c: (a, n), "ws-fig3": lambda a, n, c: a, "ws-fig8": lambda a, n, c: (c, n)}


def details(runs: Sequence[Any]) -> str:
    """Data, model, length, batch sizes, schedule, noise scheme and tracking samples of the runs."""
    r = runs[0]
    c = r.config
    length = f"{c['epochs']} epochs" if c["epochs"] else f"{c['max_steps']:,} steps"
    batches = sorted({x.config["batch_size"] for x in runs})
    return (f"data: {r.provenance.get('data')} | model `{c['model']}` | {length}, batch "
            f"{'/'.join(map(str, batches))}, lr {c['lr']} ({c['schedule']}), momentum {c['momentum']} | noise "
            f"scheme `{c['noise_scheme']}` | tracking samples {c['n_track']:,} per group")


def figure_runs(fig_id: str, profile: str, data_root: str | None, device: str, overrides: dict,
                seeds: Sequence[int] | None) -> PageRuns:
    """WS Figures 1-3, 6-8: {seed: {the plot's key: run}}."""
    by_seed = {s: {KEYS[fig_id](*k): r for k, r in ws.figure_runs(fig_id, profile, data_root, device,
                                                                  {**overrides, "seed": s}).items()}
               for s in (seeds or default_seeds(profile))}
    return PageRuns(profile, by_seed, details(list(by_seed[min(by_seed)].values())))


def rm3_batch_runs(profile: str, data_root: str | None, device: str, overrides: dict, seeds: Sequence[int] | None,
                   batches: Sequence[int] | None) -> PageRuns:
    """The RM3 mini-batch sweep: {seed: {(aggregator, batch): run}}; ``extra["chance"]``, 1 / classes."""
    opts = RunOptions(data_root=data_root, device=device, progress=False)
    by_seed = {}
    for s in seeds or default_seeds(profile):
        cfgs = ws.rm3_batch_configs(profile, {**overrides, "seed": s}, batches)
        by_seed[s] = dict(zip(cfgs, ensure_runs(list(cfgs.values()), opts)))
    first = by_seed[min(by_seed)]
    return PageRuns(profile, by_seed, details(list(first.values())), {"chance": ws.chance_accuracy(first)})


def runs_by_aggregator(profile: str, by_aggregator: dict[str, list[Any]]) -> PageRuns:
    """Runs given as {aggregator: [run of each seed]} (GM2022 Figure 4) as a page's runs."""
    by_seed: dict[int, dict[str, Any]] = {}
    for agg, rs in by_aggregator.items():
        for r in rs:
            by_seed.setdefault(r.config["seed"], {})[agg] = r
    by_seed = dict(sorted(by_seed.items()))
    return PageRuns(profile, by_seed, details([rs[0] for rs in by_aggregator.values()]))


def easy_hard_runs(fig_id: str, profile: str, data_root: str | None, device: str, overrides: dict,
                   seeds: Sequence[int] | None) -> PageRuns:
    """WS §4 (Figure 4, Figure 5(a), the §4.4 table): {seed: the figure's runs}. Their profile notes
    (several lines: classification, trainings) are ``extra["notes"]``."""
    by_seed = easy_hard.figure_runs_by_seed(fig_id, profile, data_root, device, overrides, seeds)
    return PageRuns(profile, by_seed, extra={"notes": easy_hard.profile_notes(fig_id, profile, by_seed)})


def paper_budget() -> Any:
    """WS §4's paper-profile compute budget: one line with its total, then the table."""
    from IPython.display import Markdown, display

    budget = easy_hard.paper_budget()
    display(Markdown(f"**Paper-profile compute budget** ({budget.attrs['assumption']}): "
                     f"{budget['GPU-hours total'].sum():.0f} GPU-hours in all."))
    return budget
