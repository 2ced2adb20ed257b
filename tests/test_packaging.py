"""pip (pyproject.toml) and conda (environment.yml) name the same dependencies."""

import re
import tomllib

from conftest import REPO


def _names(reqs):
    return {re.split(r"[=<>\[ ]", r.strip())[0].lower() for r in reqs if r.strip() and not r.strip().startswith("-")}


def test_pyproject_and_environment_yml_agree():
    py = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pip_deps = set(py["dependencies"]) | set(py["optional-dependencies"]["dev"])
    env_lines = [ln.strip()[2:] for ln in (REPO / "environment.yml").read_text().splitlines()
                 if ln.strip().startswith("- ") and "python=" not in ln and ln.strip() != "- pip"
                 and ln.startswith("      ")]
    assert _names(env_lines) == _names(pip_deps)
    pins = {r for r in pip_deps if "==" in r}
    assert pins <= set(env_lines)  # same pinned versions (torch, torchvision, jupyter-book)
