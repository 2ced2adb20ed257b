"""The page sources stay clean: each notebook under notebooks/ is the only source of its page
(no generator), holds no outputs, has one parameters cell and short code cells, and its
Markdown states no number that is neither cited nor computed.

The digit rule (`unsourced_numbers`). Page Markdown may hold a number only where it is
- part of a name: attached to letters (ResNet-18, RM3, CIFAR-10, CG2020, MNIST-22k);
- a reference: after Figure / Fig. / § / Section / Appendix / Theorem / footnote / Table /
  ICLR / arXiv, with its ranges and sub-labels ("Figs. 1-2", "§2.1-2.3", "Figure 5(a)");
- inside code (`...`, a command or a parameter the reader types), a link target or math
  that restates a formula ($1 - f^p$, not a result: results come from code cells);
- a number the papers state: its value occurs as a number in one of the paper texts under
  ../shared/papers (commas ignored, "50k" = 50000, "10^5" / "10⁵" = 100000, "25%" = 25).
Anything else (a scale typed in, "22,699 images", "10^4 steps", "about 15-20 minutes", a
result) must come from a code cell that reads the configs or the store.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

from cgh_lib.book.registry import figures
from conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.md"))
PAPERS = REPO.parent / "shared" / "papers"
MAX_CODE_LINES = 15

REFERENCE = re.compile(
    r"(?:Figures?|Figs?\.|§§?|Sections?|Appendix|Theorem|footnote|Table|ICLR|arXiv)\s*"
    r"\d[\d.]*(?:\s*\([a-z]\))?(?:\s*(?:-|–|,|and|or)\s*\d[\d.]*(?:\s*\([a-z]\))?)*")
SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
# a number: digits with thousands commas and a decimal part, an optional power of ten or k/K/M suffix
NUMBER = re.compile(r"(?<![\w.^])(?<![A-Za-z]-)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?"
                    r"(?:\^\{?(\d+)\}?|([kKM])(?![A-Za-z]))?(?![\w^])")


UNITS = {"step", "epoch", "image", "example", "minute", "hour", "second", "weight", "seed", "unit", "layer",
         "pass", "run", "class", "sample", "label", "gpu", "core"}
# a number's unit: the word after it, past a range or list ("15-20 minutes", "18 and 32 SGD steps")
UNIT = re.compile(r"(?:\s*(?:-|–|to|and|or|,|x|×)\s*[\d.,]+\w*)*%?\s+(?:[A-Z]{2,}\s+)?([A-Za-z]+)")
# which paper texts (../shared/papers) a page may cite, by the notebook's name; GM2022 pages use the WS recipe
# a paper's reference list (years, volumes, pages), up to its appendix or its end
BIBLIOGRAPHY = re.compile(r"\nREFERENCES\n.*?(?=\n[A-Z] [A-Z ]+\n|\Z)", re.S)
CITES = {"cg2020": ("coherent-gradients",), "ws": ("weak-strong",), "gm": ("generalization-mystery", "weak-strong"),
         "claims": ("",)}


def _value(m: re.Match) -> str:
    whole, frac, power, suffix = m.groups()
    v = whole.replace(",", "") + (frac or "")
    if power:  # 10^5
        return str(int(v) ** int(power)) if frac is None else v
    if suffix:
        x = float(v) * {"k": 1000, "K": 1000, "M": 1000000}[suffix]
        return str(int(x)) if x == int(x) else v
    return str(float(v)).rstrip("0").rstrip(".") if frac else str(int(v))


def _times(text: str) -> str:
    """"x0.1" (a factor) is the number 0.1, not a name like "RM3"."""
    return re.sub(r"\bx(?=\d)", "x ", text)


def _unit(text: str, end: int) -> str | None:
    m = UNIT.match(text, end)
    word = m.group(1).lower().removesuffix("es" if m and m.group(1).lower().endswith("sses") else "s") if m else None
    return word if word in UNITS else None


def numbers(text: str) -> set:
    """Every number of a text as its value, and (value, unit) where a unit follows it."""
    text = _times(text.translate(SUPERSCRIPTS))
    out: set = set()
    for m in NUMBER.finditer(text):
        out.add(_value(m))
        if unit := _unit(text, m.end()):
            out.add((_value(m), unit))
    return out


def paper_numbers(page: str = "claims") -> set:
    """The numbers the papers a page cites state (their text before the references)."""
    cites = next(v for k, v in CITES.items() if page.startswith(k))
    texts = [BIBLIOGRAPHY.sub("\n", p.read_text()) for p in sorted(PAPERS.iterdir())
             if p.is_file() and any(p.name.startswith(c) for c in cites)]
    return set().union(*map(numbers, texts))


def prose(markdown: str) -> str:
    """The Markdown a reader reads as sentences: code, link targets, math and references removed."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$]*\$", " ", text)
    return REFERENCE.sub(" ", text)


