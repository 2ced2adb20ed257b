"""GM2022's claims, declared with the book's claims layer (`cgh_lib.book.claims`).

Quotes are verbatim from the GM2022 texts in ../shared/papers: the blog (Figs. 3-4), or the
reproduction notes where a claim comes from the companion paper arXiv 2008.01217 or from the
notes' reading of Theorem 1 and of §3 (each such claim says so in its section and note).

* ``gm-fig1``: the §3 example's values; no runs (an exact GD computation, done here).
* ``gm-fig3``: keys (arch, noise) of one seed, from `experiments.fig3_configs`.
* ``gm-fig4``: keys aggregator; the CPU profiles reuse the WS Figure 3 runs (the profile's seeds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from cgh_lib.book.claims import (
    Claim,
    Comparison,
    FigureClaims,
    Item,
    Precondition,
    f3,
    register_claims,
)
from cgh_lib.papers.gm2022 import example as ex
from cgh_lib.papers.gm2022.experiments import (
    ARCHS,
    arch_seeds,
    curves,
    fig3_configs,
    fig4_configs,
    measured_gap,
    theorem1_term,
)

Runs = Mapping[Any, Any]
GM = "GM2022"
COMPANION = "from the companion paper arXiv 2008.01217, via the reproduction notes"


def f2(v: float) -> str:
    return "nan" if v != v else f"{v:.2f}"


# ------------------------------------------------------------------ gm-fig1 (§3 example)
def _traces() -> dict[str, ex.GDTrace]:
    return {k: ex.train_gd(k) for k in ex.DATASETS}


def _init_ratio(runs: Runs) -> list[Item]:
    t = _traces()
    return [Item("real", t["real"].ratio[0], 2.5, "alpha/alpha_perp at w = 0", "expected"),
            Item("random", t["random"].ratio[0], 1.0, "alpha/alpha_perp at w = 0", "expected")]


def _final(kind: str, w: list[float], err: float) -> Callable[[Runs], list[Item]]:
    def f(runs: Runs) -> list[Item]:
        t = _traces()[kind]
        items = [Item(f"w_{j + 1}", float(t.w[-1][j]), v, "GD", "expected") for j, v in enumerate(w)]
        return items + [Item("test error", float(t.test_error[-1]), err, "GD", "expected")]
    return f


FIG1_CLAIMS = [
    Claim("init-ratio", GM, "§3 (notes' derivation)",
          "At w = 0 the 4 training gradients have alpha/alpha_perp = 2.5 on real data, 1 on random data",
          "α_4 = 0.625 and α/α⊥ = 2.5", "alpha/alpha_perp from grads.coherence at w = 0",
          _init_ratio, Comparison("~", 1e-9, "an exact computation in float64"), fmt=lambda v: f"{v:.4f}",
          note="the value is the notes' derivation [D], not a quote of the paper"),
    Claim("real-min-norm", GM, "§3 (notes' derivation)",
          "GD on real data converges to (0.2, 0.2, 0.2, 0.2, 0, 0.8), test error 0.04",
          "GD converges to the minimum-norm interpolant w = (0.2, 0.2, 0.2, 0.2, 0, 0.8).",
          "final GD weights and squared test error (lr 0.5, 100 steps)",
          _final("real", [0.2, 0.2, 0.2, 0.2, 0.0, 0.8], 0.04),
          Comparison("~", 1e-3, "100 GD steps leave a residual of order 1e-6"), fmt=lambda v: f"{v:.4f}"),
    Claim("random-memorizes", GM, "§3 (notes' derivation)",
          "GD on random data memorizes, (1, 1, 1, 1, 0, 0), test error 1.0",
          "GD converges to w = (1,1,1,1,0,0); test prediction 0, test squared error 1.0.",
          "final GD weights and squared test error (lr 0.5, 100 steps)",
          _final("random", [1.0, 1.0, 1.0, 1.0, 0.0, 0.0], 1.0),
          Comparison("~", 1e-3, "100 GD steps leave a residual of order 1e-6"), fmt=lambda v: f"{v:.4f}"),
]


# ------------------------------------------------------------------ gm-fig3: keys (arch, noise)
def _ratio(runs: Runs, key: Any, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    cv = curves(runs[key])
    return cv.step, (cv.train if split == "train" else cv.test)["ratio"]


def _archs(runs: Runs) -> list[str]:
    return sorted({a for a, _ in runs})


def _real_above_random(runs: Runs) -> list[Item]:
    out = []
    for a in _archs(runs):
        _, real = _ratio(runs, (a, 0.0))
        _, rand = _ratio(runs, (a, 1.0))
        # share of the measurements after step 0 (the untrained nets) with real above random
        out.append(Item(a, float(np.mean(real[1:] > rand[1:])), 0.8, "share", "required"))
    return out


def _median_ratio(noise: float, level: float) -> Callable[[Runs], list[Item]]:
    def f(runs: Runs) -> list[Item]:
        out = []
        for a in _archs(runs):
            _, r = _ratio(runs, (a, noise))
            m = curves(runs[(a, noise)]).m_train
            out.append(Item(f"{a} (m = {m:,})", float(np.nanmedian(r[1:])), level, "median ratio", "level"))
        return out
    return f


def _transient(runs: Runs) -> list[Item]:
    out = []
    for a in _archs(runs):
        for n in (0.0, 1.0):
            _, r = _ratio(runs, (a, n))
            m = curves(runs[(a, n)]).m_train
            out.append(Item(f"{a}, {'real' if n == 0 else 'random'}", float(r[0] / m), 0.5, "ratio at step 0 / m",
                            "'nearly'"))
    return out


def _random_rise(runs: Runs) -> list[Item]:
    out = []
    for a in _archs(runs):
        step, r = _ratio(runs, (a, 1.0))
        i25 = int(np.searchsorted(step, 25))
        if i25 < len(step) - 1:
            out.append(Item(a, float(np.nanmax(r[i25 + 1:]) / r[i25]), 2.0, "peak after step 25 / value at 25",
                            "factor"))
    return out


def _theorem1(runs: Runs) -> list[Item]:
    out = []
    for a in _archs(runs):
        t_real, t_rand = theorem1_term(curves(runs[(a, 0.0)])), theorem1_term(curves(runs[(a, 1.0)]))
        g_real, g_rand = measured_gap(runs[(a, 0.0)])[0], measured_gap(runs[(a, 1.0)])[0]
        agree = 1.0 if (t_real < t_rand) == (g_real < g_rand) else 0.0
        out.append(Item(f"{a}: term real {t_real:.2f} / random {t_rand:.2f}, accuracy gap real {g_real:+.3f} / "
                        f"random {g_rand:+.3f}", agree, 1.0, "same order (1 = yes)", "required"))
    return out


def _random_fits(runs: Runs) -> list[Item]:
    return [Item(a, float(runs[(a, 1.0)].final["train_acc"]), 0.1, "random-label train acc", "chance")
            for a in _archs(runs)]


RANDOM_FITS = Precondition("the random-label runs fit their labels beyond chance", _random_fits,
                           Comparison(">", 0.1, "10 classes: chance is 10%; 10 points above it is clearly fitting"))

FIG3_CLAIMS = [
    Claim("real-above-random", GM, "blog Fig. 3",
          "Coherence is higher on real than on random labels through training (at 80% or more of the "
          "measurements after step 0, on the train sample with the labels as trained)",
          "Real ImageNet shows much higher coherence than random",
          "share of the log-schedule measurements after step 0 with real alpha/alpha_perp above random",
          _real_above_random, Comparison(">=", 0.0),
          note="our test samples carry true labels, so a random-label run's test curve is not a random-label "
               "measurement; the blog does not say which labels its random-ImageNet test sample had"),
    Claim("real-dozens", GM, "blog Fig. 3", "On real labels each example helps dozens of others (median ratio >= 24)",
          "each example helping dozens of other examples in the sample for much of the training",
          "median train-sample alpha/alpha_perp after step 0", _median_ratio(0.0, 24.0), Comparison(">=", 0.0),
          fmt=f2, note="the ratio scales with m; the paper's m is 50,000"),
    Claim("random-handful", GM, "blog Fig. 3",
          "On random labels each example helps fewer than a handful of others (median ratio < 6, itself included)",
          "each random example helps less than a handful of other examples",
          "median train-sample alpha/alpha_perp after step 0", _median_ratio(1.0, 6.0), Comparison("<", 0.0),
          fmt=f2, precondition=RANDOM_FITS, note="the ratio scales with m; the paper's m is 50,000"),
    Claim("early-transient", GM, "2008.01217 (companion)",
          "At initialization coherence is near m, then falls below 10 within ~25 steps",
          "In the first ~25 steps coherence falls from nearly m to below 10, for both real and random labels.",
          "train-sample alpha/alpha_perp at step 0 divided by m (0.5 or more counts as 'nearly m')",
          _transient, Comparison(">=", 0.0), note=COMPANION),
    Claim("random-rises", GM, "2008.01217 (companion)",
          "On random labels coherence rises after the transient (peak at least twice the step-25 value)",
          "Coherence starts near the orthogonal limit, then *rises* to about 10²–10³ around epochs 40–60 before "
          "falling again.", "peak train-sample ratio after step 25 / its value at step 25", _random_rise,
          Comparison(">=", 0.0), fmt=f2, precondition=RANDOM_FITS, note=COMPANION),
    Claim("theorem1-orders-gaps", GM, "Theorem 1 (via the notes)",
          "Theorem 1's coherence term sum eta_t sqrt(2(1 - alpha_t)) is smaller for real than for random labels "
          "exactly when the final train-test accuracy gap is",
          "Coherence enters through √(1−α). Perfectly coherent steps (α=1) add nothing to the gap; orthogonal or "
          "zero-mean steps add the most.",
          "the term from the train-sample alpha (held between measurements) vs the final accuracy gap",
          _theorem1, Comparison(">=", 0.0), fmt=lambda v: "yes" if v == 1 else ("no" if v == 0 else f3(v)),
          note="the factor prod(1 + eta_k beta) and L^2/m are left out"),
]


def fig3_claim_configs(profile: str, seed: int, overrides: Mapping[str, Any] | None = None) -> dict[Any, Any]:
    """Keys (arch, noise) of one seed; an architecture run with fewer seeds (`arch_seeds`) is left out
    of the seeds it lacks, so those seeds are evaluated on the other architecture alone."""
    over = dict(overrides or {})
    return {(a, n): c for a in ARCHS if seed in arch_seeds(a, profile)
            for (n, _), c in fig3_configs(profile, a, over.get(a), (seed,)).items()}


# ------------------------------------------------------------------ gm-fig4: keys aggregator
def _acc(agg: str, group: str) -> Callable[[Runs], list[Item]]:
    return lambda runs: [Item(agg.upper(), float(runs[agg].final[f"{group}_acc"]), 0.1, f"{group} acc", "chance")]


SGD_LEARNS_CORRUPT = Precondition("SGD learns the corrupted labels", _acc("sgd", "corrupt"),
                                  Comparison(">", 0.2, "20 points above the 10% chance of 10 classes"))

FIG4_CLAIMS = [
    Claim("sgd-learns-corrupt", GM, "blog Fig. 4", "SGD learns the corrupted labels (corrupt accuracy > chance + 20 points)",
          "SGD learns both pristine and corrupted labels", "final corrupt-sample training accuracy, SGD",
          _acc("sgd", "corrupt"), Comparison(">", 0.2, "20 points above the 10% chance of 10 classes")),
    Claim("m3-not-corrupt", GM, "blog Fig. 4",
          "M3 does not learn the corrupted labels (corrupt accuracy within 10 points of chance)",
          "whereas M3 only learns the pristine labels", "final corrupt-sample training accuracy, M3",
          _acc("m3", "corrupt"), Comparison("<=", 0.1, "within 10 points of the 10% chance of 10 classes"),
          precondition=SGD_LEARNS_CORRUPT),
    Claim("m3-learns-pristine", GM, "blog Fig. 4", "M3 learns the pristine labels (accuracy > 50%)",
          "whereas M3 only learns the pristine labels", "final pristine-sample training accuracy, M3",
          lambda runs: [Item("M3", float(runs["m3"].final["pristine_acc"]), 0.5, "pristine acc", "level")],
          Comparison(">", 0.0)),
]


def fig4_claim_configs(profile: str, seed: int, overrides: Mapping[str, Any] | None = None) -> dict[Any, Any]:
    return fig4_configs(profile, {**(overrides or {}), "seed": seed} if seed else overrides)


register_claims(
    FigureClaims("gm-fig1", lambda profile, seed, overrides=None: {}, FIG1_CLAIMS, seeds=lambda profile: (0,)),
    FigureClaims("gm-fig3", fig3_claim_configs, FIG3_CLAIMS),
    # the CPU profiles reuse the WS Figure 3 runs, at every seed of the profile
    FigureClaims("gm-fig4", fig4_claim_configs, FIG4_CLAIMS),
)
