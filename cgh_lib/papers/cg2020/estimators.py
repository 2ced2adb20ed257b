"""The paper's 400 x 600 estimator against the exact statistic (CG2020 Figures 2 and 3).

The paper measured f_p from 400 sampled examples and 600 sampled weights. The same
training runs (same configs but ``estimator="exact", stat_examples=0``; the model,
labels and batch order depend only on the seed, so on one CPU type the training is bit-equal)
measure it over every weight and every training example: the quantity the paper's estimator
samples. Runs stored from different CPU types train the same config with a different float
summation order, so their trajectories drift apart; `training_note` says, from the stored
arrays and provenance, for which seeds that is so and by how much.
`compare` reads both from the store (it never trains) and reports, per noise level, how far
the paper's estimate is from the exact value, and each claim's verdict under both
estimators. Every number in its sentences is computed here, from the stored arrays.

Compared quantity, real designations only (the null worlds are permutations within each
estimator's own example sample, so they are different worlds): Figure 2, f_p at every
evaluation; Figure 3, the relative gap (i_p - i_c)/(|i_p| + |i_c|) at steps 0..contrib_steps
(the inner products themselves scale with the number of weights summed, so only ratios compare).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np

from cgh_lib.book.pages import inert
from cgh_lib.book.plotting import GROUP_COLORS, panel_width, seed_line, step_axis
from cgh_lib.errors import UserError
from cgh_lib.papers.cg2020.figs23_loss_reduction import (NOISE_LEVELS, contributions, figure_configs, fractions,
                                                          relative_gap)
from cgh_lib.store.experiments import default_seeds
from cgh_lib.store.provenance import cpu_label
from cgh_lib.store.runstore import RunResult, RunStore

# the exact statistic: every weight, every training example
EXACT: dict[str, Any] = {"estimator": "exact", "stat_examples": 0}
PAPER: dict[str, Any] = {"estimator": "paper"}
FIGURES = ("cg2020-fig2", "cg2020-fig3")
COLORS = {"paper": GROUP_COLORS["corrupt"], "exact": "0.2"}


def _f_p(run: RunResult) -> tuple[np.ndarray, np.ndarray]:
    """Figure 2's quantity: (steps, f_p of the real designations)."""
    return run.arrays["step"], fractions(run.arrays["inner"])[:, 0]


def _gap(run: RunResult) -> tuple[np.ndarray, np.ndarray]:
    """Figure 3's quantity: (steps 0..contrib_steps, relative gap of the real designations); relative,
    because i_p and i_c scale with how many weights the estimator sums (600 against all of them)."""
    return contributions(run)["step"], relative_gap(run)[:, 0]


# figure -> (name in sentences, axis label, quantity)
QUANTITY: dict[str, tuple[str, str, Callable[[RunResult], tuple[np.ndarray, np.ndarray]]]] = {
    "cg2020-fig2": ("f_p", "$f^p_t$", _f_p),
    "cg2020-fig3": ("the relative gap (i_p - i_c)/(|i_p| + |i_c|)", "$(i^p - i^c)/(|i^p| + |i^c|)$", _gap)}


def paired_runs(profile: str, store: RunStore, seeds: Sequence[int] | None = None,
                noise_levels: Sequence[float] = NOISE_LEVELS) -> tuple[dict[float, list[tuple[RunResult, RunResult]]],
                                                                          list[int], dict[str, int]]:
    """``({noise: [(paper run, exact run) per seed]}, seeds with both complete, {estimator: configs missing})``.

    A seed counts only when all its noise levels are stored under both estimators.
    """
    seeds = list(default_seeds(profile) if seeds is None else seeds)
    missing = {"paper": 0, "exact": 0}
    pairs: dict[float, list[tuple[RunResult, RunResult]]] = {n: [] for n in noise_levels}
    complete = []
    for s in seeds:
        got: dict[str, list[RunResult | None]] = {}
        for name, over in (("paper", PAPER), ("exact", EXACT)):
            got[name] = [store.load(c) for c in figure_configs(profile, noise_levels, {**over, "seed": s})]
            missing[name] += sum(r is None for r in got[name])
        if all(r is not None for rs in got.values() for r in rs):
            complete.append(s)
            for n, p, e in zip(noise_levels, got["paper"], got["exact"]):
                pairs[n].append((p, e))  # type: ignore[arg-type]
    return pairs, complete, missing


