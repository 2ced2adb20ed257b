"""`cgh sweep` through submitit's local executor: two runs, one killed mid-run and resumed."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from cgh_lib.book.registry import make_config
from cgh_lib.book.sweep import ClusterOptions, stack_active, sweep
from cgh_lib.cli import main
from cgh_lib.errors import UserError
from cgh_lib.store.experiments import default_seeds, group_key
from cgh_lib.store.runstore import RunStore

submitit = pytest.importorskip("submitit")


def _wait(pred, timeout: float, what: str) -> None:
    t0 = time.time()
    while not pred():
        if time.time() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def test_local_sweep_two_runs_one_killed_and_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))  # the jobs import this checkout
    store = RunStore(tmp_path / "runs")
    # two Figure 4 smoke cells (different c: each its own stack), long enough to be killed after a checkpoint
    cfgs = [make_config("cg2020-winsorized", "smoke", {"c": c, "noise": 0.5, "steps": 1500}) for c in (0, 1)]
    cluster = ClusterOptions(executor="local", time_min=30)
    first = sweep(cfgs, store, cluster, device="cpu", checkpoint_every_steps=25)
    assert [s.state for s in first] == ["submitted", "submitted"] and all(s.job_id for s in first)
    # called again at once: both stacks are active, nothing is submitted twice
    assert [s.state for s in sweep(cfgs, store, cluster, device="cpu")] == ["active", "active"]

    victim = cfgs[1]
    ckpt = store.checkpoint_path(victim.EXPERIMENT, group_key([victim]))  # a stack's checkpoint
    hb = store.root / "_sweeps" / victim.EXPERIMENT / f"{group_key([victim])}.alive"
    _wait(lambda: ckpt.exists() and hb.exists(), 300, "the second run's first checkpoint")
    pid = json.loads(hb.read_text())["pid"]
    os.kill(pid, signal.SIGKILL)  # the worker dies mid-run (a node lost, an OOM kill)
    _wait(lambda: not stack_active(store, victim.EXPERIMENT, group_key([victim])), 60, "the killed job to end")
    assert not store.has(victim)

    again = sweep(cfgs, store, cluster, device="cpu", checkpoint_every_steps=25)
    assert again[1].state == "submitted" and again[0].state in ("active", "stored")
    for s in first[:1] + again[1:]:
        s.job.result()  # wait for both jobs (raises if a job failed)
    for c in cfgs:
        assert store.has(c)
    assert store.load(victim).provenance["resumed"] >= 1  # continued from its checkpoint
    assert store.load(cfgs[0]).provenance["resumed"] == 0
    assert [s.state for s in sweep(cfgs, store, cluster)] == ["stored", "stored"]


def test_sweep_cli_dry_run_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(["sweep", "cg2020-fig4", "--profile", "smoke", "--runs", str(tmp_path), "--dry-run",
               "--executor", "slurm", "--partition", "gpu", "--gpus-per-node", "2", "--ddp", "--time", "2:00:00"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["stacks"] == 3 and out["submitted"] == 3 and out["job_ids"] == [] and out["dry_run"]
    assert main(["sweep", "cg2020-fig4", "--profile", "smoke", "--runs", str(tmp_path), "--executor", "pbs"]) == 2
    assert "unknown executor 'pbs'; accepted: local, slurm" in capsys.readouterr().err
    assert main(["sweep", "cg2020-fig4", "--profile", "smoke", "--time", "soon", "--dry-run"]) == 2
    with pytest.raises(UserError, match="gpus-per-node"):
        ClusterOptions(gpus_per_node=-1).validate()


def test_list_plan_counts_stored_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["list", "--plan", "--profile", "small", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "no GPU measurement is committed" in out
    row = next(line for line in out.splitlines() if line.startswith("cg2020-fig4"))
    n = 25 * len(default_seeds("small"))  # the 5x5 grid for each of the profile's seeds
    assert row.split()[2:5] == [str(n), "0", "5"]  # runs, stored, jobs (one stack per c) in an empty store
    from cgh_lib.book.registry import get_figure

    store = RunStore(tmp_path / "partial")
    for c in get_figure("cg2020-fig1").configs("small"):
        if c.seed == 0:  # seed 0's five noise levels stored; the other seeds' train as one stack
            store.save(c, {"train_acc": 1.0}, {"step": np.arange(3)}, {"wall_time_s": 60.0})
    assert main(["list", "--plan", "--profile", "small", "--runs", str(store.root)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("cg2020-fig1"))
    k = len(default_seeds("small"))
    assert row.split()[2:5] == [str(5 * k), "5", "0" if k == 1 else "1"]


def test_slurm_executor_parameters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a SLURM job asks for (submitit builds the sbatch file from these; no cluster needed)."""
    from cgh_lib.book.sweep import _executor

    with pytest.raises(UserError, match="needs a SLURM login node"):
        monkeypatch.setenv("PATH", str(tmp_path))  # no srun
        _executor(tmp_path, ClusterOptions(executor="slurm"), "x")
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_ / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}:{os.environ['PATH']}")

    ex = _executor(tmp_path, ClusterOptions(executor="slurm", partition="gpu", gpus_per_node=4, time_min=90,
                                            ddp=True, account="lab"), "cgh-test")
    p = ex._executor.parameters
    assert (p["partition"], p["gpus_per_node"], p["ntasks_per_node"], p["time"], p["account"]) == \
        ("gpu", 4, 4, 90, "lab")
    one = _executor(tmp_path, ClusterOptions(executor="slurm", gpus_per_node=4), "cgh-test")._executor.parameters
    assert one["ntasks_per_node"] == 1  # without --ddp one process gets the node's GPUs


