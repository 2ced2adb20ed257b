"""Claims as data: what a paper says, what we measured, and a verdict a reader can audit.

A `Claim` names the paper, the section and its **source**: ``quote`` (a sentence found
verbatim in a seed text, checked by tests/test_claims.py), ``paraphrase`` (a result the
paper reports, in our words, with where it is reported) or ``derived`` (our own derivation;
not counted as the paper's claim). It gives the statistic, a `Comparison`, optionally a
`Precondition` (what must be true for the comparison to mean anything) and a `Control`:
the same statistic computed on runs where the paper's mechanism predicts the opposite
(e.g. RM3 in place of RA3 for "RA3 behaves like SGD"). A claim without a control says why
(``no_control``).

**Margins** are a rule, declared here before any result is read and never tuned per claim:
a difference counts only if it exceeds ``max(floor, 2 SE)``, where the floor is the paper's
own word for a magnitude (`WORD_FLOOR`: "big", "greatly", "poorly", "much", ... = 10 points
of accuracy; "about" = 10 points; 0 otherwise) and SE is the larger of

* the seed-to-seed standard error of a one-seed difference,
  ``sqrt(sd_seeds(lhs)^2 + sd_seeds(rhs)^2)`` over the seeds that have the item, and
* the sampling standard error an item carries (``Item.se``: e.g. the binomial SE of two
  accuracies on their samples, or the SE of a mean over noise levels).

A bound the paper states ("< 1%") is tested the same way, so ``lhs < bound - 2 SE`` is the
upper end of a two-sided 95% interval below the bound; it is never widened. Comparisons of
exact computations (``noise=False``) use the floor alone.

A claim is evaluated **per seed** on the stored runs of one figure:

* ``holds`` / ``fails``: the comparison holds (or not) for every item of that seed;
* ``uninformative``: the claim holds, but so does its control (never counted as a hold);
* ``n/a``: the precondition failed, or a run diverged (``run.diverged``);
* ``missing``: the seed's runs are not all stored.

and aggregated over the seeds: ``holds`` / ``fails`` / ``uninformative`` when the decided
seeds agree (holds and uninformative seeds together read ``uninformative``), ``mixed k/n``
(k of the n decided seeds hold) when they disagree, ``n/a`` when no seed is decided, and
``missing`` without runs. n/a seeds are shown apart ("holds 2/2, 1 n/a"). A run-based verdict
needs at least `MIN_SEEDS` seeds with stored runs (else ``n/a``: the margin needs the seeds'
variation). Every fail, uninformative and n/a carries a generated sentence naming the measured
reason. Evaluation only reads the run store (`RunStore.load`): it never trains.

A paper declares its claims in ``cgh_lib/papers/<paper>/claims.py``::

    register_claims(FigureClaims(
        figure="cg2020-fig1",
        configs=lambda profile, seed, overrides: {n: cfg, ...},   # key -> config, one seed
        claims=[Claim(id=..., paper="CG2020", section="§2.3", claim=..., quote=...,
                      statistic=..., compute=lambda runs: [Item(...), ...],
                      compare=Comparison("<"), control=Control(...) or no_control="why")]))

``compute`` receives ``{key: RunResult}`` for one seed and returns `Item`s (``lhs``
compared with ``rhs``); the claim holds for that seed when every item does. `cgh claims`
and the figure notebooks both call `evaluate_figure` / `claims_table`.
"""

from __future__ import annotations

import html
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from collections import abc
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from cgh_lib.errors import UserError, choice_error
from cgh_lib.store.experiments import PROFILES, check_profile, default_seeds
from cgh_lib.store.provenance import REPO_ROOT
from cgh_lib.store.runstore import RunResult, RunStore

KINDS = ("holds", "fails", "mixed", "uninformative", "n/a", "missing")
VERDICTS = KINDS  # kept for callers of the old name
SOURCES = ("quote", "paraphrase", "derived")
MIN_SEEDS = 3  # a run-based verdict rests on at least this many seeds with stored runs
# the seed texts a `quote` is checked against (``$CGH_PAPERS`` or ../shared/papers); the
# reproduction notes are not a seed text: a claim built on them is a paraphrase or derived
PAPER_FILES: dict[str, tuple[str, ...]] = {
    "CG2020": ("coherent-gradients-iclr2020.txt",),
    "WS": ("weak-strong-gradient-directions.md",),
    "GM2022": ("generalization-mystery-2022-summary.txt", "generalization-mystery-blog.md"),
}
NOTES_FILE = "generalization-mystery-2022-notes.md"
# the paper's magnitude words, as floors of a difference in accuracy (declared once, for every claim)
WORD_FLOOR: dict[str, float] = {"big": 0.10, "greatly": 0.10, "poorly": 0.10, "much": 0.10,
                                "completely": 0.05, "about": 0.10}


def papers_dir() -> Path:
    env = os.environ.get("CGH_PAPERS")
    return Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "papers"


def normalize_ws(text: str) -> str:
    """Whitespace-normalized text: every run of whitespace is one space."""
    return re.sub(r"\s+", " ", text).strip()


def paper_text(paper: str) -> str:
    """The paper's seed texts, whitespace-normalized (all its files joined)."""
    if paper not in PAPER_FILES:
        raise choice_error("paper", paper, PAPER_FILES)
    return " ".join(normalize_ws((papers_dir() / f).read_text(encoding="utf-8")) for f in PAPER_FILES[paper])


# --------------------------------------------------------------------------- formatting
def f3(v: float) -> str:
    return "nan" if v != v else f"{v:.3f}"


def fsigned(v: float) -> str:
    return "nan" if v != v else f"{v:+.3f}"


def fsteps(v: float) -> str:
    """A step count; infinity reads "never"."""
    if v != v:
        return "nan"
    return "never" if math.isinf(v) else f"{int(round(v)):,}"


def fpct(v: float) -> str:
    return "nan" if v != v else f"{v:.1%}"


def fg(v: float) -> str:
    return "nan" if v != v else f"{v:.3g}"


