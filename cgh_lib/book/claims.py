"""Claims as data: what a paper says, what we measured, and a verdict a reader can audit.

A `Claim` names the paper, the section and a **verbatim quote** of the sentence it
tests (tests/test_claims.py checks every quote against the paper texts in
``../shared/papers/``), the statistic, the comparison with its margin declared once
with a one-line reason, and optionally a `Precondition`: what must be true for the
comparison to mean anything (e.g. "plain SGD memorizes the corrupt labels").

A claim is evaluated **per seed** on the stored runs of one figure, then aggregated:

* ``holds`` / ``fails``: every evaluated seed agrees;
* ``mixed k/n``: k of the n seeds hold (a seed whose precondition failed counts in n, not k);
* ``n/a``: the precondition failed in every seed (the reason shows the measurement);
* ``missing``: no seed has its runs stored.

A "holds" therefore never rests on a failed precondition. Evaluation only reads the
run store (`RunStore.load`): it never trains.

A paper declares its claims in ``cgh_lib/papers/<paper>/claims.py``::

    register_claims(FigureClaims(
        figure="cg2020-fig1",
        configs=lambda profile, seed, overrides: {n: cfg, ...},   # key -> config, one seed
        claims=[Claim(id=..., paper="CG2020", section="§2.3", claim=..., quote=...,
                      statistic=..., compute=lambda runs: [Item(...), ...],
                      compare=Comparison("<", 0.0, "why this margin"), precondition=...)]))

``compute`` receives ``{key: RunResult}`` for one seed and returns `Item`s
(``lhs`` compared with ``rhs`` by the claim's `Comparison`); the claim holds for that
seed when every item does. `cgh claims` and the figure notebooks both call
`evaluate_figure` / `claims_table`.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from cgh_lib.errors import UserError, choice_error
from cgh_lib.store.experiments import check_profile, default_seeds
from cgh_lib.store.provenance import REPO_ROOT
from cgh_lib.store.runstore import RunResult, RunStore

VERDICTS = ("holds", "fails", "mixed", "n/a", "missing")
# the paper texts the quotes are checked against (``$CGH_PAPERS`` or ../shared/papers)
PAPER_FILES: dict[str, tuple[str, ...]] = {
    "CG2020": ("coherent-gradients-iclr2020.txt",),
    "WS": ("weak-strong-gradient-directions.md",),
    "GM2022": ("generalization-mystery-2022-notes.md", "generalization-mystery-2022-summary.txt",
               "generalization-mystery-blog.md"),
}


def papers_dir() -> Path:
    env = os.environ.get("CGH_PAPERS")
    return Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "papers"


def normalize_ws(text: str) -> str:
    """Whitespace-normalized text: every run of whitespace is one space."""
    return re.sub(r"\s+", " ", text).strip()


def paper_text(paper: str) -> str:
    """The paper's text, whitespace-normalized (all its files joined)."""
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
    return "never" if math.isinf(v) else f"{int(v):,}"


def fpct(v: float) -> str:
    return "nan" if v != v else f"{v:.1%}"


# --------------------------------------------------------------------------- the data
@dataclass(frozen=True)
class Comparison:
    """``lhs OP rhs`` with a margin, declared once per claim with the reason for the margin.

    ``<``: lhs < rhs - margin; ``>``: lhs > rhs + margin; ``<=``: lhs <= rhs + margin;
    ``>=``: lhs >= rhs - margin; ``~``: |lhs - rhs| <= margin. An item with a NaN side,
    or with both sides infinite (e.g. "never" vs "never"), does not hold: a tie of two
    non-events is not evidence of an ordering.
    """

    op: str
    margin: float = 0.0
    reason: str = ""

    OPS = ("<", "<=", ">", ">=", "~")

    def __post_init__(self) -> None:
        if self.op not in self.OPS:
            raise ValueError(f"comparison op {self.op!r}; accepted: {', '.join(self.OPS)}")
        if self.margin < 0:
            raise ValueError(f"comparison margin {self.margin} must be >= 0")
        if self.margin > 0 and not self.reason:
            raise ValueError("a non-zero margin needs its one-line reason")

    def holds(self, lhs: float, rhs: float) -> bool:
        lhs, rhs = float(lhs), float(rhs)
        if lhs != lhs or rhs != rhs or (math.isinf(lhs) and math.isinf(rhs)):
            return False
        m = self.margin
        return {"<": lhs < rhs - m, "<=": lhs <= rhs + m, ">": lhs > rhs + m, ">=": lhs >= rhs - m,
                "~": abs(lhs - rhs) <= m}[self.op]

    def describe(self) -> str:
        if self.op == "~":
            return f"|lhs - rhs| <= {self.margin:g}"
        if not self.margin:
            return f"lhs {self.op} rhs"
        sign = "-" if self.op in ("<", ">=") else "+"
        return f"lhs {self.op} rhs {sign} {self.margin:g}"


