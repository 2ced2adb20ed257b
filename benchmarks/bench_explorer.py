"""Benchmark: rendering an explorer's views (book build time).

An explorer page holds one PNG view per stored run, for every seed and profile: CG2020
Figure 4 alone has ~85 of them, and the whole book several hundred. `curves_view` draws
every view on one reused two-panel canvas; the naive way builds a new figure per view.
Prints the median time per view of each, measured in this run on these runs, and the ratio.

Usage: python benchmarks/bench_explorer.py [--runs N] [--rounds R]
Reads stored runs from the run store ($CGH_RUNS or runs/): CG2020 Figure 4's small or smoke runs.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cgh_lib.book import explorer  # noqa: E402
from cgh_lib.store.runstore import RunStore  # noqa: E402


def naive_view(title: str, run) -> str:
    """The same view with a fresh figure each time (what `curves_view` did before the canvas)."""
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 2.8))
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.17, top=0.86, wspace=0.28)
    explorer._CANVAS.update(fig=fig, axes=axes)  # draw into it through the same code path
    try:
        return explorer.curves_view(title, run)
    finally:
        explorer._release_canvas()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=25)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    store = RunStore()
    dirs = sorted(d for d in (store.root / "cg2020-winsorized").glob("*") if (d / "result.json").exists())
    runs = [r for r in (store.load_dir(d) for d in dirs[: args.runs]) if r is not None]
    if not runs:
        sys.exit(f"no stored cg2020-winsorized runs under {store.root}")
    explorer.curves_view("warm-up", runs[0])  # fonts, caches
    explorer._release_canvas()
    times: dict[str, list[float]] = {"naive (new figure per view)": [], "reused canvas": []}
    for _ in range(args.rounds):  # interleaved, so load changes hit both alike
        t = time.perf_counter()
        for r in runs:
            naive_view("x", r)
        times["naive (new figure per view)"].append((time.perf_counter() - t) / len(runs))
        t = time.perf_counter()
        for r in runs:
            explorer.curves_view("x", r)
        explorer._release_canvas()
        times["reused canvas"].append((time.perf_counter() - t) / len(runs))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"explorer views: {len(runs)} CG2020 Fig 4 runs x {args.rounds} rounds on {platform.processor() or platform.machine()}")
    for k, v in med.items():
        print(f"  {k:28s} {v * 1000:7.1f} ms per view")
    print(f"  speed-up of the reused canvas: {med['naive (new figure per view)'] / med['reused canvas']:.2f}x")


if __name__ == "__main__":
    main()
