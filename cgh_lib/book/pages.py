"""Pages `cgh book` writes for each build (into ``book/generated/``, not committed).

- ``status.md`` (included by the intro page): the commit and date of the build,
  and which profile each figure is shown at, with links;
- ``runs.md``: the run browser, every stored run with its experiment, the
  fields that differ from the paper's config, its provenance and the figures
  that use it.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
from collections import defaultdict
from typing import Any

from cgh_lib.book.catalog import BOOK_DIR
from cgh_lib.book.registry import Figure, figures, make_config
from cgh_lib.errors import UserError
from cgh_lib.store.config import config_hash, to_dict
from cgh_lib.store.provenance import REPO_ROOT, device_label
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
    """The config fields that are not the paper's (plain text; the caller escapes it)."""
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


PAPER_OF_PREFIX = {"cg2020": "CG2020", "ws": "WS", "gm": "GM2022"}


def inert(v: Any) -> str:
    """Text from the store as inert HTML: a record copied from elsewhere can hold anything
    (``<img onerror=...>``, Markdown, MyST roles); escaped, it is shown, never interpreted."""
    text = html.escape(str(v), quote=True)
    # MyST would still read roles and substitutions in raw text around the HTML block
    return text.replace("{", "&#123;").replace("}", "&#125;").replace("`", "&#96;").replace("$", "&#36;")


def _fig_href(fig: Figure) -> str:
    return f"../figures/{html.escape(fig.stem, quote=True)}.html"


def _paper(exp: str, uses: dict[str, list[tuple[Figure, str]]], recs: list[dict[str, Any]]) -> str:
    papers = sorted({f.paper.split(" ")[0].strip(",;:") for r in recs for f, _ in uses.get(str(r.get("hash")), [])})
    if len(papers) == 1:
        return papers[0]
    return PAPER_OF_PREFIX.get(exp.split("-", 1)[0], "other")


def _run_row(r: dict[str, Any], paper_cfg: dict[str, Any], uses: dict[str, list[tuple[Figure, str]]]) -> str:
    p = r["provenance"] if isinstance(r.get("provenance"), dict) else {}
    commit = str(p.get("commit") or "unknown")[:10] + ("+dirty" if p.get("dirty") else "")
    when = str(p.get("finished_at") or p.get("started_at") or "")[:10]
    computed = (f"commit {commit}, {device_label(p)}, torch {p.get('torch', '?')}, "
                f"{_minutes(p.get('wall_time_s'))}" + (f", {when}" if when else ""))
    if p.get("rehashed"):
        computed += "; checksum added without recomputing"
    if p.get("winsorize_kernel"):
        computed += f"; kernel {p['winsorize_kernel']}"
    status = "diverged: " + str(p.get("diverged", "")) if r.get("status") == "diverged" else ""
    used = sorted({(f.id, prof, _fig_href(f)) for f, prof in uses.get(str(r.get("hash")), [])})
    links = ", ".join(f'<a href="{href}">{inert(fid)}</a> ({inert(prof)})' for fid, prof, href in used) or "-"
    cfg = r["config"] if isinstance(r.get("config"), dict) else {}
    return (f"<tr><td><code>{inert(r.get('hash'))}</code></td><td>{inert(_diff(cfg, paper_cfg))}"
            f"{'<br><strong>' + inert(status) + '</strong>' if status else ''}</td>"
            f"<td>{inert(computed)}</td><td>{links}</td></tr>")


def runs_page(store: RunStore, profiles: list[str]) -> str:
    """The run browser: papers, then one collapsed section per experiment (its runs in a table),
    every value from the store escaped; a record that cannot be read is a row that says so."""
    uses = uses_by_hash(profiles)
    by_exp: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in store.list_runs():
        by_exp[str(rec.get("experiment"))].append(rec)
    bad: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for d, why in store.problems():
        bad[d.parent.name].append((d.name, why))
    lines = ["# Run browser", "",
             "Every run in the run store this book was built from (`runs/<experiment>/<hash>/`, "
             "or `$CGH_RUNS`), keyed by the hash of its config, grouped by paper and experiment "
             "(click an experiment to open its runs). *Differs from the paper* lists the "
             "config fields that are not the paper's settings; *computed* is the run's provenance "
             "(commit of the code, device, torch, wall time); *used by* names the figures (and the "
             "profile) whose default configs include it. A stored result that fails its checksums "
             "is listed as an *unreadable record* and used nowhere.", ""]
    groups: dict[str, list[str]] = defaultdict(list)
    for exp in sorted(set(by_exp) | set(bad)):
        groups[_paper(exp, uses, by_exp.get(exp, []))].append(exp)
    for paper in sorted(groups):
        n = sum(len(by_exp.get(e, [])) for e in groups[paper])
        lines += [f"## {paper}", "", f"{n} stored runs in {len(groups[paper])} experiments.", ""]
        for exp in groups[paper]:
            recs = sorted(by_exp.get(exp, []), key=lambda r: (
                str((r.get("provenance") or {}).get("finished_at") or ""), str(r.get("hash"))))
            try:
                paper_cfg = to_dict(make_config(exp))
            except Exception:  # an experiment no paper registers any more
                paper_cfg = {}
            rows = []
            for r in recs:
                try:
                    rows.append(_run_row(r, paper_cfg, uses))
                except Exception as e:  # a record of unexpected shape: say so, render the rest
                    rows.append(f"<tr><td><code>{inert(r.get('hash'))}</code></td><td colspan=\"3\"><strong>"
                                f"unreadable record</strong>: {inert(type(e).__name__)}</td></tr>")
            for h, why in bad.get(exp, []):
                rows.append(f"<tr><td><code>{inert(h)}</code></td><td colspan=\"3\"><strong>unreadable record"
                            f"</strong>: {inert(why)}; not used by any figure</td></tr>")
            note = f", {len(bad[exp])} unreadable" if bad.get(exp) else ""
            lines += ['<details class="cgh-runs">',
                      f"<summary><strong>{inert(exp)}</strong>: {len(recs)} stored runs{note}</summary>", "",
                      "<table><thead><tr><th>run</th><th>differs from the paper</th><th>computed</th>"
                      "<th>used by</th></tr></thead><tbody>", *rows, "</tbody></table>", "</details>", ""]
    if not by_exp and not bad:
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
