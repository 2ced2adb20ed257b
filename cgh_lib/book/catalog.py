"""What the CLI can say about the figures without importing torch.

Importing a paper package registers its experiments, which imports torch and
the whole library (seconds, tens of seconds under load). Listing the figures,
rejecting a bad figure name, printing a figure's parameters and saying whether
its executed copy is up to date need none of that: they are read here from the
sources, with `ast` and JSON only.

- `figure_specs`: each ``Figure("id", "notebooks/x.ipynb", "title", "paper", ...)`` call
  in the paper packages' ``__init__.py``, in registration order (the book's order);
  ``tests/test_cli.py`` checks it equals the registry's list.
- `notebook_parameters`: the parameters cell of a notebook (name, default source, comment).
- `fingerprint`, `executed_path`, `executed_info`: what `cgh book` decides "up to date" by
  (`cgh_lib.book.build` uses these same functions).
- `BOOK_DIR`: where the executed copies, generated pages and ``_build/`` go: the repository,
  or ``$CGH_BOOK_DIR`` (the tests build there, so the reader's ``_build/html`` and
  ``book/figures`` are never overwritten).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]  # cgh_lib/book/catalog.py -> repo (as store.provenance)
PAPERS_DIR = REPO_ROOT / "cgh_lib" / "papers"
# the claims dashboard is registered by `registry.discover` after every paper
DASHBOARD_SPEC = ("claims-dashboard", "notebooks/claims_dashboard.md")
# library files that shape the site but not an executed notebook (not in its fingerprint)
SITE_ONLY = {"cgh_lib/book/pages.py", "cgh_lib/book/web_assets.py", "cgh_lib/book/sphinx_ext.py"}


def book_dir() -> Path:
    """The folder `cgh book` writes into (``book/figures``, ``book/generated``, ``_build``):
    ``$CGH_BOOK_DIR`` if set, else the repository."""
    return Path(os.environ["CGH_BOOK_DIR"]).resolve() if os.environ.get("CGH_BOOK_DIR") else REPO_ROOT


BOOK_DIR = book_dir()
EXECUTED_DIR = BOOK_DIR / "book" / "figures"


@dataclass(frozen=True)
class FigureSpec:
    id: str
    notebook: str  # relative to the repository root: a MyST Markdown notebook (jupytext), the page's only source

    @property
    def source(self) -> Path:
        return REPO_ROOT / self.notebook

    @property
    def stem(self) -> str:
        return self.source.stem


def _literal_args(call: ast.Call) -> list[Any] | None:
    try:
        return [ast.literal_eval(a) for a in call.args[:2]]
    except ValueError:
        return None


def figure_specs() -> list[FigureSpec] | None:
    """Every figure the papers register, in book order, read from their ``__init__.py`` with
    `ast`; None when a ``Figure(...)`` call's id or notebook is not a literal (the caller then
    asks the registry, which imports the papers)."""
    out: list[FigureSpec] = []
    for pkg in sorted(p for p in PAPERS_DIR.iterdir() if (p / "__init__.py").is_file()):
        tree = ast.parse((pkg / "__init__.py").read_text())
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "register_figure"):
                continue
            for arg in node.args:
                if not (isinstance(arg, ast.Call) and getattr(arg.func, "id", None) == "Figure"):
                    return None
                args = _literal_args(arg)
                if args is None or len(args) < 2 or not all(isinstance(a, str) for a in args):
                    return None
                out.append(FigureSpec(args[0], args[1]))
    # the registry's order depends on which paper imports which first; the book's order is the
    # table of contents' (stable sort: figures not in it keep their place, after the others)
    toc = re.findall(r"file:\s*book/figures/(\S+)", (REPO_ROOT / "_toc.yml").read_text())
    out.sort(key=lambda s: toc.index(s.stem) if s.stem in toc else len(toc))
    return out + [FigureSpec(*DASHBOARD_SPEC)]


def figure_ids() -> list[str] | None:
    specs = figure_specs()
    return None if specs is None else [s.id for s in specs]


# ----------------------------------------------------------------------------- notebook parameters
@dataclass(frozen=True)
class Parameter:
    name: str
    default: str   # source text, e.g. "[0.0, 0.5]" or "None"
    comment: str   # the cell's comment on that line: what it accepts


_ASSIGN = re.compile(r"^([A-Za-z_]\w*)\s*=\s*(.*?)\s*(?:#\s*(.*))?$")


def _parameter_source(path: Path) -> str:
    """The source of the cell tagged ``parameters`` (an .ipynb, or a text notebook whose cell
    marker carries the tag, as jupytext's percent and MyST formats write it)."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        for c in nb.get("cells", []):
            if "parameters" in c.get("metadata", {}).get("tags", []):
                return "".join(c["source"])
        return ""
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if "parameters" in line and (line.startswith("# %%") or line.startswith("```{code-cell}")
                                     or line.startswith(":tags:")):
            body = []
            for nxt in lines[i + 1:]:
                if nxt.startswith("# %%") or nxt.startswith("```"):
                    break
                if not nxt.startswith(":tags:"):
                    body.append(nxt)
            return "\n".join(body)
    return ""


def notebook_parameters(path: Path) -> list[Parameter]:
    """The parameters cell of a notebook, line by line: ``name = default  # comment``.

    A default spanning several lines is read with `ast` (its source text, comments dropped)."""
    src = _parameter_source(path)
    out: list[Parameter] = []
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return out
    lines = src.splitlines()
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        first = lines[node.lineno - 1]
        m = _ASSIGN.match(first)
        comment = (m.group(3) or "") if m and node.end_lineno == node.lineno else ""
        out.append(Parameter(node.targets[0].id, ast.get_source_segment(src, node.value) or "", comment.strip()))
    return out


def parameters_help(spec: FigureSpec) -> str:
    """The text `cgh figure ID --help` ends with: each parameter, its default and what it accepts."""
    params = notebook_parameters(spec.source)
    if not params:
        return f"figure {spec.id} ({spec.notebook}) has no parameters cell"
    width = max(len(p.name) for p in params)
    rows = [f"parameters of {spec.id} (-p NAME=VALUE; values are Python literals; notebook {spec.notebook}):"]
    for p in params:
        if p.name == "profile":
            rows.append(f"  {'profile':<{width}}  set with --profile (default: smoke); accepted: smoke, small, "
                        f"large, paper")
            continue
        default = " ".join(p.default.split())
        rows.append(f"  {p.name:<{width}}  default {default}" + (f"; {p.comment}" if p.comment else ""))
    return "\n".join(rows)


# ----------------------------------------------------------------------------- executed copies
def executed_path(fig: Any) -> Path:
    """The executed copy of a figure (a `FigureSpec` or a registry `Figure`)."""
    return EXECUTED_DIR / f"{fig.stem}.ipynb"


def executed_info(fig: Any) -> dict[str, Any] | None:
    """The cgh metadata of an executed copy; None if there is none, ``{"damaged": why}`` if it is
    truncated or not ours (`cgh book` re-executes it; `cgh list` says so instead of failing)."""
    p = executed_path(fig)
    if not p.exists():
        return None
    try:
        meta = json.loads(p.read_text()).get("metadata", {}).get("cgh")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as e:
        return {"damaged": type(e).__name__}
    return meta if isinstance(meta, dict) else {"damaged": "no cgh metadata"}


def fingerprint(fig: Any, profile: str, params: dict[str, Any]) -> str:
    """Hash of what an executed notebook depends on: source, library code, profile, params."""
    h = hashlib.sha256()
    source = fig.source
    if source.suffix == ".ipynb":
        nb = json.loads(source.read_text())
        h.update(json.dumps([c.get("source") for c in nb["cells"]], sort_keys=True).encode())
    else:
        h.update(source.read_bytes())
    for p in sorted((REPO_ROOT / "cgh_lib").rglob("*.py")):
        if p.relative_to(REPO_ROOT).as_posix() in SITE_ONLY:
            continue
        h.update(str(p.relative_to(REPO_ROOT)).encode())
        h.update(p.read_bytes())
    h.update(json.dumps({"profile": profile, "params": params}, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def list_rows(specs: list[FigureSpec]) -> list[dict[str, Any]]:
    """Each figure with the profile and time of its executed copy, and whether it is up to date."""
    rows = []
    for fig in specs:
        info = executed_info(fig) or {}
        prof = info.get("profile") or "-"
        params = {k: v for k, v in info.get("params", {}).items() if k != "profile"}
        rows.append({"figure": fig.id, "notebook": fig.notebook, "profile": prof,
                     "executed_at": ("damaged copy" if info.get("damaged") else info.get("executed_at", "never")),
                     "up_to_date": bool(info.get("profile")) and info.get("fingerprint") == fingerprint(
                         fig, info["profile"], params)})
    return rows
