"""The CLI answers what needs no training without importing torch: `cgh --help`, `cgh list`,
a bad figure name, `cgh figure ID --help`. Checked by what the process imported, not by a time."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO, assert_usage_error, cgh, env_with

from cgh_lib.book import catalog
from cgh_lib.book.registry import figures

_PROBE = ("import sys\nfrom cgh_lib.cli import main\ntry:\n    rc = main(sys.argv[1:])\nexcept SystemExit as e:\n"
          "    rc = e.code\nprint('RC', rc, 'TORCH', 'torch' in sys.modules, file=sys.stderr)\n")


def _imports_torch(*args: str) -> tuple[int, bool, str]:
    r = subprocess.run([sys.executable, "-c", _PROBE, *args], cwd=REPO, capture_output=True, text=True,
                       timeout=120, env=env_with())
    last = r.stderr.strip().splitlines()[-1].split()
    return int(last[1]) if last[1] != "None" else 0, last[3] == "True", r.stdout + r.stderr


@pytest.mark.parametrize("args, rc", [
    (["--help"], 0),
    (["list"], 0),
    (["figure", "no-such-figure"], 2),
    (["figure", "cg2020-fig1", "--help"], 0),
    (["figure", "--help"], 0),
])
def test_these_commands_do_not_import_torch(args, rc):
    got_rc, torch_imported, out = _imports_torch(*args)
    assert got_rc == rc, out
    assert not torch_imported, f"`cgh {' '.join(args)}` imported torch"


def test_the_sources_list_the_registry_s_figures_in_book_order():
    assert [(s.id, s.notebook) for s in catalog.figure_specs()] == [(f.id, f.notebook) for f in figures().values()]


def test_figure_help_lists_every_parameter_with_its_default():
    import papermill

    from cgh_lib.book.build import source_ipynb

    for fig in figures().values():
        text = catalog.parameters_help(catalog.FigureSpec(fig.id, fig.notebook))
        params = papermill.inspect_notebook(str(source_ipynb(fig)))  # what papermill reads
        for name, info in params.items():
            line = next((l for l in text.splitlines() if l.split()[:1] == [name]), None)
            assert line, f"{fig.id}: {name} missing from the help"
            if name != "profile":
                assert f"default {' '.join(str(info['default']).split())}" in line, line


def test_figure_help_names_the_figure_s_accepted_values():
    r = cgh("figure", "cg2020-fig2", "--help")
    assert r.returncode == 0
    assert "estimator" in r.stdout and "smoke, small, large, paper" in r.stdout and "--data-root" in r.stdout


def test_bad_figure_name_is_one_line():
    assert_usage_error(cgh("figure", "fig9"), "unknown figure 'fig9'; accepted: cg2020-fig1")


def test_figure_data_root_is_the_data_root_parameter():
    assert_usage_error(cgh("figure", "cg2020-fig1", "--no-progress", "--data-root", "/nonexistent"),
                       "data root '/nonexistent'")
    assert_usage_error(cgh("figure", "cg2020-fig1", "--data-root", "/a", "-p", "data_root=/b"), "disagree")


def test_list_agrees_with_the_build_s_up_to_date_check():
    from cgh_lib.book.build import list_figures

    assert catalog.list_rows(catalog.figure_specs()) == list_figures()
