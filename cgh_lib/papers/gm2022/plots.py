"""GM2022 figures: coherence during training (blog Fig. 3 layout), per-layer coherence, Theorem 1's term."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cgh_lib.book.plotting import GROUP_COLORS, SPLIT_COLORS, panel_width
from cgh_lib.book.plotting import run_stamp, stamp  # noqa: F401  (re-exported for the notebooks)
from cgh_lib.papers.gm2022.experiments import curves, measured_gap, theorem1_term
from cgh_lib.papers.ws.plots import ws_stamp
from cgh_lib.store.runstore import RunResult

SPLIT_STYLE = {"train": dict(color=SPLIT_COLORS["train"], ls="-"), "test": dict(color=SPLIT_COLORS["test"], ls="--")}
# real labels are the pristine ones, random labels the corrupt ones: the book's colours for those
NOISE_STYLE = {0.0: dict(color=GROUP_COLORS["pristine"], ls="-"), 1.0: dict(color=GROUP_COLORS["corrupt"], ls="--")}
NOISE_NAME = {0.0: "real labels (0% noise)", 1.0: "random labels (100% noise)"}


def _seeds(runs: dict[tuple[float, int], RunResult], noise: float) -> list[RunResult]:
    return [r for (n, _), r in sorted(runs.items()) if n == noise]


def coherence_figure(runs: dict[tuple[float, int], RunResult], title: str) -> plt.Figure:
    """Blog Fig. 3's 2x2: rows real / random labels, columns alpha/alpha_perp against training step and
    against the training sample's loss; train sample solid, test sample dashed; one line per seed."""
    noises = sorted({n for n, _ in runs})
    fig, axes = plt.subplots(len(noises), 2, figsize=(panel_width(2), 3.0 * len(noises) + 0.8), squeeze=False,
                             constrained_layout=True)
    ymax = 1.0
    for i, n in enumerate(noises):
        for r in _seeds(runs, n):
            cv = curves(r)
            for split in ("train", "test"):
                d = cv.train if split == "train" else cv.test
                m = cv.m_train if split == "train" else cv.m_test
                lab = f"{split} sample (m = {m:,})" if r is _seeds(runs, n)[0] else None
                axes[i][0].plot(cv.step, d["ratio"], lw=1.3, alpha=0.85, label=lab, **SPLIT_STYLE[split])
                axes[i][1].plot(cv.train["loss"], d["ratio"], lw=1.3, alpha=0.85, marker=".", ms=3, label=lab,
                                **SPLIT_STYLE[split])
                ymax = max(ymax, float(np.nanmax(d["ratio"])))
        axes[i][0].set_xscale("symlog", linthresh=1)
        axes[i][0].set_xlabel("training step")
        axes[i][1].set_xlabel("training loss (train sample)")
        axes[i][1].invert_xaxis()
        for ax in axes[i]:
            ax.set_yscale("log")
            ax.axhline(1, color="0.5", lw=0.8, ls=":")
            ax.set_title(NOISE_NAME.get(n, f"{n:.0%} noise"))
            ax.grid(alpha=0.3, which="both")
        axes[i][0].set_ylabel(r"$\alpha/\alpha_\perp$ (m-coherence)")
    for ax in axes.flat:
        ax.set_ylim(0.1, ymax * 1.5)
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncol=2)
    fig.suptitle(title)
    return fig