@dataclass(frozen=True)
class Item:
    """One comparison of a claim at one condition (e.g. one noise level), for one seed."""

    label: str        # the condition, e.g. "50%" ("" when there is one)
    lhs: float
    rhs: float
    lhs_name: str = ""  # e.g. "pristine" (shown before the value)
    rhs_name: str = ""


Runs = Mapping[Any, RunResult]
Compute = Callable[[Runs], Sequence[Item]]


@dataclass(frozen=True)
class Precondition:
    """What must be true (per seed) for a claim's comparison to mean anything."""

    text: str                 # e.g. "plain SGD memorizes the corrupt labels"
    compute: Compute
    compare: Comparison
    fmt: Callable[[float], str] = f3


@dataclass(frozen=True)
class Claim:
    id: str                   # stable, unique within its figure, e.g. "noise-slows-learning"
    paper: str                # key of PAPER_FILES
    section: str              # e.g. "§2.3"
    claim: str                # our one-line statement of what is tested
    quote: str                # verbatim sentence(s) from the paper text
    statistic: str            # what is measured, one line
    compute: Compute
    compare: Comparison
    fmt: Callable[[float], str] = f3
    precondition: Precondition | None = None
    paper_value: str = ""     # the paper's own reported number, where its text gives one
    note: str = ""            # a caveat shown with the row (scale, wording)


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


# --------------------------------------------------------------------------- evaluation
@dataclass
class SeedOutcome:
    seed: int
    status: str               # holds | fails | n/a | missing
    items: list[Item] = field(default_factory=list)
    pre_items: list[Item] = field(default_factory=list)
    missing: int = 0          # configs of this seed not stored


@dataclass
class Verdict:
    figure: str
    profile: str
    claim: Claim
    outcomes: list[SeedOutcome]
    verdict: str
    reason: str
    measured: str

    def as_dict(self) -> dict[str, Any]:
        """The `cgh claims --json` record."""
        c = self.claim
        evaluated = [o for o in self.outcomes if o.status != "missing"]
        return {"figure": self.figure, "profile": self.profile, "id": c.id, "paper": c.paper,
                "section": c.section, "claim": c.claim, "quote": c.quote, "statistic": c.statistic,
                "comparison": c.compare.describe(), "margin": c.compare.margin, "margin_reason": c.compare.reason,
                "precondition": c.precondition.text if c.precondition else None,
                "measured": self.measured, "seeds": [o.seed for o in evaluated],
                "per_seed": {str(o.seed): o.status for o in self.outcomes},
                "verdict": self.verdict, "reason": self.reason, "paper_value": c.paper_value or None}


def evaluate_seed(claim: Claim, seed: int, runs: Runs | None, n_missing: int = 0) -> SeedOutcome:
    """One seed: ``missing`` without runs, ``n/a`` if the precondition fails, else holds / fails."""
    if runs is None:
        return SeedOutcome(seed, "missing", missing=n_missing)
    pre: list[Item] = []
    if claim.precondition is not None:
        pre = list(claim.precondition.compute(runs))
        if not pre or not all(claim.precondition.compare.holds(i.lhs, i.rhs) for i in pre):
            return SeedOutcome(seed, "n/a", pre_items=pre)
    items = list(claim.compute(runs))
    ok = bool(items) and all(claim.compare.holds(i.lhs, i.rhs) for i in items)
    return SeedOutcome(seed, "holds" if ok else "fails", items=items, pre_items=pre)


