"""Drive the built site in headless Chromium (Selenium): the browser tests and the README screenshot.

    python tools/browser.py screenshot [PAGE] [OUT]   # default: cg2020-fig4's page -> docs/book-page.png
    python tools/browser.py check [SITE]              # every page read at 1280 px: what a reader cannot read

Uses Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``; ``.ci/run`` installs them when missing). The site is
served from ``_build/html`` on 127.0.0.1 by a thread of this process, and
Chromium runs with its background networking off, so every request a page
makes is one the page asked for (the tests assert they all stay on 127.0.0.1).
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parent.parent
HTML = REPO / "_build" / "html"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--window-size=1280,1600"]


def available() -> str | None:
    """None if the browser can run here, else why not."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e .[dev])"
    for p in (CHROMIUM, CHROMEDRIVER):
        if not Path(p).exists():
            return f"{p} not found (apt-get install chromium chromium-driver)"
    return None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser closing a connection early is not a failure of the site


@contextmanager
def serve(root: Path = HTML) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = _Server(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium WebDriver that records console messages and network requests."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="cgh-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS + [f"--user-data-dir={profile}"]:
        opts.add_argument(f)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    driver.get("about:blank")  # past the browser's own start page and its requests
    driver.get_log("performance")
    driver.get_log("browser")
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def load(driver: Any, url: str, settle_s: float = 1.0) -> None:
    """Open ``url`` and wait until the page and its widgets have rendered."""
    import time

    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    # widgets render after load: wait until no widget-view placeholder is left (or 20 s)
    script = ("return document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]').length"
              " <= document.querySelectorAll('.jupyter-widgets, .widget-box, .widget-html').length"
              " || document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]').length == 0")
    try:
        WebDriverWait(driver, 20).until(lambda d: d.execute_script(script))
    except Exception:
        pass
    time.sleep(settle_s)


def console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def requested_urls(driver: Any) -> list[str]:
    """Every URL the page requested since the last call (from the performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


# what `check_page` enforces (the figures' smallest font is plotting.MIN_FONT_PT at plotting.DPI)
MIN_FONT_PX = 9.0
FIGURE_MIN_FONT_IMAGE_PX = 9.0 * 100 / 72   # MIN_FONT_PT * DPI / 72, in the PNG's own pixels
MAX_PAGE_PX = 25_000
ABSOLUTE_PATH = r"(?<![\w.:/~-])/(?:home|tmp|work|root|usr|opt|var|mnt|srv|Users|private)/[\w.-]+"

_PAGE_CHECK_JS = r"""
const out = {height: document.documentElement.scrollHeight, small: [], overflow: [], empty: [], explorers: 0};
const visible = e => e.offsetParent !== null && e.getClientRects().length > 0;
document.querySelectorAll('.cell_output img, .cgh-view img').forEach(img => {
  if (!visible(img) || !img.naturalWidth) return;
  const scale = img.getBoundingClientRect().width / img.naturalWidth;
  const px = arguments[0] * scale;
  if (px < arguments[1]) out.small.push((img.getAttribute('alt') || img.src.slice(-40)) + ': ' + px.toFixed(1) + ' px');
});
document.querySelectorAll('table').forEach(t => {
  if (!visible(t)) return;
  // the table's room: its cell (a full-width cell may extend past the text column), else the article
  const box = t.closest('.tag_full-width, .full-width') || t.closest('.cell, .cgh-view') ||
              t.closest('.bd-article, article, main') || document.body;
  const right = Math.max(t.getBoundingClientRect().right, t.getBoundingClientRect().left + t.scrollWidth);
  if (right > box.getBoundingClientRect().right + 1)
    out.overflow.push((t.innerText || '').slice(0, 40).replace(/\s+/g, ' ') + ': ' + Math.round(t.scrollWidth) +
                      ' px in ' + Math.round(box.getBoundingClientRect().width) + ' px');
});
document.querySelectorAll('.widget-vbox').forEach(b => {
  if (!visible(b) || !b.querySelector('.widget-toggle-buttons') || b.parentElement.closest('.widget-vbox')) return;
  out.explorers += 1;
  const views = Array.from(b.querySelectorAll('.cgh-view')).filter(visible);
  if (!views.length || views.some(v => !v.querySelector('img')))
    out.empty.push((b.innerText || '').slice(0, 60).replace(/\s+/g, ' '));
});
return out;
"""


def check_page(driver: Any, page_source: str = "") -> list[str]:
    """What a reader at 1280 px cannot read on the loaded page: figure text under 9 px, a table cut
    at the column's edge, an explorer showing no data, a page over 25,000 px, an absolute path."""
    import re

    r = driver.execute_script(_PAGE_CHECK_JS, FIGURE_MIN_FONT_IMAGE_PX, MIN_FONT_PX)
    problems = [f"figure text under {MIN_FONT_PX:g} px: {s}" for s in r["small"][:3]]
    problems += [f"table wider than the column: {s}" for s in r["overflow"][:3]]
    problems += [f"explorer with no data in view: {s}" for s in r["empty"][:3]]
    if r["height"] > MAX_PAGE_PX:
        problems.append(f"page {r['height']:,} px tall (> {MAX_PAGE_PX:,})")
    paths = sorted(set(re.findall(ABSOLUTE_PATH, page_source or driver.page_source)))
    if paths:
        problems.append(f"absolute paths: {paths[:3]}")
    return problems


_GROUPS_JS = ("return Array.from(document.querySelectorAll('.widget-toggle-buttons'))"
              ".filter(g => g.offsetParent !== null)")
_CLICK_JS = ("const g = Array.from(document.querySelectorAll('.widget-toggle-buttons'))"
             ".filter(g => g.offsetParent !== null)[arguments[0]];"
             "if (!g) return null; const b = g.querySelectorAll('.widget-toggle-button');"
             "if (arguments[1] >= b.length) return null; b[arguments[1]].click();"
             "return [b.length, (g.querySelector('.widget-label') || {}).innerText + ' ' + b[arguments[1]].innerText];")
_SHOWN_JS = ("return Array.from(document.querySelectorAll('.cgh-view')).filter(v => v.offsetParent !== null)"
             ".map(v => !!v.querySelector('img'))")


def explorer_moves(driver: Any, pause_s: float = 0.15) -> list[str]:
    """Click every control of every explorer on the page, one move from its default and back
    (in page order; the controls are found again after each click, since a move shows other
    controls): the moves that show no figure."""
    import time

    bad = []
    for i in range(len(driver.execute_script(_GROUPS_JS))):
        j, count = 1, 2
        while j < count:
            got = driver.execute_script(_CLICK_JS, i, j)
            if got is None:
                break
            count, label = got
            time.sleep(pause_s)
            shown = driver.execute_script(_SHOWN_JS)
            if not shown or not all(shown):
                bad.append(f"explorer move {label.strip()}: no figure")
            driver.execute_script(_CLICK_JS, i, 0)
            time.sleep(pause_s)
            j += 1
    return bad


def screenshot(page: str = "book/figures/cg2020_fig4_winsorized.html", out: Path | None = None,
               root: Path = HTML) -> Path:
    """Screenshot a page of the built site, scrolled to its figure (the README's picture)."""
    out = out or REPO / "docs" / "book-page.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    with serve(root) as base, chromium() as driver:
        load(driver, base + page, settle_s=2.0)
        # start at the figure: it, its provenance caption and the explorer below it
        driver.execute_script("const i = document.querySelector('.cell_output img');"
                              "if (i) { i.scrollIntoView(); window.scrollBy(0, -60); }")
        driver.save_screenshot(str(out))
    return out


def check_site(html: Path = HTML) -> dict[str, list[str]]:
    """`check_page` and `explorer_moves` on every page of a built site: {page: problems}."""
    pages = ["index.html"] + sorted(str(p.relative_to(html)) for p in (html / "book").rglob("*.html"))
    out = {}
    with serve(html) as base, chromium() as driver:
        for page in pages:
            load(driver, base + page)
            out[page] = check_page(driver, (html / page).read_text(errors="replace")) + explorer_moves(driver)
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("screenshot", "check"):
        sys.exit(__doc__)
    why = available()
    if why:
        sys.exit(why)
    if sys.argv[1] == "check":
        site = Path(sys.argv[2]) if len(sys.argv) > 2 else HTML
        found = {p: v for p, v in check_site(site).items() if v}
        for p, v in found.items():
            print(f"{p}:\n  " + "\n  ".join(v))
        sys.exit(1 if found else 0)
    if not (HTML / "index.html").exists():
        sys.exit("no built site in _build/html: run `cgh book` first")
    args = sys.argv[2:]
    print(screenshot(*(args[:1]), *([Path(args[1])] if len(args) > 1 else [])))
