"""The WS paper's statements, as claims checked on the stored runs of Figures 1-3, 6-8 and the
RM3 mini-batch sweep (see `cgh_lib.book.claims`).

Accuracy margins are about two standard errors of an accuracy measured on the
small profile's samples (1,000-2,000 examples: SE <= 0.016), so a difference
inside the margin is not read as a difference. "Does not learn" means "within
two standard errors of chance accuracy on the corrupt sample", computed from
the sample's size, not a fixed number of points.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from cgh_lib.book.claims import (
    Claim,
    Comparison,
    FigureClaims,
    Item,
    Precondition,
    f3,
    fsigned,
    register_claims,
)
from cgh_lib.papers.ws import experiments as ws

P = "WS"
Runs = Mapping[Any, Any]
SE2 = "about 2 standard errors of an accuracy on the small profile's 1,000-2,000-example samples"
NEAR = Comparison("~", 0.03, SE2)


def _seeded(overrides: Mapping[str, Any] | None, seed: int) -> dict[str, Any]:
    return {**(overrides or {}), "seed": seed}


def _final(run: Any, key: str) -> float:
    return float(run.arrays[key][-1])


def _mean(run: Any, key: str) -> float:
    return ws.curve_mean(run, key)


def _gap(run: Any) -> float:
    return _final(run, "train_acc") - _final(run, "test_acc")


def chance_band(runs: Runs, run: Any, group: str = "corrupt") -> float:
    """Chance accuracy (1/classes) plus two standard errors of an accuracy on the group's sample."""
    p = ws.chance_accuracy(runs)
    n = int(run.config.get("n_track", 0)) or 1
    if group == "corrupt":
        n = min(n, int(run.arrays["corrupt"].sum()) or n)
    elif group == "train":
        n = int(run.config.get("train_sample", 0)) or int(run.config.get("n_train", 0)) or n
    return p + 2 * math.sqrt(p * (1 - p) / n)


# --------------------------------------------------------------------------- Figures 1, 6, 7
def _label_noise_configs(fig: str):
    def configs(profile: str, seed: int, overrides: Mapping[str, Any] | None = None) -> dict[float, Any]:
        return {n: c for (_, n, _), c in ws.figure_configs(fig, profile, _seeded(overrides, seed)).items()}
    return configs


def _adjacent(keys, value, lab=lambda k: f"{k:.0%}") -> list[Item]:
    return [Item(f"{lab(a)} vs {lab(b)}", value(a), value(b)) for a, b in zip(keys, keys[1:])]


LABEL_NOISE = [
    Claim("noise-slows-learning", P, "§2", "More label noise, training examples learned more slowly",
          "As the label noise increases, the rate at which examples are learned decreases",
          "mean training accuracy over the run's evaluations (a normalized area under the curve), each noise "
          "level vs the next", lambda runs: _adjacent(sorted(runs), lambda n: _mean(runs[n], "train_acc")),
          Comparison(">"), f3),
    Claim("pristine-faster", P, "§2", "Pristine examples are learned faster than corrupt ones",
          "Examples whose labels have not been corrupted (*pristine* examples) should be learned faster than the "
          "rest (*corrupt* examples)",
          "mean accuracy over the run, pristine sample vs corrupt sample",
          lambda runs: [Item(f"{n:.0%}", _mean(runs[n], "pristine_acc"), _mean(runs[n], "corrupt_acc"),
                             "pristine", "corrupt") for n in sorted(runs) if 0 < n < 1],
          Comparison(">", 0.03, SE2), f3),
    Claim("fewer-pristine-slower", P, "§2", "With more noise (fewer pristine examples), pristine examples are "
          "learned more slowly",
          "With increasing noise, since there are fewer pristine examples, the rate at which they are learned "
          "should decrease.",
          "mean pristine accuracy over the run (0%: all training examples), each noise level (0-75%) vs the next",
          lambda runs: _adjacent([n for n in sorted(runs) if n < 1],
                                 lambda n: _mean(runs[n], "pristine_acc" if n > 0 else "train_acc")),
          Comparison(">"), f3),
]