# --------------------------------------------------------------------------- the data
@dataclass(frozen=True)
class Comparison:
    """``lhs OP rhs`` with a margin ``m``: ``<``: lhs < rhs - m; ``>``: lhs > rhs + m;
    ``<=``: lhs <= rhs + m; ``>=``: lhs >= rhs - m; ``~``: |lhs - rhs| <= m.

    ``margin`` is the *floor* (with its one-line ``reason``); with ``noise=True`` the margin
    applied is ``max(floor, 2 SE)`` (see the module docstring), computed by `applied_margins`.
    An item with a NaN side, or with both sides infinite (e.g. "never" vs "never"), does not
    hold: a tie of two non-events is not evidence of an ordering.
    """

    op: str
    margin: float = 0.0
    reason: str = ""
    noise: bool = True

    OPS = ("<", "<=", ">", ">=", "~")

    def __post_init__(self) -> None:
        if self.op not in self.OPS:
            raise ValueError(f"comparison op {self.op!r}; accepted: {', '.join(self.OPS)}")
        if self.margin < 0:
            raise ValueError(f"comparison margin {self.margin} must be >= 0")
        if self.margin > 0 and not self.reason:
            raise ValueError("a non-zero margin needs its one-line reason")

    def holds(self, lhs: float, rhs: float, margin: float | None = None) -> bool:
        lhs, rhs = float(lhs), float(rhs)
        if lhs != lhs or rhs != rhs or (math.isinf(lhs) and math.isinf(rhs)):
            return False
        m = self.margin if margin is None or margin != margin else margin
        return {"<": lhs < rhs - m, "<=": lhs <= rhs + m, ">": lhs > rhs + m, ">=": lhs >= rhs - m,
                "~": abs(lhs - rhs) <= m}[self.op]

    def describe(self, margin: float | None = None) -> str:
        m = self.margin if margin is None else margin
        word = "margin" if self.noise else f"{m:g}"
        if self.op == "~":
            return f"|lhs - rhs| <= {word}"
        if not m and not self.noise:
            return f"lhs {self.op} rhs"
        sign = "-" if self.op in ("<", ">=") else "+"
        return f"lhs {self.op} rhs {sign} {word}"


def magnitude(op: str, word: str) -> Comparison:
    """A comparison whose floor is the paper's magnitude word (`WORD_FLOOR`), e.g. ``magnitude("<", "big")``."""
    floor = WORD_FLOOR[word]
    return Comparison(op, floor, f"the paper's '{word}': {floor:.0%} of accuracy (the book's one rule for that word)")


@dataclass(frozen=True)
class Item:
    """One comparison of a claim at one condition (e.g. one noise level), for one seed."""

    label: str        # the condition, e.g. "50%" ("" when there is one)
    lhs: float
    rhs: float
    lhs_name: str = ""  # e.g. "pristine" (shown before the value)
    rhs_name: str = ""
    se: float = 0.0     # sampling standard error of lhs - rhs (0: none known / exact)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.label, self.lhs_name, self.rhs_name)


Runs = Mapping[Any, RunResult]
Compute = Callable[[Runs], Sequence[Item]]


def acc_se(p: float, n: float) -> float:
    """Binomial standard error of an accuracy ``p`` measured on ``n`` examples (0 if n unknown)."""
    p, n = float(p), float(n)
    if not (n > 0) or p != p:
        return 0.0
    p = min(max(p, 0.0), 1.0)
    return math.sqrt(max(p * (1 - p), 1.0 / n) / n)  # never 0: a perfect score on n examples is not exact


def diff_se(*pairs: tuple[float, float]) -> float:
    """SE of a sum / difference of independent accuracies, each given as (p, n)."""
    return math.sqrt(sum(acc_se(p, n) ** 2 for p, n in pairs))


@dataclass(frozen=True)
class Precondition:
    """What must be true (per seed) for a claim's comparison to mean anything."""

    text: str                 # e.g. "plain SGD memorizes the corrupt labels"
    compute: Compute
    compare: Comparison
    fmt: Callable[[float], str] = f3


@dataclass(frozen=True)
class Control:
    """The claim's statistic on runs where the paper's mechanism predicts the opposite (or no effect).

    Evaluated per seed with the claim's comparison and the same margin rule (its own items'
    variation). A seed where the claim and its control both hold is ``uninformative``."""

    text: str                 # e.g. "RM3 in place of RA3 (the paper: RM3 differs from SGD)"
    compute: Compute


@dataclass(frozen=True)
class Claim:
    id: str                   # stable, unique within its figure, e.g. "noise-slows-learning"
    paper: str                # key of PAPER_FILES
    section: str              # e.g. "§2.3"
    claim: str                # our one-line statement of what is tested
    quote: str                # the source text: verbatim (quote), our words (paraphrase, derived)
    statistic: str            # what is measured, one line
    compute: Compute
    compare: Comparison
    fmt: Callable[[float], str] = f3
    precondition: Precondition | None = None
    paper_value: str = ""     # the paper's own reported number, where its text gives one
    note: str = ""            # a caveat shown with the row (scale, wording)
    source: str = "quote"     # quote | paraphrase | derived
    cite: str = ""            # where a paraphrase / derivation comes from (e.g. "notes §7")
    control: Control | None = None
    no_control: str = ""      # why no control makes sense (required when control is None)
    scale: Callable[[Runs], str] | None = None  # a measured sentence: how this profile's setting differs

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"{self.id}: source {self.source!r}; accepted: {', '.join(SOURCES)}")
        if self.source != "quote" and not self.cite:
            raise ValueError(f"{self.id}: a {self.source} names where it comes from (cite)")
        if self.control is None and not self.no_control:
            raise ValueError(f"{self.id}: a claim names its control or says why it has none (no_control)")


@dataclass(frozen=True)
class FigureClaims:
    """The claims of one figure and how to find its stored runs for one seed."""

    figure: str
    configs: Callable[[str, int, Mapping[str, Any] | None], Mapping[Any, Any]]
    claims: Sequence[Claim]
    seeds: Callable[[str], Sequence[int]] = default_seeds


_REGISTRY: dict[str, FigureClaims] = {}


def register_claims(*sets: FigureClaims) -> None:
    """Called by a paper's claims module at import (the paper package imports it)."""
    for s in sets:
        ids = [c.id for c in s.claims]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{s.figure}: duplicate claim ids {sorted(i for i in ids if ids.count(i) > 1)}")
        _REGISTRY[s.figure] = s


def claim_sets() -> dict[str, FigureClaims]:
    """Every registered figure's claims, in registration order (papers discovered first)."""
    from cgh_lib.book.registry import discover

    discover()
    return dict(_REGISTRY)


def get_claims(figure: str) -> FigureClaims:
    sets = claim_sets()
    if figure not in sets:
        raise choice_error("figure with claims", figure, sets)
    return sets[figure]


# --------------------------------------------------------------------------- margins
@dataclass(frozen=True)
class Margin:
    value: float
    seed_se: float            # nan: fewer than 2 seeds with finite values
    sampling_se: float
    n_seeds: int