def test_plan_measured_hours_estimates_and_aligned_columns(tmp_path: Path) -> None:
    """Stored runs count their own wall time (a stack's once), missing runs are estimated from a stored
    run-step rate or say 'not measured', and every row keeps the header's column positions."""
    from cgh_lib.book.plan import NOT_MEASURED, format_plan, plan
    from cgh_lib.book.registry import get_figure

    store = RunStore(tmp_path)
    grid = [c for c in get_figure("cg2020-fig4").configs("large")]
    row2 = [c for c in grid if c.c == 2]
    for c in row2:  # one stored stack of 5 (the c = 2 row): 5 x 1,000 s of stack wall time, stored per member
        store.save(c, {"train_acc": 1.0}, {"step": np.arange(3)},
                   {"wall_time_s": 5000.0, "stacked_with": 5, "device_name": "TestCPU (1 threads)"})
    fig1 = get_figure("cg2020-fig1").configs("large")
    store.save(fig1[0], {"train_acc": 1.0}, {"step": np.arange(3)},
               {"wall_time_s": 720.0, "device_name": "OtherCPU (1 threads)"})
    rows, gpu = plan("large", store, gpu_check={})
    by = {r.figure: r for r in rows}
    f4 = by["cg2020-fig4"]
    assert f4.stored == 5 and f4.measured_hours == pytest.approx(5000 / 3600)  # not 5 x 5000
    assert f4.measured_devices == "TestCPU (1 thread): 5 runs"
    # the 20 missing cells at the stored rate per run-step (c >= 1 rows fall back to the c = 2 rate)
    rate = 1000.0 / row2[0].steps
    c0 = [c for c in grid if c.c == 0]
    assert f4.ref_hours is None  # c = 0 (plain SGD) has no measured rate
    f1 = by["cg2020-fig1"]
    assert f1.measured_hours == pytest.approx(0.2) and f1.ref_hours == pytest.approx((len(fig1) - 1) * 720 / 3600)
    assert len(fig1) == 5 * len(get_figure("cg2020-fig1").seeds("large"))  # every seed's noise levels
    text = format_plan(rows, gpu, "large")
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("figure"))
    table = lines[head:]
    assert NOT_MEASURED in next(line for line in table if line.startswith("cg2020-fig4"))
    assert "measured on TestCPU (1 thread): 5 runs" in text
    for col in ("runs", "stored", "steps", "est-h"):  # right-aligned columns end where their header ends
        end = table[0].index(col) + len(col)
        for line in table[1:]:
            assert line[end - 1] != " " and line[end:end + 1] in ("", " "), (col, line)
    # without the c = 0 row's gap the c >= 1 rows are priced: store the c = 0 row too
    for c in c0:
        store.save(c, {"train_acc": 1.0}, {"step": np.arange(3)},
                   {"wall_time_s": 2000.0, "stacked_with": 5, "device_name": "TestCPU (1 threads)"})
    f4 = {r.figure: r for r in plan("large", store, gpu_check={})[0]}["cg2020-fig4"]
    assert f4.ref_hours == pytest.approx(15 * rate * row2[0].steps / 3600)
    assert f4.measured_hours == pytest.approx(7000 / 3600)
    # a stack member that diverged stores no wall time of its own; its share of the stack still counts
    row4 = [c for c in grid if c.c == 4]
    for c in row4[:-1]:
        store.save(c, {"train_acc": 1.0}, {"step": np.arange(3)},
                   {"wall_time_s": 3000.0, "stacked_with": 5, "device_name": "TestCPU (1 threads)"})
    store.save_diverged(row4[-1], "train loss nan at step 2", 2, {"device_name": "TestCPU (1 threads)"})
    f4 = {r.figure: r for r in plan("large", store, gpu_check={})[0]}["cg2020-fig4"]
    assert f4.stored == 15 and f4.measured_hours == pytest.approx(10000 / 3600)
    assert f4.measured_devices == "TestCPU (1 thread): 15 runs"
