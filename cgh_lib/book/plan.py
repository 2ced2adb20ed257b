"""`cgh list --plan`: what each figure needs at a profile, what is stored, and what the rest would cost.

Costs come only from measurements, never from guesses:

* GPU-hours from the committed output of `benchmarks/gpu_check.sh`
  (``benchmarks/results/gpu_check.json``, or ``$CGH_GPU_CHECK``), which
  measures the step time of the paper-profile models on one named GPU; the
  plan states that GPU. Experiments whose step the check does not measure
  show "-".
* Measured hours: the stored runs' own wall times (a stack's wall time once,
  not once per member), with the devices they ran on.
* Estimated hours for the runs still missing: the wall time per run-step of a
  stored run with the same model, data size and batch (e.g. a stored `small`
  Figure 1 run prices the `large` one) times the run-steps needed, naming that
  run's device; "not measured" where no stored run gives such a rate.
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
from cgh_lib.store.provenance import REPO_ROOT, device_label
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
    ref_hours: float | None       # estimate for the missing runs (None: no measured rate)
    ref_device: str | None
    measured_hours: float = 0.0   # the stored runs' wall time
    measured_devices: str = ""    # where it was measured, e.g. "AMD EPYC (1 threads): 5 runs"


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


def _shape(cfg_dict: dict[str, Any], coarse: bool = False) -> str:
    """What a step's cost depends on; ``coarse`` folds Figure 4's c >= 1 into one (a fallback rate)."""
    d = {k: v for k, v in cfg_dict.items() if k not in _FREE_FIELDS}
    if "c" in d and coarse:
        d["c"] = min(int(d["c"]), 1)  # c = 0 is a plain SGD step; c >= 1 the per-example path
    return json.dumps(d, sort_keys=True, default=str)


def _stack_share(prov: dict[str, Any]) -> float:
    """This run's share of its stack's wall time (a stack stores its wall time with each member)."""
    k = prov.get("stacked_with") or 1
    return float(prov.get("wall_time_s") or 0.0) / max(int(k), 1)


def _device(prov: dict[str, Any]) -> str:
    return device_label(prov)


def _reference_rates(store: RunStore) -> dict[tuple[str, str], tuple[float, str]]:
    """(experiment, shape) -> (wall seconds per run-step, device) from stored runs, exact and coarse shapes."""
    rates: dict[tuple[str, str], tuple[float, str]] = {}
    for rec in store.list_runs():
        prov, cfg = rec.get("provenance", {}), rec.get("config", {})
        steps, wall = cfg.get("steps"), _stack_share(prov)
        if not steps or not wall or prov.get("resumed"):
            continue
        rate = (wall / steps, _device(prov))
        for coarse in (False, True):
            key = (rec["experiment"], ("~" if coarse else "") + _shape(cfg, coarse))
            if key not in rates or rate[0] < rates[key][0]:
                rates[key] = rate
    return rates


def _rate(rates: dict[tuple[str, str], tuple[float, str]], cfg: Any) -> tuple[float, str] | None:
    exp, d = type(cfg).EXPERIMENT, to_dict(cfg)
    return rates.get((exp, _shape(d))) or rates.get((exp, "~" + _shape(d, True)))


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
        measured, devices = 0.0, {}
        for g in stacks.values():
            provs = [r.provenance for r in (store.load(c) if store.has(c) else None for c in g) if r is not None]
            # a stack stores its wall time with each member, but a member that diverged while the
            # others trained on stores none: its share of the stack's time was spent all the same
            whole = next((p for p in provs if p.get("wall_time_s") and (p.get("stacked_with") or 1) == len(g)), None)
            for p in provs:
                p = p if p.get("wall_time_s") else (whole or p)
                if p.get("wall_time_s"):
                    measured += _stack_share(p) / 3600
                    devices[_device(p)] = devices.get(_device(p), 0) + 1
        missing = [g for g in stacks.values() if not all(store.has(c) for c in g)]
        steps = {to_dict(c).get("steps") for c in configs}
        gpu_h: float | None = 0.0
        ref_h: float | None = 0.0
        ref_dev: str | None = None
        for g in missing:
            n = to_dict(g[0]).get("steps")
            s = _gpu_step_s(g[0], gpu)
            gpu_h = None if gpu_h is None or s is None or not n else gpu_h + s * n / 3600
            for c in g:  # per missing run: a run-step rate (Figure 4's c changes it)
                if store.has(c):
                    continue
                r = _rate(rates, c)
                ref_h = None if ref_h is None or r is None or not n else ref_h + r[0] * n / 3600
                ref_dev = r[1] if r else ref_dev
        rows.append(PlanRow(fid, " + ".join(exps), len(configs), stored, len(missing),
                            steps.pop() if len(steps) == 1 else None, gpu_h, ref_h, ref_dev,
                            measured, ", ".join(f"{d}: {k} run{'s' * (k > 1)}" for d, k in devices.items())))
    return rows, gpu


NOT_MEASURED = "not measured"


def _h(v: float | None) -> str:
    if v is None:
        return NOT_MEASURED
    return "0" if v == 0 else (f"{v:.2f}" if v < 10 else f"{math.ceil(v)}")


def format_plan(rows: list[PlanRow], gpu: dict[str, Any] | None, profile: str) -> str:
    lines = [f"plan for profile {profile!r}"]
    if gpu:
        lines.append(f"GPU-h: hours on one {gpu.get('device_name')} (measured by benchmarks/gpu_check.sh at "
                     f"commit {str(gpu.get('commit'))[:10]}) for the missing runs; '{NOT_MEASURED}' = a step that "
                     "check does not measure")
    else:
        lines.append(f"GPU-h: '{NOT_MEASURED}' everywhere: no GPU measurement is committed (run bash "
                     "benchmarks/gpu_check.sh on a GPU and save its line as benchmarks/results/gpu_check.json)")
    lines.append("measured-h: the stored runs' wall time (each stack once), on the devices named; est-h: the "
                 "missing runs, from the wall time per step of a stored run with the same model and data size, "
                 f"on that run's device ('{NOT_MEASURED}': no such run is stored)")
    table = [["figure", "experiment", "runs", "stored", "jobs", "steps", "GPU-h", "measured-h", "est-h",
              "measured on / est. from"]]
    for r in rows:
        where = [f"measured on {r.measured_devices}" if r.measured_devices else "",
                 f"est. from {r.ref_device}" if r.stacks_missing and r.ref_device else ""]
        table.append([r.figure, r.experiment, str(r.runs), str(r.stored), str(r.stacks_missing),
                      str(r.steps) if r.steps is not None else "-",
                      _h(r.gpu_hours) if r.stacks_missing else "0",
                      _h(r.measured_hours) if r.stored else "0", _h(r.ref_hours) if r.stacks_missing else "0",
                      "; ".join(w for w in where if w)])
    # widths from the content, so a long cell (a figure on two experiments) never shifts the columns after it
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    left = {0, 1, len(widths) - 1}
    for row in table:
        cells = [v.ljust(w) if i in left else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