def applied_margins(compare: Comparison, per_seed: Mapping[int, Sequence[Item]],
                    seeds: bool = True) -> dict[tuple, Margin]:
    """The margin of each item (by `Item.key`) from the rule ``max(floor, 2 SE)`` over the seeds given
    (``seeds=False``: the floor and the items' sampling SE only, for a per-seed fact like a precondition)."""
    by_key: dict[tuple, list[Item]] = {}
    for items in per_seed.values():
        for it in items:
            by_key.setdefault(it.key, []).append(it)
    out = {}
    for key, its in by_key.items():
        lhs = np.array([i.lhs for i in its], dtype=float)
        rhs = np.array([i.rhs for i in its], dtype=float)
        ok = np.isfinite(lhs) & np.isfinite(rhs)
        seed_se = (math.sqrt(np.var(lhs[ok], ddof=1) + np.var(rhs[ok], ddof=1)) if seeds and ok.sum() >= 2
                   else math.nan)
        samp = max((i.se for i in its if i.se == i.se), default=0.0)
        if compare.noise:
            value = max(compare.margin, 2 * (seed_se if seed_se == seed_se else 0.0), 2 * samp)
        else:
            value = compare.margin
        out[key] = Margin(value, seed_se, samp, int(ok.sum()))
    return out


def _rng(values: Sequence[float], fmt: Callable[[float], str] = fg) -> str:
    v = [x for x in values if x == x]
    if not v:
        return "-"
    lo, hi = min(v), max(v)
    return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)}-{fmt(hi)}"


def margin_basis(compare: Comparison, margins: Mapping[tuple, Margin]) -> str:
    """How the margins were computed, in one line (ranges over the claim's items)."""
    floor = f"floor {compare.margin:g}" + (f" ({compare.reason})" if compare.reason else "")
    if not compare.noise:
        return f"{floor}; an exact computation, no noise term"
    ms = list(margins.values())
    if not ms:
        return f"max({floor}, 2 SE)"
    seeds = [m.seed_se for m in ms]
    n = max(m.n_seeds for m in ms)
    parts = [floor]
    parts.append(f"2 x seed SE over {n} seeds {_rng([2 * s for s in seeds])}" if any(s == s for s in seeds)
                 else "seed SE unmeasured (fewer than 2 seeds)")
    if any(m.sampling_se > 0 for m in ms):
        parts.append(f"2 x sampling SE {_rng([2 * m.sampling_se for m in ms])}")
    return f"max({', '.join(parts)}) = {_rng([m.value for m in ms])}"


# --------------------------------------------------------------------------- evaluation
@dataclass
class SeedOutcome:
    seed: int
    status: str               # holds | fails | uninformative | n/a | missing
    items: list[Item] = field(default_factory=list)
    pre_items: list[Item] = field(default_factory=list)
    missing: int = 0          # configs of this seed not stored
    control_items: list[Item] = field(default_factory=list)
    control_status: str = ""  # holds | fails | "" (no control, or not evaluated)
    control_held: list[str] = field(default_factory=list)  # the conditions at which the control holds
    note: str = ""            # why n/a when not the precondition (a diverged run)
    scale: str = ""           # the claim's scale sentence for this seed's runs


@dataclass
class Verdict:
    figure: str
    profile: str
    claim: Claim
    outcomes: list[SeedOutcome]
    verdict: str              # display text: "holds", "mixed 1/3", "holds 2/2, 1 n/a", ...
    reason: str
    measured: str
    kind: str = ""            # one of KINDS
    margins: dict = field(default_factory=dict)
    control_verdict: str = ""
    control_measured: str = ""
    control_margins: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kind = self.kind or (self.verdict.split() or [""])[0]

    @property
    def margin(self) -> float:
        """The largest margin applied to the claim's items (the floor when none was computed)."""
        return max((m.value for m in self.margins.values()), default=self.claim.compare.margin)

    @property
    def margin_basis(self) -> str:
        return margin_basis(self.claim.compare, self.margins)

    def control_dict(self) -> dict[str, Any]:
        c = self.claim
        if c.control is None:
            return {"text": None, "verdict": "none", "why_none": c.no_control}
        return {"text": c.control.text, "verdict": self.control_verdict or "not evaluated",
                "measured": self.control_measured,
                "per_seed": {str(o.seed): o.control_status or "-" for o in self.outcomes},
                "margin_basis": margin_basis(c.compare, self.control_margins)}

    def as_dict(self) -> dict[str, Any]:
        """The `cgh claims --json` record."""
        c = self.claim
        evaluated = [o for o in self.outcomes if o.status != "missing"]
        return {"figure": self.figure, "profile": self.profile, "id": c.id, "paper": c.paper,
                "section": c.section, "claim": c.claim, "source": c.source,
                "quote": c.quote if c.source == "quote" else None,
                "source_text": c.quote, "cite": c.cite or None, "statistic": c.statistic,
                "comparison": c.compare.describe(), "margin": self.margin, "margin_floor": c.compare.margin,
                "margin_reason": c.compare.reason, "margin_basis": self.margin_basis,
                "margin_per_item": {" / ".join(x for x in k if x) or "-": m.value for k, m in self.margins.items()},
                "precondition": c.precondition.text if c.precondition else None,
                "control": self.control_dict(),
                "measured": self.measured, "seeds": [o.seed for o in evaluated],
                "per_seed": {str(o.seed): o.status for o in self.outcomes},
                "verdict": self.verdict, "kind": self.kind, "reason": self.reason,
                "paper_value": c.paper_value or None}


class RunDiverged(KeyError):
    """A claim read a run that diverged (it has no curves): that seed's verdict is n/a."""


class _LiveRuns(abc.Mapping):
    """A seed's runs as a claim reads them: reading a diverged run raises `RunDiverged`.

    Why: a grid (Figure 4's 25 cells) can hold one diverged cell; a claim about other
    cells is still decided, one that reads the diverged cell (or iterates over all) is n/a.
    """

    def __init__(self, runs: Runs) -> None:
        self._runs = runs

    def __getitem__(self, key: Any) -> RunResult:
        r = self._runs[key]
        if getattr(r, "diverged", False):
            raise RunDiverged(key)
        return r

    def __iter__(self) -> Any:
        return iter(self._runs)

    def __len__(self) -> int:
        return len(self._runs)


