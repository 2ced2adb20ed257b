"""`cgh list --plan`: what each figure needs at a profile, what is stored, and what the rest would cost.

Costs come only from measurements, never from guesses:

* GPU-hours from the committed output of `benchmarks/gpu_check.sh`
  (``benchmarks/results/gpu_check.json``, or ``$CGH_GPU_CHECK``), which
  measures the step time of the paper-profile models on one named GPU; the
  plan states that GPU. Experiments whose step the check does not measure
  show "-".
* Hours on the device of a stored run with the same model, data size and batch
  (e.g. a stored `small` Figure 1 run prices the `large` one): wall time per
  step of that run times the steps needed, naming the device it ran on.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cgh_lib.book.registry import figures, get_experiment
from cgh_lib.errors import UserError
from cgh_lib.store.config import to_dict
from cgh_lib.store.provenance import REPO_ROOT
from cgh_lib.store.runstore import RunStore

GPU_CHECK = REPO_ROOT / "benchmarks" / "results" / "gpu_check.json"
# config fields that do not change the cost of a training step
_FREE_FIELDS = {"steps", "noise", "seed", "noise_scheme", "eval_schedule", "lr", "init", "estimator"}


@dataclass
class PlanRow:
    figure: str
    experiment: str
    runs: int
    stored: int
    stacks_missing: int
    steps: int | None
    gpu_hours: float | None
    ref_hours: float | None
    ref_device: str | None


def load_gpu_check(path: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    p = Path(path or os.environ.get("CGH_GPU_CHECK") or GPU_CHECK)
    try:
        res = json.loads(p.read_text().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None
    return None if res.get("dry_run") else res


def _gpu_step_s(cfg: Any, gpu: dict[str, Any] | None) -> float | None:
    """Seconds per training step of this config's stack on the measured GPU, where the check measures it."""
    if gpu is None:
        return None
    d = to_dict(cfg)
    exp = type(cfg).EXPERIMENT
    if exp == "cg2020-label-noise" and list(d.get("hidden", [])) == [2048] and d.get("batch_size") == 100:
        v = gpu.get("fig1", {}).get("stacked_5variant_step_ms")
        return v / 1e3 if v else None
    if exp == "cg2020-winsorized" and list(d.get("hidden", [])) == [256, 256, 256] and d.get("batch_size") == 100:
        w = gpu.get("winsorize", {})
        c = d.get("c", 0)
        ratio = 1.0 if c == 0 else w.get("winsorized_c2_over_sgd" if c <= 2 else "winsorized_c8_over_sgd")
        return w["sgd_ms"] * ratio / 1e3 if w.get("sgd_ms") and ratio else None
    return None


def _shape(cfg_dict: dict[str, Any]) -> str:
    d = {k: v for k, v in cfg_dict.items() if k not in _FREE_FIELDS}
    if "c" in d:
        d["c"] = min(int(d["c"]), 1)  # c = 0 is a plain SGD step; c >= 1 the per-example path
    return json.dumps(d, sort_keys=True, default=str)


def _reference_rates(store: RunStore) -> dict[tuple[str, str], tuple[float, str]]:
    """(experiment, shape) -> (wall seconds per step of a stack, device) from stored runs."""
    rates: dict[tuple[str, str], tuple[float, str]] = {}
    for rec in store.list_runs():
        prov, cfg = rec.get("provenance", {}), rec.get("config", {})
        steps, wall = cfg.get("steps"), prov.get("wall_time_s")
        if not steps or not wall or prov.get("resumed"):
            continue
        dev = prov.get("device_name") or prov.get("device") or "?"
        rate = (wall / steps, dev)
        key = (rec["experiment"], _shape(cfg))
        if key not in rates or rate[0] < rates[key][0]:
            rates[key] = rate
    return rates


def plan(profile: str, store: RunStore | None = None,
         gpu_check: dict[str, Any] | None = None) -> tuple[list[PlanRow], dict[str, Any] | None]:
    store = store or RunStore()
    gpu = gpu_check if gpu_check is not None else load_gpu_check()
    rates = _reference_rates(store)
    rows = []
    for fid, fig in figures().items():
        try:
            configs = fig.configs(profile)
        except UserError:  # the figure's experiment does not define this profile
            continue
        if not configs:
            continue
        # a figure may draw on several experiments (GM2022 Fig 3: an MLP and a CNN one)
        exps = {type(c).EXPERIMENT: get_experiment(type(c).EXPERIMENT) for c in configs}
        stacks: dict[Any, list[Any]] = {}
        for c in configs:
            name = type(c).EXPERIMENT
            stacks.setdefault((name, exps[name].stack_key(c)), []).append(c)
        stored = sum(store.has(c) for c in configs)
        missing = [g for g in stacks.values() if not all(store.has(c) for c in g)]
        steps = {to_dict(c).get("steps") for c in configs}
        gpu_h: float | None = 0.0
        ref_h: float | None = 0.0
        ref_dev: str | None = None
        for g in missing:
            n = to_dict(g[0]).get("steps")
            s = _gpu_step_s(g[0], gpu)
            gpu_h = None if gpu_h is None or s is None or not n else gpu_h + s * n / 3600
            r = rates.get((type(g[0]).EXPERIMENT, _shape(to_dict(g[0]))))
            ref_h = None if ref_h is None or r is None or not n else ref_h + r[0] * n / 3600
            ref_dev = r[1] if r else ref_dev
        rows.append(PlanRow(fid, " + ".join(exps), len(configs), stored, len(missing),
                            steps.pop() if len(steps) == 1 else None, gpu_h, ref_h, ref_dev))
    return rows, gpu


def _h(v: float | None) -> str:
    if v is None:
        return "-"
    return "0" if v == 0 else (f"{v:.2f}" if v < 10 else f"{math.ceil(v)}")


def format_plan(rows: list[PlanRow], gpu: dict[str, Any] | None, profile: str) -> str:
    lines = [f"plan for profile {profile!r}"]
    if gpu:
        lines.append(f"GPU-hours assume one {gpu.get('device_name')} (measured by benchmarks/gpu_check.sh at "
                     f"commit {str(gpu.get('commit'))[:10]}); '-' = a step that check does not measure")
    else:
        lines.append("GPU-hours: '-' everywhere: no GPU measurement is committed (run bash benchmarks/gpu_check.sh "
                     "on a GPU and save its line as benchmarks/results/gpu_check.json)")
    lines.append("ref-hours: wall time per step of a stored run with the same model and data size, times the "
                 "steps still needed, on that run's device")
    lines.append(f"{'figure':<14} {'experiment':<22} {'runs':>5} {'stored':>6} {'jobs':>5} {'steps':>8} "
                 f"{'GPU-h':>7} {'ref-h':>7}  ref device")
    for r in rows:
        lines.append(f"{r.figure:<14} {r.experiment:<22} {r.runs:>5} {r.stored:>6} {r.stacks_missing:>5} "
                     f"{r.steps if r.steps is not None else '-':>8} {_h(r.gpu_hours):>7} {_h(r.ref_hours):>7}  "
                     f"{r.ref_device or ('-' if r.stacks_missing else '')}")
    return "\n".join(lines)