# --------------------------------------------------------------------------- Figure 2
def _fig2_configs(profile: str, seed: int, overrides: Mapping[str, Any] | None = None) -> dict[tuple[str, float], Any]:
    return {(a, n): c for (a, n, _), c in ws.figure_configs("ws-fig2", profile, _seeded(overrides, seed)).items()}


def _noises(runs: Runs) -> list[float]:
    return sorted({n for _, n in runs})


def _loss_rise(run: Any) -> float:
    """Largest rise of the training loss above its running minimum: optimization instability."""
    loss = run.arrays["train_loss"]
    return float(np.nanmax(loss - np.fmin.accumulate(loss)))


SGD_OVERFITS = Precondition(
    "SGD has a generalization gap to reduce: train - test accuracy > 0.05 at every noise level",
    lambda runs: [Item(f"SGD {n:.0%}", _gap(runs[("sgd", n)]), 0.05, "gap") for n in _noises(runs)],
    Comparison(">"), fsigned)
SGD_MEMORIZES = Precondition(
    "SGD memorizes: it fits more than half of the 100%-noise training sample",
    lambda runs: [Item("SGD 100%", _final(runs[("sgd", 1.0)], "train_acc"), 0.5, "train acc")],
    Comparison(">"), f3)

def _overhead(runs: Runs, agg: str) -> float:
    """Median over noise levels of the aggregator's stored wall time over SGD's, minus 1."""
    return float(np.median([runs[(agg, n)].wall_time_s / runs[("sgd", n)].wall_time_s - 1 for n in _noises(runs)]))


QUIET_MACHINE = Precondition(
    "the timings are usable: SGD's wall times at the three noise levels agree within 10% (a quiet machine)",
    lambda runs: [Item("SGD", max(runs[("sgd", n)].wall_time_s for n in _noises(runs))
                       / min(runs[("sgd", n)].wall_time_s for n in _noises(runs)) - 1, 0.1, "spread")],
    Comparison("<"), f3)
TIMING = "wall-clock noise of single CPU runs is a few percent"

