"""What only a GPU can show (issue #14 §4), in one process, as one JSON line on stdout.

Sections (each timed in this run against its own baseline; a failing section
records its error and the others still run):
  fig1        CG2020 Fig 1: the 5 noise variants trained stacked vs the naive loop
              (DataLoader, one nn.Module after another); projected time of the paper
              profile's 5 x 10^5 variant-steps; the fused step's fraction of matmul rate.
  winsorize   winsorized SGD (c = 2, 8) over plain SGD, batch 100, MLP 784-256x3-10.
  aggregators M3 / RM3 / RA3 over SGD on ResNet-18, synthetic ImageNet-shaped data,
              bf16 autocast + channels_last (the CUDA path of the WS trainer), momentum 0.9.
Targets: fig1 stacked/naive >= 5 and paper profile < 120 s; winsorized <= 3x SGD;
M3 <= 1.3x, RM3 <= 1.05x SGD.

    bash benchmarks/gpu_check.sh             # on a GPU machine, < 8 min on one H100/H200
    bash benchmarks/gpu_check.sh --dry-run   # CPU, tiny sizes: every code path, no targets judged

Progress goes to stderr; stdout is exactly one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import bench_fig1  # noqa: E402
import bench_winsorize  # noqa: E402

from cgh_lib.data.tensors import synthetic_dataset  # noqa: E402
from cgh_lib.grads.aggregators import make_aggregator  # noqa: E402
from cgh_lib.models.mlp import StackedMLP  # noqa: E402
from cgh_lib.models.vision import build_vision_model  # noqa: E402
from cgh_lib.train.stacked import sgd_step  # noqa: E402


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def fig1(dev: torch.device, dry: bool) -> dict[str, Any]:
    steps_naive, steps_stacked = (3, 6) if dry else (400, 4000)
    data = synthetic_dataset(2_000 if dry else 22_699, 100)
    labels = [data.y_train[torch.randperm(len(data.y_train), generator=torch.Generator().manual_seed(k))]
              for k in range(5)]
    bench_fig1.stacked_train(data, labels, 2, dev)  # warm up (CUDA context, kernels)
    t0 = time.perf_counter()
    bench_fig1.naive_train(data, labels, steps_naive, dev)
    naive_step = (time.perf_counter() - t0) / steps_naive  # 5 variants, one step each
    t0 = time.perf_counter()
    bench_fig1.stacked_train(data, labels, steps_stacked, dev)
    stacked_step = (time.perf_counter() - t0) / steps_stacked
    # the fused single-model step against the matmul rate (bench_fig1 (i))
    n = 512 if dry else 8192
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    t_mm = bench_fig1.timeit(lambda: a @ b, dev, reps=2 if dry else 50, warmup=1, rounds=3)
    x = data.x_train.to(dev)
    y = data.y_train.to(dev).unsqueeze(0)
    model = StackedMLP([bench_fig1.IN, bench_fig1.H, bench_fig1.OUT], ["xavier"], [0], dev)
    gen = torch.Generator(device=dev).manual_seed(0)

    def fused() -> None:
        idx = torch.randint(0, x.shape[0], (1, bench_fig1.B), device=dev, generator=gen)
        sgd_step(model, x[idx], torch.gather(y, 1, idx), 0.1)

    t_step = bench_fig1.timeit(fused, dev, reps=3 if dry else 1000, warmup=2, rounds=3)
    return {
        "naive_5variant_step_ms": round(naive_step * 1e3, 4),
        "stacked_5variant_step_ms": round(stacked_step * 1e3, 4),
        "stacked_over_naive_speedup": round(naive_step / stacked_step, 2),
        "paper_profile_5x1e5_projected_s": round(stacked_step * 1e5, 1),
        "matmul_tflops": round(2 * n ** 3 / t_mm / 1e12, 2),
        "fused_step_fraction_of_matmul": round(bench_fig1.STEP_FLOPS / t_step / (2 * n ** 3 / t_mm), 3),
        "steps_timed": {"naive": steps_naive, "stacked": steps_stacked},
    }


def winsorize(dev: torch.device, dry: bool) -> dict[str, Any]:
    return bench_winsorize.measure(str(dev), (2, 8), batch=100, repeats=2 if dry else 30,
                                   naive_repeats=0 if dry else 1, log=log)


def aggregators(dev: torch.device, dry: bool) -> dict[str, Any]:
    """ResNet-18 steps as the WS loader trainer takes them on CUDA: bf16 autocast, channels_last."""
    batch, size, rounds = (6, 32, 1) if dry else (264, 224, 15)  # 264: M3's 3 groups, a multiple of 8
    torch.manual_seed(0)
    model = build_vision_model("resnet18", 1000, seed=0).to(dev)
    cuda = dev.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, size, size, device=dev)
    if cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=dev)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    amp = torch.autocast(device_type="cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)

    def step_with(name: str) -> Callable[[], None]:
        agg = make_aggregator(name)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with amp:
                agg.backward(model, F.cross_entropy, x, y)
            opt.step()
        return step

    fns = {k: step_with(k) for k in ("sgd", "m3", "rm3", "ra3")}
    for fn in fns.values():
        for _ in range(1 if dry else 3):  # RM3/RA3 need 3 steps of history
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            sync(dev)
            t0 = time.perf_counter()
            fn()
            sync(dev)
            times[k].append((time.perf_counter() - t0) * 1e3)
    med = {k: statistics.median(v) for k, v in times.items()}
    out: dict[str, Any] = {"model": "resnet18", "batch": batch, "image": size, "amp": "bf16" if cuda else "off",
                           "channels_last": cuda, "sgd_ms": round(med["sgd"], 3)}
    out.update({f"{k}_over_sgd": round(med[k] / med["sgd"], 3) for k in ("m3", "rm3", "ra3")})
    return out


def judge(res: dict[str, Any]) -> dict[str, bool | None]:
    def get(sec: str, key: str) -> float | None:
        v = res.get(sec, {})
        return v.get(key) if isinstance(v, dict) else None

    checks = {
        "fig1_stacked_ge_5x_naive": (get("fig1", "stacked_over_naive_speedup"), lambda v: v >= 5),
        "fig1_paper_profile_lt_120s": (get("fig1", "paper_profile_5x1e5_projected_s"), lambda v: v < 120),
        "winsorized_c2_le_3x_sgd": (get("winsorize", "winsorized_c2_over_sgd"), lambda v: v <= 3),
        "winsorized_c8_le_3x_sgd": (get("winsorize", "winsorized_c8_over_sgd"), lambda v: v <= 3),
        "m3_le_1.3x_sgd": (get("aggregators", "m3_over_sgd"), lambda v: v <= 1.3),
        "rm3_le_1.05x_sgd": (get("aggregators", "rm3_over_sgd"), lambda v: v <= 1.05),
    }
    return {k: (None if v is None else bool(f(v))) for k, (v, f) in checks.items()}


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE,
                              timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: exercise every path, judge no target")
    ap.add_argument("--only", nargs="+", choices=["fig1", "winsorize", "aggregators"], default=None)
    args = ap.parse_args(argv)
    if args.dry_run:
        dev = torch.device("cpu")
    elif not torch.cuda.is_available():
        log("gpu_check: no CUDA device; accepted: a machine with a GPU, or --dry-run")
        return 2
    else:
        dev = torch.device("cuda")
        torch.backends.cuda.matmul.allow_tf32 = True  # what the trainers use on CUDA
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    t_all = time.perf_counter()
    res: dict[str, Any] = {
        "check": "gpu", "dry_run": args.dry_run, "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.machine(),
        "torch": torch.__version__, "cuda": torch.version.cuda, "commit": commit(),
    }
    for name, fn in (("fig1", fig1), ("winsorize", winsorize), ("aggregators", aggregators)):
        if args.only and name not in args.only:
            continue
        log(f"gpu_check: {name} ...")
        t0 = time.perf_counter()
        try:
            res[name] = fn(dev, args.dry_run)
        except Exception as e:  # record and go on: one broken path must not hide the others
            res[name] = {"error": f"{type(e).__name__}: {e}"}
            log(traceback.format_exc())
        res[name]["wall_s"] = round(time.perf_counter() - t0, 1)
        log(f"gpu_check: {name} done in {res[name]['wall_s']} s")
    res["targets"] = {} if args.dry_run else judge(res)
    res["wall_s"] = round(time.perf_counter() - t_all, 1)
    print(json.dumps(res), flush=True)
    return 1 if any("error" in v for v in res.values() if isinstance(v, dict)) else 0


if __name__ == "__main__":
    sys.exit(main())
