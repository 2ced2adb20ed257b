"""A Sphinx extension for the book's pages (loaded by `cgh book` through ``extra_extensions``).

Launch links. The pages of the figures are the executed copies in ``book/figures/``, which are
not committed; the committed notebooks are MyST Markdown notebooks in ``notebooks/``.
sphinx-book-theme builds its launch links (Binder, Colab, JupyterHub) from the page's own
path, so they would point at files the repository does not have: this rewrites them to
the source notebook (``notebooks/<name>.md``), which Jupyter opens as a notebook through
jupytext. Colab reads only .ipynb files, so its button is dropped.

Duplicate scripts. Jupyter Book 1 registers sphinx-thebe's and sphinx-togglebutton's
inline scripts twice; the second ``const THEBE_JS_URL`` is a console error on every
page. Identical script entries are kept once.
"""

from __future__ import annotations

import re
from typing import Any

EXECUTED = "book/figures/"
SOURCE = "notebooks/"
SOURCE_SUFFIX = ".md"  # the pages' sources are text notebooks (jupytext's MyST format)
IPYNB_ONLY = ("colab.research.google.com",)  # launchers that cannot open a text notebook


def _rewrite(buttons: list[dict[str, Any]]) -> None:
    buttons[:] = [b for b in buttons if not any(h in str(b.get("url", "")) for h in IPYNB_ONLY)]
    for b in buttons:
        if isinstance(b.get("url"), str):
            for old, new in ((EXECUTED, SOURCE), (EXECUTED.replace("/", "%2F"), SOURCE.replace("/", "%2F"))):
                if old in b["url"]:
                    b["url"] = re.sub(r"\.ipynb\b", SOURCE_SUFFIX, b["url"].replace(old, new))
        if isinstance(b.get("buttons"), list):
            _rewrite(b["buttons"])


def _launch_links_to_sources(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    if pagename.startswith(EXECUTED) and isinstance(context.get("header_buttons"), list):
        _rewrite([b for b in context["header_buttons"] if b.get("label") == "launch-buttons"])


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, kept = set(), []
    for js in scripts:
        # an inline script is registered once with filename None and once with ''
        key = (getattr(js, "filename", str(js)) or "", repr(sorted((getattr(js, "attributes", None) or {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"] = kept


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    # after sphinx-book-theme adds its launch buttons (priority 501)
    app.connect("html-page-context", _launch_links_to_sources, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