def differences(pairs: Sequence[tuple[RunResult, RunResult]], quantity: Callable) -> dict[str, Any]:
    """|paper - exact| of ``quantity`` over every seed and measured step: median, RMS, max and where."""
    diffs, where = [], []
    for p, e in pairs:
        sp, qp = quantity(p)
        se, qe = quantity(e)
        if not np.array_equal(sp, se):  # both runs follow the same schedule; anything else is not comparable
            raise UserError(f"runs {p.path.name} and {e.path.name} were measured at different steps; "
                            "accepted: the same config apart from the estimator")
        d = np.abs(qp - qe)
        ok = np.isfinite(d)
        diffs.append(d[ok])
        where += [(int(p.config["seed"]), int(s)) for s in sp[ok]]
    d = np.concatenate(diffs) if diffs else np.zeros(0)
    if not d.size:
        return {"n": 0}
    i = int(np.argmax(d))
    return {"n": int(d.size), "median": float(np.median(d)), "rms": float(np.sqrt(np.mean(d ** 2))),
            "max": float(d[i]), "max_seed": where[i][0], "max_step": where[i][1]}


def sentence(noise: float, name: str, stats: dict[str, Any], n_seeds: int) -> str:
    """One generated sentence per noise level (numbers only from ``stats``)."""
    if not stats.get("n"):
        return f"At {noise:.0%} noise: no measured step to compare."
    return (f"At {noise:.0%} noise ({n_seeds} seed{'s' if n_seeds > 1 else ''}, {stats['n']} measured steps), "
            f"the paper's estimate of {name} differs from the exact value by a median of {stats['median']:.3f}, "
            f"an RMS of {stats['rms']:.3f} and at most {stats['max']:.3f} (seed {stats['max_seed']}, "
            f"step {stats['max_step']:,}).")


TRAINING_ARRAYS = ("train_loss", "train_acc", "test_acc")


def training_note(pairs: dict[float, list[tuple[RunResult, RunResult]]],
                  quantity: Callable[[RunResult], tuple[np.ndarray, np.ndarray]] = _f_p) -> str:
    """One generated sentence: per seed, whether the two estimators' runs trained bit-equally.

    The estimator never touches training, so a difference in the training curves can only come
    from the machine (float summation order differs between CPU types). Where it does, part of a
    difference between the estimates is training, not the estimator; the sentence gives the largest train-loss and
    test-accuracy differences at the steps ``quantity`` compares, so a reader can judge. Escaped: the
    CPU names come from the store.
    """
    by_seed: dict[int, list[tuple[RunResult, RunResult]]] = {}
    for ps in pairs.values():
        for p, e in ps:
            by_seed.setdefault(int(p.config["seed"]), []).append((p, e))
    same: list[int] = []
    differ: dict[int, tuple[str, str, float, float]] = {}  # seed -> CPUs, max |d test acc|, max rel d loss
    for seed, ps in sorted(by_seed.items()):
        if all(np.array_equal(p.arrays[m], e.arrays[m]) for p, e in ps for m in TRAINING_ARRAYS):
            same.append(seed)
            continue
        amax = rmax = 0.0
        for p, e in ps:
            at = np.isin(p.arrays["step"], quantity(p)[0])
            acc = np.abs(np.asarray(p.arrays["test_acc"], float)[at] - np.asarray(e.arrays["test_acc"], float)[at])
            lp, le = (np.asarray(r.arrays["train_loss"], float)[at] for r in (p, e))
            with np.errstate(invalid="ignore", divide="ignore"):
                rel = np.abs(lp - le) / np.maximum(np.abs(lp), np.abs(le))
            amax = max(amax, float(np.nanmax(acc, initial=0.0)))
            rmax = max(rmax, float(np.nanmax(rel, initial=0.0)))
        differ[seed] = (cpu_label(ps[0][0].provenance), cpu_label(ps[0][1].provenance), amax, rmax)
    parts = []
    if same:
        parts.append(f"Training is bit-equal under both estimators for seed{'s' if len(same) > 1 else ''} "
                     f"{', '.join(map(str, same))} (every evaluation of train loss, train and test accuracy).")
    if differ:
        where = "; ".join(f"seed {s}: the paper's estimator on {inert(a)}, the exact one on {inert(b)}"
                          if a != b else f"seed {s}: both on {inert(a)}" for s, (a, b, _, _) in differ.items())
        amax = max(v[2] for v in differ.values())
        rmax = max(v[3] for v in differ.values())
        parts.append(f"For seed{'s' if len(differ) > 1 else ''} {' and '.join(map(str, differ))} the two "
                     f"runs' training differs ({where}): at the steps compared here their train loss differs by at "
                     f"most {rmax:.1e} (relative) and their test accuracy by at most {amax:.4f}: set these against the "
                     "differences above to judge how much of them that drift could explain.")
    return " ".join(parts)


