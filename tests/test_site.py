"""The built site in a real browser (headless Chromium via Selenium).

The smoke book is built once per session (`smoke_site` in conftest.py, from a
copy of the committed run store, so nothing trains and runs/ stays clean), then
every page is opened: no console error, no request leaving the machine, every
image present and non-empty; moving an explorer's control changes its view; the
links of the intro page (figure status), the run browser and the claims
dashboard (when the book has one) resolve; no page carries a path of the build
machine.
"""

from __future__ import annotations

import os
import re
import time
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO))
from tools import browser  # noqa: E402

pytestmark = pytest.mark.skipif(browser.available() is not None, reason=str(browser.available()))

LOCAL_SCHEMES = ("data", "blob", "about", "chrome", "chrome-extension", "chrome-untrusted")


def site_pages(html: Path) -> list[str]:
    """The book's pages (the intro, the figures, the generated pages), relative to the site root."""
    pages = ["index.html"] + sorted(str(p.relative_to(html)) for p in (html / "book").rglob("*.html"))
    return pages


def test_every_page_loads_offline_without_errors(smoke_site):
    html = smoke_site
    problems = []
    with browser.serve(html) as base, browser.chromium() as driver:
        host = urlparse(base).netloc
        for page in site_pages(html):
            browser.load(driver, base + page)
            errors = browser.console_errors(driver)
            outside = [u for u in browser.requested_urls(driver)
                       if urlparse(u).scheme not in LOCAL_SCHEMES and urlparse(u).netloc != host]
            broken = driver.execute_script(
                "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
                ".map(i => (i.getAttribute('src') || '').slice(0, 80))")
            if errors:
                problems.append(f"{page}: console errors {errors[:3]}")
            if outside:
                problems.append(f"{page}: requests leaving the machine {outside[:3]}")
            if broken:
                problems.append(f"{page}: images missing or empty {broken[:3]}")
            if page.startswith("book/figures/") and "placeholder" not in page:
                n = driver.execute_script("return document.images.length")
                if n == 0:
                    problems.append(f"{page}: no image at all")
    assert not problems, "\n".join(problems)


def test_figure_images_are_files_with_content(smoke_site):
    for page in (smoke_site / "book" / "figures").glob("*.html"):
        for src in re.findall(r'<img[^>]+src="([^"]+\.png)"', page.read_text()):
            f = (page.parent / src).resolve()
            assert f.exists() and f.stat().st_size > 1000, f"{page.name}: {src}"


def _visible_view(driver) -> str:
    return driver.execute_script(
        "const v = Array.from(document.querySelectorAll('.cgh-view img')).filter(i => i.offsetParent !== null);"
        "return v.map(i => i.src.slice(-200)).join('|');")


def test_explorer_control_changes_the_view(smoke_site):
    from selenium.webdriver.common.by import By

    page = "book/figures/cg2020_fig4_winsorized.html"
    with browser.serve(smoke_site) as base, browser.chromium() as driver:
        browser.load(driver, base + page, settle_s=2.0)
        before = _visible_view(driver)
        assert before, "the explorer shows no view"
        buttons = driver.find_elements(By.CSS_SELECTOR, ".widget-toggle-button")
        assert len(buttons) >= 2, "the explorer has no controls"
        target = next(b for b in buttons if b.is_displayed() and "mod-active" not in (b.get_attribute("class") or ""))
        target.click()  # no reload: the change is client-side
        time.sleep(1.0)
        after = _visible_view(driver)
        assert after and after != before, "moving a control did not change the explorer's view"
        assert not browser.console_errors(driver)


def _internal_links(page: Path, html: Path) -> list[str]:
    text = page.read_text()
    links = re.findall(r'<a [^>]*href="([^"#?]+)[^"]*"', text)
    return [l for l in links if not re.match(r"^[a-z]+:", l) and not l.startswith("//")]


def test_status_run_browser_and_dashboard_links_resolve(smoke_site):
    html = smoke_site
    pages = [html / "book" / "intro.html", html / "book" / "generated" / "runs.html"]
    pages += [p for p in html.rglob("*.html") if "dashboard" in p.name and p not in pages]
    assert pages[1].exists(), "no run browser page"
    for page in pages:
        links = _internal_links(page, html)
        assert links, f"{page.name} has no links"
        missing = [l for l in links if not (page.parent / l).resolve().exists()]
        assert not missing, f"{page.name}: links to missing pages {missing[:5]}"
    runs = pages[1].read_text()
    assert "cg2020-label-noise" in runs and "figures/cg2020_fig1_label_noise.html" in runs


def test_no_page_contains_a_path_of_the_build_machine(smoke_site, smoke_runs):
    forbidden = {str(REPO), os.path.realpath(REPO), str(REPO.parent) + "/", sys.prefix, str(smoke_runs),
                 str(Path.home()) + "/", str(smoke_site.parent.parent)}
    found = []
    for f in list(smoke_site.rglob("*.html")) + list((smoke_site / "_sources").rglob("*.ipynb")):
        text = f.read_text(errors="replace")
        hits = [p for p in forbidden if p and p in text]
        if hits:
            found.append(f"{f.relative_to(smoke_site)}: {hits}")
    assert not found, "\n".join(found[:10])


def test_intro_page_names_the_build(smoke_site):
    assert "book/intro.html" in (smoke_site / "index.html").read_text()  # the root redirects to the intro
    text = (smoke_site / "book" / "intro.html").read_text()
    assert "This build" in text and "commit" in text and "smoke" in text


def test_pages_are_readable_at_1280px(smoke_site):
    """Every page of the built site, read at 1280 px as a reader would: no figure text under 9 px,
    no table wider than the column, no explorer showing an empty view (by default or one control
    move away), no page taller than 25,000 px, no absolute path in the HTML."""
    found = {p: v for p, v in browser.check_site(smoke_site).items() if v}
    assert not found, "\n".join(f"{p}: {'; '.join(v)}" for p, v in found.items())


def test_screenshot(smoke_site, tmp_path):
    out = browser.screenshot(out=tmp_path / "page.png", root=smoke_site)
    assert out.stat().st_size > 10_000
