"""CG2020's statements, as claims checked on the stored runs of Figures 1-4 (see `cgh_lib.book.claims`).

Every claim quotes the sentence it tests from the paper text; margins are declared
once, with their reason; claims whose comparison is only meaningful if something
else is true (e.g. plain SGD memorizes, so that "winsorized SGD does not" means
something) carry that as a precondition.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from cgh_lib.book.claims import (
    Claim,
    Comparison,
    FigureClaims,
    Item,
    Precondition,
    f3,
    fpct,
    fsigned,
    fsteps,
    register_claims,
)
from cgh_lib.papers.cg2020 import fig1_label_noise as fig1
from cgh_lib.papers.cg2020 import fig4_winsorized as fig4
from cgh_lib.papers.cg2020 import figs23_loss_reduction as figs23
from cgh_lib.store.experiments import check_profile

P = "CG2020"
Runs = Mapping[Any, Any]


def _seeded(overrides: Mapping[str, Any] | None, seed: int) -> dict[str, Any]:
    return {**(overrides or {}), "seed": seed}


def _pairs(keys: Sequence[Any], fmt=lambda k: f"{k:.0%}") -> list[tuple[Any, Any, str]]:
    return [(a, b, f"{fmt(a)} vs {fmt(b)}") for a, b in zip(keys, keys[1:])]


# --------------------------------------------------------------------------- Figure 1
def fig1_configs(profile: str, seed: int, overrides: Mapping[str, Any] | None = None) -> dict[float, Any]:
    return dict(zip(fig1.NOISE_LEVELS, fig1.figure1_configs(profile, fig1.NOISE_LEVELS, _seeded(overrides, seed))))


ACC_LEVEL = 0.5     # "a given level of accuracy"
EARLY_STEP = 10     # "in early training": the first 10 steps


def _reach(runs: Runs) -> list[Item]:
    ns = sorted(runs)
    r = {n: fig1.steps_to_reach(runs[n].arrays["step"], runs[n].arrays["train_acc"], ACC_LEVEL) for n in ns}
    return [Item(lab, r[a], r[b]) for a, b, lab in _pairs(ns)]


def _loss_drop(runs: Runs) -> list[Item]:
    def drop(n: float) -> float:
        s, loss = runs[n].arrays["step"], runs[n].arrays["train_loss"]
        i = min(int(np.searchsorted(s, EARLY_STEP)), len(s) - 1)
        return float(loss[0] - loss[i])
    ns = sorted(runs)
    return [Item(lab, drop(a), drop(b)) for a, b, lab in _pairs(ns)]


def _curve_mean(run: Any, group: str, first: bool = True) -> float:
    """Mean over evaluations (after step 0) of the fraction of the group learned: a normalized
    area under the learned curve, i.e. the group's learning speed over the run."""
    c = fig1.learned_curve(run, group, first=first)
    return float(np.nanmean(c[1:]))


def _half(run: Any, group: str) -> float:
    """First evaluation step by which half of the group has been learned (first-learned)."""
    return fig1.steps_to_reach(run.arrays["step"], fig1.learned_curve(run, group, first=True), 0.5)


def _pristine_vs_corrupt(runs: Runs) -> list[Item]:
    return [Item(f"{n:.0%}", _half(runs[n], "pristine"), _half(runs[n], "corrupt"), "pristine", "corrupt")
            for n in sorted(runs) if 0 < n < 1]


def _closer(runs: Runs, group: str) -> list[Item]:
    """Mean gap of the group's learned curve to the 0% curve vs to the 100% curve."""
    c0 = fig1.learned_curve(runs[0.0], "all", first=True)
    c1 = fig1.learned_curve(runs[1.0], "all", first=True)
    out = []
    for n in sorted(runs):
        if 0 < n < 1:
            c = fig1.learned_curve(runs[n], group, first=True)
            near, far = (c0, c1) if group == "pristine" else (c1, c0)
            out.append(Item(f"{n:.0%}", fig1.curve_distance(c, near), fig1.curve_distance(c, far),
                            "to 0%" if group == "pristine" else "to 100%",
                            "to 100%" if group == "pristine" else "to 0%"))
    return out


