"""Drive the built site in headless Chromium (Selenium): the browser tests and the README screenshot.

    python tools/browser.py screenshot [PAGE] [OUT]   # default: cg2020-fig4's page -> docs/book-page.png

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


def screenshot(page: str = "book/figures/cg2020_fig4_winsorized.html", out: Path | None = None) -> Path:
    """Screenshot a page of the built site, scrolled to its figure (the README's picture)."""
    out = out or REPO / "docs" / "book-page.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    with serve() as base, chromium() as driver:
        load(driver, base + page, settle_s=2.0)
        # start at the figure: it, its provenance caption and the explorer below it
        driver.execute_script("const i = document.querySelector('.cell_output img');"
                              "if (i) { i.scrollIntoView(); window.scrollBy(0, -60); }")
        driver.save_screenshot(str(out))
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "screenshot":
        sys.exit(__doc__)
    why = available()
    if why:
        sys.exit(why)
    if not (HTML / "index.html").exists():
        sys.exit("no built site in _build/html: run `cgh book` first")
    args = sys.argv[2:]
    print(screenshot(*(args[:1]), *([Path(args[1])] if len(args) > 1 else [])))
