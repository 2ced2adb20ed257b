"""benchmarks/gpu_check.sh runs every section's code path on CPU with --dry-run (no timings judged)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_check_dry_run_prints_one_json_line() -> None:
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    r = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"], capture_output=True,
                       text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout
    res = json.loads(lines[0])
    assert res["dry_run"] is True and res["device"] == "cpu" and res["targets"] == {}
    for sec, key in [("fig1", "stacked_over_naive_speedup"), ("winsorize", "winsorized_c8_over_sgd"),
                     ("aggregators", "rm3_over_sgd")]:
        assert "error" not in res[sec], res[sec]
        assert res[sec][key] > 0


def test_gpu_check_without_cuda_refuses_with_exit_2() -> None:
    env = dict(os.environ, PYTHON=sys.executable, CUDA_VISIBLE_DEVICES="")
    r = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--only", "fig1"], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 2 and "--dry-run" in r.stderr and r.stdout == ""
