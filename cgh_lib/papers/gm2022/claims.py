"""GM2022's claims as plain data, checked on the runs (per seed, then aggregated).

Kept in the shape of the book's claims layer (`Claim` / `Item` / `Comparison` / `Precondition`
of issue #10) so that porting is mechanical: each claim has an id, section, a verbatim quote
from the GM2022 texts in ../shared/papers (the blog, the summary, or the reproduction notes,
named in ``source``), the statistic, a ``compute(runs) -> [Item]`` for one seed, an
operator with a margin and its one-line reason, and an optional precondition. The local
`evaluate` gives per-seed holds / fails / n/a and the aggregate holds / fails / mixed k/n /
n/a / missing, with the same semantics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from cgh_lib.papers.gm2022.experiments import curves, measured_gap, theorem1_term
from cgh_lib.store.runstore import RunResult


@dataclass(frozen=True)
class Item:
    label: str
    lhs: float
    rhs: float
    lhs_name: str = ""
    rhs_name: str = ""


@dataclass(frozen=True)
class Cmp:
    op: str
    margin: float = 0.0
    reason: str = ""

    def holds(self, lhs: float, rhs: float) -> bool:
        lhs, rhs = float(lhs), float(rhs)
        if lhs != lhs or rhs != rhs or (math.isinf(lhs) and math.isinf(rhs)):
            return False
        m = self.margin
        return {"<": lhs < rhs - m, "<=": lhs <= rhs + m, ">": lhs > rhs + m, ">=": lhs >= rhs - m,
                "~": abs(lhs - rhs) <= m}[self.op]


Runs = Mapping[Any, RunResult]


@dataclass(frozen=True)
class Precondition:
    text: str
    compute: Callable[[Runs], Sequence[Item]]
    compare: Cmp


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    claim: str
    quote: str     # verbatim (whitespace-normalized) from `source`
    source: str    # file in ../shared/papers
    statistic: str
    compute: Callable[[Runs], Sequence[Item]]
    compare: Cmp
    precondition: Precondition | None = None
    companion: bool = False  # the claim is the companion paper's (2008.01217), via the notes


BLOG = "generalization-mystery-blog.md"
NOTES = "generalization-mystery-2022-notes.md"


# ------------------------------------------------------------------ gm-fig3: keys (arch, noise)
def _ratio(runs: Runs, key: Any, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    cv = curves(runs[key])
    return cv.step, (cv.train if split == "train" else cv.test)["ratio"]


def _archs(runs: Runs) -> list[str]:
    return sorted({a for a, _ in runs})


def _real_above_random(runs: Runs) -> list[Item]:
    out = []
    for a in _archs(runs):
        for split in ("train", "test"):
            _, real = _ratio(runs, (a, 0.0), split)
            _, rand = _ratio(runs, (a, 1.0), split)
            # share of the measurements after step 0 (the untrained nets) at which real is above random
            out.append(Item(f"{a}, {split} sample", float(np.mean(real[1:] > rand[1:])), 0.8,
                            "share of measurements", "80%"))
    return out


def _median_ratio(noise: float) -> Callable[[Runs], list[Item]]:
    def f(runs: Runs) -> list[Item]:
        out = []
        for a in _archs(runs):
            _, r = _ratio(runs, (a, noise))
            m = curves(runs[(a, noise)]).m_train
            out.append(Item(f"{a} (m = {m:,})", float(np.nanmedian(r[1:])), 24.0 if noise == 0 else 6.0,
                            "median ratio"))
        return out
    return f


def _transient(runs: Runs) -> list[Item]:
    out = []
    for a in _archs(runs):
        for n in (0.0, 1.0):
            step, r = _ratio(runs, (a, n))
            m = curves(runs[(a, n)]).m_train
            out.append(Item(f"{a}, {'real' if n == 0 else 'random'}: ratio at step 0 / m", float(r[0] / m), 0.5))
    return out


def _random_rise(runs: Runs) -> list[Item]:
    out = []
    for a in _archs(runs):
        step, r = _ratio(runs, (a, 1.0))
        i25 = int(np.searchsorted(step, 25))
        if i25 >= len(step) - 1:
            continue
        later = r[i25 + 1:]
        out.append(Item(f"{a}", float(np.nanmax(later) / r[i25]), 2.0, "peak after step 25 / value at step 25"))
    return out


def _theorem1(runs: Runs) -> list[Item]:
    out = []
    for a in _archs(runs):
        t_real, t_rand = theorem1_term(curves(runs[(a, 0.0)])), theorem1_term(curves(runs[(a, 1.0)]))
        g_real, g_rand = measured_gap(runs[(a, 0.0)])[0], measured_gap(runs[(a, 1.0)])[0]
        # +1 when the term orders (real, random) as the accuracy gaps are ordered, -1 when not
        agree = 1.0 if (t_real < t_rand) == (g_real < g_rand) else 0.0
        out.append(Item(f"{a}: term real {t_real:.2f} vs random {t_rand:.2f}, accuracy gap real {g_real:+.3f} vs "
                        f"random {g_rand:+.3f}; same order (1 = yes)", agree, 0.0))
    return out


def _random_memorizes(runs: Runs) -> list[Item]:
    return [Item(a, float(runs[(a, 1.0)].final["train_acc"]), 0.1, "random-label train acc", "chance")
            for a in _archs(runs)]


RANDOM_FITS = Precondition("the random-label runs fit part of their labels (train accuracy 10 points above chance)",
                           _random_memorizes, Cmp(">", 0.1, "10 classes: chance is 10%; 10 points is clearly above it"))

FIG3_CLAIMS = [
    Claim("real-above-random", "blog Fig. 3", "Coherence is higher on real than on random labels through training "
          "(at 80% or more of the measurements after step 0, on the train and on the test sample)",
          "Real ImageNet shows much higher coherence than random", BLOG,
          "share of the log-schedule measurements after step 0 with real alpha/alpha_perp above random",
          _real_above_random, Cmp(">=", 0.0)),
    Claim("real-dozens", "blog Fig. 3", "On real labels each example helps dozens of others (median ratio >= 24)",
          "each example helping dozens of other examples in the sample for much of the training", BLOG,
          "median train-sample alpha/alpha_perp after step 0 (scales with m: the paper's m is 50,000)",
          _median_ratio(0.0), Cmp(">=", 0.0)),
    Claim("random-handful", "blog Fig. 3", "On random labels each example helps fewer than a handful (median < 6)",
          "each random example helps less than a handful of other examples", BLOG,
          "median train-sample alpha/alpha_perp after step 0 (counting the example itself: < 5 others)",
          _median_ratio(1.0), Cmp("<", 0.0), precondition=RANDOM_FITS),
    Claim("early-transient", "2008.01217 (companion), via the notes",
          "At initialization coherence is near m (then falls below 10 within ~25 steps)",
          "In the first ~25 steps coherence falls from nearly m to below 10, for both real and random labels.",
          NOTES, "alpha/alpha_perp at step 0 divided by m (>= 0.5 counts as 'nearly m')", _transient,
          Cmp(">=", 0.0), companion=True),
    Claim("random-rises", "2008.01217 (companion), via the notes",
          "On random labels coherence rises after the transient (peak at least 2x the step-25 value)",
          "Coherence starts near the orthogonal limit, then *rises* to about 10²–10³ around epochs 40–60 before "
          "falling again.", NOTES, "peak train-sample ratio after step 25 / its value at step 25", _random_rise,
          Cmp(">=", 0.0), precondition=RANDOM_FITS, companion=True),
    Claim("theorem1-orders-gaps", "Theorem 1 (via the notes)",
          "Theorem 1's coherence term sum eta_t sqrt(2(1 - alpha_t)) orders real vs random as the measured gaps are",
          "Coherence enters through √(1−α). Perfectly coherent steps (α=1) add nothing to the gap; orthogonal or "
          "zero-mean steps add the most.", NOTES,
          "whether the term is smaller for real than for random labels exactly when the final train-test accuracy gap is; "
          "train-sample alpha",
          _theorem1, Cmp(">", 0.0)),
]


# ------------------------------------------------------------------ gm-fig4: keys aggregator
def _corrupt(agg: str) -> Callable[[Runs], list[Item]]:
    return lambda runs: [Item(agg.upper(), float(runs[agg].final["corrupt_acc"]), 0.1, "corrupt acc", "chance")]


FIG4_CLAIMS = [
    Claim("sgd-learns-corrupt", "blog Fig. 4", "SGD learns the corrupted labels (corrupt accuracy > chance + 20 points)",
          "SGD learns both pristine and corrupted labels", BLOG, "final corrupt-sample training accuracy, SGD",
          _corrupt("sgd"), Cmp(">", 0.2, "well above the 10% chance of 10 classes")),
    Claim("m3-only-pristine", "blog Fig. 4", "M3 does not learn the corrupted labels (corrupt accuracy within 10 points "
          "of chance) while it learns the pristine ones (> 50%)",
          "whereas M3 only learns the pristine labels", BLOG, "final corrupt- and pristine-sample accuracy, M3",
          lambda runs: [Item("M3 corrupt", float(runs["m3"].final["corrupt_acc"]), 0.1, "corrupt acc", "chance"),
                        Item("M3 pristine (negated)", -float(runs["m3"].final["pristine_acc"]), -0.6, "-pristine acc")],
          Cmp("<=", 0.1, "within 10 points of chance (10 classes); pristine rows: above 50%"),
          precondition=Precondition("SGD learns the corrupted labels", _corrupt("sgd"),
                                    Cmp(">", 0.2, "well above chance"))),
]


# ------------------------------------------------------------------ evaluation
def _seed_verdict(c: Claim, runs: Runs) -> tuple[str, list[Item]]:
    if c.precondition is not None:
        pre = c.precondition.compute(runs)
        if not all(c.precondition.compare.holds(i.lhs, i.rhs) for i in pre):
            return "n/a", pre
    items = list(c.compute(runs))
    if not items:
        return "n/a", items
    return ("holds" if all(c.compare.holds(i.lhs, i.rhs) for i in items) else "fails"), items


def _fmt(items: Sequence[Item]) -> str:
    return "; ".join(f"{i.label}: {i.lhs:.3g}" + (f" vs {i.rhs:.3g}" if i.rhs_name else "") for i in items)


def evaluate(claims: Sequence[Claim], runs_by_seed: Mapping[int, Runs | None]) -> list[dict[str, str]]:
    """One row per claim: claim, quote (source), measured (per seed), verdict, reason."""
    rows = []
    for c in claims:
        per: list[tuple[int, str, list[Item]]] = []
        for seed, runs in sorted(runs_by_seed.items()):
            if runs is None:
                continue
            v, items = _seed_verdict(c, runs)
            per.append((seed, v, items))
        if not per:
            verdict, reason = "missing", "no seed has its runs stored"
        else:
            vs = [v for _, v, _ in per]
            k = vs.count("holds")
            if all(v == "n/a" for v in vs):
                verdict = "n/a"
            elif k == len(vs):
                verdict = "holds"
            elif k == 0:
                verdict = "fails"
            else:
                verdict = f"mixed {k}/{len(vs)}"
            reason = ("precondition failed: " + c.precondition.text) if "n/a" in vs and c.precondition else (
                f"{c.statistic}; holds when lhs {c.compare.op} rhs" + (f" (margin {c.compare.margin:g}: "
                                                                        f"{c.compare.reason})" if c.compare.margin else ""))
        rows.append({"claim": c.claim + (" [companion paper]" if c.companion else ""),
                     "quote": f"\u201c{c.quote}\u201d ({c.source})",
                     "measured": " | ".join(f"seed {s} ({v}): {_fmt(it)}" for s, v, it in per),
                     "verdict": verdict, "reason": reason})
    return rows