def _pristine_speed(runs: Runs) -> list[Item]:
    ns = [n for n in sorted(runs) if n < 1]
    sp = {n: _curve_mean(runs[n], "pristine" if n > 0 else "all") for n in ns}
    return [Item(lab, sp[a], sp[b]) for a, b, lab in _pairs(ns)]


def _final_train(runs: Runs) -> list[Item]:
    return [Item(f"{n:.0%}", float(runs[n].arrays["train_acc"][-1]), 1.0) for n in sorted(runs)]


FIG1 = [
    Claim("noise-slows-learning", P, "§2.3",
          "More label noise, more steps to reach 50% training accuracy",
          "In general, as noise increases, the time taken to reach a given level of accuracy (i.e., realized "
          "learning rate) increases.",
          f"first evaluation step with training accuracy >= {ACC_LEVEL:.0%}, each noise level vs the next",
          _reach, Comparison("<="), fsteps,
          note="evaluations are on a log grid, so equal steps are ties at its resolution; 'never' vs 'never' fails"),
    Claim("noise-weakens-early-gradient", P, "§2.3",
          f"More label noise, smaller training-loss drop over the first {EARLY_STEP} steps (weaker gradient)",
          "from the loss curves of Figure 1(c), it is clear that in early training, the more the noise, the "
          "weaker the l2-norm of the gradient.",
          f"training loss at step 0 minus at step {EARLY_STEP}, each noise level vs the next",
          _loss_drop, Comparison(">"), f3),
    Claim("pristine-before-corrupt", P, "§2.3",
          "Pristine examples are learned before corrupt ones",
          "Pristine examples are learned faster than corrupt examples.",
          "first step by which half of the group has been learned (classified as its training label for the "
          "first time, Figure 1(d))", _pristine_vs_corrupt, Comparison("<"), fsteps),
    Claim("pristine-near-clean-rate", P, "§2.3",
          "The pristine learned-curve is closer to the 0%-noise curve than to the 100% one",
          "They are learned at a rate closer to the 0% label noise rate",
          "mean absolute gap between first-learned curves over the evaluations", lambda r: _closer(r, "pristine"),
          Comparison("<"), f3),
    Claim("corrupt-near-random-rate", P, "§2.3",
          "The corrupt learned-curve is closer to the 100%-noise curve than to the 0% one",
          "whereas the corrupt examples are learned at a rate closer to the 100% label noise rate.",
          "mean absolute gap between first-learned curves over the evaluations", lambda r: _closer(r, "corrupt"),
          Comparison("<"), f3),
    Claim("fewer-pristine-slower", P, "§2.3",
          "With fewer pristine examples, pristine examples are learned more slowly",
          "With fewer pristine examples, their learning rate reduces.",
          "mean over evaluations of the fraction of pristine examples learned (first-learned curve), "
          "each noise level (0-75%) vs the next", _pristine_speed, Comparison(">"), f3),
    Claim("fits-every-variant", P, "§2.3",
          "Every variant reaches 100% training accuracy by the end",
          "for all 5 variants, at the end of training, we achieve 100% training accuracy",
          "final training accuracy (noisy labels) vs 100%", _final_train,
          Comparison(">=", 0.005, "half a point: a few examples of tens of thousands still wrong is 'fitted'"),
          fpct, paper_value="100% training accuracy for all 5 variants (10^5 steps, full MNIST)"),
]


# --------------------------------------------------------------------------- Figures 2 and 3
def figs23_configs(profile: str, seed: int, overrides: Mapping[str, Any] | None = None) -> dict[float, Any]:
    return dict(zip(figs23.NOISE_LEVELS,
                    figs23.figure_configs(profile, figs23.NOISE_LEVELS, _seeded(overrides, seed))))


CROSS_RUN = 3  # evaluations in a row below 0.5 that make a crossover "sustained"


