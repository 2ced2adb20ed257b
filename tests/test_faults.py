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
                          capture_output=True, text=True, timeout=timeout, env=env, preexec_fn=_foreground_signals)


def _foreground_signals() -> None:
    """The child takes SIGINT as a foreground `cgh run` would (Ctrl-C raises). A suite started in the
    background by a non-interactive shell inherits SIGINT ignored, and Python then keeps it ignored
    outside the trainers' deferral: an INT injected after training would be lost (rc 0, not 130)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def final_json(r: subprocess.CompletedProcess) -> dict:
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out.pop("wall_time_s")
    out.pop("cached")
    return out


def stored(store: Path) -> tuple[dict, dict[str, np.ndarray]]:
    (res,) = list(store.glob("*/*/result.json"))
    rec = json.loads(res.read_text())
    with np.load(res.parent / rec.get("arrays_file", "arrays.npz")) as z:  # arrays are named by their hash
        arrays = {k: z[k] for k in z.files}
    return rec, arrays


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
    if victim == "arrays.npz":
        victim = json.loads(res.read_text())["arrays_file"]
    p = res.parent / victim
    data = bytearray(p.read_bytes())
    if victim != "result.json":
        data[len(data) // 3] ^= 0x01  # one bit: an npz would often still load
    else:
        data = data[: len(data) - 40]
    p.write_bytes(bytes(data))
    r = run(store, args)
    assert "not using the stored result" in r.stderr and victim in r.stderr, r.stderr
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


# --------------------------------------------------------------------------- issue 20: a store nobody can fool
SMOKE_RUN = ["cg2020-label-noise", "--profile", "smoke", "-p", "steps=30", "-p", "noise=0.5"]


def _strict_json(text: str):
    """json.loads that refuses NaN / Infinity (what a strict JSON reader does)."""
    def bad(c):
        raise ValueError(f"non-strict JSON constant {c}")
    return json.loads(text, parse_constant=bad)


@pytest.mark.parametrize("tamper", ["edit_metric", "drop_checksums"])
def test_tampered_result_is_never_served_as_cached(tamper, tmp_path):
    """A hand-edited metric (or a record whose checksum fields were deleted) is recomputed, not served."""
    store = tmp_path / "runs"
    first = final_json(run(store, SMOKE_RUN))
    (res,) = list(store.glob("*/*/result.json"))
    rec = json.loads(res.read_text())
    if tamper == "edit_metric":
        rec["final"]["test_acc"] = 0.999
    else:
        rec.pop("checksum")
        rec.pop("arrays_sha256")
        rec["final"]["test_acc"] = 0.999
    res.write_text(json.dumps(rec))
    r = run(store, SMOKE_RUN)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["cached"] is False and out["test_acc"] == first["test_acc"] != 0.999, r.stderr
    assert "checksum" in r.stderr, r.stderr


def test_read_only_commands_report_a_bad_result_and_leave_it_in_place(tmp_path):
    """`cgh claims` never trains and never renames: a result of the figure failing its checksum is reported."""
    store = tmp_path / "runs"
    final_json(run(store, ["cg2020-label-noise", "--profile", "smoke", "-p", "noise=0.5"]))  # one of Fig 1's runs
    (res,) = list(store.glob("*/*/result.json"))
    rec = json.loads(res.read_text())
    rec["final"]["test_acc"] = 0.999
    res.write_text(json.dumps(rec))
    before = sorted(p.name for p in res.parent.iterdir())
    env = env_with(CGH_RUNS=str(store))
    r = subprocess.run([*CGH, "claims", "cg2020-fig1", "--profile", "smoke", "--runs", str(store)], cwd=REPO,
                       capture_output=True, text=True, timeout=300, env=env)
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "checksum mismatch" in r.stderr, r.stderr[-3000:]
    assert sorted(p.name for p in res.parent.iterdir()) == before, "a read-only command moved files"
    assert res.exists() and not (res.parent / "result.json.bad").exists()


@pytest.mark.parametrize("args", [
    ["cg2020-winsorized", "--profile", "smoke", "-p", "steps=30", "-p", "c=2", "-p", "lr=1e4"],
    ["cg2020-label-noise", "--profile", "smoke", "-p", "steps=30", "-p", "lr=1e4"],
    ["ws-label-noise", "--profile", "smoke", "-p", "lr=1e4"],
], ids=["winsorized", "stacked", "loader"])
def test_diverged_run_stops_with_one_line_and_is_stored_as_diverged(args, tmp_path):
    from cgh_lib.book.registry import make_config
    from cgh_lib.store.runstore import RunStore

    store = tmp_path / "runs"
    r = run(store, args)
    assert r.returncode == 2, r.stderr[-3000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "diverged" in lines[0] and "Traceback" not in r.stderr, r.stderr
    (res,) = list(store.glob("*/*/result.json"))
    rec = _strict_json(res.read_text())  # strict JSON: no bare NaN
    assert rec["status"] == "diverged" and "train loss" in rec["provenance"]["diverged"]
    cfg = make_config(args[0], "smoke", dict(a.split("=", 1) for a in args[4::2]))
    loaded = RunStore(store).load(cfg)
    assert loaded is not None and loaded.diverged and "train loss" in loaded.diverged
    again = run(store, args)  # stored: the same one line, no training
    assert again.returncode == 2 and "diverged" in again.stderr and "resuming" not in again.stderr


def test_reader_never_sees_a_mixed_pair_while_force_swaps_versions(tmp_path):
    """A reader looping on `load` while another process keeps replacing the result (as --force does)
    sees one complete version every time: its metric matches its arrays, nothing is set aside."""
    from cgh_lib.book.registry import make_config
    from cgh_lib.store.runstore import RunStore

    cfg = make_config("cg2020-label-noise", "smoke", {"steps": 5})
    store = RunStore(tmp_path / "s")
    store.save(cfg, {"v": 0.0}, {"a": np.zeros(2000)}, {})
    writer = subprocess.Popen([sys.executable, "-c", f"""
