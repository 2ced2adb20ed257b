"""`cgh figure` with bad parameters: one line, exit 2, before papermill starts, the executed copy untouched."""

from __future__ import annotations

import json

import nbformat
import pytest
from conftest import assert_usage_error, cgh

from cgh_lib.book import build
from cgh_lib.book import registry
from cgh_lib.book.registry import Figure, get_figure


@pytest.mark.parametrize("figure, params, expected", [
    ("cg2020-fig1", ["data_root=/nonexistent"], "data root '/nonexistent'"),
    ("cg2020-fig1", ['overrides={"steps": "abc"}'], "steps='abc' is not an integer"),
    ("cg2020-fig1", ["noise_levels=[1.5]"], "noise fraction 1.5 is outside [0, 1]"),
    ("cg2020-fig1", ['overrides={"bogus": 1}'], "unknown parameter key 'bogus'"),
    ("cg2020-fig1", ["overrides=5"], "overrides=5 of figure cg2020-fig1 is a number; accepted: a dict"),
    ("cg2020-fig4", ["c_levels=[100]"], "c=100 needs batch_size >= 2c+2"),
    ("cg2020-fig2", ["estimator=x"], "unknown estimator 'x'"),
    ("ws-fig8", ['overrides={"max_steps": -1}'], "max_steps=-1 must be >= 0"),
    ("cg2020-fig1", ["device=tpu"], "unknown device 'tpu'"),
    ("gm-fig4", ['seeds="abc"'], "seeds='abc' of figure gm-fig4 is not a list of seeds"),
    ("ws-fig4", ["seeds=[0, -1]"], "seeds=[0, -1] of figure ws-fig4 is not a list of seeds"),
])
def test_bad_parameter_is_one_line_exit_2_and_leaves_the_executed_copy(figure, params, expected):
    out = build.executed_path(get_figure(figure))
    before = out.read_bytes() if out.exists() else None
    r = cgh("figure", figure, "--no-progress", *[a for p in params for a in ("-p", p)], timeout=120)
    assert_usage_error(r, expected)
    assert (out.read_bytes() if out.exists() else None) == before


def test_paper_profile_with_too_little_data(shared_data):
    r = cgh("figure", "cg2020-fig1", "--profile", "paper", "-p", f"data_root={shared_data}", timeout=120)
    assert_usage_error(r, "but the config asks for n_train=60,000")


def _notebook(path, code: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("profile = 'smoke'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, str(path))


@pytest.mark.parametrize("code, rc, expected", [
    ("from cgh_lib.errors import UserError\nraise UserError('dataset too small; accepted: more')", 2,
     "cgh: error: dataset too small; accepted: more"),
    ("1 / 0", 1, "failed in cell 3: ZeroDivisionError: division by zero"),
])
def test_error_inside_the_notebook_is_one_line(code, rc, expected, tmp_path, monkeypatch, capsys):
    from cgh_lib.cli import main

    src = tmp_path / "raising.ipynb"
    _notebook(src, code)
    monkeypatch.setattr(build, "EXECUTED_DIR", tmp_path / "figures")
    monkeypatch.setattr(build, "FAILED_DIR", tmp_path / "failed")
    registry.figures()  # discover the papers first, then add the test figure for this test only
    monkeypatch.setitem(registry._FIGURES, "test-raising", Figure("test-raising", str(src), "raises", "test"))
    good = build.executed_path(get_figure("test-raising"))
    good.parent.mkdir(parents=True)
    good.write_text(json.dumps({"last": "good"}))
    assert main(["figure", "test-raising", "--no-progress"]) == rc
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert json.loads(good.read_text()) == {"last": "good"}, "a failed run replaced the executed copy"
    assert (tmp_path / "failed" / "raising.ipynb").exists()