def sustained_crossover(steps: np.ndarray, f_p: np.ndarray, run: int = CROSS_RUN, from_above: bool = True) -> float:
    """First step from which f_p stays on the other side of 0.5 than at step 0 for ``run``
    consecutive evaluations (or to the end of training, if fewer remain); inf if never.
    ``from_above``: only a fall from above 0.5 counts (f_p starting above is then required);
    otherwise a crossing in either direction. A single evaluation across 0.5 is not a
    crossover: the sampled f_p wobbles by about 0.1 between steps."""
    if from_above and not f_p[0] > 0.5:
        return math.inf
    other = (f_p < 0.5) if f_p[0] > 0.5 else (f_p > 0.5)
    for i in range(1, len(f_p)):
        window = other[i:i + run]
        if window.all() and (len(window) == run or i + len(window) == len(f_p)):
            return float(steps[i])
    return math.inf


def _f(run: Any) -> np.ndarray:
    return figs23.fractions(run.arrays["inner"])


def _starts_above(runs: Runs) -> list[Item]:
    return [Item(f"{n:.0%}", float(_f(runs[n])[0, 0]), 0.5, "f_p(0)") for n in sorted(runs) if n < 0.75]


def _real_cross(runs: Runs) -> list[Item]:
    return [Item(f"{n:.0%}", sustained_crossover(runs[n].arrays["step"], _f(runs[n])[:, 0]),
                 float(runs[n].arrays["step"][-1]), "crossover at", "end")
            for n in sorted(runs) if n < 0.75]


def _null_cross(runs: Runs) -> list[Item]:
    out = []
    for n in sorted(runs):
        if n < 0.75:
            f, s = _f(runs[n]), runs[n].arrays["step"]
            k = sum(math.isfinite(sustained_crossover(s, f[:, w], from_above=False)) for w in range(1, f.shape[1]))
            out.append(Item(f"{n:.0%}", k, 0, "null worlds crossing"))
    return out


def _no_cross_75(runs: Runs) -> list[Item]:
    r = runs[0.75]
    found = math.isfinite(sustained_crossover(r.arrays["step"], _f(r)[:, 0], from_above=False))
    return [Item("75%", float(found), 0.0, "sustained crossovers found", "allowed")]


def _slope_75(runs: Runs) -> list[Item]:
    f = _f(runs[0.75])[:, 0]
    return [Item("75%", float(f[-1]), float(f[0]), "f_p end", "start")]


def _null_75(runs: Runs) -> list[Item]:
    nf = _f(runs[0.75])[:, 1:]
    return [Item("75%", float(np.nanmax(nf)), 0.5, "largest null f_p")]


def _rel_gap(run: Any) -> np.ndarray:
    c = figs23.contributions(run)
    ip, ic = c["i_p"][-1], c["i_c"][-1]
    return (ip - ic) / np.maximum(np.abs(ip) + np.abs(ic), 1e-300)


def _fig3_real(runs: Runs) -> list[Item]:
    return [Item(f"{n:.0%}", float(_rel_gap(runs[n])[0]), 0.0, "(i_p - i_c)/(|i_p|+|i_c|)") for n in sorted(runs)]


def _fig3_null(runs: Runs) -> list[Item]:
    return [Item(f"{n:.0%}", float(np.max(np.abs(_rel_gap(runs[n])[1:]))), float(_rel_gap(runs[n])[0]),
                 "largest |null gap|", "real gap") for n in sorted(runs)]


REAL_CROSSES = Precondition(
    "the real f_p has a sustained crossover at that noise level (the paper contrasts the nulls with it)",
    lambda runs: _real_cross(runs), Comparison("<="), fsteps)
FIG3_REAL_POSITIVE = Precondition(
    "i_p > i_c in the real runs (else there is nothing for the nulls to fall short of)",
    _fig3_real, Comparison(">"), fsigned)

