"""The WS paper's statements, as claims checked on the stored runs of Figures 1-3, 6-8 and the
RM3 mini-batch sweep (see `cgh_lib.book.claims`).

Margins follow the book's one rule, ``max(floor, 2 SE)``: the SE is the larger of the
seed-to-seed SE and the binomial SE of the accuracies on their samples (`diff_se`, from the
sample sizes each run stores); the floor is the paper's magnitude word ("big", "greatly",
"completely", "about") or 0. "Does not learn" means "within two standard errors of chance
accuracy on the sample", from the sample's size. Every comparative claim names its control:
the same statistic with the aggregator the paper says behaves the other way (RM3 for RA3,
RA3 for RM3 / M3, SGD for a suppressor, s = 0 for winsorization), or says why none exists.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from cgh_lib.book.claims import (
    Claim,
    Comparison,
    Control,
    FigureClaims,
    Item,
    Precondition,
    diff_se,
    f3,
    fsigned,
    magnitude,
    register_claims,
)
from cgh_lib.papers.ws import experiments as ws

P = "WS"
Runs = Mapping[Any, Any]
PAPER_IMAGENET = "the paper: ImageNet, ResNet-18, 90 epochs at batch 256"
PAPER_CIFAR = "the paper: CIFAR-10, ResNet-32, 100K steps at batch 32"


def _seeded(overrides: Mapping[str, Any] | None, seed: int) -> dict[str, Any]:
    return {**(overrides or {}), "seed": seed}


def _final(run: Any, key: str) -> float:
    return float(run.arrays[key][-1])


def _n(run: Any, group: str) -> float:
    """The size of the sample an accuracy of ``group`` (train / test / pristine / corrupt) is measured on."""
    a = run.arrays.get(f"{group}_n")
    if a is not None and len(a) and np.isfinite(a[-1]):
        return float(a[-1])
    c = run.config
    return float({"train": c.get("train_sample") or c.get("n_train", 0), "test": c.get("n_test", 0)}.get(
        group, c.get("n_track", 0)) or 0)


def _acc(run: Any, group: str) -> tuple[float, float]:
    """(final accuracy, its sample size)."""
    return _final(run, f"{group}_acc"), _n(run, group)


def _mean(run: Any, key: str) -> float:
    return ws.curve_mean(run, key)


def _gap(run: Any) -> float:
    return _final(run, "train_acc") - _final(run, "test_acc")


def _gap_se(*runs: Any) -> float:
    return diff_se(*[x for r in runs for x in (_acc(r, "train"), _acc(r, "test"))])


def _scale(run: Any, paper: str) -> str:
    c = run.config
    steps = int(run.final.get("step", 0))
    return (f"{int(c['n_train']):,} {c.get('dataset', '')} training images, {c.get('model', '')}, {steps:,} steps "
            f"at batch {c['batch_size']} ({paper})")


def chance_band(runs: Runs, run: Any, group: str = "corrupt") -> float:
    """Chance accuracy (1/classes) plus two standard errors of an accuracy on the group's sample."""
    p = ws.chance_accuracy(runs)
    n = _n(run, group) or 1
    return p + 2 * math.sqrt(p * (1 - p) / n)


# --------------------------------------------------------------------------- Figures 1, 6, 7
def _label_noise_configs(fig: str):
    def configs(profile: str, seed: int, overrides: Mapping[str, Any] | None = None) -> dict[float, Any]:
        return {n: c for (_, n, _), c in ws.figure_configs(fig, profile, _seeded(overrides, seed)).items()}
    return configs


def _adjacent(keys, value, lab=lambda k: f"{k:.0%}") -> list[Item]:
    return [Item(f"{lab(a)} vs {lab(b)}", value(a), value(b)) for a, b in zip(keys, keys[1:])]


def _cap(run: Any) -> float:
    """The highest training accuracy on the noisy labels without memorizing: the pristine fraction."""
    return float(run.final.get("pristine_fraction", 1.0))


def _noise_slows(runs: Runs) -> list[Item]:
    return _adjacent([n for n in sorted(runs) if n < 1], lambda n: _mean(runs[n], "train_acc") / _cap(runs[n]))


def _noise_slows_control(runs: Runs) -> list[Item]:
    """The 0% run capped at each level's pristine fraction: noise that only removes the corrupt examples."""
    clean = _mean(runs[0.0], "train_acc")
    return _adjacent([n for n in sorted(runs) if n < 1], lambda n: clean * _cap(runs[n]) / _cap(runs[n]))


