"""Every figure notebook executes at smoke profile, and the book builds with its figures.
(The sources themselves, notebooks/*.md, are checked by test_notebook_sources.py.)"""

import json
import re
import subprocess
import sys

import pytest

from cgh_lib.book.registry import figures

FIGURES = figures()
from conftest import REPO, env_with


@pytest.mark.parametrize("fig_id", sorted(FIGURES))
def test_figure_notebook_executes_at_smoke(fig_id):
    r = subprocess.run([sys.executable, "-m", "cgh_lib", "figure", fig_id, "--profile", "smoke", "--no-progress"],
                       cwd=REPO, capture_output=True, text=True, timeout=900, env=env_with())
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads((REPO / r.stdout.strip().splitlines()[-1]).read_text())
    assert out["metadata"]["cgh"]["profile"] == "smoke"
    images = [o for c in out["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "the executed notebook shows no figure"
    errors = [o for c in out["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    text = json.dumps(out)
    assert str(REPO) not in text and "run store: `" not in text.lower()  # no machine path on the page
    first = "".join(next(c for c in out["cells"] if c["cell_type"] == "markdown")["source"])
    assert first.startswith(f"# {FIGURES[fig_id].title}")  # the page's title is the registered one


def test_book_builds_with_figure_images(smoke_site):
    """The smoke book (built once per session by the `smoke_site` fixture, from the committed runs)."""
    html_dir = smoke_site
    for fig in FIGURES.values():
        page = (html_dir / "book" / "figures" / f"{fig.stem}.html").read_text()
        imgs = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
        assert imgs, f"no figure image in {fig.id}'s page"
        assert all((html_dir / "book" / "figures" / src).resolve().exists() for src in imgs)
        assert "profile: smoke" in page  # the figure says at what scale it ran
    listing = subprocess.run([sys.executable, "-m", "cgh_lib", "list"], cwd=REPO, capture_output=True, text=True,
                             env=env_with())
    assert "smoke" in listing.stdout and "true" in listing.stdout
