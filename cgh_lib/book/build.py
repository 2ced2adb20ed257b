"""Executing figure notebooks (papermill) and building the site (Jupyter Book).

papermill runs each notebook with its parameters into ``book/figures/`` (the
executed copies Jupyter Book renders, with its own execution off). Each
executed copy records in its metadata the profile, the parameters and a
fingerprint of everything it depends on (the source notebook and the
library's code), so ``cgh book`` re-executes only what is out of date.
"""

from __future__ import annotations

import ast
import datetime as _dt
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cgh_lib.book.registry import Figure, figures, get_figure
from cgh_lib.errors import FigureFailed, UserError
from cgh_lib.store.experiments import check_profile
from cgh_lib.store.provenance import REPO_ROOT

EXECUTED_DIR = REPO_ROOT / "book" / "figures"
BUILD_DIR = REPO_ROOT / "_build"
FAILED_DIR = REPO_ROOT / ".cgh" / "failed"  # executed copies of failed runs (ignored by git and the book)
RUNTIME_KEYS = ("profile",)


def executed_path(fig: Figure) -> Path:
    return EXECUTED_DIR / f"{fig.stem}.ipynb"


def notebook_parameters(fig: Figure) -> dict[str, Any]:
    """The parameters cell of the figure's notebook: name -> default (as papermill infers them)."""
    import papermill

    return {name: info.get("default") for name, info in papermill.inspect_notebook(str(fig.source)).items()}


def coerce_params(fig: Figure, params: dict[str, str]) -> dict[str, Any]:
    """Validate parameter names against the notebook and parse values as Python literals."""
    accepted = notebook_parameters(fig)
    out: dict[str, Any] = {}
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


def fingerprint(fig: Figure, profile: str, params: dict[str, Any]) -> str:
    """Hash of what an executed notebook depends on: source, library code, profile, params."""
    h = hashlib.sha256()
    nb = json.loads(fig.source.read_text())
    h.update(json.dumps([c.get("source") for c in nb["cells"]], sort_keys=True).encode())
    for p in sorted((REPO_ROOT / "cgh_lib").rglob("*.py")):
        h.update(str(p.relative_to(REPO_ROOT)).encode())
        h.update(p.read_bytes())
    h.update(json.dumps({"profile": profile, "params": params}, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def executed_info(fig: Figure) -> dict[str, Any] | None:
    p = executed_path(fig)
    if not p.exists():
        return None
    return json.loads(p.read_text()).get("metadata", {}).get("cgh")


def is_up_to_date(fig: Figure, profile: str, params: dict[str, Any]) -> bool:
    info = executed_info(fig)
    return bool(info) and info.get("fingerprint") == fingerprint(fig, profile, params)


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
                   progress: bool = True) -> Path:
    """Run the figure's notebook with papermill at ``profile``; return the executed copy.

    Parameters are validated before papermill starts, and papermill writes to a
    temporary copy that replaces the executed one only on success: a failed run
    never clobbers the last good figure. A `UserError` raised inside the
    notebook is re-raised as itself (one line, exit 2); any other failure
    raises `FigureFailed` naming the cell and the saved failed copy.
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
    tmp = out.with_name(f".{out.stem}.running-{os.getpid()}.ipynb")
    t0 = time.time()
    try:
        papermill.execute_notebook(str(fig.source), str(tmp), parameters=values, kernel_name="python3",
                                   cwd=str(REPO_ROOT), progress_bar=progress, log_output=False)
    except papermill.PapermillExecutionError as e:
        failed = FAILED_DIR / out.name
        failed.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            os.replace(tmp, failed)
        if e.ename in ("UserError", "Interrupted", "KeyboardInterrupt"):
            raise UserError(str(e.evalue).strip().splitlines()[0] if str(e.evalue).strip() else e.ename) from None
        raise FigureFailed(f"figure {fig.id} failed in cell {e.exec_count}: {e.ename}: "
                           f"{str(e.evalue).strip().splitlines()[0] if str(e.evalue).strip() else ''} "
                           f"(the executed notebook with the traceback: {failed})") from None
    else:
        nb = nbformat.read(str(tmp), as_version=4)
        nb.metadata["cgh"] = {"figure": fig.id, "profile": profile, "params": values,
                              "fingerprint": fingerprint(fig, profile,
                                                         {k: v for k, v in values.items() if k != "profile"}),
                              "executed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                              "wall_s": round(time.time() - t0, 1)}
        nbformat.write(nb, str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)  # only left by an interrupted execution
    return out
def build_book(profile: str, force: bool = False, progress: bool = True) -> Path:
    """Execute every out-of-date figure notebook at ``profile`` and build the HTML site."""
    check_profile(profile)
    for fig in figures().values():
        if force or not is_up_to_date(fig, profile, {}):
            print(f"executing {fig.id} at profile {profile} ...", file=sys.stderr)
            execute_figure(fig.id, profile, {}, progress=progress)
        else:
            print(f"{fig.id} is up to date", file=sys.stderr)
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(REPO_ROOT), "--path-output", str(REPO_ROOT),
           "-W", "-n", "--keep-going"]
    res = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stdout[-4000:] + res.stderr[-4000:])
        raise RuntimeError(f"jupyter-book build failed (exit {res.returncode})")
    return BUILD_DIR / "html" / "index.html"


def list_figures() -> list[dict[str, Any]]:
    """Each figure with the profile and time of its executed copy, if any."""
    rows = []
    for fig in figures().values():
        info = executed_info(fig) or {}
        rows.append({"figure": fig.id, "notebook": fig.notebook, "profile": info.get("profile", "-"),
                     "executed_at": info.get("executed_at", "never"),
                     "up_to_date": bool(info) and is_up_to_date(fig, info["profile"],
                                                               {k: v for k, v in info.get("params", {}).items()
                                                                if k != "profile"})})
    return rows