def _pick_layers(names: Sequence[str]) -> list[int]:
    n = len(names)
    return sorted({0, n // 2, n - 1}) if n > 2 else list(range(n))


def layer_figure(runs: dict[tuple[float, int], RunResult], title: str, split: str = "train") -> plt.Figure:
    """Per-layer m-coherence (m * alpha of the layer's parameters) for the first, a middle and the
    last layer (as many of those as the model has), real (solid) vs random (dashed) labels, on the
    train sample; seed 0's run."""
    first = next(iter(runs.values()))
    names = curves(first).layers
    idx = _pick_layers(names)
    pos = {3: ["first", "middle", "last"], 2: ["first", "last"], 1: ["only"]}.get(len(idx), [str(j) for j in idx])
    fig, axes = plt.subplots(1, len(idx), figsize=(panel_width(len(idx)), 3.6), squeeze=False,
                             constrained_layout=True, sharey=True)
    for ax, j in zip(axes[0], idx):
        for n in sorted({n for n, _ in runs}):
            r = _seeds(runs, n)[0]
            cv = curves(r)
            d = cv.train if split == "train" else cv.test
            m = cv.m_train if split == "train" else cv.m_test
            key = f"layer{j:03d}"
            ax.plot(cv.step, m * d[f"{key}_alpha"], label=NOISE_NAME.get(n, f"{n:.0%}"),
                    **NOISE_STYLE.get(n, dict(color="0.4", ls=":")))
        ax.set_xscale("symlog", linthresh=1)
        ax.set_yscale("log")
        ax.axhline(1, color="0.5", lw=0.8, ls=":")
        ax.set_title(f"{pos[idx.index(j)]} layer: {names[j] or '(top)'}")
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel(r"layer $m\,\alpha_\ell$ (" + split + " sample)")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncol=2)
    # the caller's title may name three layers; say which ones are shown
    shown = ", ".join(pos) + (" layer" if len(pos) == 1 else " layers")
    fig.suptitle(title.replace("first, middle, last layer", shown))
    return fig


def theorem1_table(runs: dict[tuple[float, int], RunResult]) -> pd.DataFrame:
    """Per run: Theorem 1's coherence term (train- and test-sample alpha) next to the measured gaps."""
    rows: list[dict[str, Any]] = []
    for (n, s), r in sorted(runs.items()):
        cv = curves(r)
        ga, gl = measured_gap(r)
        rows.append({"labels": "real" if n == 0 else ("random" if n == 1 else f"{n:.0%} noise"), "seed": s,
                     "sum eta_t sqrt(2(1-alpha_t)), train-sample alpha": round(theorem1_term(cv, "train"), 3),
                     "same, test-sample alpha": round(theorem1_term(cv, "test"), 3),
                     "mean alpha (train sample)": float(np.nanmean(cv.train["alpha"])),
                     "gap: train - test accuracy": round(ga, 4), "gap: test - train loss": round(gl, 4)})
    return pd.DataFrame(rows)


def fig3_stamp(profile: str, runs_by_seed: dict[int, dict[tuple[str, float], RunResult]], arch: str) -> str:
    runs = [r for by in runs_by_seed.values() for (a, _), r in by.items() if a == arch]
    seeds = sorted(s for s, by in runs_by_seed.items() if any(a == arch for a, _ in by))
    commits = sorted({(r.provenance.get("commit") or "?")[:7] for r in runs})
    return (run_stamp(profile, runs) if arch == "mlp" else ws_stamp(profile, runs)) + \
        f" | seeds {seeds} | run commits {', '.join(commits)}"


def fig3_profile_line(profile: str, runs_by_seed: dict[int, dict[tuple[str, float], RunResult]]) -> str:
    """Markdown: per architecture, the data, model, length, coherence sample sizes and seeds."""
    parts = [f"**profile: {profile}**"]
    first = runs_by_seed[min(runs_by_seed)]
    for (a, n), r in sorted(first.items()):
        if n != 0.0:
            continue
        seeds = sorted(s for s, by in runs_by_seed.items() if (a, n) in by)
        c = r.config
        length = f"{c['steps']:,} steps, batch {c['batch_size']}, lr {c['lr']}" if a == "mlp" else (
            f"{c['epochs']} epochs, batch {c['batch_size']}, lr {c['lr']} ({c['schedule']}), momentum {c['momentum']}")
        model = f"MLP 784-{'-'.join(map(str, c['hidden']))}-10" if a == "mlp" else f"`{c['model']}`"
        parts.append(f"{a}: {model} on {r.provenance.get('data')}, {length}; coherence on {c['m_train']:,} train / "
                     f"{c['m_test']:,} test examples; seeds {', '.join(map(str, seeds))}")
    return " | ".join(parts)


# ----------------------------------------------------------------------------- explorer view
def _view_coherence(run: RunResult, axes: Any) -> dict[str, Any]:
    """Figure 3's quantities for one run: alpha/alpha_perp on the train and test samples, and each
    layer's m * alpha (train sample), against the training step."""
    cv = curves(run)
    for split, d, m in (("train", cv.train, cv.m_train), ("test", cv.test, cv.m_test)):
        axes[0].plot(cv.step, d["ratio"], label=f"{split} sample (m = {m:,})", **SPLIT_STYLE[split])
    axes[0].set_title(r"coherence $\alpha/\alpha_\perp$")
    for j, name in enumerate(cv.layers):
        axes[1].plot(cv.step, cv.m_train * cv.train[f"layer{j:03d}_alpha"], label=name or "(top)")
    axes[1].set_title(r"per layer: $m\,\alpha_\ell$ (train sample)")
    for ax in axes:
        ax.set_xscale("symlog", linthresh=1)
        ax.set_yscale("log")
        ax.axhline(1, color="0.5", lw=0.8, ls=":")
        ax.set_xlabel("training step")
        ax.legend(ncol=1 if len(ax.lines) < 5 else 2)
    ga, gl = measured_gap(run)
    return {"mean alpha (train sample)": float(np.nanmean(cv.train["alpha"])),
            "final alpha/alpha_perp (train sample)": float(cv.train["ratio"][-1]),
            "gap: train - test accuracy": ga, "gap: test - train loss": gl}


def _register_views() -> None:
    from cgh_lib.book.explorer import panel_view, register_view

    register_view(panel_view(_view_coherence), "gm-fig3")


_register_views()
