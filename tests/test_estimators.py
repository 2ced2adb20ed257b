"""The paper's estimator against the exact statistic (`cgh_lib.papers.cg2020.estimators`)."""

import numpy as np
import pytest

from cgh_lib.book.plotting import illegible
from cgh_lib.errors import UserError
from cgh_lib.papers.cg2020 import estimators as est
from cgh_lib.papers.cg2020 import figs23_loss_reduction as lr
from cgh_lib.papers.cg2020.claims import FIG2
from cgh_lib.store.experiments import RunOptions, ensure_runs
from cgh_lib.store.runstore import RunStore

LEVELS = lr.NOISE_LEVELS


def _train_both() -> None:
    for over in (est.PAPER, est.EXACT):
        ensure_runs(lr.figure_configs("smoke", LEVELS, {**over, "seed": 0}), RunOptions(progress=False))


def test_nothing_stored_says_so() -> None:
    cmp = est.compare("cg2020-fig2", "smoke", seeds=[0])
    assert cmp.figure is None and cmp.seeds == [] and cmp.sentences == []
    assert cmp.missing == {"paper": len(LEVELS), "exact": len(LEVELS)}
    with pytest.raises(UserError, match="accepted: cg2020-fig2, cg2020-fig3"):
        est.compare("cg2020-fig1", "smoke")


def test_comparison_matches_a_per_step_reference_and_can_show_a_difference() -> None:
    _train_both()
    cmp = est.compare("cg2020-fig2", "smoke", seeds=[0])
    assert cmp.seeds == [0] and cmp.missing == {"paper": 0, "exact": 0}
    store = RunStore()
    for n in LEVELS:
        paper, exact = (store.load(lr.figure_configs("smoke", [n], {**o, "seed": 0})[0]) for o in (est.PAPER, est.EXACT))
        # the estimator never touches training: the same model, labels and batch order
        for m in ("train_loss", "train_acc", "test_acc"):
            assert np.array_equal(paper.arrays[m], exact.arrays[m]), m
        # slow reference: f_p of the actual designations, one step at a time
        d = []
        for s in range(len(paper.arrays["step"])):
            fp = [r.arrays["inner"][s, 0, 0] / (r.arrays["inner"][s, 0, 0] + r.arrays["inner"][s, 0, 1])
                  for r in (paper, exact)]
            d.append(abs(fp[0] - fp[1]))
        st = cmp.stats[n]
        assert st["n"] == len(d)
        assert st["median"] == pytest.approx(float(np.median(d)), rel=1e-12)
        assert st["max"] == pytest.approx(max(d), rel=1e-12)
        assert st["max_step"] == int(paper.arrays["step"][int(np.argmax(d))])
        assert st["max"] > 1e-3  # 600 sampled weights are not all of them: the comparison sees it
        # control: the exact runs against themselves differ nowhere
        assert est.differences([(exact, exact)], est.QUANTITY["cg2020-fig2"][2])["max"] == 0.0
        # the sentence quotes the computed numbers
        assert f"{st['median']:.3f}" in cmp.sentences[LEVELS.index(n)]
    assert len(cmp.figure.axes) == len(LEVELS)
    assert not illegible(cmp.figure)  # every text >= 9 px in the book's column
    assert [v["claim"] for v in cmp.verdicts] == [c.id for c in FIG2]
    assert all({"paper estimator", "exact estimator"} <= set(v) for v in cmp.verdicts)


def test_figure3_compares_the_relative_gap_of_the_first_steps() -> None:
    _train_both()
    cmp = est.compare("cg2020-fig3", "smoke", seeds=[0])
    k = lr.LossReductionConfig().contrib_steps
    assert all(st["n"] == k + 1 for st in cmp.stats.values())
    assert all(0 <= st["max_step"] <= k for st in cmp.stats.values())
    # a ratio of inner products, so the two estimators' different weight counts cancel: |gap| <= 1 each
    assert all(0 < st["max"] <= 2 for st in cmp.stats.values())


def test_training_note_tells_bit_equal_training_from_cross_machine_drift() -> None:
    import dataclasses

    _train_both()
    pairs, seeds, _ = est.paired_runs("smoke", RunStore(), seeds=[0])
    assert seeds == [0]
    # the same machine trained both: bit-equal, and the note says so (no drift sentence)
    note = est.training_note(pairs)
    assert "bit-equal under both estimators for seed 0" in note and "differs" not in note
    # control: the exact run as if from another CPU whose float order nudged the test accuracy
    # at one evaluation; the CPU name is untrusted store text and must come out inert
    bump, idx = 0.0123, 2
    drifted = {}
    for n, [(p, e)] in pairs.items():
        acc = np.array(e.arrays["test_acc"], dtype=float)
        acc[idx] += bump
        prov = {**e.provenance, "cpu": "<img src=x onerror=alert(1)> {eval}`$x$`"}
        drifted[n] = [(p, dataclasses.replace(e, arrays={**e.arrays, "test_acc": acc}, provenance=prov))]
    note = est.training_note(drifted)
    assert "bit-equal" not in note and "seed 0 the two runs' training differs" in note
    assert f"{bump:.4f}" in note  # the largest difference, computed from the arrays
    assert "<img" not in note and "{eval}" not in note and "`" not in note and "$x$" not in note
    # Figure 3 compares only steps 0..contrib_steps: a nudge after them is outside its window
    k = lr.LossReductionConfig().contrib_steps
    steps = next(iter(pairs.values()))[0][0].arrays["step"]
    late = int(np.flatnonzero(steps > k)[0])
    for n, [(p, e)] in drifted.items():
        acc = np.array(pairs[n][0][1].arrays["test_acc"], dtype=float)
        acc[late] += bump
        drifted[n] = [(p, dataclasses.replace(e, arrays={**e.arrays, "test_acc": acc}))]
    note3 = est.training_note(drifted, est.QUANTITY["cg2020-fig3"][2])
    assert "test accuracy by at most 0.0000" in note3
