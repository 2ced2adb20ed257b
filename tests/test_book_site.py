"""The site build's logic without a browser: which profile a figure is shown at, page
presentation, explorers, generated pages, the build's Sphinx settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cgh_lib.book import build, explorer, pages, sphinx_ext
from cgh_lib.book.registry import Figure, make_config
from cgh_lib.errors import UserError
from cgh_lib.store.experiments import RunOptions, ensure_runs
from cgh_lib.store.runstore import RunResult, RunStore


def _store_run(store: RunStore, cfg) -> None:
    steps = np.array([0, 1, 10, 100])
    store.save(cfg, {"train_acc": 0.5, "test_acc": 0.4},
               {"step": steps, "train_acc": np.linspace(0.1, 0.5, 4), "test_acc": np.linspace(0.1, 0.4, 4)},
               {"commit": "abc", "device": "cpu", "torch": "x", "wall_time_s": 60.0})


def _fig(configs) -> Figure:
    return Figure("test-fig", "notebooks/cg2020_fig1_label_noise.md", "Test figure", "§0", configs)


def test_stored_profile_is_the_highest_fully_stored_one(tmp_path):
    store = RunStore(tmp_path)
    cfgs = {p: [make_config("cg2020-label-noise", p, {"noise": n}) for n in (0.0, 0.5)]
            for p in ("smoke", "small")}
    fig = _fig(lambda p: cfgs.get(p, [make_config("cg2020-label-noise", p)]))
    assert build.stored_profile(fig, store) is None
    for c in cfgs["smoke"]:
        _store_run(store, c)
    assert build.stored_profile(fig, store) == "smoke"
    _store_run(store, cfgs["small"][0])  # half of small: not enough
    assert build.stored_profile(fig, store) == "smoke"
    _store_run(store, cfgs["small"][1])
    assert build.stored_profile(fig, store) == "small"


def test_stored_view_shows_the_seeds_that_are_stored(tmp_path):
    """small has 3 seeds; with only seed 0's runs stored the book shows small at seed 0
    (saying so), not smoke; with every seed stored, small with the default parameters."""
    from cgh_lib.book.registry import get_figure

    store = RunStore(tmp_path)
    fig = get_figure("cg2020-fig1")
    plan = lambda seeds: fig.plan("small", {"noise_levels": [0.0, 0.25, 0.5, 0.75, 1.0], "overrides": {},
                                            "seeds": seeds})
    for c in fig.configs("smoke"):
        _store_run(store, c)
    assert build.stored_view(fig, store) == ("smoke", {})
    for c in plan([0]):
        _store_run(store, c)
    assert build.stored_view(fig, store) == ("small", {"seeds": [0]})
    for c in plan([2]):
        _store_run(store, c)
    assert build.stored_view(fig, store) == ("small", {"seeds": [0, 2]})
    for c in plan([1]):
        _store_run(store, c)
    assert build.stored_view(fig, store) == ("small", {})


def test_profile_order_is_a_list_restricted_to_known_profiles(monkeypatch):
    monkeypatch.setattr(build, "PROFILE_ORDER", ["paper", "huge", "small", "smoke"])
    assert build.profile_order() == ["paper", "small", "smoke"]


def test_stored_only_never_trains(tmp_path, monkeypatch):
    monkeypatch.setenv("CGH_STORED_ONLY", "1")
    cfg = make_config("cg2020-label-noise", "smoke")
    with pytest.raises(UserError, match="not stored"):
        ensure_runs([cfg], RunOptions(store=RunStore(tmp_path)))
    assert not any(tmp_path.rglob("result.json"))


def test_present_folds_code_and_strips_machine_paths(monkeypatch, tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    monkeypatch.setenv("CGH_DATA", str(tmp_path / "data"))
    root = str(build.REPO_ROOT)
    nb = new_notebook(cells=[
        new_markdown_cell("# Title"),
        new_code_cell("profile = 'smoke'", metadata={"tags": ["parameters"]}),
        new_code_cell(f"data_root = '{tmp_path}/data'", metadata={"tags": ["injected-parameters"]}),
        new_code_cell("import x"),
        new_code_cell("show()", outputs=[new_output("display_data", data={
            "text/markdown": f"Run store: `{root}/runs/exp`, data `{tmp_path}/data/MNIST`", "text/plain": "x"})]),
        new_code_cell("fig", outputs=[new_output("display_data", data={"image/png": "iVBO", "text/plain": "F"})]),
    ])
    nb.metadata["papermill"] = {"input_path": f"{root}/notebooks/x.ipynb"}
    out = build.present(nb)
    tags = [c.metadata.get("tags", []) for c in out.cells]
    assert "remove-cell" in tags[1] and "hide-cell" in tags[2] and "remove-cell" in tags[3]
    assert "hide-input" in tags[4] and "full-width" in tags[5]
    text = nbformat.writes(out)
    assert root not in text and str(tmp_path) not in text
    assert "Run store: `runs/exp`" in text and "CGH_DATA/MNIST" in text
    nbformat.validate(out)


def _run(acc: float) -> RunResult:
    steps = np.array([0, 10, 20, 30])
    return RunResult(config={"steps": 30}, final={"train_acc": acc, "test_acc": acc / 2},
                     provenance={}, arrays={"step": steps, "train_acc": np.linspace(0, acc, 4),
                                            "test_acc": np.linspace(0, acc / 2, 4)}, path=Path("."))


def _walk(node, choice=None):
    """The leaf an explorer shows when every toggle is at its default, except those in ``choice``
    ({id(toggle): index}); returns (leaf HTML, toggles passed on the way)."""
    import ipywidgets as widgets

    choice = choice or {}
    passed = []
    while not isinstance(node, widgets.HTML) or isinstance(node, widgets.VBox):
        if isinstance(node, widgets.VBox):
            kids = list(node.children)
            toggle = next((k for k in kids if isinstance(k, widgets.ToggleButtons)), None)
            if toggle is not None:
                passed.append(toggle)
                rest = kids[kids.index(toggle) + 1]
                node = rest.children[choice.get(id(toggle), 0)] if isinstance(rest, widgets.Stack) else rest
            else:
                node = kids[-1]
        elif isinstance(node, widgets.Stack):
            node = node.children[0]
        else:
            break
    return node.value, passed


def _single_moves(box):
    """Every view reachable from the default by moving one control: (label, leaf HTML)."""
    out = []
    _, toggles = _walk(box)
    out.append(("default", _walk(box)[0]))
    for t in toggles:
        for j in range(1, len(t.options)):
            out.append((f"{t.description}={t.options[j][0]}", _walk(box, {id(t): j})[0]))
    return out


def test_explorer_offers_only_values_that_exist_and_links_controls_client_side():
    import ipywidgets as widgets

    runs = {("sgd", 0.0): _run(0.9), ("sgd", 0.5): _run(0.7), ("m3", 0.0): _run(0.8)}
    box = explorer.explorer(runs, ["aggregator", "noise"])
    assert [t.description for t in box.toggles][:1] == ["aggregator"]
    views = _single_moves(box)
    assert len(views) == 2 and all("data:image/png;base64," in v for _, v in views)  # M3 (first) offers 0% only
    options = {tuple(o[0] for o in t.options) for t in box.toggles if t.description == "noise"}
    assert options == {("0%", "50%"), ("0%",)}
    assert all(isinstance(link.target[0], widgets.Stack) for link in box.links)
    assert {id(link.source[0]) for link in box.links} <= {id(t) for t in box.toggles}


def test_explorer_drops_controls_with_one_value():
    box = explorer.explorer({("sgd", 0.0, 0): _run(0.9), ("sgd", 0.5, 0): _run(0.5)},
                            ["aggregator", "noise", "s"])
    assert [t.description for t in box.toggles] == ["noise"]
    assert [o[0] for o in box.toggles[0].options] == ["0%", "50%"]


def test_figure_explorer_adds_seed_and_stored_profiles_without_training(tmp_path, monkeypatch):
    """The explorer of a smoke page also offers the small runs that are stored (seeds 0 and 2 of two
    noise levels here), keyed by their stored configs; under small it offers only those; it reads the
    store and trains nothing."""
    from cgh_lib.book.registry import get_figure

    monkeypatch.setenv("CGH_RUNS", str(tmp_path))
    store = RunStore(tmp_path)
    fig = get_figure("cg2020-fig1")
    smoke = fig.configs("smoke")
    for c in smoke:
        _store_run(store, c)
    small = [c for c in fig.configs("small") if c.noise in (0.0, 0.5) and c.seed in (0, 2)]
    for c in small:
        _store_run(store, c)
    before = sorted(p.name for p in tmp_path.rglob("result.json"))
    box = explorer.figure_explorer("cg2020-fig1", "smoke", [store.load(c) for c in smoke], ["noise"],
                                   view=explorer.curves_view)
    assert sorted(p.name for p in tmp_path.rglob("result.json")) == before
    options = {(t.description, tuple(o[0] for o in t.options)) for t in box.toggles}
    assert options == {("profile", ("smoke", "small")), ("noise", ("0%", "25%", "50%", "75%", "100%")),
                       ("noise", ("0%", "50%")), ("seed", ("0", "2")), ("seed", ("0",))}
    profile = next(t for t in box.toggles if t.description == "profile")
    leaf, _ = _walk(box, {id(profile): 1})
    assert "profile small, noise 0%, seed 0" in leaf and "data:image/png" in leaf
    assert all("data:image/png" in v for _, v in _single_moves(box))
    box = explorer.figure_explorer("cg2020-fig1", "smoke", [store.load(c) for c in smoke], ["noise"],
                                   other_profiles=False, view=explorer.curves_view)
    assert "profile" not in {t.description for t in box.toggles}


def test_figure_explorer_filters_and_names_values():
    runs = [RunResult(config={"seed": 0, "subset": s, "aggregator": a, "steps": 30},
                      final={"train_acc": 0.5}, provenance={}, arrays={"step": np.arange(3)},
                      path=Path("/store/ws-easy-hard/h"))
            for s, a in (("easy", "sgd"), ("hard", "sgd"), ("full", "rm3"))]
    box = explorer.figure_explorer("ws-fig4", "smoke", runs, [("training set", "subset", {"easy": "e-train"})],
                                   only={"experiment": "ws-easy-hard", "aggregator": "sgd"}, other_profiles=False)
    (toggle,) = box.toggles
    assert toggle.description == "training set" and [o[0] for o in toggle.options] == ["e-train", "hard"]


def _explorer_calls():
    """Each figure page's explorer call (`page.explore(...)` or `explore_figure(...)`, whose fourth
    argument is the controls): (figure id, controls, only)."""
    import ast

    import jupytext

    from cgh_lib.book.registry import figures
    from cgh_lib.papers.gm2022 import experiments as gm

    def is_explorer(n: ast.AST) -> bool:
        f = getattr(n, "func", None)
        return isinstance(n, ast.Call) and (getattr(f, "id", "") == "explore_figure"
                                            or (isinstance(f, ast.Attribute) and f.attr == "explore"))

    out = []
    for f in figures().values():
        for c in jupytext.read(f.source).cells:
            if c.cell_type != "code":
                continue
            call = next((n for n in ast.walk(ast.parse(c.source)) if is_explorer(n)), None)
            if call is None:
                continue
            ns = {"gm": gm}
            controls = eval(compile(ast.Expression(call.args[3]), "<controls>", "eval"), ns)
            only = next((eval(compile(ast.Expression(k.value), "<only>", "eval"), ns)
                         for k in call.keywords if k.arg == "only"), None)
            out.append((f.id, controls, only))
    return out


EXPLORERS = _explorer_calls()


@pytest.mark.parametrize("fig_id, controls, only", EXPLORERS, ids=[e[0] for e in EXPLORERS])
def test_every_explorer_move_shows_data(fig_id, controls, only, monkeypatch):
    """Every explorer of the book, on the committed runs (smoke page, the other stored profiles
    offered): the default view and every view one control move away from it show a figure."""
    from cgh_lib.book.registry import get_figure
    from cgh_lib.book.plotting import illegible

    monkeypatch.setenv("CGH_RUNS", str(build.REPO_ROOT / "runs"))
    store = RunStore(build.REPO_ROOT / "runs")
    runs = [store.load(c) for c in get_figure(fig_id).configs("smoke")]
    box = explorer.figure_explorer(fig_id, "smoke", [r for r in runs if r is not None], controls, only)
    empty = [label for label, v in _single_moves(box) if "data:image/png" not in v]
    assert not empty, f"{fig_id}: empty views after {empty}"
    fig, _ = explorer._canvas()  # the views' canvas: fonts legible in a text column (~680 px)
    fig.axes[0].plot([0, 1])
    fig.axes[0].set_title("t")
    fig.axes[0].legend(["x"])
    assert not illegible(fig, column_px=680)
    explorer._release_canvas()


def test_run_browser_lists_runs_with_their_differences_and_figures(tmp_path):
    store = RunStore(tmp_path)
    cfg = make_config("cg2020-label-noise", "smoke", {"noise": 0.0})
    _store_run(store, cfg)
    text = pages.runs_page(store, ["smoke"])
    assert "## CG2020" in text and "<strong>cg2020-label-noise</strong>" in text  # grouped: paper, experiment
    assert "dataset" in text and "(paper" in text
    assert "cg2020_fig1_label_noise" in text  # Figure 1 uses the smoke 0%-noise run


def test_site_config_with_and_without_repository(tmp_path, monkeypatch):
    import yaml

    monkeypatch.setattr(build, "BUILD_DIR", tmp_path)
    cfg = yaml.safe_load(build.site_config(tmp_path / "web", "https://github.com/o/r").read_text())
    assert cfg["repository"]["url"] == "https://github.com/o/r" and cfg["launch_buttons"]["binderhub_url"]
    conf = cfg["sphinx"]["config"]
    assert conf["mathjax_path"].startswith("cgh-web/") and all(
        k.startswith("cgh-web/") for k in conf["nb_ipywidgets_js"])
    assert "cgh_lib.book.sphinx_ext" in cfg["sphinx"]["extra_extensions"]
    cfg = yaml.safe_load(build.site_config(None, None).read_text())
    assert "launch_buttons" not in cfg and "mathjax_path" not in cfg["sphinx"]["config"]


def test_launch_links_point_at_source_notebooks():
    issue = "https://github.com/o/r/issues/new?title=Issue%20on%20page%20%2Fbook/figures/x.html"
    ctx = {"header_buttons": [{"type": "group", "label": "launch-buttons", "buttons": [
        {"url": "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/book/figures/x.ipynb"},
        {"url": "https://colab.research.google.com/github/o/r/blob/main/book/figures/x.ipynb"}]},
        {"type": "group", "label": "source-buttons", "buttons": [{"url": issue}]}]}
    sphinx_ext._launch_links_to_sources(None, "book/figures/x", "page.html", ctx, None)
    urls = [b["url"] for b in ctx["header_buttons"][0]["buttons"]]
    # the MyST source, on Binder; Colab opens only .ipynb files, so its button goes
    assert urls == ["https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/notebooks/x.md"]
    assert ctx["header_buttons"][1]["buttons"][0]["url"] == issue  # the page's own links stay


def test_default_repo_url(monkeypatch):
    monkeypatch.setenv("CGH_REPO_URL", "git@github.com:owner/repo.git")
    assert build.default_repo_url() == "https://github.com/owner/repo"
    monkeypatch.setenv("CGH_REPO_URL", "/some/local/path")
    assert build.default_repo_url() is None


def test_placeholder_page_says_how_to_make_the_runs(tmp_path, monkeypatch):
    import nbformat

    monkeypatch.setattr(build, "EXECUTED_DIR", tmp_path)
    fig = _fig(lambda p: [])
    nb = nbformat.read(str(build.write_placeholder(fig)), as_version=4)
    text = nb.cells[0].source
    assert text.startswith("# Test figure") and "no stored runs" in text
    assert "cgh figure test-fig --profile small" in text
    assert nb.metadata["cgh"]["placeholder"] is True


def test_every_figure_notebook_has_an_explorer():
    """Every figure page carries an explorer over its runs with seed and profile controls (one
    `page.explore(...)` call in its notebook), or a figure's own client-side widget such as
    GM2022's `interactive_toy`."""
    import jupytext

    from cgh_lib.book.registry import figures

    # the claims dashboard is a table of every figure's verdicts, not a figure of runs
    missing = [f.id for f in figures().values() if f.id != "claims-dashboard"
               and not any("page.explore(" in c.source or "interactive_toy(" in c.source
                           for c in jupytext.read(f.source).cells if c.cell_type == "code")]
    assert not missing, f"figure notebooks without an explorer cell: {missing}"


def test_a_profile_a_figure_does_not_define_is_skipped(tmp_path):
    def configs(p):
        if p == "large":
            raise UserError("unknown profile of experiment 'x' 'large'")
        return [make_config("cg2020-label-noise", p)]

    store = RunStore(tmp_path)
    _store_run(store, make_config("cg2020-label-noise", "smoke"))
    fig = _fig(configs)
    assert build.stored_profile(fig, store) == "smoke"
    assert build.figure_configs(fig, "large") == []