def _join(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    texts = [fmt(v) for v in values]
    return texts[0] if len(set(texts)) == 1 else "/".join(texts)


def format_items(per_seed: Sequence[Sequence[Item]], fmt: Callable[[float], str]) -> str:
    """Items of one or more seeds in one line; values differing across seeds read ``a/b/c``."""
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
        parts.append(f"{head}{left} vs {right}")
    return "; ".join(parts)


def aggregate(outcomes: Sequence[SeedOutcome]) -> tuple[str, str]:
    """(verdict, reason) over the seeds' outcomes."""
    ev = [o for o in outcomes if o.status != "missing"]
    miss = [o.seed for o in outcomes if o.status == "missing"]
    missing_note = f"seeds {', '.join(map(str, miss))} not stored" if miss else ""
    if not ev:
        return "missing", "no runs stored for seeds " + ", ".join(str(o.seed) for o in outcomes)
    statuses = [o.status for o in ev]
    na = [o.seed for o in ev if o.status == "n/a"]
    if all(s == "n/a" for s in statuses):
        verdict = "n/a"
    elif all(s == "holds" for s in statuses):
        verdict = "holds"
    elif all(s == "fails" for s in statuses):
        verdict = "fails"
    else:
        verdict = f"mixed {statuses.count('holds')}/{len(ev)}"
    reasons = []
    if na:
        reasons.append(f"precondition fails in seed{'s' if len(na) > 1 else ''} {', '.join(map(str, na))}")
    if verdict.startswith("mixed"):
        reasons.append(", ".join(f"seed {o.seed}: {o.status}" for o in ev))
    if missing_note:
        reasons.append(missing_note)
    return verdict, "; ".join(reasons)


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


def evaluate_figure(figure: str, profile: str, overrides: Mapping[str, Any] | None = None,
                    seeds: Sequence[int] | None = None, store: RunStore | None = None) -> list[Verdict]:
    """Every claim of ``figure`` at ``profile``, from stored runs only (never trains)."""
    check_profile(profile)
    fc = get_claims(figure)
    store = store or RunStore()
    seeds = list(fc.seeds(profile) if seeds is None else seeds)
    if not seeds:
        raise UserError(f"no seeds given for figure {figure}; accepted: a non-empty list of seeds")
    loaded = {s: load_seed(fc.configs(profile, s, overrides), store) for s in seeds}
    return [evaluate_claim(figure, profile, c, loaded) for c in fc.claims]


def evaluate_claim(figure: str, profile: str, claim: Claim,
                   loaded: Mapping[int, tuple[Runs | None, int]]) -> Verdict:
    outcomes = [evaluate_seed(claim, s, runs, n) for s, (runs, n) in loaded.items()]
    verdict, reason = aggregate(outcomes)
    evaluated = [o for o in outcomes if o.status in ("holds", "fails")]
    measured = format_items([o.items for o in evaluated], claim.fmt)
    if verdict == "n/a" or any(o.status == "n/a" for o in outcomes):
        pre = claim.precondition
        assert pre is not None
        pre_text = format_items([o.pre_items for o in outcomes if o.pre_items], pre.fmt)
        reason = "; ".join(x for x in (f"precondition: {pre.text} ({pre.compare.describe()}): {pre_text}",
                                       reason) if x)
    if verdict == "missing":
        measured = ""
    return Verdict(figure, profile, claim, outcomes, verdict, reason, measured)


def evaluate(figures: Iterable[str] | None, profile: str, store: RunStore | None = None) -> list[Verdict]:
    """The claims of several figures (None = every figure with claims)."""
    figs = list(claim_sets()) if not figures else list(figures)
    out: list[Verdict] = []
    for f in figs:
        out += evaluate_figure(f, profile, store=store)
    return out


# --------------------------------------------------------------------------- presentation
BADGE = {"holds": "✅ holds", "fails": "❌ fails", "n/a": "⚪ n/a", "missing": "⬜ missing"}


def badge(verdict: str) -> str:
    return BADGE.get(verdict, f"🟨 {verdict}")


def table(verdicts: Sequence[Verdict]) -> "Any":
    """A DataFrame of verdicts: claim + quote, statistic, measured, seeds, verdict, reason."""
    import pandas as pd

    rows = []
    for v in verdicts:
        c = v.claim
        seeds = [o.seed for o in v.outcomes if o.status != "missing"]
        rows.append({
            "claim": f"{c.claim} ({c.paper} {c.section}: “{c.quote}”)",
            "statistic": f"{c.statistic}; holds if {c.compare.describe()}"
                         + (f" (margin: {c.compare.reason})" if c.compare.reason else "")
                         + (f"; precondition: {c.precondition.text}" if c.precondition else ""),
            "measured": v.measured + (f" [{c.note}]" if c.note else ""),
            "seeds": ", ".join(map(str, seeds)) or "-",
            "verdict": badge(v.verdict),
            "reason": v.reason,
        })
    return pd.DataFrame(rows)


def claims_table(figure: str, profile: str, overrides: Mapping[str, Any] | None = None,
                 seeds: Sequence[int] | None = None) -> "Any":
    """What a figure notebook displays: its claims at ``profile``, evaluated on the stored runs."""
    df = table(evaluate_figure(figure, profile, overrides, seeds))
    return df.style.hide(axis="index").set_properties(**{"text-align": "left", "vertical-align": "top"})


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
        lines.append(f"  [{v.verdict}] {c.claim}  ({c.paper} {c.section}; seeds {seeds})")
        if v.measured:
            lines.append(f"      measured: {v.measured}")
        if v.reason:
            lines.append(f"      reason: {v.reason}")
    return "\n".join(lines)


def outcome_sentences(verdicts: Sequence[Verdict]) -> list[str]:
    """One generated sentence per claim stating its outcome: the only outcome prose on a page."""
    out = []
    for v in verdicts:
        n = len([o for o in v.outcomes if o.status != "missing"])
        seeds = f"{n} seed{'s' if n != 1 else ''}"
        what = {"holds": f"holds in all {seeds}", "fails": f"fails in all {seeds}",
                "n/a": f"cannot be tested here ({v.reason})", "missing": "has no stored runs at this profile"}
        text = what.get(v.verdict) or f"is mixed: {v.verdict.split()[1]} seeds hold ({v.reason})"
        meas = f" Measured: {v.measured}." if v.measured and v.verdict != "n/a" else ""
        out.append(f"*{v.claim.claim}* {text}.{meas}")
    return out
