"""`cgh` on the CG2020 Figure 2-4 experiments: bad input is one line, exit 2; a run prints its JSON."""

import json

import pytest
from conftest import assert_usage_error, cgh


@pytest.mark.parametrize("args, expected", [
    (["run", "cg2020-winsorized", "-p", "c=-1"], "parameter c=-1 is negative; accepted: an integer 0 <= c <= 49"),
    (["run", "cg2020-winsorized", "-p", "c=50"], "parameter c=50 needs batch_size >= 2c+2 = 102"),
    (["run", "cg2020-winsorized", "-p", "c=2.5"], "c='2.5' is not an integer"),
    (["run", "cg2020-loss-reduction", "-p", "noise=0"], "noise=0 leaves the corrupt set empty"),
    (["run", "cg2020-loss-reduction", "-p", "noise=1"], "noise=1 leaves the pristine set empty"),
    (["run", "cg2020-loss-reduction", "-p", "estimator=fast"], "unknown estimator 'fast'; accepted: paper, exact"),
    (["figure", "cg2020-fig4", "-p", "colour=red"], "unknown parameter key 'colour' for figure cg2020-fig4"),
    (["figure", "cg2020-fig2", "--profile", "huge"], "unknown profile 'huge'; accepted: smoke, small, large, paper"),
])
def test_bad_input_is_one_line_exit_2(args, expected):
    assert_usage_error(cgh(*args), expected)


def test_winsorized_run_prints_final_metrics():
    r = cgh("run", "cg2020-winsorized", "--profile", "smoke", "-p", "c=2", "-p", "noise=0.5", "-p", "steps=20",
            "-p", "hidden=8,8,8", "--no-progress")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["step"] == 20 and out["cached"] is False
    assert out["overfit"] == pytest.approx(out["train_acc"] - (0.05 + 0.5 * out["test_acc"]))
