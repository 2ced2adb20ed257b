"""CG2020 Figure 4 at the large profile: a stacked grid row vs its cells one after another.

Measures, in one run and interleaved (so other jobs' load hits both alike), the
training step of one grid row (one c, the 5 noise levels) two ways:

* cell after cell: `train_run`'s step per cell (``WinsorizedAggregator.backward``
  with autograd, then the SGD update), as the grid trained before stacking;
* stacked: `train_cells`' step, one process stepping the 5 members in lockstep,
  c > 0 through `fused_backward` (same results bit for bit, tested).

Both run on the large profile's model and real MNIST-22k batches (``--data-root``
or $CGH_DATA; generated data if neither is set, which changes the kernel's
sparsity and so the times), from weights trained ``--warm`` steps first.
Times are process CPU time (other jobs' time slices do not count) and wall.
Then it projects the whole large grid (25 cells x 60,000 steps, the authors'
43 evaluations per cell): per row, measured step time x 60,000, plus one
measured evaluation x 43 x 5; on one core, and on two cores with the rows
split into two processes. Last line: one JSON object.

    PYTHONPATH=. python benchmarks/bench_fig4_stack.py [--steps 200] [--cs 0 1 2 4 8]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Callable

import torch
import torch.nn.functional as F

from cgh_lib.data.tensors import corrupt_labels
from cgh_lib.grads.aggregators import WinsorizedAggregator, winsorize_kernel
from cgh_lib.models.mlp import mlp
from cgh_lib.papers.cg2020 import fig4_winsorized as ws
from cgh_lib.store.experiments import make_config
from cgh_lib.train.eval_schedule import eval_steps


def _timed(fn: Callable[[], None]) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def two_core_split(costs: dict[int, float]) -> float:
    """Makespan of the rows on two processes: the best split of the (few) rows into two sets."""
    items = list(costs.values())
    best = sum(items)
    for mask in range(1 << len(items)):
        a = sum(v for i, v in enumerate(items) if mask >> i & 1)
        best = min(best, max(a, sum(items) - a))
    return best


def measure(cs: tuple[int, ...], steps: int, warm: int, data_root: str | None, block: int = 10,
            log: Callable[[str], None] = print) -> dict:
    torch.manual_seed(0)
    base = make_config("cg2020-winsorized", "large", {})
    try:
        data = ws.load_data(base, data_root)
        source = data.describe()
    except Exception as e:  # no MNIST here: generated data of the same shape (times then differ)
        data = ws.load_data(make_config("cg2020-winsorized", "smoke", {"n_train": 22_699, "n_test": 10_000}), None)
        source = f"generated ({type(e).__name__}: no MNIST)"
    n = data.x_train.shape[0]
    noises = ws.NOISE_LEVELS
    labels = [corrupt_labels(data.y_train, e, base.seed + 1, base.noise_scheme)[0] for e in noises]
    gen = torch.Generator().manual_seed(2)
    log(f"torch {torch.__version__}, threads {torch.get_num_threads()}, kernel {winsorize_kernel()}; "
        f"data {source}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    log(f"large profile row: 784-256x3-10, batch 100, 5 noise levels; {steps} steps per way, "
        f"interleaved in blocks of {block}, after {warm} warm-up steps")
    res: dict[int, dict[str, float]] = {}
    for c in cs:
        # two copies of the row, trained the same; each way advances its own copy
        rows = {way: [mlp(784, base.hidden, 10, base.init, base.seed) for _ in noises] for way in ("cells", "stack")}
        aggs = [WinsorizedAggregator(c) for _ in noises]
        fused = all(ws.fused_ok(m, a, data.x_train) for m, a in zip(rows["stack"], aggs))

        def batch() -> torch.Tensor:
            return torch.randint(0, n, (base.batch_size,), generator=gen)

        def cells_step(models=rows["cells"]) -> None:  # train_run's step, cell by cell
            for m, a, y in zip(models, aggs, labels):
                idx = batch()
                a.backward(m, F.cross_entropy, data.x_train[idx], y[idx])
                ws.sgd_update(m, base.lr)

        def stack_step(models=rows["stack"]) -> None:  # train_cells' step
            for m, a, y in zip(models, aggs, labels):
                idx = batch()
                if fused:
                    ws.fused_backward(m, data.x_train[idx], y[idx], c)
                else:
                    a.backward(m, F.cross_entropy, data.x_train[idx], y[idx])
                ws.sgd_update(m, base.lr)

        for _ in range(warm):
            cells_step()
            stack_step()
        t = {"cells": [0.0, 0.0], "stack": [0.0, 0.0]}
        for _ in range(max(1, steps // block)):
            for way, fn in (("cells", cells_step), ("stack", stack_step)):
                w, cpu = _timed(lambda: [fn() for _ in range(block)])
                t[way][0] += w
                t[way][1] += cpu
        k = max(1, steps // block) * block
        res[c] = {f"{way}_{what}_ms": v[i] / k * 1e3 for way, v in t.items() for i, what in enumerate(("wall", "cpu"))}
        res[c]["fused"] = fused
        r = res[c]
        log(f"  c={c}: row step, CPU ms: cells {r['cells_cpu_ms']:.2f}, stacked {r['stack_cpu_ms']:.2f} "
            f"(x{r['cells_cpu_ms'] / r['stack_cpu_ms']:.2f}); wall ms: {r['cells_wall_ms']:.2f} vs "
            f"{r['stack_wall_ms']:.2f}")
    # one evaluation of one cell (train + test sets), as the trainers run it
    m = mlp(784, base.hidden, 10, base.init, base.seed)
    y, corrupt = corrupt_labels(data.y_train, 0.5, 1, "exact")
    ws.evaluate(m, data, y, corrupt)
    ev_wall, ev_cpu = _timed(lambda: ws.evaluate(m, data, y, corrupt))
    n_eval = len(set(eval_steps(base.eval_schedule, base.steps)) | {0, base.steps})
    ev_row = {"cpu": ev_cpu * n_eval * len(noises), "wall": ev_wall * n_eval * len(noises)}
    proj = {}
    for way in ("cells", "stack"):
        for what in ("cpu", "wall"):
            per_row = {c: res[c][f"{way}_{what}_ms"] / 1e3 * base.steps + ev_row[what] for c in cs}
            proj[f"{way}_{what}_1core_h"] = sum(per_row.values()) / 3600
            proj[f"{way}_{what}_2proc_h"] = two_core_split(per_row) / 3600
    ratio = sum(res[c]["cells_cpu_ms"] for c in cs) / sum(res[c]["stack_cpu_ms"] for c in cs)
    log(f"one evaluation {ev_cpu * 1e3:.0f} ms CPU, {n_eval} per cell")
    log(f"cell after cell / stacked (CPU time, all rows): x{ratio:.2f}")
    if tuple(cs) == tuple(ws.C_LEVELS):
        log(f"projected large grid (25 cells x {base.steps:,} steps), from CPU time (an idle core's speed): "
            f"cell after cell {proj['cells_cpu_1core_h']:.2f} h, stacked {proj['stack_cpu_1core_h']:.2f} h on one "
            f"core, {proj['stack_cpu_2proc_h']:.2f} h as two processes on two idle cores; from this run's wall "
            f"time (this machine's load): {proj['cells_wall_1core_h']:.2f} h vs {proj['stack_wall_1core_h']:.2f} h")
    return {"bench": "fig4_stack", "steps": steps, "data": source, "threads": torch.get_num_threads(),
            "loadavg_1m": round(os.getloadavg()[0], 2), "cells_over_stacked_cpu": round(ratio, 3),
            "per_c": {str(c): {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}
                      for c, r in res.items()},
            "eval_ms_cpu": round(ev_cpu * 1e3, 1),
            **({"projected_hours": {k: round(v, 3) for k, v in proj.items()}} if tuple(cs) == tuple(ws.C_LEVELS)
               else {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="timed steps per way and c (default 200)")
    ap.add_argument("--warm", type=int, default=50, help="untimed steps first, so activations are trained-like")
    ap.add_argument("--cs", type=int, nargs="+", default=list(ws.C_LEVELS))
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as the runs use)")
    ap.add_argument("--data-root", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(json.dumps(measure(tuple(a.cs), a.steps, a.warm, a.data_root)))


if __name__ == "__main__":
    main()
