"""Fault injection: real `cgh run` processes interrupted, corrupted, raced, then rerun.

The guarantee under test (README, "What is guaranteed"): a run interrupted by any
signal at any point and rerun stores exactly what an uninterrupted run stores,
bit for bit on the same CPU: final metrics *and* every stored curve. The
interruptions are placed with `cgh_lib.store.faults` (``CGH_FAULT``): the child
sends itself SIGINT / SIGTERM / SIGKILL mid-step, mid-evaluation, right after a
checkpoint or inside the final save. One test signals from outside at an
arbitrary moment. Runs are smoke-sized with step-based checkpoints.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, env_with

CGH = [sys.executable, "-m", "cgh_lib"]

# trainer -> (run arguments, checkpoint every N steps, chain of faults, one per process)
TRAINERS = {
    # the in-memory stacked trainer; "authors" schedule: evaluations at 0-9 and every 10 steps to 60
    "stacked": (["cg2020-label-noise", "--profile", "smoke", "-p", "steps=60", "-p", "noise=0.5"], 20,
                ["mid_step@5:INT",        # before the first checkpoint, mid-step, Ctrl-C
                 "checkpoint@20:KILL",    # right after a checkpoint that lands on an evaluation step
                 "eval@30:TERM",          # mid-evaluation, a cluster preemption
                 "mid_step@47:KILL",      # between checkpoints
                 "final_save:INT"]),      # inside the final save
    # CG2020 Fig 4's winsorized trainer (per-example clipping); "log" schedule: 0 1 2 3 5 10 20 30 50 60
    "winsorized": (["cg2020-winsorized", "--profile", "smoke", "-p", "steps=60", "-p", "noise=0.5", "-p", "c=2"], 10,
                   ["mid_step@4:TERM", "checkpoint@20:KILL", "eval@30:INT", "mid_step@45:KILL", "final_save:KILL"]),
    # the DataLoader trainer (WS small CNN, momentum 0.9): 10 steps per epoch, 4 epochs, evaluated per epoch
    "loader": (["ws-label-noise", "--profile", "smoke", "-p", "noise=0.5"], 5,
               ["mid_step@3:INT", "checkpoint@10:KILL", "eval@20:TERM", "mid_step@27:INT", "checkpoint@35:TERM",
                "final_swap:KILL"]),
}


def run(store: Path, args: list[str], *extra: str, fault: str | None = None,
        timeout: float = 240) -> subprocess.CompletedProcess:
    env = env_with(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("CGH_FAULT", None)
    if fault:
        env["CGH_FAULT"] = fault
    return subprocess.run([*CGH, "run", *args, "--no-progress", "--runs", str(store), *extra], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env=env)


def final_json(r: subprocess.CompletedProcess) -> dict:
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out.pop("wall_time_s")
    out.pop("cached")
    return out


def stored(store: Path) -> tuple[dict, dict[str, np.ndarray]]:
    (res,) = list(store.glob("*/*/result.json"))
    with np.load(res.parent / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(res.read_text()), arrays


def assert_same_run(a: Path, b: Path) -> None:
    """Same final metrics and bit-equal stored arrays (curves, per-example bookkeeping)."""
    ra, aa = stored(a)
    rb, ab = stored(b)
    assert ra["final"] == rb["final"]
    assert sorted(aa) == sorted(ab)
    for k in aa:
        assert aa[k].dtype == ab[k].dtype and aa[k].shape == ab[k].shape, k
        assert np.array_equal(aa[k], ab[k], equal_nan=aa[k].dtype.kind == "f"), f"stored array {k!r} differs"


EXPECTED_RC = {"INT": 130, "TERM": 143, "KILL": -signal.SIGKILL}


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """One uninterrupted run per trainer (and one longer stacked run), computed once."""
    out = {}
    for name, (args, every, _) in TRAINERS.items():
        store = tmp_path_factory.mktemp(f"ref-{name}")
        out[name] = (store, final_json(run(store, args, "--checkpoint-every-steps", str(every))))
    return out


@pytest.mark.parametrize("trainer", sorted(TRAINERS))
def test_interrupted_anywhere_then_rerun_is_bit_identical(trainer, references, tmp_path):
    args, every, chain = TRAINERS[trainer]
    store = tmp_path / "runs"
    ckpt_args = ("--checkpoint-every-steps", str(every))
    said = ""
    for fault in chain:
        r = run(store, args, *ckpt_args, fault=fault)
        said += r.stderr
        sig = fault.rsplit(":", 1)[1]
        assert r.returncode == EXPECTED_RC[sig], f"{fault}: rc {r.returncode}\n{r.stderr[-3000:]}"
        assert "Traceback" not in r.stderr, f"{fault}:\n{r.stderr[-3000:]}"
        assert not list(store.glob("*/*/result.json")), f"{fault}: an interrupted run looks complete"
        if sig != "KILL":
            assert "rerun the same command to resume" in r.stderr
    resumed = run(store, args, *ckpt_args)
    assert final_json(resumed) == references[trainer][1]
    said += resumed.stderr
    assert re.search(r"^resuming \S+ from step \d+ of \d+$", said, re.M), said  # one line per resume
    assert_same_run(store, references[trainer][0])
    res, _ = stored(store)
    assert res["provenance"]["resumed"], "the last process resumed from a checkpoint"
    assert not list(store.rglob("*.pt")) and not list(store.rglob("*.tmp*")), "leftovers in the store"


def test_signal_from_outside_at_an_arbitrary_moment(references, tmp_path):
    """SIGTERM sent by another process once training is under way (no injected point)."""
    args, every, _ = TRAINERS["stacked"]
    args = [*args, "-p", "steps=1500"]
    ref = final_json(run(tmp_path / "ref", args))
    store = tmp_path / "runs"
    env = env_with(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.Popen([*CGH, "run", *args, "--no-progress", "--runs", str(store),
                             "--checkpoint-every-steps", "150"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(store.rglob("*.pt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 143), err  # 0 only if it finished first
    again = run(store, args)
    assert final_json(again) == ref
    assert_same_run(store, tmp_path / "ref")


def _ckpt(store: Path) -> Path:
    (p,) = list(store.rglob("*.pt"))
    return p


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_checkpoint_is_discarded_with_a_message(damage, references, tmp_path):
    args, every, _ = TRAINERS["stacked"]
    store = tmp_path / "runs"
    run(store, args, "--checkpoint-every-steps", str(every), fault="checkpoint@40:KILL")
    p = _ckpt(store)
    data = bytearray(p.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    r = run(store, args, "--checkpoint-every-steps", str(every))
    assert final_json(r) == references["stacked"][1]
    assert "discarding" in r.stderr and str(p.name) in r.stderr, r.stderr
    assert "resuming" not in r.stderr
    assert_same_run(store, references["stacked"][0])


@pytest.mark.parametrize("victim", ["arrays.npz", "result.json"])
def test_damaged_result_is_discarded_and_recomputed(victim, references, tmp_path):
    args, every, _ = TRAINERS["stacked"]
    store = tmp_path / "runs"
    final_json(run(store, args))
    (res,) = list(store.glob("*/*/result.json"))
    p = res.parent / victim
    data = bytearray(p.read_bytes())
    if victim == "arrays.npz":
        data[len(data) // 3] ^= 0x01  # one bit: an npz would often still load
    else:
        data = data[: len(data) - 40]
    p.write_bytes(bytes(data))
    r = run(store, args)
    assert "discarding" in r.stderr and victim in r.stderr, r.stderr
    out = final_json(r)
    assert out == references["stacked"][1]
    assert json.loads(r.stdout.strip().splitlines()[-1])["cached"] is False
    assert_same_run(store, references["stacked"][0])


def test_two_processes_on_one_config_do_not_corrupt_the_store(references, tmp_path):
    args, every, _ = TRAINERS["winsorized"]
    store = tmp_path / "runs"
    env = env_with(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [*CGH, "run", *args, "--no-progress", "--runs", str(store), "--checkpoint-every-steps", str(every)]
    procs = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    finals = []
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        finals.append(final_json(subprocess.CompletedProcess(cmd, 0, out, err)))
    assert finals[0] == finals[1] == references["winsorized"][1]
    assert_same_run(store, references["winsorized"][0])
    assert not list(store.rglob("*.pt")) and not list(store.rglob("*.tmp*"))


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['CGH_EVIL_MARK']}",))


def test_store_from_elsewhere_is_loaded_without_executing_code(references, tmp_path, monkeypatch):
    """A checkpoint whose pickle would run code is refused (torch.load weights_only=True)."""
    import torch

    from cgh_lib.store.runstore import RunStore

    args, every, _ = TRAINERS["stacked"]
    store = tmp_path / "runs"
    run(store, args, "--checkpoint-every-steps", str(every), fault="checkpoint@20:KILL")
    p = _ckpt(store)
    mark = tmp_path / "pwned"
    monkeypatch.setenv("CGH_EVIL_MARK", str(mark))
    state = RunStore(store).read_checkpoint_file(p)
    assert state is not None and state["step"] == 20
    state["evil"] = _Evil()
    import io

    buf = io.BytesIO()
    torch.save(state, buf, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    RunStore(store).write_checkpoint_file(p, buf.getvalue())  # a valid checksum: only the pickle is hostile
    r = run(store, args, "--checkpoint-every-steps", str(every))
    assert not mark.exists(), "loading a checkpoint executed code"
    assert "discarding" in r.stderr, r.stderr
    assert final_json(r) == references["stacked"][1]


def test_force_keeps_the_stored_result_until_the_new_one_is_complete(references, tmp_path):
    args, every, _ = TRAINERS["stacked"]
    store = tmp_path / "runs"
    final_json(run(store, args))
    before, _ = stored(store)
    r = run(store, args, "--force", fault="mid_step@30:KILL")
    assert r.returncode == -signal.SIGKILL
    after, _ = stored(store)
    assert after == before, "--force lost the stored result when the recompute was killed"
    r = run(store, args, "--force", fault="final_save:KILL")
    assert stored(store)[0]["final"] == before["final"]
    forced = run(store, args, "--force")
    assert final_json(forced) == references["stacked"][1]
    assert json.loads(forced.stdout.strip().splitlines()[-1])["cached"] is False
    assert stored(store)[0]["provenance"]["finished_at"] >= before["provenance"]["finished_at"]


def test_store_files_follow_the_umask(tmp_path):
    """A shared store needs group-readable files: the umask decides, not the temp-file default 0600."""
    from cgh_lib.store.runstore import RunStore

    from cgh_lib.book.registry import make_config

    old = os.umask(0o022)
    try:
        store = RunStore(tmp_path / "s")
        cfg = make_config("cg2020-label-noise", "smoke", {"steps": 5})
        store.save(cfg, {"x": 1.0}, {"a": np.zeros(3)}, {})
        store.save_checkpoint("cg2020-label-noise", "k", {"step": 1})
        for p in [*store.run_dir(cfg).iterdir(), store.checkpoint_path("cg2020-label-noise", "k")]:
            assert p.stat().st_mode & 0o777 == 0o644, (p, oct(p.stat().st_mode))
    finally:
        os.umask(old)


def test_provenance_says_where_a_number_was_computed(references):
    res, _ = stored(references["stacked"][0])
    prov = res["provenance"]
    for key in ("cpu", "torch_threads", "torch_build", "deterministic_algorithms", "device_name"):
        assert key in prov, key
    assert prov["torch_threads"] >= 1 and isinstance(prov["deterministic_algorithms"], bool)
