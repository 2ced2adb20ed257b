"""The claims layer: verdicts from hand-made runs (holds / fails / mixed / n/a / missing),
comparisons and their margins, and every declared quote found in the paper texts."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from cgh_lib.book import claims as cl
from cgh_lib.book.claims import Claim, Comparison, FigureClaims, Item, Precondition
from cgh_lib.store.runstore import RunStore


@dataclass(frozen=True)
class ToyConfig:
    """A stand-in config: one 'run' per (noise, seed)."""

    EXPERIMENT: ClassVar[str] = "toy-claims"
    noise: float = 0.0
    seed: int = 0


def _store(tmp_path, values: dict[tuple[float, int], tuple[float, float]]) -> RunStore:
    """Runs whose final (pristine_acc, corrupt_acc) are the given pair."""
    store = RunStore(tmp_path)
    for (noise, seed), (p, c) in values.items():
        store.save(ToyConfig(noise, seed), {"pristine_acc": p, "corrupt_acc": c},
                   {"step": np.array([0, 1])}, {"commit": "test"})
    return store


def _configs(profile, seed, overrides=None):
    return {n: ToyConfig(n, seed) for n in (0.5, 1.0)}


SGD_MEMORIZES = Precondition(
    "the corrupt examples are learned (corrupt accuracy above chance)",
    lambda runs: [Item("50%", runs[0.5].final["corrupt_acc"], 0.1)],
    Comparison(">", 0.05, "5 points above chance: below that, learning is indistinguishable from noise"))

PRISTINE_FIRST = Claim(
    id="pristine-first", paper="CG2020", section="§2.3", claim="pristine examples are learned faster",
    quote="Pristine examples are learned faster than corrupt examples.",
    statistic="final accuracy, pristine vs corrupt",
    compute=lambda runs: [Item(f"{n:.0%}", r.final["pristine_acc"], r.final["corrupt_acc"], "pristine", "corrupt")
                          for n, r in runs.items()],
    compare=Comparison(">", 0.0), precondition=SGD_MEMORIZES)


def _evaluate(tmp_path, values, seeds=(0, 1, 2)):
    store = _store(tmp_path, values)
    fc = FigureClaims("toy-fig", _configs, [PRISTINE_FIRST])
    loaded = {s: cl.load_seed(fc.configs("small", s, None), store) for s in seeds}
    return cl.evaluate_claim("toy-fig", "small", PRISTINE_FIRST, loaded)


def _all(seeds, pair):
    return {(n, s): pair for n in (0.5, 1.0) for s in seeds}


def test_holds_when_every_seed_holds(tmp_path):
    v = _evaluate(tmp_path, _all((0, 1, 2), (0.9, 0.3)))
    assert v.verdict == "holds"
    assert [o.status for o in v.outcomes] == ["holds"] * 3
    assert "50%: pristine 0.900 vs corrupt 0.300" in v.measured


def test_fails_when_every_seed_fails(tmp_path):
    v = _evaluate(tmp_path, _all((0, 1, 2), (0.3, 0.9)))
    assert v.verdict == "fails"


def test_mixed_counts_holding_seeds(tmp_path):
    vals = {**_all((0, 1), (0.9, 0.3)), **_all((2,), (0.3, 0.9))}
    v = _evaluate(tmp_path, vals)
    assert v.verdict == "mixed 2/3"
    assert "seed 2: fails" in v.reason


def test_values_that_differ_across_seeds_are_all_shown(tmp_path):
    vals = {**_all((0,), (0.9, 0.3)), **_all((1,), (0.8, 0.3))}
    v = _evaluate(tmp_path, vals, seeds=(0, 1))
    assert "pristine 0.900/0.800 vs corrupt 0.300" in v.measured


def test_na_when_precondition_fails_everywhere(tmp_path):
    # corrupt accuracy at chance: "pristine > corrupt" would hold, but means nothing
    v = _evaluate(tmp_path, _all((0, 1, 2), (0.9, 0.11)))
    assert v.verdict == "n/a"
    assert "precondition" in v.reason and "0.110" in v.reason


def test_a_failed_precondition_in_one_seed_never_yields_holds(tmp_path):
    vals = {**_all((0, 1), (0.9, 0.3)), **_all((2,), (0.9, 0.11))}
    v = _evaluate(tmp_path, vals)
    assert v.verdict == "mixed 2/3"
    assert "precondition fails in seed 2" in v.reason


def test_missing_without_stored_runs(tmp_path):
    v = _evaluate(tmp_path, {})
    assert v.verdict == "missing" and v.measured == ""


def test_partly_stored_seeds_are_named(tmp_path):
    v = _evaluate(tmp_path, _all((0,), (0.9, 0.3)))
    assert v.verdict == "holds"
    assert [o.status for o in v.outcomes] == ["holds", "missing", "missing"]
    assert "seeds 1, 2 not stored" in v.reason
    # a seed with only some of its runs stored counts as missing, not as a partial evaluation
    v = _evaluate(tmp_path, {**_all((0,), (0.9, 0.3)), (0.5, 1): (0.9, 0.3)})
    assert v.outcomes[1].status == "missing" and v.outcomes[1].missing == 1


def test_comparison_margins_and_ties():
    assert Comparison("<", 0.05, "r").holds(0.1, 0.2) and not Comparison("<", 0.05, "r").holds(0.16, 0.2)
    assert Comparison(">", 0.0).holds(0.2, 0.1) and not Comparison(">", 0.0).holds(0.1, 0.1)
    assert Comparison("<=", 0.01, "r").holds(0.105, 0.1) and not Comparison("<=", 0.0).holds(0.105, 0.1)
    assert Comparison(">=").holds(0.1, 0.1)
    assert Comparison("~", 0.05, "r").holds(0.52, 0.5) and not Comparison("~", 0.05, "r").holds(0.6, 0.5)
    # "never" vs "never" is no evidence of an ordering; NaN never holds
    assert not Comparison("<=").holds(math.inf, math.inf)
    assert Comparison("<").holds(3.0, math.inf)
    assert not Comparison("<").holds(float("nan"), 1.0)
    with pytest.raises(ValueError):
        Comparison("<", 0.1)  # a margin needs its reason
    with pytest.raises(ValueError):
        Comparison("!=")


def test_evaluate_figure_reads_the_store_only(tmp_path, monkeypatch):
    store = _store(tmp_path, _all((0, 1, 2), (0.9, 0.3)))
    fc = FigureClaims("toy-fig", _configs, [PRISTINE_FIRST])
    monkeypatch.setitem(cl._REGISTRY, "toy-fig", fc)
    monkeypatch.setattr(cl, "claim_sets", lambda: dict(cl._REGISTRY))
    (v,) = cl.evaluate_figure("toy-fig", "small", store=store)
    assert v.verdict == "holds" and [o.seed for o in v.outcomes] == [0, 1, 2]
    rec = v.as_dict()
    for key in ("figure", "profile", "paper", "section", "claim", "quote", "measured", "seeds", "verdict", "reason"):
        assert key in rec
    json.dumps(rec)
    (v,) = cl.evaluate_figure("toy-fig", "paper", store=store)  # paper profile: one seed
    assert [o.seed for o in v.outcomes] == [0]
    assert "holds in all 3 seeds" in cl.outcome_sentences(cl.evaluate_figure("toy-fig", "small", store=store))[0]


def test_quote_check_is_whitespace_normalized(tmp_path, monkeypatch):
    (tmp_path / "coherent-gradients-iclr2020.txt").write_text("We see that for 25% and\n50% label   noise, f")
    monkeypatch.setenv("CGH_PAPERS", str(tmp_path))
    assert cl.normalize_ws("for 25% and 50% label noise") in cl.paper_text("CG2020")


# --------------------------------------------------------------------------- every declared claim
def _declared():
    return [(fig, c) for fig, fc in cl.claim_sets().items() for c in fc.claims]


def test_every_figure_claim_is_well_formed():
    seen = set()
    for fig, c in _declared():
        assert c.paper in cl.PAPER_FILES, (fig, c.id)
        assert c.quote.strip() and c.statistic.strip() and c.section.strip(), (fig, c.id)
        assert (fig, c.id) not in seen
        seen.add((fig, c.id))


@pytest.mark.parametrize("paper", sorted(cl.PAPER_FILES))
def test_every_quote_occurs_in_the_paper_text(paper):
    files = [cl.papers_dir() / f for f in cl.PAPER_FILES[paper]]
    if not all(f.exists() for f in files):
        pytest.skip(f"paper texts not available under {cl.papers_dir()} (set CGH_PAPERS)")
    text = cl.paper_text(paper)
    bad = [(fig, c.id, c.quote) for fig, c in _declared() if c.paper == paper
           if cl.normalize_ws(c.quote) not in text]
    assert not bad, f"quotes not found verbatim in the {paper} text: {bad}"