FIG2 = [
    Claim("fp-starts-above", P, "§2.4", "25% and 50% noise: f_p starts above f_c",
          "We see that for 25% and 50% label noise, fpt initially starts off higher than f ct",
          "f_p at step 0 (real designations) vs 0.5", _starts_above, Comparison(">"), f3),
    Claim("sustained-crossover", P, "§2.4",
          f"25% and 50% noise: f_p falls below f_c and stays below ({CROSS_RUN} evaluations in a row)",
          "after a few steps they cross over.",
          f"first step from which f_p < 0.5 for {CROSS_RUN} consecutive evaluations (or to the end)",
          _real_cross, Comparison("<="), fsteps),
    Claim("null-no-crossover", P, "§2.4", "25% and 50% noise: no null world has a sustained crossover",
          "we note that for 25% and 50% they do not cross over as they do with the real data.",
          f"number of null worlds whose f_p crosses 0.5 (either way) and stays for {CROSS_RUN} consecutive "
          "evaluations",
          _null_cross, Comparison("<="), lambda v: f"{v:g}", precondition=REAL_CROSSES,
          note="a null f_p hovers near the pristine fraction of the sample (0.75 / 0.55), so it rarely "
               "crosses by construction; the comparison with the real run is what the row tests"),
    Claim("no-crossover-75", P, "§2.4", "75% noise: f_p does not cross over",
          "In the case of 75% noise, we see that the cross over doesnt happen",
          f"whether f_p crosses 0.5 (either way) and stays for {CROSS_RUN} consecutive evaluations (0 = no "
          "crossover)",
          _no_cross_75, Comparison("<="), lambda v: f"{v:g}"),
    Claim("slope-down-75", P, "§2.4", "75% noise: f_p slopes down",
          "there is a slight slope downwards for the contribution from pristine examples.",
          "f_p at the last measurement vs at step 0", _slope_75, Comparison("<"), f3),
    Claim("null-corrupt-dominates-75", P, "§2.4", "75% noise, null worlds: f_c > f_p throughout",
          "However, all the nulls do show that corrupt is more than pristine",
          "largest f_p over all evaluations and null worlds vs 0.5", _null_75, Comparison("<"), f3),
]

FIG3 = [
    Claim("ip-above-ic", P, "§2.4", "Real designations: a pristine example contributes more than a corrupt one "
          "over the first 10 steps (i_p > i_c), at every noise level",
          "The first row of Figure 3 shows ipt and ict for the first 10 steps of training where the difference "
          "between pristine and corrupt is the most pronounced.",
          "relative gap (i_p - i_c)/(|i_p| + |i_c|) at the last contribution step", _fig3_real,
          Comparison(">"), fsigned),
    Claim("null-gap-smaller", P, "§2.4", "Null worlds: i_p ~ i_c, every null gap smaller than the real one",
          "The results appear somewhat significant but not overwhelmingly so.",
          "largest |relative gap| over the null worlds vs the real relative gap", _fig3_null,
          Comparison("<"), fsigned, precondition=FIG3_REAL_POSITIVE),
]


# --------------------------------------------------------------------------- Figure 4
def fig4_configs(profile: str, seed: int, overrides: Mapping[str, Any] | None = None) -> dict[tuple[int, float], Any]:
    ns, cs = fig4.GRIDS[check_profile(profile)]
    cfgs = fig4.grid_configs(profile, ns, cs, _seeded(overrides, seed))
    return {(c.c, c.noise): c for c in cfgs}


TOL = Comparison("<=", 0.01, "1 point (30 of the 3,000 small-profile examples): smaller differences are ties")


def _excess(run: Any) -> float:
    """Largest training accuracy over the run minus the proper accuracy (pristine fraction)."""
    return float(np.max(run.arrays["train_acc"]) - run.final["proper_acc"])


def _grid(runs: Runs) -> tuple[list[int], list[float]]:
    return sorted({c for c, _ in runs}), sorted({n for _, n in runs})


def _not_above_proper(runs: Runs) -> list[Item]:
    cs, ns = _grid(runs)
    return [Item(f"c={c}, {n:.0%}", float(np.max(runs[(c, n)].arrays["train_acc"])), runs[(c, n)].final["proper_acc"],
                 "max ta", "proper") for c in cs if c > 1 for n in ns if n > 0]


def _sgd_memorizes(runs: Runs) -> list[Item]:
    _, ns = _grid(runs)
    return [Item(f"c=0, {n:.0%}", float(np.max(runs[(0, n)].arrays["train_acc"])), runs[(0, n)].final["proper_acc"],
                 "max ta", "proper") for n in ns if n > 0]


