"""Winsorized-SGD step cost (CG2020 §3 setting: batch 100, MLP 784-256x3-10).

Times, in one run, interleaved so that other jobs' load hits all alike:
(a) a plain SGD step; (b) materializing the per-example gradients only;
(c) the winsorized step with the default kernel (native: fused C++, see
README "Winsorization kernels") at each --cs level; (d) the eager torch
kernel at the first c; optionally (e) the torch.compile'd kernel
(--compiled; ~1 min compile per (batch, c)); and (f) a naive winsorized step
(one backward per example, then a full sort). Prints medians, the ratios
over SGD, and as its last line one JSON object with the ratios.

    PYTHONPATH=. python benchmarks/bench_winsorize.py [--cs 2 8] [--device cuda] [--threads N]

Targets (issue #14): winsorized/SGD <= 4 at c = 2 and <= 8 at c = 8 on a CPU,
<= 3 on a GPU; naive/winsorized >= 20.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from cgh_lib.grads import native_winsorize
from cgh_lib.grads.aggregators import make_aggregator, winsorize_kernel
from cgh_lib.grads.per_example import per_example_grads


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def once(fn: Callable[[], None], device: torch.device) -> tuple[float, float]:
    """(wall, process CPU) time of one call in ms. On a shared machine the CPU
    time is the steadier of the two: it does not count time slices lost to
    other jobs (it still counts their cache and memory-bandwidth contention)."""
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    _sync(device)
    return (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3


def load_note() -> str:
    """The machine's 1-minute load average against its cores (benchmarks here run on shared boxes)."""
    try:
        la = os.getloadavg()[0]
    except OSError:
        return "load unknown"
    return f"load average {la:.2f} on {os.cpu_count()} cores"


def measure(device: str = "cpu", cs: tuple[int, ...] = (2, 8), batch: int = 100, repeats: int = 15,
            naive_repeats: int = 2, compiled: bool = False, log: Callable[[str], None] = print) -> dict:
    """Time the variants interleaved in one run; log a table; return the JSON-able ratios."""
    dev = torch.device(device)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
        nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10),
    ).to(dev)
    x = torch.rand(batch, 1, 28, 28, device=dev)
    y = torch.randint(0, 10, (batch,), device=dev)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)  # tiny lr: the model barely moves
    params = list(model.parameters())
    default_kernel = winsorize_kernel()
    c0 = cs[0]

    def step_with(agg) -> Callable[[], None]:
        def fn() -> None:
            agg.backward(model, F.cross_entropy, x, y)
            opt.step()
        return fn

    fast: dict[str, Callable[[], None]] = {
        "sgd": step_with(make_aggregator("sgd")),
        "materialize": lambda: per_example_grads(model, F.cross_entropy, x, y),
    }
    for c in cs:
        fast[f"winsorized_c{c}"] = step_with(make_aggregator("winsorized", c=c))
    if dev.type == "cpu":
        fast[f"eager_c{c0}"] = step_with(make_aggregator("winsorized", c=c0, kernel="eager"))
    compile_s = None
    if compiled and dev.type == "cpu":
        fn = step_with(make_aggregator("winsorized", c=c0, kernel="compiled"))
        t0 = time.perf_counter()
        fn()  # first call compiles (or loads inductor's disk cache)
        compile_s = time.perf_counter() - t0
        fast[f"compiled_c{c0}"] = fn
    for fn in fast.values():  # warm up (and build the native kernel)
        fn()
        fn()
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in fast}
    for _ in range(repeats):
        for k, fn in fast.items():
            times[k].append(once(fn, dev))
    med = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}

    def naive_step() -> None:
        rows = []
        for i in range(batch):
            loss = F.cross_entropy(model(x[i : i + 1]), y[i : i + 1])
            rows.append(torch.autograd.grad(loss, params))
        for j, p in enumerate(params):
            g = torch.stack([r[j] for r in rows])
            s = g.sort(0).values
            p.grad = g.clamp(s[c0], s[batch - 1 - c0]).mean(0)
        opt.step()

    if naive_repeats:
        naive_step()
        naive = [once(naive_step, dev) for _ in range(naive_repeats)]
        med["naive"], cpu["naive"] = statistics.median(t[0] for t in naive), statistics.median(t[1] for t in naive)
    proc = torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.processor() or platform.machine())
    log(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {dev} ({proc}); {load_note()}")
    if dev.type == "cpu":
        log(f"default kernel: {default_kernel} (native SIMD width {native_winsorize.vector_width()} floats)")
    log(f"batch {batch}, MLP 784-256-256-256-10; median ms over {repeats} interleaved rounds")
    log(f"  {'':22s} {'wall ms':>9s}   {'x SGD':>7s}   {'CPU ms':>9s}   {'x SGD':>7s}")
    for k, t in med.items():
        log(f"  {k:22s} {t:9.2f}   {t / med['sgd']:7.2f}   {cpu[k]:9.2f}   {cpu[k] / cpu['sgd']:7.2f}")
    if compile_s is not None:
        log(f"  (compiled kernel's first call, incl. compile: {compile_s:.1f} s)")
    ratios = {f"{k}_over_sgd": round(t / med["sgd"], 3) for k, t in med.items() if k != "sgd"}
    if "naive" in med:
        ratios[f"naive_over_winsorized_c{c0}"] = round(med["naive"] / med[f"winsorized_c{c0}"], 2)
    ratios.update({f"cpu_{k}_over_sgd": round(t / cpu["sgd"], 3) for k, t in cpu.items() if k.startswith("winsorized")})
    return {"bench": "winsorize", "device": str(dev), "device_name": proc,
            "kernel": default_kernel if dev.type == "cpu" else "materialize+topk", "batch": batch,
            "threads": torch.get_num_threads(), "sgd_ms": round(med["sgd"], 3),
            "loadavg_1m": round(os.getloadavg()[0], 2), **ratios}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--cs", type=int, nargs="+", default=[2, 8], help="winsorization levels to time")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--naive-repeats", type=int, default=2)
    ap.add_argument("--compiled", action="store_true", help="also time the torch.compile'd kernel (slow to compile)")
    ap.add_argument("--no-compiled", action="store_true", help=argparse.SUPPRESS)  # old flag: now the default
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = measure(args.device, tuple(args.cs), args.batch, args.repeats, args.naive_repeats, args.compiled)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