def _pristine_faster(runs: Runs) -> list[Item]:
    out = []
    for n in sorted(runs):
        if 0 < n < 1:
            r = runs[n]
            p, c = _mean(r, "pristine_acc"), _mean(r, "corrupt_acc")
            out.append(Item(f"{n:.0%}", p, c, "pristine", "corrupt",
                            se=diff_se((p, _n(r, "pristine")), (c, _n(r, "corrupt")))))
    return out


DOSE = "the noise level is the dose and every level is a treatment: no run set predicts the opposite ordering"

LABEL_NOISE = [
    Claim("noise-slows-learning", P, "§2", "More label noise, the learnable part of the training set learned "
          "more slowly",
          "As the label noise increases, the rate at which examples are learned decreases",
          "mean training accuracy over the run's evaluations divided by its cap (the pristine fraction), each "
          "noise level (0-75%) vs the next", _noise_slows, Comparison(">"), f3,
          control=Control("the 0% run with its accuracy capped at each level's pristine fraction (noise that only "
                          "removes the corrupt examples and leaves learning as fast)", _noise_slows_control),
          note="raw training accuracy on noisy labels is capped by the pristine fraction, so the raw curves fall "
               "with noise even when learning is unchanged; the statistic divides by that cap",
          scale=lambda runs: _scale(runs[0.0], PAPER_IMAGENET)),
    Claim("pristine-faster", P, "§2", "Pristine examples are learned faster than corrupt ones",
          "Examples whose labels have not been corrupted (*pristine* examples) should be learned faster than the "
          "rest (*corrupt* examples)",
          "mean accuracy over the run, pristine sample vs corrupt sample",
          _pristine_faster, Comparison(">"), f3,
          no_control="these runs store accuracies of the pristine and corrupt samples, not per-example "
                     "designations, so no null designation can be drawn; the comparison fails if corrupt "
                     "examples are learned as fast as pristine ones"),
    Claim("fewer-pristine-slower", P, "§2", "With more noise (fewer pristine examples), pristine examples are "
          "learned more slowly",
          "With increasing noise, since there are fewer pristine examples, the rate at which they are learned "
          "should decrease.",
          "mean pristine accuracy over the run (0%: all training examples), each noise level (0-75%) vs the next",
          lambda runs: _adjacent([n for n in sorted(runs) if n < 1],
                                 lambda n: _mean(runs[n], "pristine_acc" if n > 0 else "train_acc")),
          Comparison(">"), f3, no_control="pristine labels are the true labels, so this curve has no cap to "
                                          "control for; " + DOSE,
          scale=lambda runs: _scale(runs[0.0], PAPER_IMAGENET)),
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
    "SGD has a generalization gap to reduce: train - test accuracy above 0 by 2 SE at every noise level",
    lambda runs: [Item(f"SGD {n:.0%}", _gap(runs[("sgd", n)]), 0.0, "gap", se=_gap_se(runs[("sgd", n)]))
                  for n in _noises(runs)],
    Comparison(">"), fsigned)
SGD_MEMORIZES = Precondition(
    "SGD memorizes: it fits more than half of the 100%-noise training sample",
    lambda runs: [Item("SGD 100%", _final(runs[("sgd", 1.0)], "train_acc"), 0.5, "train acc")],
    Comparison(">"), f3)


def _overhead_item(runs: Runs, agg: str, target: float) -> list[Item]:
    """Mean over noise levels of the aggregator's stored wall time over SGD's, minus 1, with the
    standard error of that mean over the levels (a CI for the paper's bound)."""
    o = np.array([runs[(agg, n)].wall_time_s / runs[("sgd", n)].wall_time_s - 1 for n in _noises(runs)])
    se = float(np.std(o, ddof=1) / math.sqrt(len(o))) if len(o) > 1 else 0.0
    return [Item(agg.upper(), float(np.mean(o)), target, "overhead", se=se)]


QUIET_MACHINE = Precondition(
    "the timings are usable: SGD's wall times at the three noise levels agree within 10% (a quiet machine)",
    lambda runs: [Item("SGD", max(runs[("sgd", n)].wall_time_s for n in _noises(runs))
                       / min(runs[("sgd", n)].wall_time_s for n in _noises(runs)) - 1, 0.1, "spread")],
    Comparison("<", noise=False), f3)