def evaluate_figure(figure: str, profile: str, overrides: Mapping[str, Any] | None = None,
                    seeds: Sequence[int] | None = None, store: RunStore | None = None) -> list[Verdict]:
    """Every claim of ``figure`` at ``profile``, from stored runs only (never trains)."""
    check_profile(profile)
    fc = get_claims(figure)
    store = store or RunStore()
    seeds = list(fc.seeds(profile) if seeds is None else seeds)
    if not seeds:
        raise UserError(f"no seeds given for figure {figure}; accepted: a non-empty list of seeds")
    try:
        cfgs = {s: fc.configs(profile, s, overrides) for s in seeds}
    except (KeyError, UserError):  # a profile this figure does not define (e.g. `large` for WS)
        return [Verdict(figure, profile, c, [SeedOutcome(s, "missing") for s in seeds], "missing",
                        f"figure {figure} has no {profile} profile", "") for c in fc.claims]
    loaded = {s: load_seed(cfgs[s], store) for s in seeds}
    run_based = any(cfgs[s] for s in seeds)
    return [evaluate_claim(figure, profile, c, loaded, run_based) for c in fc.claims]


def load_seed(configs: Mapping[Any, Any], store: RunStore) -> tuple[dict[Any, RunResult] | None, int]:
    """The stored runs of one seed's configs (None if any is missing) and how many are missing."""
    out: dict[Any, RunResult] = {}
    missing = 0
    for key, cfg in configs.items():
        r = store.load(cfg)
        if r is None:
            missing += 1
        else:
            out[key] = r
    return (None if missing else out), missing


def _all_hold(compare: Comparison, items: Sequence[Item], margins: Mapping[tuple, Margin]) -> bool:
    return bool(items) and all(compare.holds(i.lhs, i.rhs, margins[i.key].value if i.key in margins else None)
                               for i in items)


def evaluate_claim(figure: str, profile: str, claim: Claim,
                   loaded: Mapping[int, tuple[Runs | None, int]], run_based: bool = True) -> Verdict:
    """One claim over the seeds: items per seed, margins across seeds, then per-seed statuses."""
    outcomes: list[SeedOutcome] = []
    for seed, (runs, n_missing) in loaded.items():
        if runs is None:
            outcomes.append(SeedOutcome(seed, "missing", missing=n_missing))
            continue
        o = SeedOutcome(seed, "")
        live = _LiveRuns(runs)
        try:
            if claim.precondition is not None:
                o.pre_items = list(claim.precondition.compute(live))
            o.items = list(claim.compute(live))
            if claim.control is not None:
                o.control_items = list(claim.control.compute(live))
        except RunDiverged as e:
            o.pre_items, o.items, o.control_items = [], [], []
            o.status, o.note = "n/a", f"seed {seed}: run {e.args[0]} diverged"
        if not o.status and claim.scale is not None:
            try:  # a description of the setting: a run lacking a field leaves it out, never the verdict
                o.scale = claim.scale(live)
            except (KeyError, TypeError, ValueError):
                o.scale = ""
        outcomes.append(o)
    # a precondition is a fact about each seed's own runs: its margin is the floor and the sampling SE
    pre_margins = (applied_margins(claim.precondition.compare, {o.seed: o.pre_items for o in outcomes if o.pre_items},
                                   seeds=False) if claim.precondition else {})
    for o in outcomes:
        if not o.status and claim.precondition is not None \
                and not _all_hold(claim.precondition.compare, o.pre_items, pre_margins):
            o.status = "n/a"
    # margins from the seeds that are decided (a seed whose precondition failed, e.g. timings from a
    # busy machine, or whose run diverged, does not measure the noise of the comparison)
    live = [o for o in outcomes if not o.status]
    margins = applied_margins(claim.compare, {o.seed: o.items for o in live if o.items})
    cmargins = applied_margins(claim.compare, {o.seed: o.control_items for o in live if o.control_items})
    for o in live:
        ok = _all_hold(claim.compare, o.items, margins)
        if claim.control is not None:
            o.control_held = control_holds_at(claim.compare, o.control_items, cmargins)
            o.control_status = "holds" if _all_hold(claim.compare, o.control_items, cmargins) else "fails"
        o.status = ("uninformative" if ok and o.control_status == "holds" else "holds") if ok else "fails"
    v = Verdict(figure, profile, claim, outcomes, "", "", "", margins=margins, control_margins=cmargins)
    _aggregate(v, run_based, pre_margins)
    return v


def evaluate_seed(claim: Claim, seed: int, runs: Runs | None, n_missing: int = 0) -> SeedOutcome:
    """One seed on its own (margins from the floor and the sampling SE; no seed variation):
    ``missing`` without runs, ``n/a`` if the precondition fails or a run diverged, else ``holds`` /
    ``fails``, or ``uninformative`` when its control holds too."""
    return evaluate_claim("-", "-", claim, {seed: (runs, n_missing)}, run_based=False).outcomes[0]


def control_holds_at(compare: Comparison, control: Sequence[Item], margins: Mapping[tuple, Margin]) -> list[str]:
    """The conditions (item labels, e.g. a noise level) at which the control holds. The control holds
    as a whole, making the claim uninformative, when it holds at every condition; where it holds at
    some only, those conditions do not discriminate and the verdict's reason says so."""
    labels = list(dict.fromkeys(j.label for j in control))
    return [lab for lab in labels if _all_hold(compare, [j for j in control if j.label == lab], margins)]


def _seeds_text(seeds: Sequence[int]) -> str:
    return f"seed{'s' if len(seeds) != 1 else ''} {', '.join(map(str, seeds))}"


