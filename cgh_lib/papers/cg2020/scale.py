"""What changes with scale: a CG2020 figure at two profiles (``small`` and ``large``) side by side.

`compare_scales` reads both profiles' runs from the store (it never trains), draws
the figure's own panels once per profile, each panel row at both profiles one above the other (a profile whose runs are
not all stored gets a panel saying so, with the command that makes them), and
writes one sentence per claim from the two profiles' claim records: each side's
verdict and measured values, whether the verdict changed, and the settings that
differ between the profiles (read from the configs, e.g. ``steps 10,000 -> 100,000``).
No sentence states an outcome that is not in those records.

The claim records come through one adapter, `claim_records`, which is the only
place that knows the claims layer (`cgh_lib.book.claims`); everything else here
uses plain dicts with ``id``, ``claim``, ``verdict`` and ``measured``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt

from cgh_lib.book.registry import get_figure
from cgh_lib.errors import UserError
from cgh_lib.store.config import to_dict
from cgh_lib.store.runstore import RunResult, RunStore

FIGURES = ("cg2020-fig1", "cg2020-fig2", "cg2020-fig3", "cg2020-fig4")
# what a reader sees in place of the figure id (the page reads like the paper)
NAMES = {f: f"CG2020 Figure {f[-1]}" for f in FIGURES}
PROFILES = ("small", "large")
# config fields that say what a profile's scale is (shown in the sentences when they differ)
SCALE_FIELDS = ("dataset", "n_train", "n_test", "hidden", "steps", "batch_size", "eval_schedule", "estimator",
                "stat_examples", "stat_weights")


def claim_records(figure: str, profile: str, store: RunStore,
                  overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The adapter to the claims layer: one ``{id, claim, verdict, measured}`` per claim of ``figure``.

    Why one function: `cgh_lib.book.claims` is being reworked (verdict vocabulary,
    controls, margins); whatever its new interface, only this body needs to follow it.
    """
    from cgh_lib.book.claims import evaluate_figure

    out = []
    for v in evaluate_figure(figure, profile, overrides, store=store):
        d = v.as_dict()
        out.append({"id": d["id"], "claim": d.get("claim", ""), "verdict": d["verdict"],
                    "measured": d.get("measured", "")})
    return out


def _key(figure: str) -> Callable[[Any], Any]:
    """How a figure's plot function keys its runs: (c, noise) for Figure 4, noise otherwise."""
    return (lambda c: (c.c, c.noise)) if figure == "cg2020-fig4" else (lambda c: c.noise)


def stored_runs(figure: str, profile: str, store: RunStore) -> tuple[dict[Any, list[RunResult]], list[Any]]:
    """``({key: [run per complete seed]}, missing configs)``: the seeds whose runs are all stored."""
    configs = get_figure(figure).configs(profile)
    key = _key(figure)
    by_seed: dict[int, dict[Any, RunResult | None]] = {}
    for c in configs:
        by_seed.setdefault(c.seed, {})[key(c)] = store.load(c)
    runs: dict[Any, list[RunResult]] = {}
    missing = [c for c in configs if by_seed[c.seed][key(c)] is None]
    for seed in sorted(by_seed):
        if all(r is not None for r in by_seed[seed].values()):
            for k, r in by_seed[seed].items():
                runs.setdefault(k, []).append(r)  # type: ignore[arg-type]
    return runs, missing


def _draw(figure: str, runs: dict[Any, list[RunResult]], title: str) -> list[plt.Figure]:
    """The figure's own panels (as its notebook draws them), one matplotlib figure per row."""
    from cgh_lib.papers.cg2020 import plots

    if figure == "cg2020-fig4":
        return plots.figure4(runs, title)
    draw = {"cg2020-fig1": plots.figure1, "cg2020-fig2": plots.figure2, "cg2020-fig3": plots.figure3}[figure]
    out = draw(runs, title)  # one figure, or one per panel row (Figure 1)
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _raster(fig: plt.Figure, dpi: int = 80) -> Any:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    buf.seek(0)
    return plt.imread(buf)


def _scale_of(figure: str, profile: str) -> dict[str, Any]:
    """The scale fields of the figure's first config at ``profile`` (they are shared by its runs)."""
    d = to_dict(get_figure(figure).configs(profile)[0])
    return {k: d[k] for k in SCALE_FIELDS if k in d}