def _gap_vs(a: str, b: str):
    def f(runs: Runs) -> list[Item]:
        return [Item(f"{n:.0%}", _gap(runs[(a, n)]), _gap(runs[(b, n)]), a.upper(), b.upper(),
                     se=_gap_se(runs[(a, n)], runs[(b, n)])) for n in _noises(runs)]
    return f


def _like_sgd(agg: str):
    def f(runs: Runs) -> list[Item]:
        out = []
        for n in _noises(runs):
            for g in ("train", "test"):
                x, y = _acc(runs[(agg, n)], g), _acc(runs[("sgd", n)], g)
                out.append(Item(f"{n:.0%} {g}", x[0], y[0], agg.upper(), "SGD", se=diff_se(x, y)))
        return out
    return f


def _train_vs(a: str, b: str, levels=(0.5, 1.0)):
    def f(runs: Runs) -> list[Item]:
        out = []
        for n in _noises(runs):
            if n in levels:
                x, y = _acc(runs[(a, n)], "train"), _acc(runs[(b, n)], "train")
                out.append(Item(f"{n:.0%}", x[0], y[0], a.upper(), b.upper(), se=diff_se(x, y)))
        return out
    return f


def _memorization(aggs: Sequence[str]):
    def f(runs: Runs) -> list[Item]:
        y = _acc(runs[("sgd", 1.0)], "train")
        return [Item(a.upper(), _acc(runs[(a, 1.0)], "train")[0], y[0], a.upper(), "SGD",
                     se=diff_se(_acc(runs[(a, 1.0)], "train"), y)) for a in aggs]
    return f


def _unstable(agg: str, refs):
    def f(runs: Runs) -> list[Item]:
        return [Item(f"{agg.upper()} 0% vs {lab}", _loss_rise(runs[(agg, 0.0)]), _loss_rise(runs[key]))
                for key, lab in refs if key in runs]
    return f


TIMING = "timed from the runs themselves; benchmarks/bench_aggregators.py measures it on an idle machine"


def _timing_scale(runs: Runs) -> str:
    r = runs[("sgd", 0.0)]
    p = r.provenance
    return (f"timed on {p.get('device_name') or p.get('device', '?')}, {int(r.config['n_train']):,} images, "
            f"{r.config.get('model', '')} (the paper: ImageNet, ResNet-18, 8 GPUs)")

