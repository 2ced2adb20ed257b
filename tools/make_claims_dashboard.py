"""Write the claims dashboard notebook (no outputs): `python tools/make_claims_dashboard.py`."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.nbwrite import write  # noqa: E402

INTRO = '''
# Claims dashboard: every claim of every figure, at every profile

Each row is one sentence of a paper, quoted, and the statistic that tests it (see the
figure's page for the statistic, its margin and precondition). One column per profile:
**smoke** (generated data: exercises the code, not evidence), **small** (real data on a
CPU, 3 seeds), **large** (the paper's settings on the data available offline, CPU hours; CG2020
only) and **paper** (the paper's settings, a GPU). Verdicts: ✅ *holds* / ❌ *fails*
when every seed agrees, 🟨 *mixed k/n* when k of n seeds hold, ⚪ *n/a* when the precondition
that gives the comparison its meaning fails, ⬜ *missing* when the runs are not stored.
Hover a verdict for its reason. Everything is read from the run store: this page trains
nothing (`cgh claims --profile P --json` gives the same records).
'''

PARAMS = '''
# Parameters (papermill / `cgh figure claims-dashboard -p key=value`)
profile = "smoke"          # the profile the book is built at (every profile's column is shown)
'''

RUN = '''
from IPython.display import HTML, Markdown, display

from cgh_lib.book import claims

rows = claims.dashboard()
display(Markdown(f"Built with the book at **profile: {profile}**; each column reads that profile's stored runs."))
fig = claims.dashboard_chart(rows)
'''

TABLE = '''
display(HTML(claims.dashboard_html(rows)))
'''


def main() -> None:
    # the "## ..." section gives the page an in-page contents sidebar; without one the book
    # theme's script fails on its full-width table (a console error in the browser test)
    write(ROOT / "notebooks" / "claims_dashboard.ipynb", [("md", INTRO), ("params", PARAMS), ("code", RUN),
                                                           ("md", "## Every claim, by figure and profile"),
                                                           ("code", TABLE)])


if __name__ == "__main__":
    main()
