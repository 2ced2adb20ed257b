"""Executing figure notebooks (papermill) and building the site (Jupyter Book).

papermill runs each notebook with its parameters into ``book/figures/`` (the
executed copies Jupyter Book renders, with its own execution off). Each
executed copy records in its metadata the profile, the parameters and a
fingerprint of everything it depends on (the source notebook and the
library's code), so ``cgh book`` re-executes only what is out of date.

``cgh book`` with no profile renders what is stored: each figure at the
highest profile of `PROFILE_ORDER` whose runs are all in the run store, and
it trains nothing (a figure with no stored runs gets a page that says how to
make them). ``--profile P`` renders every figure at P, training what is missing.

Presentation is done here, on the executed copy, not in the source notebooks
(`present`): code cells are folded behind a toggle, the parameter cells are
dropped or folded, and the build machine's paths are replaced by portable
names. The site is built offline: MathJax and the widget JavaScript come from
local copies (`web_assets`), and the pages written here (`pages`) give the
build's commit and profiles and browse the run store.
"""

from __future__ import annotations

import ast
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from cgh_lib.book.catalog import BOOK_DIR, SITE_ONLY, fingerprint  # noqa: F401  (torch-free; `cgh list` uses them)
from cgh_lib.book.registry import Figure, figures, get_figure
from cgh_lib.book.sweep import pid_alive
from cgh_lib.errors import FigureFailed, UserError
from cgh_lib.store.experiments import PROFILES, check_profile
from cgh_lib.store.provenance import REPO_ROOT
from cgh_lib.store.provenance import git as _git
from cgh_lib.store.runstore import RunStore

# the repository, or $CGH_BOOK_DIR (the tests build there: the reader's build stays untouched)
EXECUTED_DIR = BOOK_DIR / "book" / "figures"
GENERATED_DIR = BOOK_DIR / "book" / "generated"
BUILD_DIR = BOOK_DIR / "_build"
FAILED_DIR = REPO_ROOT / ".cgh" / "failed"  # executed copies of failed runs (ignored by git and the book)
CONVERTED_DIR = REPO_ROOT / ".cgh" / "notebooks"  # text notebooks as .ipynb for papermill (ignored by both)
# papermill's output while a figure executes: outside book/, so a killed execution never becomes a page
RUNNING_DIR = REPO_ROOT / ".cgh" / "running"
RUNTIME_KEYS = ("profile",)
# Profiles the stored build prefers, best first. A new profile (e.g. a larger CPU
# scale) is one more entry here, at its place in the order.
PROFILE_ORDER: list[str] = ["paper", "large", "small", "smoke"]


def executed_path(fig: Figure) -> Path:
    return EXECUTED_DIR / f"{fig.stem}.ipynb"


def source_ipynb(fig: Figure) -> Path:
    """The figure's notebook as papermill reads it (.ipynb). A page's source is a text notebook
    (MyST Markdown, read by jupytext); it is converted into `CONVERTED_DIR`, outside the book
    and the repository's tracked files, and rewritten only when its source changed."""
    if fig.source.suffix == ".ipynb":
        return fig.source
    import jupytext

    nb = jupytext.read(fig.source)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"  # stable ids: the same source converts to the same file
    text = jupytext.writes(nb, fmt="ipynb")
    out = CONVERTED_DIR / f"{fig.stem}.ipynb"
    if not out.exists() or out.read_text() != text:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.{os.getpid()}.ipynb")
        tmp.write_text(text)
        os.replace(tmp, out)
    return out


def notebook_parameters(fig: Figure) -> dict[str, Any]:
    """The parameters cell of the figure's notebook: name -> default (as papermill infers them)."""
    import papermill

    return {name: info.get("default") for name, info in papermill.inspect_notebook(str(source_ipynb(fig))).items()}


def coerce_params(fig: Figure, params: dict[str, str]) -> dict[str, Any]:
    """Validate parameter names against the notebook and parse values as Python literals."""
    accepted = notebook_parameters(fig)
    out: dict[str, Any] = {}
    for key in RUNTIME_KEYS:  # set by the command (--profile), never silently overridden by -p
        if key in params:
            raise UserError(f"parameter {key}={params[key]!r} is set with --{key}, not -p; accepted: "
                            f"--{key} {params[key]}")
    for key, raw in params.items():
        if key not in accepted:
            raise UserError(f"unknown parameter key {key!r} for figure {fig.id}; accepted: {', '.join(accepted)}")
        if not isinstance(raw, str):
            out[key] = raw
            continue
        try:
            out[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key] = raw  # a bare string, e.g. a path
    return out