FIG2 = [
    Claim("rm3-overhead", P, "§3.3", "RM3 adds (almost) nothing to SGD's run time",
          "RM3 increases the run-time of SGD by less than 1%",
          "median over noise levels of RM3's stored wall time / SGD's - 1",
          lambda runs: [Item("RM3", _overhead(runs, "rm3"), 0.01, "overhead")],
          Comparison("<=", 0.05, TIMING), f3, precondition=QUIET_MACHINE,
          paper_value="< 1% (ImageNet, 8 GPUs)",
          note="timed from the runs themselves; benchmarks/bench_aggregators.py measures it on an idle machine"),
    Claim("m3-overhead", P, "§3.3", "M3 adds about 30% to SGD's run time",
          "whereas M3 adds about 30% overhead.",
          "median over noise levels of M3's stored wall time / SGD's - 1",
          lambda runs: [Item("M3", _overhead(runs, "m3"), 0.3, "overhead")],
          Comparison("~", 0.1, "'about': within 10 points; " + TIMING), f3, precondition=QUIET_MACHINE,
          paper_value="about 30% (ImageNet, 8 GPUs)",
          note="timed from the runs themselves; benchmarks/bench_aggregators.py measures it on an idle machine"),
    Claim("rm3-smaller-gap", P, "§3.3", "RM3 has a smaller generalization gap than SGD at every noise level",
          "In all cases (including 0% noise, i.e, the real labels), we find that the suppression of weak gradients "
          "in RM3 leads to a lower generalization gap than SGD.",
          "final train - test accuracy, RM3 vs SGD",
          lambda runs: [Item(f"{n:.0%}", _gap(runs[("rm3", n)]), _gap(runs[("sgd", n)]), "RM3", "SGD")
                        for n in _noises(runs)],
          Comparison("<", 0.02, SE2), fsigned, precondition=SGD_OVERFITS),
    Claim("m3-smaller-gap-than-rm3", P, "§3.3", "M3 has an even smaller generalization gap than RM3",
          "On the other, we find that M3 shows an even smaller generalization gap than RM3.",
          "final train - test accuracy, M3 vs RM3",
          lambda runs: [Item(f"{n:.0%}", _gap(runs[("m3", n)]), _gap(runs[("rm3", n)]), "M3", "RM3")
                        for n in _noises(runs)],
          Comparison("<", 0.02, SE2), fsigned, precondition=SGD_OVERFITS),
    Claim("ra3-like-sgd", P, "§3.3", "RA3 behaves almost identically to SGD (final train and test accuracy)",
          "the behavior of RA3 is almost identically to SGD.",
          "final training and test accuracy, RA3 vs SGD",
          lambda runs: [Item(f"{n:.0%} {k.split('_')[0]}", _final(runs[("ra3", n)], k), _final(runs[("sgd", n)], k),
                             "RA3", "SGD") for n in _noises(runs) for k in ("train_acc", "test_acc")],
          NEAR, f3),
    Claim("rm3-ra3-big-difference", P, "§3.3", "RM3 fits noisy labels far less than RA3 (a big difference)",
          "we see that there is a big difference between RM3 and RA3",
          "final training accuracy (noisy labels) at 50% and 100% noise, RM3 vs RA3",
          lambda runs: [Item(f"{n:.0%}", _final(runs[("rm3", n)], "train_acc"), _final(runs[("ra3", n)], "train_acc"),
                             "RM3", "RA3") for n in _noises(runs) if n > 0],
          Comparison("<", 0.1, "'big': at least 10 points"), f3, precondition=SGD_MEMORIZES),
    Claim("median-reduces-memorization", P, "Abstract", "RM3 and M3 greatly reduce memorization of random labels",
          "we find that they indeed greatly reduce overfitting (and memorization)",
          "final training accuracy at 100% noise, RM3 and M3 vs SGD",
          lambda runs: [Item(f"{a.upper()}", _final(runs[(a, 1.0)], "train_acc"),
                             _final(runs[("sgd", 1.0)], "train_acc"), a.upper(), "SGD") for a in ("rm3", "m3")],
          Comparison("<", 0.1, "'greatly': at least 10 points"), f3, precondition=SGD_MEMORIZES),
    Claim("m3-unstable-at-0", P, "§3.3", "M3 is optimization-unstable at 0% noise (its training loss rises), "
          "unlike M3 at 50%/100% noise and SGD at 0%",
          "We see this for M3 with 0% label noise (Figure 2 (g)) where directions are expected to be stronger "
          "than in the 50% and 100% cases where this does not happen.",
          "largest rise of the training loss above its running minimum (nats)",
          lambda runs: [Item(f"M3 0% vs {lab}", _loss_rise(runs[("m3", 0.0)]), _loss_rise(runs[key]))
                        for key, lab in ((("m3", 0.5), "M3 50%"), (("m3", 1.0), "M3 100%"), (("sgd", 0.0), "SGD 0%"))
                        if key in runs],
          Comparison(">", 0.05, "0.05 nats: smaller rises of the training-sample loss are the ordinary wobble"),
          f3),
]


