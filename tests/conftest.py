"""Shared test setup: offline data location and an isolated run store per test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import shutil
import tempfile

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()
# Every executed copy, generated page and site a test makes goes here, never into the reader's
# book/figures or _build/html. Set before any test module imports cgh_lib (which reads it once),
# and inherited by the `cgh` subprocesses the tests start.
BOOK_DIR = Path(tempfile.mkdtemp(prefix="cgh-test-book-")).resolve()
os.environ["CGH_BOOK_DIR"] = str(BOOK_DIR)
# a figure a notebook shows with text under 9 px at 1280 px fails that notebook (plotting.stamp)
os.environ["CGH_CHECK_FONTS"] = "1"


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(BOOK_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolate(tmp_path, monkeypatch):
    """Every test gets its own run store and no network downloads; seeds fixed."""
    monkeypatch.setenv("CGH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("CGH_NO_DOWNLOAD", "1")
    monkeypatch.delenv("CGH_DATA", raising=False)
    torch.manual_seed(0)
    yield


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "MNIST-22k").is_dir():
        pytest.skip(f"offline datasets not found at {SHARED_DATA}")
    return SHARED_DATA


def cgh(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the CLI as a user would (``python -m cgh_lib ...``) from the repo root."""
    return subprocess.run([sys.executable, "-m", "cgh_lib", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env or env_with())


def assert_usage_error(r: subprocess.CompletedProcess, expected: str) -> None:
    """Bad input: exit 2 and one stderr line naming the bad value, no traceback."""
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cgh: error: "), r.stderr
    assert expected in lines[0]
    assert "Traceback" not in r.stderr


def env_with(**kw: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(kw)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory) -> Path:
    """A copy of the committed run store (the smoke runs in it make the smoke book train nothing,
    and a copy keeps runs/ untouched whatever a test builds)."""
    dest = tmp_path_factory.mktemp("store") / "runs"
    shutil.copytree(REPO / "runs", dest, ignore=shutil.ignore_patterns("_ckpt"))
    return dest


@pytest.fixture(scope="session")
def smoke_site(smoke_runs) -> Path:
    """The smoke book, built once per session into the tests' book folder (``$CGH_BOOK_DIR/_build/html``)."""
    r = subprocess.run([sys.executable, "-m", "cgh_lib", "book", "--profile", "smoke", "--no-progress"],
                       cwd=REPO, capture_output=True, text=True, timeout=1800,
                       env=env_with(CGH_RUNS=str(smoke_runs), CGH_NO_DOWNLOAD="1"))
    assert r.returncode == 0, r.stderr[-3000:]
    return BOOK_DIR / "_build" / "html"