def read_executed(path: Path) -> tuple[Any | None, str | None]:
    """(notebook, None) for a valid executed copy; (None, why) for a truncated or malformed one;
    (None, None) where there is none. Nothing is used, rendered or trusted before this check."""
    import nbformat

    try:
        text = path.read_text()
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as e:
        return None, f"unreadable: {type(e).__name__}"
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # JSON errors, schema violations: one class of "not a notebook"
        return None, f"not a valid notebook ({type(e).__name__})"
    if not isinstance(nb.metadata.get("cgh"), dict):
        return None, "not an executed copy of cgh (no cgh metadata)"
    return nb, None


def executed_info(fig: Figure) -> dict[str, Any] | None:
    """The cgh metadata of the figure's executed copy; None if there is none or it is damaged
    (then it counts as out of date: `cgh book` re-executes it, `cgh list` says so)."""
    nb, why = read_executed(executed_path(fig))
    if why is not None:
        _log(f"warning: the executed copy {_rel(executed_path(fig))} is {why}; "
             "it will be re-executed")
    return None if nb is None else dict(nb.metadata["cgh"])


def _rel(p: Path) -> str:
    """A path as the log shows it: relative to the checkout where it is inside it."""
    try:
        return str(p.relative_to(REPO_ROOT))
    except ValueError:
        return str(p)


def clean_leftovers() -> list[Path]:
    """Remove the temp notebooks of executions that were killed (their process is gone): today's
    under ``.cgh/running/``, and older code's ``book/figures/.<name>.running-<pid>.ipynb``."""
    gone = []
    for p in [*RUNNING_DIR.glob("*.running-*.ipynb"), *EXECUTED_DIR.glob(".*.running-*.ipynb")]:
        pid = p.stem.split(".running-", 1)[-1].split("-", 1)[0]
        if pid.isdigit() and pid_alive(int(pid)):  # a live execution (this process's other threads too)
            continue
        p.unlink(missing_ok=True)
        gone.append(p)
    return gone


def is_up_to_date(fig: Figure, profile: str, params: dict[str, Any]) -> bool:
    info = executed_info(fig)
    return bool(info) and info.get("fingerprint") == fingerprint(fig, profile, params)


def profile_order() -> list[str]:
    """`PROFILE_ORDER` restricted to the profiles the experiments know."""
    return [p for p in PROFILE_ORDER if p in PROFILES]


def stored_profile(fig: Figure, store: RunStore | None = None) -> str | None:
    """The highest profile at which every run of the figure (default parameters) is stored."""
    store = store or RunStore()
    for p in profile_order():
        configs = figure_configs(fig, p)
        if configs and all(store.has(c) for c in configs):
            return p
    return None


def stored_seeds(fig: Figure, profile: str, store: RunStore | None = None) -> list[int]:
    """The seeds of ``profile`` whose runs (default parameters otherwise) are all stored.

    A profile with several seeds (small: 0, 1, 2) may be stored for only some of
    them; the stored book then shows those seeds (the page and every verdict say
    how many), rather than dropping to a lower profile.
    """
    store = store or RunStore()
    if fig.plan is None or "seeds" not in notebook_parameters(fig):
        return []
    defaults = {k: _literal(v) for k, v in notebook_parameters(fig).items()}
    out = []
    for s in fig.seeds(profile):
        try:
            configs = list(fig.plan(profile, {**defaults, "seeds": [s]}))
        except UserError:
            return []
        if configs and all(store.has(c) for c in configs):
            out.append(s)
    return out


def stored_view(fig: Figure, store: RunStore | None = None) -> tuple[str | None, dict[str, Any]]:
    """(profile, notebook parameters) the stored book shows the figure at: the highest profile
    whose runs are all stored, or failing that, the highest one with every run of some seeds
    stored (shown with ``seeds`` set to those)."""
    store = store or RunStore()
    full = stored_profile(fig, store)
    for p in profile_order():
        if p == full:
            return p, {}
        seeds = stored_seeds(fig, p, store)
        if seeds:
            return p, {"seeds": seeds}
    return None, {}