# --------------------------------------------------------------------------- Figure 3
def _fig3_configs(profile: str, seed: int, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {a: c for (a, _, _), c in ws.figure_configs("ws-fig3", profile, _seeded(overrides, seed)).items()}


def _corr(runs: Runs, a: str) -> float:
    return _final(runs[a], "corrupt_acc")


def _pris(runs: Runs, a: str) -> float:
    return _final(runs[a], "pristine_acc")


SGD_LEARNS_CORRUPT = Precondition(
    "SGD learns the corrupt examples: final corrupt-sample accuracy above chance + 2 standard errors",
    lambda runs: [Item("SGD", _corr(runs, "sgd"), chance_band(runs, runs["sgd"]), "corrupt acc", "chance band")],
    Comparison(">"), f3)
RM3_LEARNS_SOME = Precondition(
    "RM3 learns some corrupt examples (above chance + 2 standard errors), so M3 can suppress more",
    lambda runs: [Item("RM3", _corr(runs, "rm3"), chance_band(runs, runs["rm3"]), "corrupt acc", "chance band")],
    Comparison(">"), f3)

FIG3 = [
    Claim("rm3-does-not-learn-corrupt", P, "§3.3", "RM3 does not learn the corrupt examples (accuracy at chance)",
          "RM3 achieves good accuracy *only* on the pristine examples and does not learn the corrupt examples.",
          "final corrupt-sample accuracy of RM3 vs chance (1/classes) + 2 standard errors on the corrupt sample",
          lambda runs: [Item("RM3", _corr(runs, "rm3"), chance_band(runs, runs["rm3"]), "corrupt acc", "chance band")],
          Comparison("<="), f3, precondition=SGD_LEARNS_CORRUPT),
    Claim("rm3-inhibits-corrupt", P, "§3.3 (Figure 3)", "RM3 widens the pristine-corrupt gap far beyond SGD's",
          "The suppression of weak gradients by RM3 greatly inhibits learning of corrupt examples as compared to "
          "pristine.",
          "final pristine - corrupt accuracy, RM3 vs SGD",
          lambda runs: [Item("50%", _pris(runs, "rm3") - _corr(runs, "rm3"), _pris(runs, "sgd") - _corr(runs, "sgd"),
                             "RM3", "SGD")],
          Comparison(">", 0.1, "'greatly': at least 10 points"), fsigned, precondition=SGD_LEARNS_CORRUPT),
    Claim("ra3-like-sgd", P, "§3.3 (Figure 3)", "RA3 learns pristine and corrupt examples like SGD",
          "RA3 (Figure (b)) behaves like SGD (Figure (a))",
          "final pristine and corrupt accuracy, RA3 vs SGD",
          lambda runs: [Item(g, _final(runs["ra3"], f"{g}_acc"), _final(runs["sgd"], f"{g}_acc"), "RA3", "SGD")
                        for g in ("pristine", "corrupt")], NEAR, f3, precondition=SGD_LEARNS_CORRUPT),
    Claim("m3-like-rm3", P, "§3.3 (Figure 3)", "M3 learns corrupt examples like RM3",
          "but M3 (Figure (c)) like RM3.",
          "final corrupt accuracy, M3 vs RM3",
          lambda runs: [Item("corrupt", _corr(runs, "m3"), _corr(runs, "rm3"), "M3", "RM3")], NEAR, f3,
          precondition=SGD_LEARNS_CORRUPT),
    Claim("m3-suppresses-more", P, "§3.2 (Eq. 1)", "M3 suppresses corrupt learning more than RM3 (RM3 < M3)",
          "Schematically, in their ability to suppress weak directions, we find that",
          "final corrupt accuracy, M3 vs RM3", lambda runs: [Item("corrupt", _corr(runs, "m3"), _corr(runs, "rm3"),
                                                                  "M3", "RM3")],
          Comparison("<", 0.03, SE2), f3, precondition=RM3_LEARNS_SOME),
]


# --------------------------------------------------------------------------- Figure 8
def _fig8_configs(profile: str, seed: int, overrides: Mapping[str, Any] | None = None) -> dict[tuple[int, float], Any]:
    return {(c, n): cfg for (_, n, c), cfg in ws.figure_configs("ws-fig8", profile, _seeded(overrides, seed)).items()}


def _s(runs: Runs) -> list[int]:
    return sorted({c for c, _ in runs})


S0_MEMORIZES = Precondition(
    "plain SGD (s = 0) memorizes: it fits more than half of the 100%-noise training sample",
    lambda runs: [Item("s=0, 100%", _final(runs[(0, 1.0)], "train_acc"), 0.5, "train acc")],
    Comparison(">"), f3)
S0_OVERFITS = Precondition(
    "plain SGD (s = 0) has a train-test gap to reduce at 0% noise (> 0.05)",
    lambda runs: [Item("s=0, 0%", _gap(runs[(0, 0.0)]), 0.05, "gap")], Comparison(">"), fsigned)

FIG8 = [
    Claim("gap-shrinks-with-s", P, "Appendix B", "0% noise: the train-test gap shrinks as s grows",
          "We can see that as s increases, the gap between train and test accuracy decreases.",
          "final train - test accuracy at 0% noise, each s vs the next smaller",
          lambda runs: [Item(f"s={b} vs s={a}", _gap(runs[(b, 0.0)]), _gap(runs[(a, 0.0)]))
                        for a, b in zip(_s(runs), _s(runs)[1:])],
          Comparison("<", 0.02, SE2), fsigned, precondition=S0_OVERFITS),
    Claim("small-s-same-test", P, "Appendix B", "0% noise: small winsorization (s = 2) leaves test accuracy "
          "about unchanged",
          "for small levels of winsorization, the model performance on test data does not change significantly.",
          "final test accuracy at 0% noise, s = 2 vs s = 0",
          lambda runs: [Item("0%", _final(runs[(2, 0.0)], "test_acc"), _final(runs[(0, 0.0)], "test_acc"),
                             "s=2", "s=0")], NEAR, f3),
    Claim("s0-memorizes", P, "Appendix B", "100% noise, s = 0: the training set is completely memorized",
          "we can see that the model completely memorizes the training data while generalizing very poorly.",
          "final training accuracy (noisy labels), s = 0, 100% noise, vs 100%",
          lambda runs: [Item("s=0, 100%", _final(runs[(0, 1.0)], "train_acc"), 1.0)],
          Comparison(">=", 0.05, "'completely': within 5 points of 100%"), f3,
          paper_value="complete memorization at s = 0 (CIFAR-10, ResNet-32, 100k steps)"),
    Claim("s2-fails-to-learn", P, "Appendix B", "100% noise, s >= 2: the training set is not learned (chance)",
          "By increasing s to 2 in order to suppress weak gradient directions, we find that the model completely "
          "fails to learn the training set.",
          "final training accuracy at 100% noise vs chance + 2 standard errors on the training sample",
          lambda runs: [Item(f"s={c}", _final(runs[(c, 1.0)], "train_acc"), chance_band(runs, runs[(c, 1.0)], "train"),
                             "train acc", "chance band") for c in _s(runs) if c >= 2],
          Comparison("<="), f3, precondition=S0_MEMORIZES),
]


# --------------------------------------------------------------------------- RM3 batch sweep
def rm3_batch_configs(profile: str, seed: int, overrides: Mapping[str, Any] | None = None) -> dict[tuple[str, int], Any]:
    return ws.rm3_batch_configs(profile, _seeded(overrides, seed))


def _batches(runs: Runs) -> list[int]:
    return sorted({b for _, b in runs})


def _rm3_sgd_diff(runs: Runs, b: int) -> float:
    return abs(_final(runs[("rm3", b)], "corrupt_acc") - _final(runs[("sgd", b)], "corrupt_acc"))


SGD_LEARNS_CORRUPT_ALL = Precondition(
    "SGD learns the corrupt examples at every batch size (corrupt accuracy above chance + 2 standard errors)",
    lambda runs: [Item(f"SGD b={b}", _final(runs[("sgd", b)], "corrupt_acc"), chance_band(runs, runs[("sgd", b)]),
                       "corrupt acc", "chance band") for b in _batches(runs)],
    Comparison(">"), f3)

RM3_BATCH = [
    Claim("rm3-larger-batch-like-sgd", P, "§3.3", "The larger RM3's mini-batch, the closer its corrupt-example "
          "accuracy to SGD's",
          "The larger the mini-batch, the more it behaves like SGD",
          "|RM3 - SGD| final corrupt-sample accuracy at 50% noise, each batch size vs the next smaller",
          lambda runs: [Item(f"b={b} vs b={a}", _rm3_sgd_diff(runs, b), _rm3_sgd_diff(runs, a))
                        for a, b in zip(_batches(runs), _batches(runs)[1:])],
          Comparison("<"), f3, precondition=SGD_LEARNS_CORRUPT_ALL,
          note="no margin: a strict decrease at each step of the sweep"),
]


register_claims(
    FigureClaims("ws-fig1", _label_noise_configs("ws-fig1"), LABEL_NOISE),
    FigureClaims("ws-fig2", _fig2_configs, FIG2),
    FigureClaims("ws-fig3", _fig3_configs, FIG3),
    FigureClaims("ws-fig6", _label_noise_configs("ws-fig6"), LABEL_NOISE),
    FigureClaims("ws-fig7", _label_noise_configs("ws-fig7"), LABEL_NOISE),
    FigureClaims("ws-fig8", _fig8_configs, FIG8),
    FigureClaims("ws-rm3-batch", rm3_batch_configs, RM3_BATCH),
)