def _aggregate(v: Verdict, run_based: bool, pre_margins: Mapping[tuple, Margin]) -> None:
    """Fill the verdict, its kind, measured text and generated reason from the per-seed outcomes."""
    c, outcomes = v.claim, v.outcomes
    ev = [o for o in outcomes if o.status != "missing"]
    miss = [o.seed for o in outcomes if o.status == "missing"]
    decided = [o for o in ev if o.status in ("holds", "fails", "uninformative")]
    na = [o for o in ev if o.status == "n/a"]
    with_items = [o for o in ev if o.items]
    v.measured = format_items([o.items for o in with_items], c.fmt, v.margins)
    v.control_measured = format_items([o.control_items for o in with_items if o.control_items], c.fmt)
    if c.control is not None and decided:
        cs = [o.control_status for o in decided]
        v.control_verdict = ("holds" if all(s == "holds" for s in cs) else "fails" if all(s == "fails" for s in cs)
                             else f"mixed {cs.count('holds')}/{len(cs)}")
    reasons: list[str] = []
    if not ev:
        v.verdict, v.kind, v.measured = "missing", "missing", ""
        v.reason = "no runs stored for " + _seeds_text([o.seed for o in outcomes])
        return
    h = sum(o.status == "holds" for o in decided)
    f = sum(o.status == "fails" for o in decided)
    u = sum(o.status == "uninformative" for o in decided)
    if run_based and len(ev) < MIN_SEEDS:
        kind = "n/a"
        reasons.append(f"{len(ev)} seed{'s' if len(ev) != 1 else ''} with stored runs; a run-based verdict needs "
                       f"at least {MIN_SEEDS} (the margin rests on the seeds' variation)"
                       + (f"; per seed: {', '.join(f'{o.seed} {o.status}' for o in ev)}" if ev else ""))
    elif not decided:
        kind = "n/a"
    elif run_based and c.compare.noise and len(decided) < 2:
        kind = "n/a"
        reasons.append(f"only {_seeds_text([o.seed for o in decided])} decided ({decided[0].status}): a margin from "
                       "the seeds' variation needs at least 2")
    elif f == 0 and u == 0:
        kind = "holds"
    elif h == 0 and u == 0:
        kind = "fails"
    elif f == 0:
        kind = "uninformative"
    else:
        kind = "mixed"
    n = len(decided)
    if kind == "mixed":
        text = f"mixed {h}/{n}"
    elif kind in ("holds", "fails", "uninformative") and (na or (kind == "uninformative" and h)):
        k = {"holds": h, "fails": f, "uninformative": u}[kind]
        text = f"{kind} {k}/{n}"
    else:
        text = kind
    if na and kind != "n/a":
        text += f", {len(na)} n/a"
    v.verdict, v.kind = text, kind
    # ---- the generated reasons
    if kind in ("fails", "mixed"):
        reasons.append(_fail_sentence(v, [o for o in decided if o.status == "fails"]))
    if kind in ("uninformative", "mixed") and u:
        reasons.append(_uninformative_sentence(v, [o for o in decided if o.status == "uninformative"]))
    holding = [o for o in decided if o.status == "holds"]
    if holding and c.control is not None:
        reasons.append(_partial_control_sentence(v, holding))
    pre_na = [o for o in na if not o.note]
    if pre_na:
        pre = c.precondition
        assert pre is not None
        pre_text = format_items([o.pre_items for o in pre_na if o.pre_items], pre.fmt, pre_margins)
        reasons.append(f"n/a in {_seeds_text([o.seed for o in pre_na])}: the precondition \"{pre.text}\" "
                       f"({pre.compare.describe()}) fails: {pre_text}")
    reasons += [o.note for o in na if o.note]
    if miss:
        reasons.append(f"{_seeds_text(miss)} not stored")
    v.reason = "; ".join(r for r in reasons if r)


def _need(compare: Comparison, m: float | None) -> str:
    m = m if m is not None else compare.margin
    w = fg(m)
    if not m:
        return {"<": "needs it below", ">": "needs it above", "<=": "needs it at or below",
                ">=": "needs it at or above", "~": "needs them equal"}[compare.op]
    return {"<": f"needs it lower by more than {w}", ">": f"needs it higher by more than {w}",
            "<=": f"needs it at most {w} higher", ">=": f"needs it at most {w} lower",
            "~": f"needs them within {w}"}[compare.op]


def _item_text(same: Sequence[Item], compare: Comparison, margin: float | None, fmt: Callable[[float], str]) -> str:
    it = same[0]
    head = f"{it.label}: " if it.label else ""
    lhs = f"{it.lhs_name} {_join([i.lhs for i in same], fmt)}".strip()
    rhs = f"{it.rhs_name} {_join([i.rhs for i in same], fmt)}".strip()
    return f"{head}{lhs} vs {rhs} ({_need(compare, margin)})"


def _like_control(v: Verdict, failing: Sequence[SeedOutcome]) -> str:
    """If the failing method's values sit within the margin of its control's (item by item), say so."""
    c = v.claim
    if c.control is None:
        return ""
    pairs = [(i, j) for o in failing for i, j in zip(o.items, o.control_items)]
    if not pairs or len({len(o.items) for o in failing}) != 1 \
            or any(len(o.items) != len(o.control_items) for o in failing):
        return ""
    def required(i: Item) -> float:  # the value the claim needed lhs to reach
        m = v.margins[i.key].value if i.key in v.margins else c.compare.margin
        return {"<": i.rhs - m, "<=": i.rhs + m, ">": i.rhs + m, ">=": i.rhs - m, "~": i.rhs}[c.compare.op]
    # closer to its control's value than to the value the claim needs, at every item of every failing seed
    near = all(abs(i.lhs - j.lhs) < abs(i.lhs - required(i))
               for i, j in pairs if math.isfinite(i.lhs) and math.isfinite(j.lhs))
    if not near:
        return ""
    o = failing[0]
    return (f"the method behaves like its control ({c.control.text}): "
            + "; ".join(f"{i.label or i.lhs_name} {c.fmt(i.lhs)} vs control {c.fmt(j.lhs)}"
                        for i, j in zip(o.items, o.control_items))
            + (f" (seed {o.seed})" if len(failing) > 1 else ""))


def _fail_sentence(v: Verdict, failing: Sequence[SeedOutcome]) -> str:
    """Which items failed in which seeds and the measured reason: the method behaving like its
    control, the profile's scale (measured, where the claim declares it), or a disagreement."""
    c = v.claim
    bad: dict[tuple, list[Item]] = {}
    seeds: dict[tuple, list[int]] = {}
    for o in failing:
        for it in o.items:
            m = v.margins.get(it.key)
            if not c.compare.holds(it.lhs, it.rhs, m.value if m else None):
                bad.setdefault(it.key, []).append(it)
                seeds.setdefault(it.key, []).append(o.seed)
    parts = []
    for key, its in list(bad.items())[:3]:
        m = v.margins.get(key)
        parts.append(f"{_item_text(its, c.compare, m.value if m else None, c.fmt)} in {_seeds_text(seeds[key])}")
    more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
    why = [x for x in (_like_control(v, failing),) if x]
    scale = next((o.scale for o in failing if o.scale), "")
    if scale:
        why.append(f"this profile's scale differs from the paper's: {scale}")
    if not why:
        why.append("a disagreement with the paper at this profile (no scale difference is declared for this claim)")
    return f"fails: {'; '.join(parts)}{more}. Why: {'; '.join(why)}"


def _uninformative_sentence(v: Verdict, seeds: Sequence[SeedOutcome]) -> str:
    c = v.claim
    assert c.control is not None
    return (f"uninformative in {_seeds_text([o.seed for o in seeds])}: the control ({c.control.text}) also "
            f"holds: {format_items([o.control_items for o in seeds], c.fmt)}")


def _partial_control_sentence(v: Verdict, seeds: Sequence[SeedOutcome]) -> str:
    """Holding seeds whose control holds at some conditions: those conditions do not discriminate."""
    held: dict[str, list[int]] = {}
    for o in seeds:
        for lab in o.control_held:
            held.setdefault(lab or "-", []).append(o.seed)
    if not held:
        return ""
    return ("the control also holds at " + "; ".join(f"{lab} ({_seeds_text(s)})" for lab, s in held.items())
            + ": there the statistic does not discriminate, and the verdict rests on the other conditions")