def unsourced_numbers(markdown: str, sourced: set) -> list[str]:
    """The numbers of the Markdown that no cited paper states (with their unit, where one follows)."""
    text = _times(prose(markdown).translate(SUPERSCRIPTS))
    bad = []
    for m in NUMBER.finditer(text):
        unit = _unit(text, m.end())
        if _value(m) not in sourced or (unit and (_value(m), unit) not in sourced):
            bad.append(m.group(0) + (f" {unit}" if unit else ""))
    return bad


def _cells(path: Path):
    return jupytext.read(path).cells


def test_every_figure_page_is_a_text_notebook_under_notebooks():
    sources = {f.source for f in figures().values()}
    assert sources == set(NOTEBOOKS)
    assert not list((REPO / "notebooks").glob("*.ipynb"))


def test_no_notebook_generator_in_tools():
    for p in (REPO / "tools").glob("*.py"):
        text = p.read_text()
        assert "nbformat" not in text and "new_notebook" not in text, p


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_source_is_clean(path):
    cells = _cells(path)
    params = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and re.search(r"^profile = ", params[0].source, re.M), "one parameters cell, with profile"
    for c in cells:
        if c.cell_type == "code":
            assert not c.get("outputs") and c.get("execution_count") is None
            n = len(c.source.strip().splitlines())
            assert n <= MAX_CODE_LINES, f"a code cell of {n} lines (at most {MAX_CODE_LINES}): {c.source[:80]!r}"
    header = path.read_text().split("---", 2)[1]
    assert "outputs" not in header and "execution" not in header


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_title_is_the_registered_one(path):
    fig = next(f for f in figures().values() if f.source == path)
    first = next(c for c in _cells(path) if c.cell_type == "markdown").source.strip().splitlines()[0]
    assert first == f"# {fig.title}"


@pytest.mark.skipif(not PAPERS.is_dir(), reason="the paper texts (../shared/papers) are not here")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_states_only_cited_numbers(path):
    sourced = paper_numbers(path.stem)
    bad = {}
    for i, c in enumerate(_cells(path)):
        if c.cell_type == "markdown" and (found := unsourced_numbers(c.source, sourced)):
            bad[i] = found
    assert not bad, f"numbers no paper states, typed into Markdown cells (cell: numbers): {bad}"


@pytest.mark.skipif(not PAPERS.is_dir(), reason="the paper texts (../shared/papers) are not here")
def test_digit_rule_catches_typed_scales_and_allows_citations():
    sourced = paper_numbers("cg2020")
    typed = ("The small profile runs in about 15-20 minutes per seed on 22,699 images for 10^4 steps "
             "(6,000 images x 15 epochs); it passed 50% accuracy after 18 and 32 SGD steps.")
    assert {"15 minute", "20 minute", "22,699 image", "10^4 step", "6,000 image", "15 epoch", "18 step",
            "32 step"} <= set(unsourced_numbers(typed, sourced))
    cited = ("ResNet-18 and RM3 on CIFAR-10 (Figure 5(a), Figs. 1-2, §2.1-2.3, Appendix B, ICLR 2020, "
             "arXiv 2008.01217): batch 100, 25% noise, 100 examples in each minibatch, x0.1, $10^5$ steps, "
             "`-p steps=123`.")
    assert unsourced_numbers(cited, sourced) == []


def test_toc_names_the_executed_copies():
    """Executed copies are .ipynb (what Jupyter Book renders), and the toc names only those."""
    toc = (REPO / "_toc.yml").read_text()
    for fig in figures().values():
        assert f"book/figures/{fig.stem}" in toc
    assert "notebooks/" not in re.sub(r"#.*", "", toc)


def test_setting_line_states_the_configs_numbers():
    """The line under a title is read from the configs: the paper's and the shown profile's data
    size and length, powers of ten in MathJax."""
    from cgh_lib.book import page
    from cgh_lib.book.registry import get_figure

    assert (page.count(100_000), page.count(10_000), page.count(22_699), page.count(3_000)) == (
        "$10^5$", "$10^4$", "22,699", "3,000")
    for fig_id in ("cg2020-fig1", "cg2020-fig4", "ws-fig8"):
        line = page.setting_markdown(fig_id, "small")
        for profile in ("paper", "small"):
            c = get_figure(fig_id).configs(profile)[0]
            length = c.steps if hasattr(c, "steps") else c.max_steps
            assert page.count(length) + " steps" in line
            assert not c.n_train or page.count(c.n_train) in line
        assert "10^" not in line.replace("$10^", "")  # exponents only inside MathJax