def figure_configs(fig: Figure, profile: str) -> list[Any]:
    """The figure's configs at ``profile``; none where its experiments do not define the profile
    (e.g. ``large`` for experiments whose data is not available offline)."""
    try:
        return list(fig.configs(profile))
    except UserError:
        return []


# ----------------------------------------------------------------------------- presentation
def machine_paths() -> list[tuple[str, str]]:
    """(absolute path of this machine, what a page shows instead), longest first."""
    subs: dict[str, str] = {}
    # names without '$' or '<': pages are Markdown with dollar math and raw HTML
    for env, name in (("CGH_DATA", "CGH_DATA"), ("CGH_RUNS", "CGH_RUNS"), ("CGH_IMAGENET", "CGH_IMAGENET")):
        v = os.environ.get(env)
        if v and os.path.isabs(v):
            for form in {v.rstrip("/"), os.path.realpath(v)}:
                subs[form] = name
    for root in {str(REPO_ROOT), os.path.realpath(REPO_ROOT), str(BOOK_DIR)}:
        subs[root + "/"] = ""
        subs[root] = "."
    subs[sys.prefix] = "PYTHON_PREFIX"
    home = str(Path.home())
    if home not in ("/", ""):
        subs[home] = "~"
    return sorted(subs.items(), key=lambda kv: -len(kv[0]))


def strip_paths(obj: Any, subs: list[tuple[str, str]]) -> Any:
    """Replace machine paths in every string of a JSON-like object."""
    if isinstance(obj, str):
        for old, new in subs:
            if old in obj:
                obj = obj.replace(old, new)
        return obj
    if isinstance(obj, list):
        return [strip_paths(x, subs) for x in obj]
    if isinstance(obj, dict):
        return {k: strip_paths(v, subs) for k, v in obj.items()}
    return obj


def _add_tags(cell: Any, *tags: str) -> None:
    have = list(cell.metadata.get("tags", []))
    cell.metadata["tags"] = have + [t for t in tags if t not in have]


