"""The claims layer: verdicts from hand-made runs (holds / fails / mixed / uninformative / n/a /
missing), controls, margins from the seeds' and the samples' variation, sources (every quote
verbatim in a seed text, none from the notes), and the presentation (text badges, tables that wrap)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from cgh_lib.book import claims as cl
from cgh_lib.book.claims import Claim, Comparison, Control, FigureClaims, Item, Precondition
from cgh_lib.store.runstore import RunStore
from conftest import REPO


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
    compare=Comparison(">", 0.0), precondition=SGD_MEMORIZES, no_control="a toy claim")


def _evaluate(tmp_path, values, seeds=(0, 1, 2), claim=PRISTINE_FIRST):
    store = _store(tmp_path, values)
    fc = FigureClaims("toy-fig", _configs, [claim])
    loaded = {s: cl.load_seed(fc.configs("small", s, None), store) for s in seeds}
    return cl.evaluate_claim("toy-fig", "small", claim, loaded)


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
    # differences 0.10 / 0.11 / 0.05 against a seed margin of 2 x sqrt(2) x sd(0.60, 0.61, 0.55) = 0.091
    vals = {**_all((0,), (0.6, 0.5)), **_all((1,), (0.61, 0.5)), **_all((2,), (0.55, 0.5))}
    v = _evaluate(tmp_path, vals)
    assert v.verdict == "mixed 2/3"
    assert "in seed 2" in v.reason and "Why:" in v.reason


def test_values_that_differ_across_seeds_are_all_shown(tmp_path):
    vals = {**_all((0,), (0.9, 0.3)), **_all((1,), (0.8, 0.3))}
    v = _evaluate(tmp_path, vals, seeds=(0, 1))
    assert "pristine 0.900/0.800 vs corrupt 0.300" in v.measured


def test_na_when_precondition_fails_everywhere(tmp_path):
    # corrupt accuracy at chance: "pristine > corrupt" would hold, but means nothing
    v = _evaluate(tmp_path, _all((0, 1, 2), (0.9, 0.11)))
    assert v.verdict == "n/a"
    assert "precondition" in v.reason and "0.110" in v.reason


def test_na_seeds_are_shown_apart_not_counted_as_failures(tmp_path):
    vals = {**_all((0, 1), (0.9, 0.3)), **_all((2,), (0.9, 0.11))}
    v = _evaluate(tmp_path, vals)
    assert v.verdict == "holds 2/2, 1 n/a" and v.kind == "holds"
    assert "n/a in seed 2" in v.reason and "precondition" in v.reason
    # one seed fails, one holds, one n/a: mixed over the two decided seeds only
    vals = {**_all((0,), (0.6, 0.5)), **_all((1,), (0.55, 0.5)), **_all((2,), (0.9, 0.11))}
    v = _evaluate(tmp_path / "b", vals)
    assert v.verdict == "mixed 1/2, 1 n/a" and v.kind == "mixed"


def test_missing_without_stored_runs(tmp_path):
    v = _evaluate(tmp_path, {})
    assert v.verdict == "missing" and v.measured == ""


def test_partly_stored_seeds_are_named_and_too_few_seeds_decide_nothing(tmp_path):
    v = _evaluate(tmp_path, _all((0,), (0.9, 0.3)))
    assert v.verdict == "n/a"  # a run-based verdict rests on >= 3 seeds with stored runs
    assert [o.status for o in v.outcomes] == ["holds", "missing", "missing"]
    assert "seeds 1, 2 not stored" in v.reason and f"at least {cl.MIN_SEEDS}" in v.reason
    assert "0.900" in v.measured  # what was measured is still shown
    # a seed with only some of its runs stored counts as missing, not as a partial evaluation
    v = _evaluate(tmp_path, {**_all((0,), (0.9, 0.3)), (0.5, 1): (0.9, 0.3)})
    assert v.outcomes[1].status == "missing" and v.outcomes[1].missing == 1


def test_comparison_margins_and_ties():
    assert Comparison("<", 0.05, "r").holds(0.1, 0.2) and not Comparison("<", 0.05, "r").holds(0.16, 0.2)
    assert Comparison(">", 0.0).holds(0.2, 0.1) and not Comparison(">", 0.0).holds(0.1, 0.1)
    assert Comparison("<=", 0.01, "r").holds(0.105, 0.1) and not Comparison("<=", 0.0).holds(0.105, 0.1)
    assert Comparison(">=").holds(0.1, 0.1)
    assert Comparison("<").holds(0.1, 0.2, margin=0.05) and not Comparison("<").holds(0.1, 0.2, margin=0.15)
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
    for key in ("figure", "profile", "paper", "section", "claim", "quote", "measured", "seeds", "verdict", "reason",
                "source", "control", "margin", "margin_basis"):
        assert key in rec
    assert rec["source"] == "quote" and rec["control"]["verdict"] == "none" and rec["control"]["why_none"]
    json.dumps(rec)
    (v,) = cl.evaluate_figure("toy-fig", "paper", store=store)  # paper profile: one seed, too few to decide
    assert [o.seed for o in v.outcomes] == [0] and v.verdict == "n/a"
    sentences = cl.outcome_sentences(cl.evaluate_figure("toy-fig", "small", store=store))
    assert "holds in all 3 decided seeds" in sentences[0]


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
        assert c.source in cl.SOURCES, (fig, c.id)
        assert c.source == "quote" or c.cite.strip(), (fig, c.id)  # a paraphrase / derivation says where from
        assert c.control is not None or c.no_control.strip(), (fig, c.id)  # a control, or why there is none
        assert (fig, c.id) not in seen
        seen.add((fig, c.id))


SEED_TEXTS = ("coherent-gradients-iclr2020.txt", "weak-strong-gradient-directions.md",
              "generalization-mystery-2022-summary.txt", "generalization-mystery-blog.md")


def test_no_claim_quotes_the_notes():
    assert all(cl.NOTES_FILE not in files for files in cl.PAPER_FILES.values())
    assert {f for files in cl.PAPER_FILES.values() for f in files} == set(SEED_TEXTS)


def test_every_quote_is_verbatim_in_a_seed_text():
    """Every `quote` row occurs verbatim (whitespace-normalized) in one of the four seed texts; a
    row whose text is only in the reproduction notes is not a quote."""
    files = [cl.papers_dir() / f for f in SEED_TEXTS]
    if not all(f.exists() for f in files):
        pytest.skip(f"paper texts not available under {cl.papers_dir()} (set CGH_PAPERS)")
    texts = [cl.normalize_ws(f.read_text(encoding="utf-8")) for f in files]
    quotes = [(fig, c) for fig, c in _declared() if c.source == "quote"]
    assert quotes
    bad = [(fig, c.id, c.quote) for fig, c in quotes if not any(cl.normalize_ws(c.quote) in t for t in texts)]
    assert not bad, f"quotes not found verbatim in a seed text: {bad}"
    # and in the paper the row names
    own = [(fig, c.id) for fig, c in quotes if cl.normalize_ws(c.quote) not in cl.paper_text(c.paper)]
    assert not own, own


def test_the_quote_check_catches_a_notes_only_sentence(tmp_path, monkeypatch):
    for f in SEED_TEXTS:
        (tmp_path / f).write_text("GD converges to something else.")
    (tmp_path / cl.NOTES_FILE).write_text("GD converges to the minimum-norm interpolant.")
    monkeypatch.setenv("CGH_PAPERS", str(tmp_path))
    assert "minimum-norm interpolant" not in cl.paper_text("GM2022")


# --------------------------------------------------------------------------- the command
def test_cgh_claims_json_reads_the_store_only(tmp_path, capsys):
    from cgh_lib.cli import main

    # an empty store: every claim is "missing" (nothing is trained, nothing is written)
    assert main(["claims", "ws-fig8", "cg2020-fig2", "--profile", "small", "--json", "--runs", str(tmp_path)]) == 0
    recs = json.loads(capsys.readouterr().out)
    assert recs and {r["figure"] for r in recs} == {"ws-fig8", "cg2020-fig2"}
    keys = {"figure", "profile", "paper", "section", "claim", "quote", "measured", "seeds", "verdict", "reason"}
    assert all(keys <= set(r) for r in recs)
    assert {r["verdict"] for r in recs} == {"missing"}
    assert not any(tmp_path.iterdir())


def test_cgh_claims_rejects_an_unknown_figure(capsys):
    from cgh_lib.cli import main

    assert main(["claims", "no-such-figure", "--profile", "small"]) == 2
    err = capsys.readouterr().err
    assert "no-such-figure" in err and "cg2020-fig1" in err


def test_dashboard_has_a_column_per_profile(tmp_path):
    rows = cl.dashboard(store=RunStore(tmp_path), figures=["ws-fig8"])
    from cgh_lib.store.experiments import PROFILES

    assert rows and all(r[f"verdict_{p}"] == "missing" for r in rows for p in PROFILES)
    html = cl.dashboard_html(rows)
    assert "ws_fig8_winsorization_cifar10.html" in html
    assert html.count("<details") == 2 and "<details open" not in html  # paper and figure, closed by default
    assert "<b>WS</b>" in html  # the summary row of the paper
    assert not any(ord(ch) > 0x2FFF for ch in html)  # text badges, no emoji


# --------------------------------------------------------------------------- controls and margins
def _ctrl_claim(control_pair):
    """Pristine > corrupt, with a control computed from a fixed (lhs, rhs) per seed."""
    return Claim(id="ctrl", paper="CG2020", section="§2.3", claim="pristine faster",
                 quote="Pristine examples are learned faster than corrupt examples.",
                 statistic="final accuracy, pristine vs corrupt",
                 compute=lambda runs: [Item("50%", runs[0.5].final["pristine_acc"], runs[0.5].final["corrupt_acc"])],
                 compare=Comparison(">"),
                 control=Control("a null designation", lambda runs: [Item("50%", *control_pair(runs))]))


def test_a_claim_whose_control_also_holds_is_uninformative_never_a_hold(tmp_path):
    vals = _all((0, 1, 2), (0.9, 0.3))
    v = _evaluate(tmp_path, vals, claim=_ctrl_claim(lambda runs: (0.8, 0.3)))
    assert v.verdict == "uninformative" and v.control_verdict == "holds"
    assert "the control (a null designation) also holds" in v.reason
    assert cl.counts([v])["CG2020"]["holds"] == 0 and cl.counts([v])["CG2020"]["uninformative"] == 1
    assert v.as_dict()["control"]["verdict"] == "holds"
    # a control that fails leaves the hold standing
    v = _evaluate(tmp_path / "b", vals, claim=_ctrl_claim(lambda runs: (0.3, 0.3)))
    assert v.verdict == "holds" and v.control_verdict == "fails"
    # the control holding in one seed only: that seed is uninformative, the others hold
    # the control holding in two seeds (differences 0.10 / 0.11 / 0.05 against its seed margin 0.091)
    v = _evaluate(tmp_path / "c", vals, claim=_ctrl_claim(
        lambda runs: ({0: 0.6, 1: 0.61, 2: 0.55}[runs[0.5].config["seed"]], 0.5)))
    assert v.verdict == "uninformative 2/3"
    assert [o.status for o in v.outcomes] == ["uninformative", "uninformative", "holds"]


def test_a_claim_needs_a_control_or_a_reason_for_none():
    with pytest.raises(ValueError):
        Claim(id="x", paper="CG2020", section="§1", claim="c", quote="q", statistic="s",
              compute=lambda runs: [], compare=Comparison(">"))
    with pytest.raises(ValueError):  # a paraphrase names where it comes from
        Claim(id="x", paper="GM2022", section="§1", claim="c", quote="q", statistic="s",
              compute=lambda runs: [], compare=Comparison(">"), no_control="n", source="paraphrase")


def test_margin_comes_from_seed_to_seed_variation(tmp_path):
    # differences of 0.05 with seeds scattered by 0.1: inside 2 seed SE, so not a difference
    noisy = {**_all((0,), (0.55, 0.5)), **_all((1,), (0.65, 0.6)), **_all((2,), (0.45, 0.4))}
    v = _evaluate(tmp_path, noisy, claim=PRISTINE_FIRST)
    m = v.margins[("50%", "pristine", "corrupt")]
    sd = np.std([0.55, 0.65, 0.45], ddof=1)
    assert m.value == pytest.approx(2 * math.sqrt(2) * sd) and v.verdict == "fails"
    assert "2 x seed SE over 3 seeds" in v.margin_basis and v.margin == pytest.approx(m.value)
    assert "needs it higher by more than" in v.reason and "Why:" in v.reason
    # the same difference with quiet seeds holds
    quiet = {**_all((0,), (0.55, 0.5)), **_all((1,), (0.551, 0.5)), **_all((2,), (0.549, 0.5))}
    assert _evaluate(tmp_path / "b", quiet, claim=PRISTINE_FIRST).verdict == "holds"


def test_sampling_error_and_the_floor_also_set_the_margin():
    items = {0: [Item("a", 0.60, 0.50, se=0.04)], 1: [Item("a", 0.60, 0.50, se=0.03)]}
    (m,) = cl.applied_margins(Comparison(">"), items).values()
    assert m.value == pytest.approx(0.08) and m.seed_se == 0.0
    (m,) = cl.applied_margins(Comparison(">", 0.1, "'big'"), items).values()
    assert m.value == pytest.approx(0.1)
    (m,) = cl.applied_margins(Comparison(">", 0.01, "exact", noise=False), items).values()
    assert m.value == 0.01  # an exact computation: the floor alone


def test_a_paper_bound_is_tested_with_its_interval_not_widened():
    """"< 1%": a measured 0.5% whose 2-SE interval reaches 1.3% does not confirm the bound."""
    c = Comparison("<")
    items = {s: [Item("RM3", 0.005, 0.01, se=0.004)] for s in (0, 1, 2)}
    (m,) = cl.applied_margins(c, items).values()
    assert not c.holds(0.005, 0.01, m.value)
    items = {s: [Item("RM3", 0.002, 0.01, se=0.001)] for s in (0, 1, 2)}
    (m,) = cl.applied_margins(c, items).values()
    assert c.holds(0.002, 0.01, m.value)


class Diverged:
    """A stored run seen as diverged (claims read ``.diverged``)."""

    def __init__(self, r):
        self._r, self.diverged = r, True

    def __getattr__(self, k):
        return getattr(self._r, k)


def test_a_diverged_run_makes_its_seed_na(tmp_path):
    store = _store(tmp_path, _all((0, 1, 2), (0.9, 0.3)))
    loaded = {s: cl.load_seed(_configs("small", s), store) for s in (0, 1, 2)}
    runs, n = loaded[1]
    loaded[1] = ({k: Diverged(r) for k, r in runs.items()}, n)
    v = cl.evaluate_claim("toy-fig", "small", PRISTINE_FIRST, loaded)
    assert v.verdict == "holds 2/2, 1 n/a" and "diverged" in v.reason


def test_a_diverged_run_a_claim_does_not_read_leaves_its_verdict_decided(tmp_path):
    """One diverged cell of a grid makes n/a only the claims that read it (or iterate over all runs)."""
    store = _store(tmp_path, _all((0, 1, 2), (0.9, 0.3)))
    only_50 = Claim(
        id="only-50", paper="CG2020", section="§2.3", claim="pristine first at 50%",
        quote="Pristine examples are learned faster than corrupt examples.", statistic="final accuracy",
        compute=lambda runs: [Item("50%", runs[0.5].final["pristine_acc"], runs[0.5].final["corrupt_acc"])],
        compare=Comparison(">", 0.0), no_control="a toy claim")
    loaded = {s: cl.load_seed(_configs("small", s), store) for s in (0, 1, 2)}
    for s in (0, 1, 2):  # the 100% cell diverged in every seed
        runs, n = loaded[s]
        loaded[s] = ({**runs, 1.0: Diverged(runs[1.0])}, n)
    assert cl.evaluate_claim("toy-fig", "small", only_50, loaded).verdict == "holds"
    v = cl.evaluate_claim("toy-fig", "small", PRISTINE_FIRST, loaded)  # iterates over every run
    assert v.verdict == "n/a" and "diverged" in v.reason


def test_sustained_crossover_rules_from_the_docstring_are_enforced():
    from cgh_lib.papers.cg2020.claims import CROSS_RUN, sustained_crossover

    assert CROSS_RUN >= 2
    steps = np.arange(6)
    # an end-of-run dip (the last evaluation, or a window cut short by the end) is not a crossover
    assert sustained_crossover(steps, np.array([.9, .8, .8, .8, .8, .4])) == math.inf
    assert sustained_crossover(steps, np.array([.9, .8, .8, .8, .4, .4]), run=3) == math.inf
    assert sustained_crossover(steps, np.array([.9, .8, .8, .4, .4, .4]), run=3) == 3
    with pytest.raises(ValueError):
        sustained_crossover(steps, np.array([.9, .4, .8, .8, .8, .8]), run=1)


# --------------------------------------------------------------------------- presentation
def test_claims_table_wraps_in_the_column_with_text_badges(tmp_path, monkeypatch):
    store = _store(tmp_path, _all((0, 1, 2), (0.9, 0.3)))
    fc = FigureClaims("toy-fig", _configs, [PRISTINE_FIRST])
    monkeypatch.setitem(cl._REGISTRY, "toy-fig", fc)
    monkeypatch.setattr(cl, "claim_sets", lambda: dict(cl._REGISTRY))
    html = cl.table_html(cl.evaluate_figure("toy-fig", "small", store=store))
    assert "table-layout:fixed" in html and "overflow-wrap:anywhere" in html
    widths = [int(w) for w in __import__("re").findall(r'<col style="width:(\d+)%">', html)]
    assert len(widths) == 6 and sum(widths) <= 100
    assert ">holds</span>" in html and "<th>paper</th>" in html and "the paper's words" not in html
    assert not any(ord(ch) > 0x2FFF for ch in html)
    assert cl.badge_html("mixed 1/3").count("mixed 1/3") == 1


# --------------------------------------------------------------------------- the stored small runs
def _committed() -> RunStore:
    """The committed run store (read only; the tests' own store is an empty temporary folder)."""
    return RunStore(REPO / "runs")


def test_no_stored_claim_holds_while_its_control_holds():
    """On the committed small-profile runs: no hold with a holding control, run-based verdicts on >= 3
    seeds, every fail / uninformative / n/a explained by a generated reason."""
    vs = cl.evaluate(None, "small", _committed())
    if sum(v.kind != "missing" for v in vs) < 20:
        pytest.skip("the committed small-profile runs are not in this checkout")
    for v in vs:
        for o in v.outcomes:
            assert not (o.status == "holds" and o.control_status == "holds"), (v.figure, v.claim.id)
        if v.kind == "holds":
            assert v.control_verdict in ("", "fails"), (v.figure, v.claim.id)
        if v.kind in ("fails", "mixed", "uninformative", "n/a"):
            assert v.reason, (v.figure, v.claim.id)
        if v.kind in ("fails", "mixed"):
            assert "Why:" in v.reason, (v.figure, v.claim.id)
        if v.kind in ("holds", "fails", "mixed", "uninformative") and v.figure != "gm-fig1":
            assert sum(o.status != "missing" for o in v.outcomes) >= cl.MIN_SEEDS, (v.figure, v.claim.id)


def test_readme_counts_are_the_stored_verdicts():
    """The README's per-paper verdict table is what the committed small runs give (regenerate it with
    `counts_markdown("small")` after a change to a claim or a run)."""
    if all(v.kind == "missing" for v in cl.evaluate(["ws-fig3"], "small", _committed())):
        pytest.skip("the committed small-profile runs are not in this checkout")
    readme = cl.normalize_ws((REPO / "README.md").read_text(encoding="utf-8"))
    assert cl.normalize_ws(cl.counts_markdown("small", _committed())) in readme