@dataclass
class EstimatorComparison:
    """What `compare` returns; ``figure`` is None when no seed is stored under both estimators."""

    figure_id: str
    profile: str
    seeds: list[int]
    missing: dict[str, int]
    sentences: list[str] = field(default_factory=list)
    training: str = ""
    stats: dict[float, dict[str, Any]] = field(default_factory=dict)
    verdicts: list[dict[str, str]] = field(default_factory=list)
    figure: plt.Figure | None = None


def _verdicts(figure_id: str, profile: str, store: RunStore) -> list[dict[str, str]]:
    """Each claim's verdict under both estimators, on the profile's seeds (what the claims table shows)."""
    from cgh_lib.papers.cg2020.scale import claim_records

    out: dict[str, dict[str, str]] = {}
    for name, over in (("paper", PAPER), ("exact", EXACT)):
        for r in claim_records(figure_id, profile, store, over):
            out.setdefault(r["id"], {"claim": r["id"], "statement": r["claim"]})[f"{name} estimator"] = r["verdict"]
    return list(out.values())


def _draw(figure_id: str, pairs: dict[float, list[tuple[RunResult, RunResult]]], profile: str,
          seeds: list[int]) -> plt.Figure:
    _, label, quantity = QUANTITY[figure_id]
    levels = [n for n in pairs if pairs[n]]
    fig, axes = plt.subplots(1, len(levels), figsize=(panel_width(len(levels)), 3.0), sharey=True,
                             squeeze=False, constrained_layout=True)
    for ax, n in zip(axes[0], levels):
        for k, legend in ((0, "paper's estimator (400 examples x 600 weights)"),
                          (1, "exact (all weights, all training examples)")):
            curves = [quantity(pe[k]) for pe in pairs[n]]
            seed_line(ax, curves[0][0], [c[1] for c in curves], lw=1.4, label=legend,
                      color=COLORS["paper" if k == 0 else "exact"], marker="." if figure_id == "cg2020-fig3" else None)
        ax.set_title(f"{n:.0%} label noise")
        if figure_id == "cg2020-fig2":
            step_axis(ax, curves[0][0])
        else:
            ax.set_xlabel("training step")
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("actual designations")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=2)
    seeds_txt = ", ".join(map(str, seeds))
    fig.suptitle(f"{label}: the paper's estimator vs the exact statistic (profile: {profile})\n"
                 f"(seed{'s' if len(seeds) > 1 else ''} {seeds_txt}"
                 f"{'; lines: mean, bands: min-max over seeds' if len(seeds) > 1 else ''})")
    return fig


def compare(figure_id: str, profile: str = "large", store: RunStore | None = None,
            seeds: Sequence[int] | None = None) -> EstimatorComparison:
    """The paper's estimator against the exact statistic for Figure 2 or 3 at ``profile`` (store only)."""
    if figure_id not in QUANTITY:
        raise UserError(f"unknown figure {figure_id!r} for the estimator comparison; accepted: {', '.join(FIGURES)}")
    store = store or RunStore()
    pairs, complete, missing = paired_runs(profile, store, seeds)
    out = EstimatorComparison(figure_id, profile, complete, missing, verdicts=_verdicts(figure_id, profile, store))
    if not complete:
        return out
    name, _, quantity = QUANTITY[figure_id]
    for n, ps in pairs.items():
        out.stats[n] = differences(ps, quantity)
        out.sentences.append(sentence(n, name, out.stats[n], len(complete)))
    out.training = training_note(pairs, quantity)
    out.figure = _draw(figure_id, pairs, profile, complete)
    return out


def show(cmp: EstimatorComparison) -> None:
    """What a Figure 2/3 page shows: the overlay, the generated sentences, the verdicts under both estimators."""
    import pandas as pd
    from IPython.display import Markdown, display

    if cmp.figure is None:
        display(Markdown(f"*The exact statistic is not stored at the {cmp.profile} profile for any seed* "
                         f"({cmp.missing['exact']} runs missing), so there is nothing to compare yet."))
    else:
        display(cmp.figure)
        plt.close(cmp.figure)
        display(Markdown("\n".join(f"- {s}" for s in cmp.sentences)))
        if cmp.training:
            display(Markdown(cmp.training))
    if cmp.verdicts:
        table = pd.DataFrame(cmp.verdicts).drop(columns=["statement"])
        display(table.style.hide(axis="index"))