def present(nb: Any) -> Any:
    """Make an executed notebook read like a page (returns the new notebook).

    - the default parameters cell is removed from the page, papermill's injected
      one (the values actually used) folded behind a toggle;
    - code cells are folded (their outputs shown); code cells with no output removed;
    - cells that show a figure are full width;
    - absolute paths of the build machine are replaced everywhere (`machine_paths`).
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags:
            _add_tags(cell, "remove-cell")
        elif "injected-parameters" in tags:
            _add_tags(cell, "hide-cell")
        elif not cell.get("outputs"):
            _add_tags(cell, "remove-cell")
        else:
            _add_tags(cell, "hide-input")
            if any("image/png" in o.get("data", {}) for o in cell.outputs):
                _add_tags(cell, "full-width")
    import nbformat

    return nbformat.from_dict(strip_paths(nb, machine_paths()))


@contextmanager
def _kernel_env(stored_only: bool) -> Iterator[None]:
    """Environment the notebook kernel inherits: quiet, and (stored_only) never training."""
    # progress bars in a kernel become widgets in the page (and its output, never the terminal)
    extra = {"PYDEVD_DISABLE_FILE_VALIDATION": "1", "TQDM_DISABLE": "1"}
    if stored_only:
        extra["CGH_STORED_ONLY"] = "1"
    old = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _type_name(v: Any) -> str:
    return {dict: "a dict", list: "a list", tuple: "a list", str: "a string", bool: "true or false",
            int: "a number", float: "a number"}.get(type(v), type(v).__name__)


def validate_params(fig: Figure, profile: str, values: dict[str, Any]) -> None:
    """Check a figure's parameters without running it (raises `UserError`, one line).

    Each value must have its default's kind (a dict where the notebook has ``{}``,
    a list where it has a list; anything where it has None); then the figure's
    ``plan`` builds the configs the notebook would run (which validates every
    override and sweep value), and `check_runnable` checks the device and, for
    runs not yet stored, that their data are there and large enough.
    """
    from cgh_lib.store.experiments import check_runnable

    defaults = notebook_parameters(fig)
    params = {**{k: _literal(v) for k, v in defaults.items()}, **values}
    for key, value in values.items():
        default = _literal(defaults.get(key))
        if default is None or value is None:
            continue
        kinds = {dict: (dict,), list: (list, tuple), tuple: (list, tuple), str: (str,), bool: (bool,),
                 int: (int, float), float: (int, float)}.get(type(default))
        if kinds and not (isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)):
            raise UserError(f"parameter {key}={value!r} of figure {fig.id} is {_type_name(value)}; "
                            f"accepted: {_type_name(default)}, e.g. {key}={default!r}")
    for key, value in values.items():  # an empty sweep (noise_levels=[]) would render an empty figure
        default = _literal(defaults.get(key))
        if isinstance(value, (list, tuple, dict)) and not value and default:
            raise UserError(f"parameter {key}={value!r} of figure {fig.id} is empty; accepted: a non-empty "
                            f"{_type_name(default)[2:]}, e.g. {key}={default!r}")
    seeds = values.get("seeds")
    if "seeds" in defaults and seeds is not None and not (
            isinstance(seeds, (list, tuple)) and seeds
            and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in seeds)):
        raise UserError(f"parameter seeds={seeds!r} of figure {fig.id} is not a list of seeds; accepted: None (the "
                        f"profile's seeds) or a non-empty list of integers >= 0, e.g. seeds=[0, 1, 2]")
    if fig.plan is None:
        return
    try:
        configs = fig.plan(profile, params)
    except UserError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise UserError(f"parameters {values!r} are invalid for figure {fig.id} ({type(e).__name__}: {e}); "
                        f"accepted: {', '.join(f'{k}={v}' for k, v in defaults.items())}") from None
    check_runnable(configs, params.get("data_root"), params.get("device") or "auto")


def _literal(v: Any) -> Any:
    """papermill reports defaults as source text ('{}', '[0.0, 0.5]', 'None')."""
    if isinstance(v, str):
        try:
            return ast.literal_eval(v)
        except (ValueError, SyntaxError):
            return v
    return v


def execute_figure(fig_id: str, profile: str, params: dict[str, str] | None = None,
                   progress: bool = True, stored_only: bool = False) -> Path:
    """Run the figure's notebook with papermill at ``profile``; return the executed copy.

    Parameters are validated before papermill starts, and papermill writes to a
    temporary copy that replaces the executed one only on success: a failed run
    never clobbers the last good figure. A `UserError` raised inside the
    notebook is re-raised as itself (one line, exit 2); any other failure
    raises `FigureFailed` naming the cell and the saved failed copy.
    ``stored_only``: the notebook may only read stored runs (a missing one is an
    error, never a training run).
    """
    import nbformat
    import papermill

    fig = get_figure(fig_id)
    check_profile(profile)
    values = coerce_params(fig, dict(params or {}))
    validate_params(fig, profile, values)
    values["profile"] = profile
    out = executed_path(fig)
    out.parent.mkdir(parents=True, exist_ok=True)
    RUNNING_DIR.mkdir(parents=True, exist_ok=True)
    clean_leftovers()
    tmp = RUNNING_DIR / f"{out.stem}.running-{os.getpid()}-{threading.get_ident()}.ipynb"
    t0 = time.time()
    try:
        with _kernel_env(stored_only):
            papermill.execute_notebook(str(source_ipynb(fig)), str(tmp), parameters=values, kernel_name="python3",
                                       cwd=str(REPO_ROOT), progress_bar=progress and sys.stderr.isatty(),
                                       log_output=False, extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    except papermill.PapermillExecutionError as e:
        failed = FAILED_DIR / out.name
        failed.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            os.replace(tmp, failed)
        first = str(e.evalue).strip().splitlines()[0] if str(e.evalue).strip() else ""
        if e.ename in ("UserError", "Interrupted", "KeyboardInterrupt"):
            raise UserError(first or e.ename) from None
        raise FigureFailed(f"figure {fig.id} failed in cell {e.exec_count}: {e.ename}: {first} "
                           f"(the executed notebook with the traceback: {failed})") from None
    else:
        nb = present(nbformat.read(str(tmp), as_version=4))
        nb.metadata.get("papermill", {})["input_path"] = fig.notebook  # the source, not its converted copy
        nb.metadata["cgh"] = {"figure": fig.id, "profile": profile, "params": strip_paths(values, machine_paths()),
                              "fingerprint": fingerprint(fig, profile,
                                                         {k: v for k, v in values.items() if k != "profile"}),
                              "executed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                              "wall_s": round(time.time() - t0, 1)}
        nbformat.write(nb, str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)  # only left by an interrupted execution
    return out


def write_placeholder(fig: Figure) -> Path:
    """The page of a figure with no stored runs at any profile: says so and how to make them."""
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook

    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(new_markdown_cell(
        f"# {fig.title}\n\n*{fig.paper}.* **Not rendered: no stored runs.** None of the profiles "
        f"{', '.join(profile_order())} has all of this figure's runs in the run store, and the "
        "stored build trains nothing. To make them on a CPU (minutes to hours) and render this page:\n\n"
        f"```bash\ncgh figure {fig.id} --profile small -p data_root=/path/to/data\ncgh book\n```\n\n"
        f"or `cgh book --profile smoke` for a seconds-long check of the code path. The notebook is "
        f"`{fig.notebook}`."))
    nb.metadata["cgh"] = {"figure": fig.id, "profile": None, "placeholder": True}
    out = executed_path(fig)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out))
    return out


# ----------------------------------------------------------------------------- the site

def default_repo_url() -> str | None:
    """The public repository URL: ``$CGH_REPO_URL``, else the git remote if it is an https URL."""
    url = os.environ.get("CGH_REPO_URL") or _git("remote", "get-url", "origin")
    if url.startswith("git@github.com:"):
        url = "https://github.com/" + url.split(":", 1)[1]
    url = url.removesuffix(".git")
    return url if url.startswith("https://") else None


def site_config(assets: Path | None, repo_url: str | None) -> Path:
    """``_config.yml`` plus what depends on this build (local web assets, repository URL),
    written under ``_build/`` and given to ``jupyter-book build --config``."""
    import yaml

    cfg = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    # temp and hidden files are never pages (a killed execution's notebook of older code)
    cfg["exclude_patterns"] = [*cfg.get("exclude_patterns", []), "**/.*", "**/.*/**"]
    sph = cfg.setdefault("sphinx", {})
    conf = sph.setdefault("config", {})
    sph.setdefault("extra_extensions", []).append("cgh_lib.book.sphinx_ext")
    if assets is not None:
        from cgh_lib.book import web_assets

        conf.update(web_assets.sphinx_settings(assets))
    # the site root's favicon.ico (browsers ask for it on the redirecting index.html)
    extra = BUILD_DIR / "web-extra"
    extra.mkdir(parents=True, exist_ok=True)
    fav = REPO_ROOT / "book" / "favicon.png"
    if fav.exists():
        shutil.copyfile(fav, extra / "favicon.ico")
    conf["html_extra_path"] = [str(extra)]
    if repo_url:
        cfg["repository"] = {**cfg.get("repository", {}), "url": repo_url}
        html = cfg.setdefault("html", {})
        html["use_repository_button"] = True
        html["use_issues_button"] = True
    else:
        cfg.pop("launch_buttons", None)
    out = BUILD_DIR / "cgh_config.yml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _book_source() -> Path:
    """The folder Jupyter Book builds from: the repository, or `BOOK_DIR` with the book's committed
    sources (table of contents, intro, favicon) copied beside its executed copies."""
    if BOOK_DIR == REPO_ROOT:
        return REPO_ROOT
    for rel in ("_toc.yml", "book/intro.md", "book/favicon.png"):
        (BOOK_DIR / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / rel, BOOK_DIR / rel)
    return BOOK_DIR


def build_book(profile: str | None = None, force: bool = False, progress: bool = True,
               repo_url: str | None = None, jobs: int = 0) -> Path:
    """Render every figure and build the HTML site; return the path of ``index.html``.

    ``profile=None``: each figure at its highest fully stored profile, training nothing.
    Otherwise every figure at ``profile``, training what is missing.
    ``jobs``: notebooks executed side by side (0: up to 4 when every run is stored, else 1).
    """
    from cgh_lib.book import pages, web_assets

    t_start = time.time()
    if profile is not None:
        check_profile(profile)
    for p in clean_leftovers():
        _log(f"removed the temp notebook of a killed execution: {_rel(p)}")
    for p in EXECUTED_DIR.glob("*.ipynb"):  # a damaged copy is never rendered: out of date, or removed
        if read_executed(p)[1] is not None:
            _log(f"warning: removing the damaged executed copy {_rel(p)} ({read_executed(p)[1]})")
            p.unlink()
    store = RunStore()
    shown: dict[str, str | None] = {}
    params: dict[str, dict[str, Any]] = {}  # notebook parameters of the stored view (e.g. the stored seeds)
    todo: list[tuple[Figure, str]] = []
    figs = list(figures().values())
    if profile is None:
        for fig in figs:
            shown[fig.id], params[fig.id] = stored_view(fig, store)
        # a figure with no runs at any profile (computed on the page, e.g. an exact toy
        # example) is shown at the profile most of the book is shown at
        runless = [f for f in figs if not any(figure_configs(f, p) for p in profile_order())]
        counts = [p for f, p in shown.items() if p and f not in {r.id for r in runless}]
        book_profile = max(set(counts), key=counts.count) if counts else profile_order()[-1]
        for fig in runless:
            shown[fig.id] = book_profile
    for fig in figs:
        p = profile or shown[fig.id]
        shown[fig.id] = p
        if p is None:
            write_placeholder(fig)
            _log(f"{fig.id:<14} no stored runs at any profile: placeholder page")
        elif not force and is_up_to_date(fig, p, params.get(fig.id, {})):
            _log(f"{fig.id:<14} {p:<6} up to date")
        else:
            todo.append((fig, p))

    def run(item: tuple[Figure, str]) -> None:
        fig, p = item
        t0 = time.time()
        extra = params.get(fig.id, {})
        execute_figure(fig.id, p, extra, progress=progress, stored_only=profile is None)
        seeds = f" (seeds {', '.join(map(str, extra['seeds']))} of the profile's)" if "seeds" in extra else ""
        _log(f"{fig.id:<14} {p:<6} executed in {time.time() - t0:.0f} s{seeds}")

    # Rendering stored runs is kernel start-up and plotting: run notebooks side by side.
    # Training uses every core already: one at a time when anything is missing.
    all_stored = profile is None or all(fig.configs(p) and all(store.has(c) for c in fig.configs(p)) for fig, p in todo)
    jobs = jobs or (min(4, os.cpu_count() or 1) if all_stored else 1)
    if jobs > 1 and len(todo) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(run, todo))
    else:
        for item in todo:
            run(item)
    pages.write_pages(shown, store, profile_order(), profile, machine_paths())
    assets = web_assets.stage(BUILD_DIR / "web")
    if assets is None:
        _log(f"warning: the vendored MathJax / widget JavaScript ({web_assets.VENDORED}) is missing or not the "
             "pinned archive; the site loads them from CDNs and its widgets and formulas need a network")
    config = site_config(assets, repo_url if repo_url is not None else default_repo_url())
    exe = Path(sys.executable).parent / "jupyter-book"
    src = _book_source()
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(src), "--path-output", str(src),
           "--config", str(config), "-W", "-n", "--keep-going", "-q"]
    t0 = time.time()
    res = subprocess.run(cmd, cwd=src, capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stdout[-4000:] + res.stderr[-4000:])
        raise RuntimeError(f"jupyter-book build failed (exit {res.returncode})")
    _log(f"site built in {time.time() - t0:.0f} s (total {time.time() - t_start:.0f} s)")
    return BUILD_DIR / "html" / "index.html"


@dataclass
class Remote:
    name: str
    url: str
    has_pages: bool  # the remote already has a gh-pages branch


def _is_local(url: str) -> bool:
    """A remote that is a folder on this machine (a path or file:// URL), not a server."""
    if url.startswith("file://"):
        return True
    if "://" in url:
        return False
    host, sep, _ = url.partition(":")  # scp-like user@host:path
    return not sep or "/" in host or not host


def check_publish(remote: str = "origin", force: bool = False, allow_local: bool = False) -> Remote:
    """Check, before anything is built, that ``cgh book --publish`` can push: the remote exists,
    answers, is not a local path (unless ``allow_local``: pushing there is not publishing), and
    (without ``force``) will accept a fast-forward of its gh-pages branch."""
    url = _git("remote", "get-url", remote)
    if not url:
        raise UserError(f"no git remote {remote!r} to publish to; accepted: an existing remote "
                        f"(git remote add {remote} URL), or --remote NAME")
    if _is_local(url) and not allow_local:
        raise UserError(f"git remote {remote!r} is a local path ({url}): pushing there publishes nothing; "
                        "accepted: a hosted remote, or --allow-local-remote to push to it anyway")
    try:
        res = subprocess.run(["git", "ls-remote", "--heads", remote, "gh-pages"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=60, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except subprocess.TimeoutExpired:
        raise UserError(f"git remote {remote!r} ({url}) did not answer in 60 s; accepted: a reachable remote") from None
    if res.returncode != 0:
        why = (res.stderr.strip().splitlines() or ["no answer"])[-1]
        raise UserError(f"git remote {remote!r} ({url}) cannot be reached: {why}; accepted: a reachable remote "
                        "you can push to")
    if _is_local(url):
        _log(f"note: publishing to a local-path remote {remote!r} ({url}), as --allow-local-remote asks")
    return Remote(remote, url, bool(res.stdout.strip()))


PUBLISH_BRANCH = "cgh-publish-tmp"  # local scratch branch, deleted after the push


def publish(html_dir: Path | None = None, remote: Remote | None = None, force: bool = False) -> None:
    """Push the built site (``.nojekyll`` added) to the remote's ``gh-pages`` branch.

    The commit is made with ghp-import on a scratch branch that starts from the
    remote's gh-pages (so the push is a fast-forward) and is deleted afterwards:
    no local ``gh-pages`` branch is left behind. Only ``force`` replaces the
    remote's history (``git push --force``).
    """
    html_dir = html_dir or BUILD_DIR / "html"
    if not (html_dir / "index.html").exists():
        raise UserError(f"no built site at {html_dir}; accepted: run `cgh book` first")
    remote = remote or check_publish()
    exe = Path(sys.executable).parent / "ghp-import"
    _git("branch", "-D", PUBLISH_BRANCH)
    try:
        if remote.has_pages and not force:
            fetch = subprocess.run(["git", "fetch", "--quiet", remote.name, f"gh-pages:{PUBLISH_BRANCH}"],
                                   cwd=REPO_ROOT, capture_output=True, text=True)
            if fetch.returncode != 0:
                raise UserError(f"cannot fetch gh-pages from {remote.name}: "
                                f"{(fetch.stderr.strip().splitlines() or ['?'])[-1]}; accepted: a reachable remote")
        cmd = [str(exe) if exe.exists() else "ghp-import", "-n", "-b", PUBLISH_BRANCH, "-m", "Publish the book",
               str(html_dir)]
        res = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
        if res.returncode != 0:
            raise UserError(f"ghp-import failed: {(res.stderr or res.stdout).strip().splitlines()[-1:]}")
        push = ["git", "push", *(["--force"] if force else []), remote.name, f"{PUBLISH_BRANCH}:gh-pages"]
        res = subprocess.run(push, cwd=REPO_ROOT, capture_output=True, text=True)
        if res.returncode != 0:
            last = (res.stderr.strip().splitlines() or ["?"])[-1]
            raise UserError(f"push to {remote.name} gh-pages refused: {last}; accepted: --force-push to replace "
                            "its history")
    finally:
        _git("branch", "-D", PUBLISH_BRANCH)


def list_figures() -> list[dict[str, Any]]:
    """Each figure with the profile and time of its executed copy, if any; stored results that
    fail their checks are reported on stderr (and left in place)."""
    for d, why in RunStore().problems():
        _log(f"warning: the stored result {_rel(d)} is not used ({why})")
    rows = []
    for fig in figures().values():
        info = executed_info(fig) or {}
        prof = info.get("profile") or "-"
        rows.append({"figure": fig.id, "notebook": fig.notebook, "profile": prof,
                     "executed_at": info.get("executed_at", "never"),
                     "up_to_date": bool(info.get("profile")) and is_up_to_date(
                         fig, info["profile"], {k: v for k, v in info.get("params", {}).items() if k != "profile"})})
    return rows
