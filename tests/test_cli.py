"""The `cgh` command as a user runs it: errors, cache hits, kill -9 and resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, assert_usage_error, cgh, env_with

CGH = [sys.executable, "-m", "cgh_lib"]


@pytest.mark.parametrize("args, expected", [
    (["run", "nope"], "unknown experiment 'nope'; accepted: "),
    (["figure", "fig9"], "unknown figure 'fig9'; accepted: cg2020-fig1"),
    (["run", "cg2020-label-noise", "--profile", "huge"], "unknown profile 'huge'; accepted: smoke, small, large, paper"),
    (["figure", "cg2020-fig1", "--profile", "huge"], "unknown profile 'huge'; accepted: smoke, small, large, paper"),
    (["run", "cg2020-label-noise", "-p", "colour=red"], "unknown parameter key 'colour'"),
    (["figure", "cg2020-fig1", "-p", "colour=red"], "unknown parameter key 'colour' for figure cg2020-fig1; accepted: profile"),
    (["run", "cg2020-label-noise", "-p", "noise=1.5"], "noise fraction 1.5 is outside [0, 1]"),
    (["run", "cg2020-label-noise", "-p", "noise=-0.1"], "outside [0, 1]"),
    (["run", "cg2020-label-noise", "-p", "steps=10.5"], "steps='10.5' is not an integer"),
    (["run", "cg2020-label-noise", "-p", "steps=many"], "steps='many' is not an integer"),
    (["run", "cg2020-label-noise", "--profile", "small", "--data-root", "/no/such/dir"],
     "data root '/no/such/dir' (from data_root) does not exist"),
    (["run", "cg2020-label-noise", "--profile", "small", "--data-root", str(REPO / "tests")],
     "dataset 'mnist' not found; tried: "),
    (["run", "cg2020-label-noise", "--device", "tpu"], "unknown device 'tpu'; accepted: auto, cpu, cuda"),
])
def test_bad_input_is_one_line_exit_2(args, expected):
    assert_usage_error(cgh(*args), expected)


def test_data_root_from_environment_is_checked():
    r = cgh("run", "cg2020-label-noise", "--profile", "small", env=env_with(CGH_DATA="/no/such/root"))
    assert r.returncode == 2 and "(from CGH_DATA) does not exist" in r.stderr


def test_run_prints_json_then_cache_hit_then_force():
    args = ["run", "cg2020-label-noise", "--profile", "smoke", "-p", "steps=40", "--no-progress"]
    first = cgh(*args)
    assert first.returncode == 0, first.stderr
    m1 = json.loads(first.stdout.strip().splitlines()[-1])
    assert m1["cached"] is False and 0 <= m1["train_acc"] <= 1 and m1["step"] == 40
    t0 = time.time()
    second = cgh(*args)
    m2 = json.loads(second.stdout.strip().splitlines()[-1])
    assert m2["cached"] is True and m2 == {**m1, "cached": True}
    forced = json.loads(cgh(*args, "--force").stdout.strip().splitlines()[-1])
    assert forced["cached"] is False and forced["train_acc"] == m1["train_acc"]  # deterministic on CPU


def test_kill_9_mid_run_resumes_to_identical_final_metrics(tmp_path):
    """Uninterrupted vs. killed with SIGKILL after a checkpoint, then rerun: same final metrics."""
    common = ["run", "cg2020-label-noise", "--profile", "smoke", "-p", "steps=1500", "-p", "hidden=512",
              "-p", "noise=0.5", "--no-progress"]
    ref = cgh(*common, "--runs", str(tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr
    ref_metrics = json.loads(ref.stdout.strip().splitlines()[-1])

    store = tmp_path / "killed"
    proc = subprocess.Popen([*CGH, *common, "--runs", str(store), "--checkpoint-every-steps", "100"],
                            cwd=REPO, env=env_with(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not list(store.rglob("*.pt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "run finished before it could be killed; make it longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not list(store.rglob("result.json")), "killed run must not look complete"
    resumed = cgh(*common, "--runs", str(store))
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert out["cached"] is False
    res = json.loads(next(store.rglob("result.json")).read_text())
    prov = res["provenance"]
    assert prov["resumed"] >= 1  # it really resumed from the checkpoint
    # wall time counts the killed process too: it is never less than the training + evaluation it covers
    assert prov["wall_time_s"] >= prov["train_time_s"] + prov["eval_time_s"]
    for key in ("train_acc", "test_acc", "train_loss", "test_loss", "pristine_acc", "corrupt_acc"):
        assert out[key] == ref_metrics[key], key
    assert not list(store.rglob("*.pt")), "checkpoint is dropped once the result is stored"


def test_ctrl_c_saves_checkpoint_and_exits_130(tmp_path):
    store = tmp_path / "s"
    proc = subprocess.Popen([*CGH, "run", "cg2020-label-noise", "--profile", "smoke", "-p", "steps=20000",
                             "--no-progress", "--runs", str(store), "--checkpoint-every-steps", "200"],
                            cwd=REPO, env=env_with(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(store.rglob("*.pt")) and time.time() < deadline:
        time.sleep(0.05)
    for p in store.rglob("*.pt"):  # training is under way; only the interrupt handler can write one now...
        p.unlink()
    proc.send_signal(signal.SIGINT)  # ...unless a periodic one lands first, which is equally fine
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "rerun the same command to resume" in err and "Traceback" not in err
    assert list(store.rglob("*.pt"))


def test_list_shows_figures():
    r = cgh("list")
    assert r.returncode == 0 and "cg2020-fig1" in r.stdout