def _in_c(runs: Runs, value) -> list[Item]:
    cs, ns = _grid(runs)
    return [Item(f"{n:.0%}, c={b} vs c={a}", value(runs[(b, n)]), value(runs[(a, n)]))
            for n in ns for a, b in zip(cs, cs[1:])]


def _overfit_rate(run: Any) -> float:
    """Overfit gained over the second half of training, per 1,000 steps."""
    a = run.arrays
    half = int(np.searchsorted(a["step"], a["step"][-1] / 2))
    return float((a["overfit"][-1] - a["overfit"][half]) / max(a["step"][-1] - a["step"][half], 1) * 1000)


def _peak_then_fall(runs: Runs) -> list[Item]:
    cs, ns = _grid(runs)
    c = cs[-1]
    out = []
    for n in ns:
        a = runs[(c, n)].arrays
        for key, name in (("train_acc", "ta"), ("test_acc", "va")):
            out.append(Item(f"c={c}, {n:.0%} {name}", float(a[key][-1]), float(np.max(a[key])), "final", "peak"))
    return out


SGD_MEMORIZES = Precondition(
    "plain SGD (c = 0) memorizes: its training accuracy exceeds the proper accuracy at every noise level > 0",
    _sgd_memorizes, Comparison(">", 0.01, "1 point (30 of 3,000 small-profile examples)"), f3)

FIG4 = [
    Claim("winsorized-not-above-proper", P, "§3.3",
          "For c > 1, training accuracy never exceeds the proper accuracy of the noisy training set",
          "For c > 1, training accuracies do not exceed the proper accuracy of the dataset",
          "largest training accuracy over the run vs the proper accuracy (pristine fraction), c > 1, noise > 0",
          _not_above_proper, Comparison("<=", 0.01, "1 point (30 of the 3,000 small-profile examples): a few "
                                        "corrupt examples fitted is not memorization"), f3,
          precondition=SGD_MEMORIZES),
    Claim("overfit-rate-falls", P, "§3.3", "The overfit grows more slowly as c increases",
          "The rate at which the overfit curve grows goes down with increasing c.",
          "overfit gained over the second half of training per 1,000 steps, larger c vs smaller c, noise > 0",
          lambda runs: [i for i in _in_c(runs, _overfit_rate) if not i.label.startswith("0%")],
          TOL, fsigned, precondition=SGD_MEMORIZES),
    Claim("less-overfit-with-c", P, "§3.2", "The larger c, the less the network overfits (final overfit)",
          "the larger c is, the less we expect the network to overfit.",
          "final overfit ta - [e/10 + (1-e) va], larger c vs smaller c, noise > 0",
          lambda runs: [i for i in _in_c(runs, lambda r: float(r.final["overfit"])) if not i.label.startswith("0%")],
          TOL, fsigned, precondition=SGD_MEMORIZES),
    Claim("harder-to-fit", P, "§3.2", "Larger c makes the training data harder to fit (final training accuracy)",
          "this also makes it harder for the network to fit the training data, and so we expect the training "
          "accuracy to fall as well.",
          "final training accuracy, larger c vs smaller c", lambda runs: _in_c(runs, lambda r: r.final["train_acc"]),
          TOL, f3),
    Claim("peak-then-fall", P, "§3.3", "Under the heaviest winsorization, accuracies peak and then fall",
          "with a large amount of winsorization, the training and test accuracies reach a maximum and then go down.",
          "final vs peak training (ta) and test (va) accuracy at the largest c",
          _peak_then_fall, Comparison("<", 0.01, "1 point below the peak: a drop smaller than that is a plateau"),
          f3),
]


register_claims(
    FigureClaims("cg2020-fig1", fig1_configs, FIG1),
    FigureClaims("cg2020-fig2", figs23_configs, FIG2),
    FigureClaims("cg2020-fig3", figs23_configs, FIG3),
    FigureClaims("cg2020-fig4", fig4_configs, FIG4),
)
