"""Figures show the seed spread: one curve per condition is the seeds' mean with a min-max band."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cgh_lib.book.plotting import as_seed_lists, by_key, seed_line  # noqa: E402
from cgh_lib.store.runstore import RunResult  # noqa: E402


def test_seed_line_draws_the_mean_and_a_band_only_for_several_seeds():
    x = np.arange(4)
    fig, ax = plt.subplots()
    seed_line(ax, x, [np.array([0, 1, 2, 3.0]), np.array([0, 3, 2, np.nan])])
    (line,) = ax.lines
    np.testing.assert_allclose(line.get_ydata(), [0, 2, 2, 3])
    assert len(ax.collections) == 1  # the band
    fig2, ax2 = plt.subplots()
    seed_line(ax2, x, [np.array([0, 1, 2, 3.0])])
    assert len(ax2.lines) == 1 and not ax2.collections
    plt.close("all")


def test_by_key_regroups_seeds_in_order():
    def run(v):
        return RunResult({}, {"v": v}, {}, {}, Path("."))
    grouped = by_key({0: {"a": run(0), "b": run(1)}, 2: {"a": run(2), "b": run(3)}})
    assert [r.final["v"] for r in grouped["a"]] == [0, 2] and [r.final["v"] for r in grouped["b"]] == [1, 3]
    one = run(5)
    assert as_seed_lists({"a": one}) == {"a": [one]}


def test_stamp_names_every_machine_and_commit_of_the_runs_shown():
    """Seeds computed on another machine or at another commit are named in the caption with their
    number of runs, not hidden behind the first run's provenance."""
    from cgh_lib.book.plotting import run_stamp

    def run(i: int, device: str, commit: str) -> RunResult:
        prov = {"device_name": device, "commit": commit, "dirty": False, "torch": "2.x", "data": "d",
                "wall_time_s": 60.0, "finished_at": str(i)}
        return RunResult(config={"steps": 10}, final={}, provenance=prov, arrays={}, path=Path(f"/s/e/{i}"))

    same = run_stamp("small", [run(0, "A", "c" * 40), run(1, "A", "c" * 40)])
    assert "device: A |" in same and f"commit {'c' * 10} |" in same and "2.0 min" in same
    mixed = run_stamp("small", [run(0, "A", "c" * 40), run(1, "B", "d" * 40), run(2, "B", "d" * 40)])
    assert "device: A (1 run), B (2 runs)" in mixed and f"commit {'c' * 10} (1 run), {'d' * 10} (2 runs)" in mixed