FIG2 = [
    Claim("rm3-overhead", P, "§3.3", "RM3 adds less than 1% to SGD's run time",
          "RM3 increases the run-time of SGD by less than 1%",
          "mean over noise levels of RM3's stored wall time / SGD's - 1; holds when its 2-SE upper end is below 1%",
          lambda runs: _overhead_item(runs, "rm3", 0.01), Comparison("<"), f3, precondition=QUIET_MACHINE,
          paper_value="< 1% (ImageNet, 8 GPUs)", note=TIMING,
          control=Control("M3 in place of RM3 (the paper: M3 adds about 30%)",
                          lambda runs: _overhead_item(runs, "m3", 0.01)), scale=_timing_scale),
    Claim("m3-overhead", P, "§3.3", "M3 adds about 30% to SGD's run time",
          "whereas M3 adds about 30% overhead.",
          "mean over noise levels of M3's stored wall time / SGD's - 1",
          lambda runs: _overhead_item(runs, "m3", 0.3), magnitude("~", "about"), f3, precondition=QUIET_MACHINE,
          paper_value="about 30% (ImageNet, 8 GPUs)", note=TIMING,
          control=Control("RM3 in place of M3 (the paper: RM3 adds less than 1%)",
                          lambda runs: _overhead_item(runs, "rm3", 0.3)), scale=_timing_scale),
    Claim("rm3-smaller-gap", P, "§3.3", "RM3 has a smaller generalization gap than SGD at every noise level",
          "In all cases (including 0% noise, i.e, the real labels), we find that the suppression of weak gradients "
          "in RM3 leads to a lower generalization gap than SGD.",
          "final train - test accuracy, RM3 vs SGD", _gap_vs("rm3", "sgd"), Comparison("<"), fsigned,
          precondition=SGD_OVERFITS,
          control=Control("RA3 in place of RM3 (the paper: RA3 resembles SGD)", _gap_vs("ra3", "sgd")),
          scale=lambda runs: _scale(runs[("sgd", 0.0)], PAPER_IMAGENET)),
    Claim("m3-smaller-gap-than-rm3", P, "§3.3", "M3 has an even smaller generalization gap than RM3",
          "On the other, we find that M3 shows an even smaller generalization gap than RM3.",
          "final train - test accuracy, M3 vs RM3", _gap_vs("m3", "rm3"), Comparison("<"), fsigned,
          precondition=SGD_OVERFITS,
          control=Control("RA3 in place of M3 (the paper: RA3 does not suppress)", _gap_vs("ra3", "rm3")),
          scale=lambda runs: _scale(runs[("sgd", 0.0)], PAPER_IMAGENET)),
    Claim("ra3-like-sgd", P, "§3.3", "RA3 behaves almost identically to SGD (final train and test accuracy)",
          "the behavior of RA3 is almost identically to SGD.",
          "final training and test accuracy, RA3 vs SGD", _like_sgd("ra3"), Comparison("~"), f3,
          control=Control("RM3 in place of RA3 (the paper: RM3 differs from SGD)", _like_sgd("rm3"))),
    Claim("rm3-ra3-big-difference", P, "§3.3", "RM3 fits noisy labels far less than RA3 (a big difference)",
          "we see that there is a big difference between RM3 and RA3",
          "final training accuracy (noisy labels) at 50% and 100% noise, RM3 vs RA3",
          _train_vs("rm3", "ra3"), magnitude("<", "big"), f3, precondition=SGD_MEMORIZES,
          control=Control("SGD in place of RM3 (the paper: SGD and RA3 are almost identical)", _train_vs("sgd", "ra3")),
          scale=lambda runs: _scale(runs[("sgd", 0.0)], PAPER_IMAGENET)),
    Claim("median-reduces-memorization", P, "Abstract", "RM3 and M3 greatly reduce memorization of random labels",
          "we find that they indeed greatly reduce overfitting (and memorization)",
          "final training accuracy at 100% noise, RM3 and M3 vs SGD",
          _memorization(("rm3", "m3")), magnitude("<", "greatly"), f3, precondition=SGD_MEMORIZES,
          control=Control("RA3 in place of RM3 and M3 (the paper: RA3 does not suppress)", _memorization(("ra3",))),
          scale=lambda runs: _scale(runs[("sgd", 0.0)], PAPER_IMAGENET)),
    Claim("m3-unstable-at-0", P, "§3.3", "M3 is optimization-unstable at 0% noise (its training loss rises), "
          "unlike M3 at 50%/100% noise and SGD at 0%",
          "We see this for M3 with 0% label noise (Figure 2 (g)) where directions are expected to be stronger "
          "than in the 50% and 100% cases where this does not happen.",
          "largest rise of the training loss above its running minimum (nats)",
          _unstable("m3", ((("m3", 0.5), "M3 50%"), (("m3", 1.0), "M3 100%"), (("sgd", 0.0), "SGD 0%"))),
          Comparison(">"), f3,
          control=Control("SGD in place of M3 at 0% vs 50% / 100% (the paper reports no instability for SGD)",
                          _unstable("sgd", ((("sgd", 0.5), "SGD 50%"), (("sgd", 1.0), "SGD 100%")))),
          scale=lambda runs: _scale(runs[("sgd", 0.0)], PAPER_IMAGENET)),
]