def _fmt(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "x".join(str(x) for x in v)
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


def scale_difference(figure: str, profiles: Sequence[str] = PROFILES) -> str:
    """The settings that differ between the two profiles, e.g. ``steps 10,000 -> 100,000``."""
    a, b = (_scale_of(figure, p) for p in profiles)
    diff = [f"{k} {_fmt(a.get(k, '-'))} -> {_fmt(b.get(k, '-'))}" for k in SCALE_FIELDS
            if (k in a or k in b) and a.get(k) != b.get(k)]
    return ", ".join(diff) if diff else "the same settings"


def _side(profile: str, rec: dict[str, Any] | None, stored: bool) -> str:
    if not stored or rec is None or rec["verdict"] == "missing":
        return f"at {profile}: not stored"
    measured = f" (measured {rec['measured']})" if rec.get("measured") else ""
    return f"at {profile}: {rec['verdict']}{measured}"


def claim_sentences(figure: str, records: dict[str, list[dict[str, Any]]], stored: dict[str, bool],
                    profiles: Sequence[str] = PROFILES) -> list[str]:
    """One sentence per claim, built only from the two profiles' records and configs."""
    lo, hi = profiles
    by = {p: {r["id"]: r for r in records.get(p, [])} for p in profiles}
    ids = list(dict.fromkeys([r["id"] for p in profiles for r in records.get(p, [])]))
    scale = scale_difference(figure, profiles)
    out = []
    for cid in ids:
        a, b = by[lo].get(cid), by[hi].get(cid)
        text = (a or b or {}).get("claim", "")
        head = f"{cid}" + (f" ({text})" if text else "")
        sides = f"{_side(lo, a, stored[lo])}; {_side(hi, b, stored[hi])}"
        va = a["verdict"] if a and stored[lo] else "missing"
        vb = b["verdict"] if b and stored[hi] else "missing"
        if "missing" in (va, vb):
            change = "no comparison until both are stored"
        elif va == vb:
            change = f"the verdict is the same at both scales ({scale})"
        else:
            change = f"the verdict changed from {va} to {vb} with scale ({scale})"
        out.append(f"{head}: {sides}: {change}.")
    return out


@dataclass
class ScaleComparison:
    """What `compare_scales` returns: the side-by-side figure, the sentences and each profile's state."""

    figure: plt.Figure
    sentences: list[str]
    stored: dict[str, bool] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def table(self) -> "Any":
        """The claims with one verdict column per profile and the sentence (a pandas DataFrame)."""
        import pandas as pd

        profiles = list(self.stored)
        by = {p: {r["id"]: r for r in self.records.get(p, [])} for p in profiles}
        ids = list(dict.fromkeys(r["id"] for p in profiles for r in self.records.get(p, [])))
        rows = []
        for cid, sentence in zip(ids, self.sentences):
            rec = next(by[p][cid] for p in profiles if cid in by[p])
            rows.append({"claim": cid, "statement": rec.get("claim", ""),
                         **{p: by[p][cid]["verdict"] if self.stored[p] and cid in by[p] else "not stored"
                            for p in profiles},
                         "what changed with scale": sentence})
        return pd.DataFrame(rows)


def show(cmp: ScaleComparison) -> None:
    """What a CG2020 page shows under "Small and large": the figure, one verdict column per
    profile, then the generated sentence of each claim (as prose, so the table stays narrow)."""
    from IPython.display import Markdown, display

    display(cmp.figure)
    plt.close(cmp.figure)
    table = cmp.table().drop(columns=["what changed with scale", "statement"])
    display(table.style.hide(axis="index"))
    display(Markdown("\n".join(f"- {s}" for s in cmp.sentences)))


def compare_scales(figure: str, store: RunStore | None = None, profiles: Sequence[str] = PROFILES,
                   records: Callable[[str, str, RunStore], list[dict[str, Any]]] = claim_records,
                   dpi: int = 80) -> ScaleComparison:
    """Figure ``figure`` at two profiles side by side (rows: the figure's panel rows; columns:
    profiles), and one sentence per claim on what changed with scale. Reads the store only."""
    if figure not in FIGURES:
        raise UserError(f"unknown figure {figure!r} for the scale comparison; accepted: {', '.join(FIGURES)}")
    if len(profiles) != 2:
        raise UserError(f"the scale comparison takes two profiles, got {list(profiles)}; accepted: e.g. small large")
    store = store or RunStore()
    images: dict[str, list[Any] | None] = {}
    stored, missing = {}, {}
    widths: list[float] = []
    for p in profiles:
        runs, miss = stored_runs(figure, p, store)
        stored[p], missing[p] = bool(runs), len(miss)
        drawn = _draw(figure, runs, f"{NAMES[figure]} at {p}") if runs else []
        widths += [f.get_figwidth() for f in drawn]
        images[p] = [_raster(f, dpi) for f in drawn] if runs else None
    # Each panel row of the figure at both profiles, one above the other (row r at small, then at
    # large): full column width, so the panels' text keeps the size the figure pages check (>= 9 px);
    # halving them side by side would not.
    rows = max(len(v) for v in images.values() if v) if any(images.values()) else 1
    cells = [(r, p) for r in range(rows) for p in profiles]
    heights = []
    for r, p in cells:
        im = images[p]
        heights.append(im[r].shape[0] / im[r].shape[1] if im and r < len(im) else 0.12)
    width = max(widths) if widths else 9.6
    fig, axes = plt.subplots(len(cells), 1, figsize=(width, max(1.5, width * sum(heights) * 1.08)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for i, (r, p) in enumerate(cells):
        ax = axes[i, 0]
        ax.set_axis_off()
        ims = images[p]
        if ims and r < len(ims):
            ax.imshow(ims[r])
            ax.set_title(f"{p}" + (f" (row {r + 1})" if rows > 1 else ""), fontsize=12, loc="left")
        elif r == 0:
            ax.text(0.5, 0.5, f"{p}: not stored ({missing[p]} run(s) missing)",
                    ha="center", va="center", fontsize=11, transform=ax.transAxes)
    # wrapped at the figure's edge (matplotlib's wrap): a title wider than the figure widens the
    # cropped PNG, and the page then scales every text in it below the legible size
    fig.suptitle(f"{NAMES[figure]}: {' vs '.join(profiles)}\n({scale_difference(figure, profiles)})",
                 fontsize=12, wrap=True)
    fig.tight_layout()
    recs = {p: records(figure, p, store) if stored[p] else [] for p in profiles}
    if not any(recs.values()):  # neither stored: still one line per claim, from the registered claims
        recs = {profiles[0]: [dict(r, verdict="missing", measured="")
                              for r in records(figure, profiles[0], store)]}
    return ScaleComparison(fig, claim_sentences(figure, recs, stored, profiles), stored, missing, recs)
