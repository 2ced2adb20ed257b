"""WS §4's claims (Figure 4, Figure 5(a), the §4.4 table) declared through the claims layer.

Seeds: the profile's (small: 0, 1, 2). For Figure 4 and §4.4 a seed reruns the classification
to 50% and the trainings with that seed; Figure 5(a)'s difficulty always uses the
classifications of seeds 0-7, and a seed reruns its RM3 / SGD trainings
(`easy_hard.seed_overrides`).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from cgh_lib.book.claims import Claim, Comparison, FigureClaims, Item, Precondition, register_claims
from cgh_lib.papers.ws import easy_hard as eh

M = 0.05
M_REASON = "5 points: one run per set and seed at the CPU profiles, no error bars within a seed"


def _configs(fig: str):
    def configs(profile: str, seed: int, overrides: Mapping[str, Any] | None = None) -> Mapping[Any, Any]:
        return eh.figure_configs(fig, profile, {**(overrides or {}), **eh.seed_overrides(fig, seed)})
    return configs


def _acc_by_level(runs, agg: str) -> np.ndarray:
    lv, n = eh.difficulty(runs)
    correct = eh.unpack_mask(runs[agg].arrays["train_correct"], int(runs[agg].arrays["n"]))
    return eh.accuracy_by_difficulty(lv, correct, n)[0]


def _extremes(runs) -> list[Item]:
    t = eh.difficulty_table(runs)
    n = len(t) - 1
    return [Item("difficulty 0 or 8", float(t["ours share"].iloc[0] + t["ours share"].iloc[n]),
                 2 * float(t["share if runs were independent"].iloc[0] + t["share if runs were independent"].iloc[n]),
                 "measured share", "2 x independent")]


CONSISTENT = Precondition(
    "difficulty is consistent across seeds (the extremes hold over twice the share independent labelling gives)",
    _extremes, Comparison(">", 0.0))


def _own(run) -> str:
    return eh.own_test(run)


register_claims(
    FigureClaims(figure="ws-fig4", configs=_configs("ws-fig4"), claims=[
        Claim(id="easy-learned-faster", paper="WS", section="§4.2",
              claim="e-train is learned faster than h-train",
              quote="the easy examples (e-train) is learned faster than the hard examples (h-train)",
              statistic="mean training accuracy over the first quarter of training",
              compute=lambda runs: [Item("", eh.speed(runs["easy"]), eh.speed(runs["hard"]), "easy", "hard")],
              compare=Comparison(">", 0.0)),
        Claim(id="easy-loss-steeper", paper="WS", section="§4.2",
              claim="the easy run's training loss falls faster early on",
              quote="The slope of the corresponding losses early in training suggest that the gradients of the "
                    "easy examples are more coherent than those of the hard examples",
              statistic="training-loss drop per epoch from step 0 to the first evaluation",
              compute=lambda runs: [Item("", eh.early_loss_slope(runs["easy"]), eh.early_loss_slope(runs["hard"]),
                                         "easy", "hard")],
              compare=Comparison(">", 0.0), note="we measure the loss slope, the paper's proxy, not coherence"),
        Claim(id="easy-smaller-gap", paper="WS", section="§4.2",
              claim="the generalization gap of easy is smaller than that of hard",
              quote="the measured generalization gap for easy is significantly smaller than that for hard",
              statistic="final training accuracy minus own-test accuracy (e-test / h-test)",
              compute=lambda runs: [Item("", eh.gap(runs["easy"]), eh.gap(runs["hard"]), "easy", "hard")],
              compare=Comparison("<", M, "'significantly': " + M_REASON)),
    ]),
    FigureClaims(figure="ws-tab44", configs=_configs("ws-tab44"), claims=[
        Claim(id="easy-to-hard-poor", paper="WS", section="§4.4",
              claim="the e-train model does much worse on h-test than on e-test",
              quote="the decision boundary learned from the easy examples, generalizes poorly to the hard examples",
              statistic="final accuracy of the e-train model on h-test vs on e-test",
              compute=lambda runs: [Item("", runs["easy"].final["h_test_acc"], runs["easy"].final["e_test_acc"],
                                         "h-test", "e-test")],
              compare=Comparison("<", M, "'poorly': " + M_REASON), paper_value="17% vs 85%"),
        Claim(id="hard-to-easy-poor", paper="WS", section="§4.4",
              claim="the h-train model does much worse on e-test than the e-train model",
              quote="hard examples do not generalize well to easy examples",
              statistic="final e-test accuracy of the h-train vs the e-train model",
              compute=lambda runs: [Item("plain", runs["hard"].final["e_test_acc"], runs["easy"].final["e_test_acc"],
                                         "h-train", "e-train"),
                                    Item("class-balanced", runs["hard"].final["e_test_balanced_acc"],
                                         runs["easy"].final["e_test_balanced_acc"], "h-train", "e-train")],
              compare=Comparison("<", M, "'much lower': " + M_REASON), paper_value="44% vs 85%",
              note="class-balanced = mean of per-class accuracies, so e-test's class mix does not weigh in"),
    ]),
    FigureClaims(figure="ws-fig5a", configs=_configs("ws-fig5a"), claims=[
        Claim(id="rm3-harder-for-difficult", paper="WS", section="§4.3",
              claim="RM3's training accuracy falls as difficulty rises",
              quote="the suppression of weak gradients makes it harder to learn the more difficult examples",
              statistic="RM3 final training accuracy at each difficulty vs the next",
              compute=lambda runs: [Item(f"{d} vs {d + 1}", a, b, f"level {d}", f"level {d + 1}")
                                    for d, (a, b) in enumerate(zip(_acc_by_level(runs, "rm3")[:-1],
                                                                   _acc_by_level(runs, "rm3")[1:]))],
              compare=Comparison(">=", 0.01, "1 point: levels hold few examples at the small profile"),
              precondition=CONSISTENT, paper_value="99.15% ... 61.01% (monotone)"),
        Claim(id="super-hard-vs-super-easy", paper="WS", section="§4.3",
              claim="under RM3 the super hard examples are learned far less than the super easy ones",
              quote="the super hard examples have a top-1 training accuracy of only 61% in comparison to 99% for "
                    "the super easy ones",
              statistic="RM3 final training accuracy at difficulty 8 vs 0",
              compute=lambda runs: [Item("", _acc_by_level(runs, "rm3")[-1], _acc_by_level(runs, "rm3")[0],
                                         "difficulty 8", "difficulty 0")],
              compare=Comparison("<", M, M_REASON), precondition=CONSISTENT, paper_value="61% vs 99%"),
        Claim(id="rm3-disproportionate", paper="WS", section="Figure 5(a)",
              claim="RM3 loses more accuracy from easy to hard examples than SGD does",
              quote="The suppression of weak gradients by RM3 disproportionately impacts the learning of more "
                    "difficult examples",
              statistic="accuracy drop from difficulty 0 to 8, RM3 vs SGD (same recipe, no momentum)",
              compute=lambda runs: [Item("", float(_acc_by_level(runs, "rm3")[0] - _acc_by_level(runs, "rm3")[-1]),
                                         float(_acc_by_level(runs, "sgd")[0] - _acc_by_level(runs, "sgd")[-1]),
                                         "RM3", "SGD")],
              compare=Comparison(">", M, M_REASON), precondition=CONSISTENT),
        Claim(id="sgd-learns-all", paper="WS", section="§4.3",
              claim="SGD learns (almost) every training example by the end",
              quote="Recall that *all* examples are correctly learned by SGD after 90 epochs",
              statistic="SGD final accuracy over the whole training set",
              compute=lambda runs: [Item("", runs["sgd"].final["train_full_acc"], 0.99, "SGD", "99%")],
              compare=Comparison(">=", 0.0), note="the CPU profiles train 10 epochs, not 90"),
    ]),
)