# --------------------------------------------------------------------------- Figure 3
def _fig3_configs(profile: str, seed: int, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {a: c for (a, _, _), c in ws.figure_configs("ws-fig3", profile, _seeded(overrides, seed)).items()}


def _corr(runs: Runs, a: str) -> float:
    return _final(runs[a], "corrupt_acc")


def _at_chance(agg: str):
    def f(runs: Runs) -> list[Item]:
        return [Item(agg.upper(), _corr(runs, agg), chance_band(runs, runs[agg]), "corrupt acc", "chance band")]
    return f


def _inhibits(agg: str):
    def f(runs: Runs) -> list[Item]:
        def gap(a: str) -> float:
            return _final(runs[a], "pristine_acc") - _corr(runs, a)
        se = diff_se(*[_acc(runs[a], g) for a in (agg, "sgd") for g in ("pristine", "corrupt")])
        return [Item("50%", gap(agg), gap("sgd"), agg.upper(), "SGD", se=se)]
    return f


def _like_sgd3(agg: str):
    def f(runs: Runs) -> list[Item]:
        return [Item(g, _acc(runs[agg], g)[0], _acc(runs["sgd"], g)[0], agg.upper(), "SGD",
                     se=diff_se(_acc(runs[agg], g), _acc(runs["sgd"], g))) for g in ("pristine", "corrupt")]
    return f


def _corrupt_vs(pairs: Sequence[tuple[str, str]]):
    def f(runs: Runs) -> list[Item]:
        return [Item(f"{a.upper()} vs {b.upper()}", _corr(runs, a), _corr(runs, b), a.upper(), b.upper(),
                     se=diff_se(_acc(runs[a], "corrupt"), _acc(runs[b], "corrupt"))) for a, b in pairs]
    return f


SGD_LEARNS_CORRUPT = Precondition(
    "SGD learns the corrupt examples: final corrupt-sample accuracy above chance + 2 standard errors",
    _at_chance("sgd"), Comparison(">", noise=False), f3)
RM3_LEARNS_SOME = Precondition(
    "RM3 learns some corrupt examples (above chance + 2 standard errors), so M3 can suppress more",
    _at_chance("rm3"), Comparison(">", noise=False), f3)

FIG3 = [
    Claim("rm3-does-not-learn-corrupt", P, "§3.3", "RM3 does not learn the corrupt examples (accuracy at chance)",
          "RM3 achieves good accuracy *only* on the pristine examples and does not learn the corrupt examples.",
          "final corrupt-sample accuracy of RM3 vs chance (1/classes) + 2 standard errors on the corrupt sample",
          _at_chance("rm3"), Comparison("<=", noise=False), f3,
          control=Control("SGD in place of RM3 (the paper: SGD learns the corrupt examples)", _at_chance("sgd")),
          scale=lambda runs: _scale(runs["sgd"], PAPER_IMAGENET)),
    Claim("rm3-inhibits-corrupt", P, "§3.3 (Figure 3)", "RM3 widens the pristine-corrupt gap far beyond SGD's",
          "The suppression of weak gradients by RM3 greatly inhibits learning of corrupt examples as compared to "
          "pristine.",
          "final pristine - corrupt accuracy, RM3 vs SGD", _inhibits("rm3"), magnitude(">", "greatly"), fsigned,
          precondition=SGD_LEARNS_CORRUPT,
          control=Control("RA3 in place of RM3 (the paper: RA3 behaves like SGD)", _inhibits("ra3")),
          scale=lambda runs: _scale(runs["sgd"], PAPER_IMAGENET)),
    Claim("ra3-like-sgd", P, "§3.3 (Figure 3)", "RA3 learns pristine and corrupt examples like SGD",
          "RA3 (Figure (b)) behaves like SGD (Figure (a))",
          "final pristine and corrupt accuracy, RA3 vs SGD", _like_sgd3("ra3"), Comparison("~"), f3,
          precondition=SGD_LEARNS_CORRUPT,
          control=Control("RM3 in place of RA3 (the paper: RM3 does not learn the corrupt examples)",
                          _like_sgd3("rm3"))),
    Claim("m3-like-rm3", P, "§3.3 (Figure 3)", "M3, like RM3, learns the corrupt examples less than SGD",
          "but M3 (Figure (c)) like RM3.",
          "final corrupt accuracy, M3 vs SGD and RM3 vs SGD",
          _corrupt_vs((("m3", "sgd"), ("rm3", "sgd"))), Comparison("<"), f3, precondition=SGD_LEARNS_CORRUPT,
          control=Control("RA3 in place of M3 (the paper: RA3 behaves like SGD)", _corrupt_vs((("ra3", "sgd"),))),
          scale=lambda runs: _scale(runs["sgd"], PAPER_IMAGENET)),
    Claim("m3-suppresses-more", P, "§3.2 (Eq. 1)", "M3 suppresses corrupt learning more than RM3 (RM3 < M3)",
          "Schematically, in their ability to suppress weak directions, we find that",
          "final corrupt accuracy, M3 vs RM3", _corrupt_vs((("m3", "rm3"),)), Comparison("<"), f3,
          precondition=RM3_LEARNS_SOME,
          control=Control("RA3 in place of M3 (the paper: RA3 does not suppress)", _corrupt_vs((("ra3", "rm3"),)))),
]


# --------------------------------------------------------------------------- Figure 8
def _fig8_configs(profile: str, seed: int, overrides: Mapping[str, Any] | None = None) -> dict[tuple[int, float], Any]:
    return {(c, n): cfg for (_, n, c), cfg in ws.figure_configs("ws-fig8", profile, _seeded(overrides, seed)).items()}


def _s(runs: Runs) -> list[int]:
    return sorted({c for c, _ in runs})


def _s_at_chance(pick):
    def f(runs: Runs) -> list[Item]:
        return [Item(f"s={c}", _final(runs[(c, 1.0)], "train_acc"), chance_band(runs, runs[(c, 1.0)], "train"),
                     "train acc", "chance band") for c in pick(_s(runs))]
    return f


def _test_vs_s0(s: int):
    def f(runs: Runs) -> list[Item]:
        x, y = _acc(runs[(s, 0.0)], "test"), _acc(runs[(0, 0.0)], "test")
        return [Item("0%", x[0], y[0], f"s={s}", "s=0", se=diff_se(x, y))]
    return f


S0_OVERFITS = Precondition(
    "plain SGD (s = 0) has a train-test gap to reduce at 0% noise (above 0 by 2 SE)",
    lambda runs: [Item("s=0, 0%", _gap(runs[(0, 0.0)]), 0.0, "gap", se=_gap_se(runs[(0, 0.0)]))],
    Comparison(">"), fsigned)

FIG8 = [
    Claim("gap-shrinks-with-s", P, "Appendix B", "0% noise: the train-test gap shrinks as s grows",
          "We can see that as s increases, the gap between train and test accuracy decreases.",
          "final train - test accuracy at 0% noise, each s vs the next smaller",
          lambda runs: [Item(f"s={b} vs s={a}", _gap(runs[(b, 0.0)]), _gap(runs[(a, 0.0)]),
                             se=_gap_se(runs[(b, 0.0)], runs[(a, 0.0)]))
                        for a, b in zip(_s(runs), _s(runs)[1:])],
          Comparison("<"), fsigned, precondition=S0_OVERFITS,
          no_control="s is the dose (s = 0 is plain SGD): no run set predicts the opposite ordering",
          scale=lambda runs: _scale(runs[(0, 0.0)], PAPER_CIFAR)),
    Claim("small-s-same-test", P, "Appendix B", "0% noise: small winsorization (s = 2) leaves test accuracy "
          "about unchanged",
          "for small levels of winsorization, the model performance on test data does not change significantly.",
          "final test accuracy at 0% noise, s = 2 vs s = 0", _test_vs_s0(2), Comparison("~"), f3,
          control=Control("the largest s in place of s = 2 (stronger winsorization, which the paper does not call "
                          "small)", lambda runs: _test_vs_s0(_s(runs)[-1])(runs)),
          scale=lambda runs: _scale(runs[(0, 0.0)], PAPER_CIFAR)),
    Claim("s0-memorizes", P, "Appendix B", "100% noise, s = 0: the training set is completely memorized",
          "we can see that the model completely memorizes the training data while generalizing very poorly.",
          "final training accuracy (noisy labels), s = 0, 100% noise, vs 100%",
          lambda runs: [Item("s=0, 100%", _final(runs[(0, 1.0)], "train_acc"), 1.0)],
          magnitude(">=", "completely"), f3,
          paper_value="complete memorization at s = 0 (CIFAR-10, ResNet-32, 100K steps)",
          no_control="a level the paper states for plain SGD; it is itself the control of s2-fails-to-learn",
          scale=lambda runs: _scale(runs[(0, 1.0)], PAPER_CIFAR)),
    Claim("s2-fails-to-learn", P, "Appendix B", "100% noise, s >= 2: the training set is not learned (chance)",
          "By increasing s to 2 in order to suppress weak gradient directions, we find that the model completely "
          "fails to learn the training set.",
          "final training accuracy at 100% noise vs chance + 2 standard errors on the training sample",
          _s_at_chance(lambda ss: [c for c in ss if c >= 2]), Comparison("<=", noise=False), f3,
          control=Control("plain SGD (s = 0) in place of s >= 2 (the paper: it memorizes)",
                          _s_at_chance(lambda ss: [0])),
          scale=lambda runs: _scale(runs[(0, 1.0)], PAPER_CIFAR)),
]


# --------------------------------------------------------------------------- RM3 batch sweep
def rm3_batch_configs(profile: str, seed: int, overrides: Mapping[str, Any] | None = None) -> dict[tuple[str, int], Any]:
    return ws.rm3_batch_configs(profile, _seeded(overrides, seed))


def _batches(runs: Runs) -> list[int]:
    return sorted({b for _, b in runs})


def _rm3_sgd(runs: Runs, b: int) -> tuple[float, float]:
    """|RM3 - SGD| final corrupt-sample accuracy at batch b, and its sampling SE."""
    x, y = _acc(runs[("rm3", b)], "corrupt"), _acc(runs[("sgd", b)], "corrupt")
    return abs(x[0] - y[0]), diff_se(x, y)


RM3_DIFFERS = Precondition(
    "RM3 differs from SGD at the smallest batch (|RM3 - SGD| corrupt accuracy above 0 by 2 SE): else there is "
    "no difference for larger batches to shrink",
    lambda runs: [Item(f"b={_batches(runs)[0]}", _rm3_sgd(runs, _batches(runs)[0])[0], 0.0, "|RM3 - SGD|",
                       se=_rm3_sgd(runs, _batches(runs)[0])[1])],
    Comparison(">"), f3)

RM3_BATCH = [
    Claim("rm3-larger-batch-like-sgd", P, "§3.3", "The larger RM3's mini-batch, the closer its corrupt-example "
          "accuracy to SGD's",
          "The larger the mini-batch, the more it behaves like SGD",
          "|RM3 - SGD| final corrupt-sample accuracy at 50% noise, each batch size vs the next smaller",
          lambda runs: [Item(f"b={b} vs b={a}", _rm3_sgd(runs, b)[0], _rm3_sgd(runs, a)[0],
                             se=math.hypot(_rm3_sgd(runs, b)[1], _rm3_sgd(runs, a)[1]))
                        for a, b in zip(_batches(runs), _batches(runs)[1:])],
          Comparison("<"), f3, precondition=RM3_DIFFERS,
          no_control="the sweep's smallest batch is its own reference; the precondition checks that RM3 differs "
                     "from SGD there"),
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


def rm3_like_sgd_text(profile: str, store: Any = None, seeds: Sequence[int] | None = None) -> str:
    """A generated sentence for the WS Figure 2 / 3 pages: how close RM3's corrupt-sample accuracy is to
    SGD's at ``profile`` (ws-fig3's 50%-noise runs), read from the store; the reason the suppression
    claims fail at this scale, stated with its numbers."""
    from cgh_lib.book.claims import get_claims, load_seed
    from cgh_lib.store.runstore import RunStore

    fc = get_claims("ws-fig3")
    store = store or RunStore()
    vals = {}
    for s in (seeds if seeds is not None else fc.seeds(profile)):
        runs, _ = load_seed(fc.configs(profile, s, None), store)
        if runs is not None:
            vals[s] = (_corr(runs, "rm3"), _corr(runs, "sgd"), _corr(runs, "m3"))
    if not vals:
        return f"No {profile} runs of ws-fig3 are stored."

    def rng(i: int) -> str:
        lo, hi = min(v[i] for v in vals.values()), max(v[i] for v in vals.values())
        return f"{lo:.3f}" if f"{lo:.3f}" == f"{hi:.3f}" else f"{lo:.3f}-{hi:.3f}"
    from cgh_lib.book.claims import evaluate_figure

    v = next(v for v in evaluate_figure("ws-fig3", profile, store=store) if v.claim.id == "rm3-does-not-learn-corrupt")
    like = v.kind in ("fails", "mixed") and "behaves like its control" in v.reason
    head = (f"At the {profile} profile, final corrupt-sample accuracy is {rng(0)} for RM3 against {rng(1)} for SGD "
            f"(and {rng(2)} for M3), seeds {', '.join(map(str, vals))}. ")
    if like:
        return head + ("RM3 behaves like SGD here (its corrupt accuracy is closer to SGD's than to chance), so the "
                       "claims that need RM3 to suppress the corrupt examples fail at this scale.")
    return head + f"RM3 does not behave like SGD here (the rm3-does-not-learn-corrupt verdict: {v.verdict})."