import numpy as np
from cgh_lib.book.registry import make_config
from cgh_lib.store.runstore import RunStore
cfg = make_config("cg2020-label-noise", "smoke", {{"steps": 5}})
s = RunStore({str(tmp_path / 's')!r})
for i in range(1, 301):
    s.save(cfg, {{"v": float(i)}}, {{"a": np.full(2000, float(i))}}, {{}})
"""], cwd=REPO, env=env_with())
    seen = set()
    while writer.poll() is None:
        r = store.load(cfg)
        assert r is not None, "a reader saw no result while one was always stored"
        assert np.all(r.arrays["a"] == r.final["v"]), "a reader saw a mixed pair"
        seen.add(r.final["v"])
    assert writer.returncode == 0
    assert len(seen) > 1, "the race was not exercised"
    assert not list((tmp_path / "s").rglob("*.bad"))
    assert len(list(store.run_dir(cfg).glob("arrays*.npz"))) == 1, "old versions left behind"


def test_results_in_the_layout_of_a2f0509_still_load(tmp_path):
    """Results written by the code before content-named arrays (`arrays.npz`, the record's own
    checksum; e.g. the large-profile runs computing now) load unchanged, and a staged pair a
    kill left behind is read as it would be rolled forward, without renaming anything."""
    import hashlib

    from cgh_lib.book.registry import make_config
    from cgh_lib.store.config import config_hash, to_dict
    from cgh_lib.store.runstore import RunStore, _record_checksum

    cfg = make_config("cg2020-label-noise", "smoke", {"steps": 5})
    d = tmp_path / "s" / "cg2020-label-noise" / config_hash(cfg)
    d.mkdir(parents=True)
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, a=np.arange(4.0))
    rec = {"experiment": "cg2020-label-noise", "hash": config_hash(cfg), "config": to_dict(cfg),
           "final": {"x": float("nan"), "y": 1.0}, "provenance": {"finished_at": "t"},
           "arrays_sha256": hashlib.sha256(buf.getvalue()).hexdigest()}
    rec["checksum"] = _record_checksum(rec)
    (d / "arrays.npz.new").write_bytes(buf.getvalue())
    (d / "result.json.new").write_text(json.dumps(rec, indent=1, sort_keys=True))  # the old writer's format
    got = RunStore(tmp_path / "s").load(cfg)
    assert got is not None and got.final["y"] == 1.0 and np.isnan(got.final["x"])
    assert sorted(p.name for p in d.iterdir()) == ["arrays.npz.new", "result.json.new"], "the reader renamed files"
    os.replace(d / "arrays.npz.new", d / "arrays.npz")
    os.replace(d / "result.json.new", d / "result.json")
    got = RunStore(tmp_path / "s").load(cfg)
    assert got is not None and np.array_equal(got.arrays["a"], np.arange(4.0))


def test_leftover_temp_notebook_is_cleaned_and_never_published(tmp_path, monkeypatch):
    """A killed `cgh figure` left `book/figures/.<name>.running-<pid>.ipynb`: the next build removes it,
    and executions write their temp copy outside book/."""
    from cgh_lib.book import build

    monkeypatch.setattr(build, "EXECUTED_DIR", tmp_path / "figures")
    monkeypatch.setattr(build, "RUNNING_DIR", tmp_path / "running")
    (tmp_path / "figures").mkdir()
    (tmp_path / "running").mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    old = tmp_path / "figures" / f".cg2020_fig1_label_noise.running-{pid}.ipynb"
    new = tmp_path / "running" / f"cg2020_fig1_label_noise.running-{pid}-1.ipynb"
    live = tmp_path / "running" / f"cg2020_fig4_winsorized.running-{os.getppid()}-1.ipynb"
    # another thread of this very process executing a page (cgh book runs two at a time)
    mine = tmp_path / "running" / f"cg2020_fig2_loss_reduction.running-{os.getpid()}-2.ipynb"
    for p in (old, new, live, mine):
        p.write_text("{}")
    gone = build.clean_leftovers()
    assert sorted(gone) == sorted([old, new]) and live.exists() and mine.exists()
    assert not build.RUNNING_DIR.is_relative_to(build.REPO_ROOT / "book")
    assert "**/.*" in __import__("yaml").safe_load(build.site_config(None, None).read_text())["exclude_patterns"]


def test_truncated_executed_copy_is_reported_not_a_crash(tmp_path, monkeypatch):
    from cgh_lib.book import build
    from cgh_lib.book.registry import figures

    monkeypatch.setattr(build, "EXECUTED_DIR", tmp_path)
    fig = next(iter(figures().values()))
    build.executed_path(fig).write_text('{"cells": [{"cell_type": "code", "sou')
    assert build.executed_info(fig) is None
    rows = build.list_figures()  # was: JSONDecodeError
    assert next(r for r in rows if r["figure"] == fig.id)["up_to_date"] is False


def test_hostile_and_malformed_records_are_harmless_in_the_run_browser(tmp_path):
    """A store copied from elsewhere: a provenance string holding HTML is shown as text, a record
    without `experiment` renders, a record of the wrong shape becomes an "unreadable record" row."""
    from cgh_lib.book import pages
    from cgh_lib.book.registry import make_config
    from cgh_lib.store.runstore import RunStore, record_bytes, seal

    store = RunStore(tmp_path / "s")
    evil = "<img src=x onerror=alert(1)><script>alert(2)</script>{doc}`x`"
    a = make_config("cg2020-label-noise", "smoke", {"steps": 5})
    b = make_config("cg2020-label-noise", "smoke", {"steps": 6})
    c = make_config("cg2020-label-noise", "smoke", {"steps": 7})
    store.save(a, {"x": 1.0}, {}, {"device_name": evil, "commit": evil, "torch": evil})
    store.save(b, {"x": 1.0}, {}, {})
    store.save(c, {"x": 1.0}, {}, {})
    for cfg, change in ((b, lambda r: r.pop("experiment")), (c, lambda r: r.update(config=["not", "a", "dict"]))):
        p = store.run_dir(cfg) / "result.json"
        rec = json.loads(p.read_text())
        change(rec)
        p.write_bytes(record_bytes(seal(rec)))  # a valid checksum: the attacker recomputed it
    text = pages.runs_page(store, ["smoke"])
    assert "<img" not in text and "<script" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "{doc}`x`" not in text
    assert "unreadable record" in text and text.count("<tr><td><code>") == 3


def test_publish_checks_the_remote_before_building(monkeypatch, capsys):
    from cgh_lib import cli
    from cgh_lib.book import build

    monkeypatch.setattr(build, "build_book", lambda *a, **k: pytest.fail("built the book before checking the remote"))
    assert cli.main(["book", "--publish", "--remote", "no-such-remote-cgh"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no git remote 'no-such-remote-cgh'" in err[0]
    monkeypatch.setattr(build, "_git", lambda *a: "/srv/git/book.git" if a[:2] == ("remote", "get-url") else "")
    assert cli.main(["book", "--publish"]) == 2
    assert "local path" in capsys.readouterr().err
    assert build._is_local("/srv/x.git") and build._is_local("file:///x") and build._is_local("../x")
    assert not build._is_local("git@github.com:o/r.git") and not build._is_local("https://github.com/o/r")


def test_publish_never_force_pushes_without_force_and_leaves_no_branch(monkeypatch, tmp_path):
    from cgh_lib.book import build

    (tmp_path / "index.html").write_text("x")
    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(build.subprocess, "run", fake_run)
    gits = []
    monkeypatch.setattr(build, "_git", lambda *a: gits.append(a) or "")
    build.publish(tmp_path, remote=build.Remote("origin", "https://example.org/r.git", True))
    push = next(c for c in calls if c[:2] == ["git", "push"])
    assert "--force" not in push and "-f" not in push and push[-1] == f"{build.PUBLISH_BRANCH}:gh-pages"
    assert not any("-f" in c for c in calls if "ghp-import" in str(c[0]))
    assert gits[-1] == ("branch", "-D", build.PUBLISH_BRANCH), "the scratch branch is deleted"
    calls.clear()
    build.publish(tmp_path, remote=build.Remote("origin", "https://example.org/r.git", True), force=True)
    assert "--force" in next(c for c in calls if c[:2] == ["git", "push"])


@pytest.mark.parametrize("errno_, fix", [(28, "free some space"), (30, "read-only")])
def test_disk_full_or_read_only_store_is_one_line_naming_the_path(errno_, fix, tmp_path, monkeypatch, capsys):
    """ENOSPC / EROFS while storing (simulated at the store's one write function): one line, path and fix."""
    from cgh_lib import cli
    from cgh_lib.store import runstore

    def full(path, data):
        raise OSError(errno_, os.strerror(errno_), str(path))

    monkeypatch.setattr(runstore, "_atomic_write_bytes", full)
    rc = cli.main(["run", *SMOKE_RUN, "--runs", str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and err[0].startswith("cgh: error: "), err
    assert str(tmp_path / "runs") in err[0] and fix in err[0]


def test_a_file_where_the_store_folder_should_be_is_one_line(tmp_path):
    blocker = tmp_path / "runs"
    blocker.write_text("not a folder")
    r = run(blocker, SMOKE_RUN)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert str(blocker) in lines[0] and "a file stands where a folder should be" in lines[0]


@pytest.mark.parametrize("param, expected", [
    ("lr=1e300", "lr=1e+300 overflows float32"),
    ("seed=1e30", "seed=1e+30 is out of range"),
    ("hidden=1e9", "needs at least"),
    ("steps=1e30", "steps=1e+30 is out of range"),
    ("steps=1e12", "more than 1e+09 steps"),
    ("n_train=1e9", "needs at least"),
    ("batch_size=5000", "larger than the training set"),
])
def test_resource_bounds_refuse_with_one_line(param, expected, tmp_path):
    from conftest import assert_usage_error

    r = run(tmp_path / "runs", ["cg2020-label-noise", "--profile", "smoke", "-p", param], timeout=120)
    assert_usage_error(r, expected)


def test_negative_checkpoint_interval_is_refused(tmp_path):
    from conftest import assert_usage_error

    assert_usage_error(run(tmp_path / "runs", SMOKE_RUN, "--checkpoint-every-steps", "-1"), "--checkpoint-every-steps")


@pytest.mark.parametrize("param, expected", [
    ("overrides={'lr': 1e300}", "overflows float32"),
    ("overrides={'hidden': [1000000000]}", "needs at least"),
    ("noise_levels=[]", "noise_levels=[] of figure cg2020-fig1 is empty"),
    ("profile=paper", "set with --profile"),
])
def test_figure_parameters_are_checked_before_papermill(param, expected):
    from conftest import assert_usage_error, cgh

    assert_usage_error(cgh("figure", "cg2020-fig1", "--profile", "smoke", "-p", param, timeout=120), expected)


def test_second_process_that_only_read_the_result_says_cached(tmp_path):
    """B starts while A trains the same config: B waits on the lock, reads A's result, and says cached."""
    args = ["cg2020-label-noise", "--profile", "smoke", "-p", "steps=20000", "-p", "noise=0.5"]
    store = tmp_path / "runs"
    env = env_with(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [*CGH, "run", *args, "--no-progress", "--runs", str(store)]
    a = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(store.rglob("*.lock")) and time.time() < deadline and a.poll() is None:
        time.sleep(0.05)
    b = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_a, out_b = (json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1]) for p in (a, b))
    assert out_a["cached"] is False and out_b["cached"] is True


def test_damaged_native_kernel_cache_is_rebuilt_once_and_said(tmp_path):
    import shutil

    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        pytest.skip("no C++ compiler")
    env = env_with(CGH_NATIVE_CACHE=str(tmp_path / "native"))
    probe = [sys.executable, "-c", "from cgh_lib.grads import native_winsorize as n; print(n.available())"]
    first = subprocess.run(probe, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert first.stdout.strip() == "True", first.stderr
    (so,) = list((tmp_path / "native").glob("*.so"))
    so.write_bytes(so.read_bytes()[:100])  # "file too short"
    second = subprocess.run(probe, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert second.stdout.strip() == "True", second.stderr
    assert second.stderr.count("is damaged") == 1 and "rebuilding" in second.stderr
    third = subprocess.run(probe, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert third.stdout.strip() == "True" and "damaged" not in third.stderr


def test_loader_trainer_refuses_a_batch_larger_than_its_data(tmp_path):
    from conftest import assert_usage_error

    r = run(tmp_path / "runs", ["ws-label-noise", "--profile", "smoke", "-p", "batch_size=100000"], timeout=120)
    assert_usage_error(r, "batch_size=100000 is larger than the training set")
    assert not list((tmp_path / "runs").rglob("result.json"))


def test_figure_with_diverging_runs_stops_with_one_line_not_holds(tmp_path):
    """Was: a figure executed with lr=1e4 rendered and its claims counted "holds" from broken runs."""
    from conftest import assert_usage_error, cgh

    r = cgh("figure", "cg2020-fig4", "--profile", "smoke", "-p", "overrides={'lr': 1e4}", "-p", "seeds=[0]",
            env=env_with(CGH_RUNS=str(tmp_path / "runs"), OMP_NUM_THREADS="1"), timeout=600)
    assert_usage_error(r, "diverged")


def test_labels_out_of_range_are_one_line():
    """A dataset whose labels exceed the model's outputs (or are negative) is refused where it is
    built, with the bad label named; before, the loss raised an index error mid-training."""
    import torch

    from cgh_lib.data.label_noise import corrupt_labels
    from cgh_lib.data.tensors import TensorData
    from cgh_lib.errors import UserError

    x = torch.zeros(4, 784)
    ok = torch.tensor([0, 1, 2, 9])
    TensorData("t", x, ok, x, ok, "test")  # in range: accepted
    for bad in (torch.tensor([0, 1, 10, 3]), torch.tensor([0, -1, 2, 3])):
        with pytest.raises(UserError, match=r"out of range.*accepted: integers 0\.\.9"):
            TensorData("t", x, bad, x, ok, "test")
    with pytest.raises(UserError, match="label 12 at index 2"):
        corrupt_labels(torch.tensor([0, 1, 12]), 0.5, 0, "uniform", num_classes=10)
