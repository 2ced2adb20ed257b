"""Step-time overhead of M3 / RM3 / RA3 against SGD on a small CNN (WS §3.2).

A 2-conv + linear CNN on 32x32x3 inputs, batch 96, torch.optim.SGD with
momentum 0.9. Prints median step times and the ratios M3/SGD, RM3/SGD, RA3/SGD
(paper: RM3 < 1% overhead, M3 ~30%), plus M3 batched (one vmap pass over the 3
groups) vs M3 serial (3 micro-batch backward passes), to show whether batching paid.

    PYTHONPATH=. python benchmarks/bench_aggregators.py [--device cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from cgh_lib.grads.aggregators import make_aggregator


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


def interleaved(fns: dict[str, Callable[[], None]], device: torch.device, rounds: int,
                warmup: int = 3) -> dict[str, float]:
    """Median ms per variant, timing one step of each variant per round in turn,
    so drifting load from other jobs on the machine hits all variants alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--batch", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=25, help="interleaved rounds")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {dev}"
          f" ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else platform.processor() or platform.machine()})")
    for label, model, shape in [
        ("SmallCNN (conv16-conv32-fc) on 3x32x32", SmallCNN(), (3, 32, 32)),
        ("MLP 784-256x3-10 on 28x28 (M3 batched = Linear hook path)", mlp(), (1, 28, 28)),
    ]:
        model = model.to(dev)
        x = torch.randn(args.batch, *shape, device=dev)
        y = torch.randint(0, 10, (args.batch,), device=dev)
        opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

        def step_with(name: str, **kw: object) -> Callable[[], None]:
            agg = make_aggregator(name, **kw)

            def step() -> None:
                agg.backward(model, F.cross_entropy, x, y)
                opt.step()

            return step

        t = interleaved({
            "sgd": step_with("sgd"),
            "m3 auto": step_with("m3"),
            "m3 batched": step_with("m3", mode="batched"),
            "m3 serial": step_with("m3", mode="serial"),
            "rm3": step_with("rm3"),
            "ra3": step_with("ra3"),
        }, dev, args.repeats)
        print(f"{label}, batch {args.batch}, SGD momentum 0.9; median ms over {args.repeats} interleaved rounds")
        for k, v in t.items():
            print(f"  {k:12s} {v:9.2f} ms")
        print(f"  M3 (auto)    / SGD   = {t['m3 auto'] / t['sgd']:6.2f}   (target <= 1.3; auto = what M3 uses by default)")
        print(f"  M3 (batched) / SGD   = {t['m3 batched'] / t['sgd']:6.2f}")
        print(f"  M3 (serial)  / SGD   = {t['m3 serial'] / t['sgd']:6.2f}")
        print(f"  RM3 / SGD            = {t['rm3'] / t['sgd']:6.2f}   (target <= 1.05)")
        print(f"  RA3 / SGD            = {t['ra3'] / t['sgd']:6.2f}   (target <= 1.05)")
        print(f"  M3 batched / serial  = {t['m3 batched'] / t['m3 serial']:6.2f}   (< 1: batching paid)")


if __name__ == "__main__":
    main()
