"""Pages `cgh book` writes for each build (into ``book/generated/``, not committed).

- ``status.md`` (included by the intro page): the commit and date of the build,
  and which profile each figure is shown at, with links;
- ``runs.md``: the run browser, every stored run with its experiment, the
  fields that differ from the paper's config, its provenance and the figures
  that use it.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections import defaultdict
from typing import Any

from cgh_lib.book.catalog import BOOK_DIR
from cgh_lib.book.registry import Figure, figures, make_config
from cgh_lib.errors import UserError
from cgh_lib.store.config import config_hash, to_dict
from cgh_lib.store.provenance import REPO_ROOT
from cgh_lib.store.provenance import git as _git
from cgh_lib.store.runstore import RunStore

GENERATED = BOOK_DIR / "book" / "generated"  # the repository's, or $CGH_BOOK_DIR's



def build_commit() -> str:
    """Short commit of the checkout the book is built from, marked if it has local changes."""
    commit = _git("rev-parse", "--short=10", "HEAD") or "unknown"
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return commit + (" (with uncommitted changes)" if dirty else "")


def page_link(fig: Figure) -> str:
    return f"{{doc}}`{fig.id} </book/figures/{fig.stem}>`"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def status_page(shown: dict[str, str | None], requested: str | None, profiles: list[str]) -> str:
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    how = (f"every figure at the **{requested}** profile (runs trained where missing)" if requested else
           "each figure at the highest profile whose runs are all stored (" + " > ".join(profiles) + "); nothing trained")
    lines = [f"**This build**: commit `{build_commit()}`, built {now}; {how}. "
             "Every stored run is listed in the {doc}`run browser </book/generated/runs>`.", "",
             "| figure | shown at profile | paper |", "|---|---|---|"]
    for fig in figures().values():
        p = shown.get(fig.id)
        lines.append(f"| {page_link(fig)} | {p or 'not rendered: no stored runs'} | {_cell(fig.paper)} |")
    return "\n".join(lines) + "\n"


def _diff(cfg: dict[str, Any], paper: dict[str, Any]) -> str:
    out = []
    for k, v in cfg.items():
        pv = paper.get(k, "(not a field)")
        if v != pv:
            out.append(f"{k} {v} (paper {pv})")
    return "; ".join(out) or "none: the paper's config"


def _minutes(s: Any) -> str:
    try:
        s = float(s)
    except (TypeError, ValueError):
        return "?"
    return "?" if math.isnan(s) else f"{s / 60:.1f} min"


def uses_by_hash(profiles: list[str]) -> dict[str, list[tuple[Figure, str]]]:
    """Config hash -> the (figure, profile) pairs whose default configs include it."""
    uses: dict[str, list[tuple[Figure, str]]] = defaultdict(list)
    for fig in figures().values():
        for p in profiles:
            try:
                configs = fig.configs(p)
            except UserError:  # a profile the figure's experiments do not define
                continue
            for c in configs:
                uses[config_hash(c)].append((fig, p))
    return uses


def runs_page(store: RunStore, profiles: list[str]) -> str:
    uses = uses_by_hash(profiles)
    by_exp: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in store.list_runs():
        by_exp[rec["experiment"]].append(rec)
    lines = ["# Run browser", "",
             "Every run in the run store this book was built from (`runs/<experiment>/<hash>/`, "
             "or `$CGH_RUNS`), keyed by the hash of its config. *Differs from the paper* lists the "
             "config fields that are not the paper's settings; *computed* is the run's provenance "
             "(commit of the code, device, torch, wall time); *used by* names the figures (and the "
             "profile) whose default configs include it.", ""]
    for exp in sorted(by_exp):
        recs = sorted(by_exp[exp], key=lambda r: (str(r["provenance"].get("finished_at") or
                                                      r["provenance"].get("started_at") or ""), r["hash"]))
        try:
            paper = to_dict(make_config(exp))
        except Exception:  # an experiment no paper registers any more
            paper = {}
        lines += [f"## {exp}", "", f"{len(recs)} stored runs.", "",
                  "| run | differs from the paper | computed | used by |", "|---|---|---|---|"]
        for r in recs:
            p = r["provenance"]
            commit = (p.get("commit") or "unknown")[:10] + ("+dirty" if p.get("dirty") else "")
            when = str(p.get("finished_at") or p.get("started_at") or "")[:10]
            computed = (f"commit `{commit}`, {p.get('device_name', p.get('device', '?'))}, torch {p.get('torch', '?')}, "
                        f"{_minutes(p.get('wall_time_s'))}" + (f", {when}" if when else ""))
            used = sorted({f"{page_link(f)} ({prof})" for f, prof in uses.get(r["hash"], [])})
            lines.append(f"| `{r['hash']}` | {_cell(_diff(r['config'], paper))} | {_cell(computed)} | "
                         f"{', '.join(used) or '-'} |")
        lines.append("")
    if not by_exp:
        lines.append("The run store is empty.")
    return "\n".join(lines) + "\n"


def write_pages(shown: dict[str, str | None], store: RunStore, profiles: list[str], requested: str | None,
                subs: list[tuple[str, str]]) -> None:
    """Write both pages; ``subs`` = (machine path, replacement) pairs applied to their text."""
    GENERATED.mkdir(parents=True, exist_ok=True)
    for name, text in (("status.md", status_page(shown, requested, profiles)), ("runs.md", runs_page(store, profiles))):
        for old, new in subs:
            text = text.replace(old, new)
        path = GENERATED / name
        if not path.exists() or path.read_text() != text:  # unchanged pages are not rebuilt
            path.write_text(text)