def _join(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    texts = [fmt(v) for v in values]
    return texts[0] if len(set(texts)) == 1 else "/".join(texts)


def format_items(per_seed: Sequence[Sequence[Item]], fmt: Callable[[float], str],
                 margins: Mapping[tuple, Margin] | None = None) -> str:
    """Items of one or more seeds in one line; values differing across seeds read ``a/b/c``;
    with ``margins``, each item's applied margin follows in brackets."""
    per_seed = [list(s) for s in per_seed if s]
    if not per_seed:
        return ""
    parts = []
    for k, it in enumerate(per_seed[0]):
        same = [s[k] for s in per_seed if len(s) > k]
        lhs = _join([i.lhs for i in same], fmt)
        rhs = _join([i.rhs for i in same], fmt)
        left = f"{it.lhs_name} {lhs}".strip()
        right = f"{it.rhs_name} {rhs}".strip()
        head = f"{it.label}: " if it.label else ""
        m = margins.get(it.key) if margins else None
        tail = f" [margin {fg(m.value)}]" if m is not None and m.value > 0 else ""
        parts.append(f"{head}{left} vs {right}{tail}")
    return "; ".join(parts)


def evaluate(figures: Iterable[str] | None, profile: str, store: RunStore | None = None) -> list[Verdict]:
    """The claims of several figures (None = every figure with claims)."""
    figs = list(claim_sets()) if not figures else list(figures)
    out: list[Verdict] = []
    for f in figs:
        out += evaluate_figure(f, profile, store=store)
    return out


# --------------------------------------------------------------------------- presentation
# text badges: a colour and the word (no emoji: a reader's fonts may have none)
BADGE_COLORS: dict[str, tuple[str, str]] = {
    "holds": ("#1b5e20", "#ffffff"), "fails": ("#b71c1c", "#ffffff"), "mixed": ("#f9a825", "#000000"),
    "uninformative": ("#5e35b1", "#ffffff"), "n/a": ("#9e9e9e", "#000000"), "missing": ("#e0e0e0", "#000000"),
}
SOURCE_LABEL = {"quote": "the paper's words", "paraphrase": "paraphrase of the paper", "derived": "our derivation"}


def badge(verdict: str) -> str:
    """The verdict as plain text (terminal, titles): the word itself."""
    return verdict


def badge_html(verdict: str) -> str:
    """The verdict as an HTML text badge: its colour and its word."""
    bg, fg_ = BADGE_COLORS.get(verdict.split()[0] if verdict else "missing", ("#e0e0e0", "#000000"))
    return (f'<span class="cgh-badge" style="background:{bg};color:{fg_};padding:0 0.35em;border-radius:3px;'
            'display:inline-block;max-width:100%;overflow-wrap:anywhere;font-weight:600">'
            f"{html.escape(verdict)}</span>")


TABLE_CSS = (
    "<style>"
    "table.cgh-claims{table-layout:fixed;width:100%;max-width:100%;border-collapse:collapse;font-size:0.82em}"
    "table.cgh-claims th,table.cgh-claims td{overflow-wrap:anywhere;word-break:break-word;white-space:normal;"
    "vertical-align:top;text-align:left;padding:0.25em 0.35em;border-bottom:1px solid #ddd}"
    "table.cgh-claims th{overflow-wrap:normal;word-break:normal}"  # headers wrap between words only
    "table.cgh-claims small{font-size:0.9em}"
    "details.cgh-group>summary{cursor:pointer;font-weight:600;margin:0.4em 0}"
    "</style>")


class HTMLBlock(str):
    """An HTML string that notebooks display as HTML (``display(x)`` or a cell's last expression)."""

    def _repr_html_(self) -> str:
        return str(self)


def _table(head: Sequence[tuple[str, int]], rows: Iterable[Sequence[str]], cls: str = "cgh-claims") -> str:
    cols = "".join(f'<col style="width:{w}%">' for _, w in head)
    th = "".join(f"<th>{h}</th>" for h, _ in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><colgroup>{cols}</colgroup><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def source_html(c: Claim) -> str:
    """Claim, source kind and text: only a `quote` is shown in quotation marks as the paper's words."""
    e = html.escape
    where = f"{e(c.paper)} {e(c.section)}"
    if c.source == "quote":
        src = f"{where}, quote: “{e(c.quote)}”"
    else:
        src = f"{where}, {SOURCE_LABEL[c.source]} ({e(c.cite)}): {e(c.quote)}"
    return f"<b>{e(c.claim)}</b><br><small>{src}</small>"


def test_html(v: Verdict) -> str:
    c, e = v.claim, html.escape
    parts = [f"{e(c.statistic)}; holds if {e(c.compare.describe())}", f"margin: {e(v.margin_basis)}"]
    if c.precondition:
        parts.append(f"precondition: {e(c.precondition.text)}")
    if c.control is not None:
        ctl = f"control: {e(c.control.text)}"
        if v.control_verdict:
            ctl += f" → {badge_html(v.control_verdict)}"
            if v.control_measured:
                ctl += f" <small>({e(v.control_measured)})</small>"
        parts.append(ctl)
    else:
        parts.append(f"no control: {e(c.no_control)}")
    return "<small>" + "<br>".join(parts) + "</small>"


def table_html(verdicts: Sequence[Verdict]) -> str:
    """A figure page's claims table: claim and source, the paper's number, the test (statistic,
    margin, control), what we measured, the verdict and its reason; columns wrap in the book column."""
    e = html.escape
    head = [("claim and source", 24), ("paper", 8), ("test, margin, control", 23), ("measured", 17),
            ("verdict", 11), ("reason", 17)]  # verdict: wide enough for its header word (it wrapped as "verdic/t")
    rows = []
    for v in verdicts:
        c = v.claim
        seeds = [o.seed for o in v.outcomes if o.status != "missing"]
        rows.append([source_html(c), e(c.paper_value or "-"), test_html(v),
                     f"<small>{e(v.measured)}{(' [' + e(c.note) + ']') if c.note else ''}</small>",
                     f"{badge_html(v.verdict)}<br><small>seeds {e(', '.join(map(str, seeds)) or '-')}</small>",
                     f"<small>{e(v.reason)}</small>"])
    return TABLE_CSS + _table(head, rows)


def table(verdicts: Sequence[Verdict]) -> "Any":
    """A DataFrame of verdicts (plain text; for analysis, not for the page)."""
    import pandas as pd

    return pd.DataFrame([{"figure": v.figure, "id": v.claim.id, "claim": v.claim.claim, "source": v.claim.source,
                          "paper": v.claim.paper_value, "measured": v.measured, "margin_basis": v.margin_basis,
                          "control": v.control_verdict or ("none" if v.claim.control is None else ""),
                          "verdict": v.verdict, "reason": v.reason} for v in verdicts])


def claims_table(figure: str, profile: str, overrides: Mapping[str, Any] | None = None,
                 seeds: Sequence[int] | None = None) -> HTMLBlock:
    """What a figure notebook displays: its claims at ``profile``, evaluated on the stored runs."""
    return HTMLBlock(table_html(evaluate_figure(figure, profile, overrides, seeds)))


def text_table(verdicts: Sequence[Verdict]) -> str:
    """Plain-text table for the terminal (`cgh claims`)."""
    lines = []
    fig = None
    for v in verdicts:
        if v.figure != fig:
            fig = v.figure
            lines.append(f"== {fig} ({v.profile})")
        c = v.claim
        seeds = ",".join(str(o.seed) for o in v.outcomes if o.status != "missing") or "-"
        lines.append(f"  [{v.verdict}] {c.claim}  ({c.paper} {c.section}, {c.source}; seeds {seeds})")
        if v.measured:
            lines.append(f"      measured: {v.measured}")
        if c.control is not None and v.control_verdict:
            lines.append(f"      control [{v.control_verdict}]: {c.control.text}")
        if v.reason:
            lines.append(f"      reason: {v.reason}")
    if verdicts:
        lines.append(f"== verdicts per paper ({verdicts[0].profile}; derived rows are ours, not the paper's claims)")
        for paper, row in counts(verdicts).items():
            lines.append(f"  {paper}: " + ", ".join(f"{row[k]} {k}" for k in (*COUNT_KINDS, "derived") if row[k]))
    return "\n".join(lines)


def outcome_sentences(verdicts: Sequence[Verdict]) -> list[str]:
    """One generated sentence per claim stating its outcome: the only outcome prose on a page."""
    out = []
    for v in verdicts:
        decided = [o for o in v.outcomes if o.status in ("holds", "fails", "uninformative")]
        n = len(decided)
        seeds = f"in all {n} decided seeds" if n != 1 else "(1 seed)"
        what = {"holds": f"holds {seeds}", "fails": f"fails {seeds} ({v.reason})",
                "uninformative": f"is uninformative ({v.reason})",
                "n/a": f"cannot be tested here ({v.reason})", "missing": "has no stored runs at this profile"}
        text = what.get(v.kind) or f"is mixed, {v.verdict.split()[1]} decided seeds hold ({v.reason})"
        meas = f" Measured: {v.measured}." if v.measured and v.kind not in ("n/a", "fails", "mixed") else ""
        kind = "" if v.claim.source == "quote" else f" [{SOURCE_LABEL[v.claim.source]}]"
        out.append(f"*{v.claim.claim}*{kind} {text}.{meas}")
    return out


def outcomes_markdown(figure: str, profile: str, overrides: Mapping[str, Any] | None = None,
                      seeds: Sequence[int] | None = None) -> str:
    """The outcome part of a page's "What we see": one generated bullet per claim."""
    verdicts = evaluate_figure(figure, profile, overrides, seeds)
    head = (f"**Outcomes at the {profile} profile** (generated from the claim rows above; "
            "no number here is typed by hand):")
    return "\n".join([head, ""] + [f"- {s}" for s in outcome_sentences(verdicts)])


def legend_markdown(figure: str | None = None) -> str:
    """How to read a claims table (the text a page shows above it, generated so that it follows the
    rules in this module): sources, margins, controls and the verdict vocabulary."""
    cmd = f"`cgh claims {figure} --profile <profile>`" if figure else "`cgh claims --profile <profile>`"
    return (
        "Each row tests one statement. Its **source** says what it rests on: *quote* (the paper's words, "
        "verbatim in its text), *paraphrase* (a result the paper reports, in our words, with where it is "
        "reported) or *derived* (our own derivation; not counted as the paper's claim). The **paper** column "
        "gives the paper's own number where its text has one. A difference counts only beyond its **margin**, "
        "the larger of a floor (the paper's magnitude word, e.g. \"big\") and two standard errors from the "
        "seeds and the sample sizes; a bound the paper states is tested with that interval, never widened. "
        "Each comparative row names a **control**: the same statistic on runs where the paper predicts the "
        "opposite. Verdicts are computed per seed from the stored runs and read: *holds* / *fails* (the decided "
        "seeds agree), *mixed k/n* (k of n decided seeds hold), *uninformative* (the control holds too: never "
        f"counted as a hold), *n/a* (a precondition failed, a run diverged, or fewer than {MIN_SEEDS} seeds are "
        "stored; n/a seeds are shown apart, e.g. \"holds 2/2, 1 n/a\"), *missing* (no stored runs). Every "
        f"fail, uninformative and n/a carries a generated reason. {cmd} prints the same table; `--json` gives "
        "one record per claim.")


# --------------------------------------------------------------------------- counts
COUNT_KINDS = ("holds", "fails", "mixed", "uninformative", "n/a", "missing")


def counts(verdicts: Iterable[Verdict] | Iterable[Mapping[str, Any]], profile: str | None = None
           ) -> dict[str, dict[str, int]]:
    """Verdict counts per paper (``derived`` rows counted apart, not as the paper's claims).
    Accepts verdicts or dashboard rows (then ``profile`` picks the column)."""
    out: dict[str, dict[str, int]] = {}
    for v in verdicts:
        if isinstance(v, Verdict):
            paper, source, kind = v.claim.paper, v.claim.source, v.kind
        else:
            paper, source, kind = v["paper"], v["source"], v[f"kind_{profile}"]
        row = out.setdefault(paper, {k: 0 for k in (*COUNT_KINDS, "derived")})
        row["derived" if source == "derived" else kind] += 1
    order = list(PAPER_FILES)  # papers in a fixed order, whichever paper package registered first
    return dict(sorted(out.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def counts_markdown(profile: str = "small", store: RunStore | None = None) -> str:
    """A Markdown table of the verdict counts per paper at ``profile`` (the README's table)."""
    c = counts(evaluate(None, profile, store))
    cols = (*COUNT_KINDS, "derived")
    lines = ["| paper | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [f"| {p} | " + " | ".join(str(r[k]) for k in cols) + " |" for p, r in c.items()]
    return "\n".join(lines)


# --------------------------------------------------------------------------- text computed from the store
def stored_wall_time_text(figure: str, profile: str, store: RunStore | None = None,
                          seeds: Sequence[int] | None = None) -> str:
    """The stored wall time of a figure's runs per seed, as a sentence (minutes, summed over the
    figure's runs of that seed): what a page says in place of a typed-in duration."""
    fc = get_claims(figure)
    store = store or RunStore()
    parts = []
    for s in (seeds if seeds is not None else fc.seeds(profile)):
        runs, missing = load_seed(fc.configs(profile, s, None), store)
        if runs is None:
            parts.append(f"seed {s}: not stored")
            continue
        total = sum(float(r.wall_time_s or 0.0) for r in runs.values())
        parts.append(f"seed {s}: {total / 60:.1f} min over {len(runs)} runs")
    return f"Stored wall time of the {profile} runs ({figure}): " + "; ".join(parts) + "."


# --------------------------------------------------------------------------- the dashboard
def dashboard(profiles: Sequence[str] = PROFILES, store: RunStore | None = None,
              figures: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every claim of every figure with its verdict at each profile (stored runs only)."""
    from cgh_lib.book.registry import figures as registered

    figs = registered()
    by_profile = {p: evaluate(figures, p, store) for p in profiles}
    rows = []
    for k, v in enumerate(by_profile[profiles[0]]):
        c = v.claim
        fig = figs.get(v.figure)
        rows.append({"figure": v.figure, "page": f"{fig.stem}.html" if fig else "", "claim": c.claim, "id": c.id,
                     "paper": c.paper, "section": c.section, "quote": c.quote, "paper_value": c.paper_value,
                     "source": c.source, "cite": c.cite, "html_source": source_html(c),
                     **{f"verdict_{p}": by_profile[p][k].verdict for p in profiles},
                     **{f"kind_{p}": by_profile[p][k].kind for p in profiles},
                     **{f"measured_{p}": by_profile[p][k].measured for p in profiles},
                     **{f"reason_{p}": by_profile[p][k].reason for p in profiles},
                     **{f"control_{p}": by_profile[p][k].control_verdict for p in profiles},
                     **{f"seeds_{p}": (sum(o.status != "missing" for o in by_profile[p][k].outcomes),
                                       len(by_profile[p][k].outcomes)) for p in profiles}})
    return rows


def summary_html(rows: Sequence[Mapping[str, Any]], profile: str = "small") -> str:
    """One row per paper: holds / fails / mixed / uninformative / n/a / missing (and derived rows apart)."""
    c = counts(rows, profile)
    cols = (*COUNT_KINDS, "derived")
    head = [("paper", 16)] + [(badge_html(k) if k != "derived" else "derived (ours)", 84 // len(cols)) for k in cols]
    body = [[f"<b>{html.escape(p)}</b>"] + [str(r[k]) for k in cols] for p, r in c.items()]
    return _table(head, body)


def dashboard_html(rows: Sequence[Mapping[str, Any]], profiles: Sequence[str] = PROFILES,
                   measured_profile: str = "small") -> str:
    """The dashboard: a summary row per paper (at ``measured_profile``), then one collapsed
    section per paper with one table per figure (claim and source, the paper's number, one
    verdict badge per profile, what we measured at ``measured_profile``). Closed by default, so
    the page stays a few screens tall; a reader opens the paper or figure they want."""
    e = html.escape
    out = [TABLE_CSS, f"<p><b>Verdicts per paper at the {e(measured_profile)} profile</b> (derived rows are our "
                      "own derivations, not counted as the paper's claims):</p>", summary_html(rows, measured_profile)]
    papers: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for r in rows:
        papers.setdefault(r["paper"], {}).setdefault(r["figure"], []).append(r)
    width = max(8, 40 // max(len(profiles), 1))
    for paper, figs in papers.items():
        c = counts([r for f in figs.values() for r in f], measured_profile)[paper]
        tally = ", ".join(f"{c[k]} {k}" for k in (*COUNT_KINDS, "derived") if c[k])
        out.append(f'<details class="cgh-group"><summary>{e(paper)}: {len(figs)} figures, '
                   f"{sum(map(len, figs.values()))} claims ({e(measured_profile)}: {e(tally)})</summary>")
        for fig, frows in figs.items():
            link = f'<a href="{e(frows[0]["page"])}">{e(fig)}</a>' if frows[0]["page"] else e(fig)
            fc = counts(frows, measured_profile)[paper]
            ftally = ", ".join(f"{fc[k]} {k}" for k in (*COUNT_KINDS, "derived") if fc[k])
            head = [("claim and source", 36), ("paper", 10)] + [(e(p), width) for p in profiles] \
                + [(f"measured ({e(measured_profile)})", max(10, 54 - width * len(profiles)))]
            body = []
            for r in frows:
                def seeds(p: str) -> str:  # "(1 of 3 seeds)" when some seeds are not stored
                    k, n = r[f"seeds_{p}"]
                    return f"<br><small>({k} of {n} seeds)</small>" if 0 < k < n else ""
                cells = [r.get("html_source") or f"<b>{e(r['claim'])}</b>", e(r["paper_value"] or "-")]
                cells += [f'<span title="{e(r[f"reason_{p}"])}">{badge_html(r[f"verdict_{p}"])}</span>{seeds(p)}'
                          for p in profiles]
                cells.append(f"<small>{e(r.get(f'measured_{measured_profile}', '') or '')}</small>")
                body.append(cells)
            out.append(f'<details class="cgh-group" style="margin-left:1em"><summary>{link} '
                       f"({len(frows)} claims; {e(ftally)})</summary>{_table(head, body)}</details>")
        out.append("</details>")
    return "".join(out)


def dashboard_chart(rows: Sequence[Mapping[str, Any]], profiles: Sequence[str] = PROFILES) -> Any:
    """Verdict counts per profile (a stacked bar per profile)."""
    import matplotlib.pyplot as plt

    kinds = list(COUNT_KINDS)
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.5 * len(profiles)), constrained_layout=True)
    for i, p in enumerate(profiles):
        left = 0
        for k in kinds:
            n = sum(1 for r in rows if r[f"kind_{p}"] == k)
            if n:
                ax.barh(i, n, left=left, color=BADGE_COLORS[k][0], edgecolor="white")
                ax.text(left + n / 2, i, str(n), ha="center", va="center", fontsize=8, color=BADGE_COLORS[k][1])
                left += n
    ax.set_yticks(range(len(profiles)), list(profiles))
    ax.set_xlabel(f"claims ({len(rows)} in all)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=BADGE_COLORS[k][0]) for k in kinds]
    ax.legend(handles, kinds, fontsize=7, ncol=6, loc="upper center", bbox_to_anchor=(0.5, -0.35), frameon=False)
    ax.invert_yaxis()
    return fig
