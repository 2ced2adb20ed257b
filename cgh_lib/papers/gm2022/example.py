"""GM2022 §3, "An Illustrative Example", and the idea of blog Figures 1-2.

The model is linear, y_hat = w . x with w in R^6, squared loss (y - y_hat)^2 / 2, plain full-batch GD
from w = 0. Five examples, x_i = y_i (e_i + s e_6) with labels y = (+1, -1, -1, +1, -1): coordinate 6
is a feature shared by all examples and equal to the label ("real", s = 1) or absent ("random",
s = 0: nothing in common); coordinates 1-5 are one idiosyncratic feature per example. Train on the
first 4, test on the 5th.

On real data every example's gradient pushes w_6, so GD moves w_6 most and converges to the
minimum-norm interpolant (0.2, 0.2, 0.2, 0.2, 0, 0.8), test squared error 0.04; on random data the
gradients are orthogonal (alpha / alpha_perp = 1), w_6 never moves and GD memorizes with
(1, 1, 1, 1, 0, 0), test error 1.0. These values come from the reproduction notes' derivation [D],
not from the paper's text, which we have not seen; the tests check them.

The interactive part (blog Figs. 1-2): k examples whose gradients are g_j = s u + i e_j, a shared
direction u and orthogonal idiosyncratic ones e_j. The average step is s u + (i/k) sum e_j, so the
shared part survives averaging while each idiosyncratic part shrinks by k, and
alpha / alpha_perp = (k s^2 + i^2) / (s^2 + i^2), from 1 (nothing shared) to k (all shared).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from cgh_lib.errors import UserError
from cgh_lib.grads.coherence import coherence

LABELS = (1.0, -1.0, -1.0, 1.0, -1.0)
DATASETS = ("real", "random")


def example_data(kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(X [5, 6], y [5]) of §3: x_i = y_i (e_i + e_6) for 'real', y_i e_i for 'random'."""
    if kind not in DATASETS:
        raise UserError(f"dataset {kind!r} is not one of the §3 example's; accepted: {', '.join(DATASETS)}")
    y = torch.tensor(LABELS, dtype=torch.float64)
    x = torch.zeros(5, 6, dtype=torch.float64)
    for i in range(5):
        x[i, i] = 1.0
        if kind == "real":
            x[i, 5] = 1.0
    return x * y[:, None], y


def _sq_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 0.5 * (out - y) ** 2


@dataclass
class GDTrace:
    kind: str
    steps: np.ndarray      # [T+1]
    w: np.ndarray          # [T+1, 6]
    ratio: np.ndarray      # alpha / alpha_perp of the 4 training gradients at each step
    train_loss: np.ndarray  # mean squared error / 2
    test_error: np.ndarray  # (y_5 - y_hat_5)^2


class _Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 1, bias=False).double()
        nn.init.zeros_(self.lin.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x).squeeze(1)


def train_gd(kind: str, lr: float = 0.5, steps: int = 100) -> GDTrace:
    """Full-batch GD on the mean loss over the 4 training examples, from w = 0.

    The measured ratio comes from `grads.coherence` (the library's metric), not a formula.
    """
    if not lr > 0 or steps < 1:
        raise UserError(f"lr={lr!r} and steps={steps!r} are invalid; accepted: lr > 0 and steps >= 1")
    x, y = example_data(kind)
    xt, yt, xv, yv = x[:4], y[:4], x[4:], y[4:]
    model = _Linear()
    ws, ratios, losses, tests = [], [], [], []
    for t in range(steps + 1):
        with torch.no_grad():
            ws.append(model.lin.weight[0].clone().numpy())
            losses.append(float(_sq_loss(model(xt), yt).mean()))
            tests.append(float(((model(xv) - yv) ** 2).item()))
        c = coherence(model, xt, yt, loss_fn=_sq_loss)
        ratios.append(c.ratio)
        if t == steps:
            break
        model.zero_grad()
        _sq_loss(model(xt), yt).mean().backward()
        with torch.no_grad():
            model.lin.weight -= lr * model.lin.weight.grad
    return GDTrace(kind, np.arange(steps + 1), np.array(ws), np.array(ratios), np.array(losses), np.array(tests))


def example_figure(traces: dict[str, GDTrace], title: str) -> plt.Figure:
    """Weights, alpha / alpha_perp and test error along GD, real vs random."""
    from cgh_lib.book.plotting import GROUP_COLORS, panel_width

    fig, axes = plt.subplots(1, 3, figsize=(panel_width(3), 3.9), constrained_layout=True)
    colors = {"real": GROUP_COLORS["pristine"], "random": GROUP_COLORS["corrupt"]}
    for kind, tr in traces.items():
        c = colors[kind]
        axes[0].plot(tr.steps, tr.w[:, 0], color=c, label=f"{kind}: w_1 (= w_2..w_4, idiosyncratic)")
        axes[0].plot(tr.steps, tr.w[:, 5], color=c, ls="--", label=f"{kind}: w_6 (shared feature)")
        axes[1].plot(tr.steps, tr.ratio, color=c, label=kind)
        axes[2].plot(tr.steps, tr.test_error, color=c, label=kind)
    axes[0].set_title("(a) weights")
    axes[1].set_title(r"(b) coherence $\alpha/\alpha_\perp$")
    axes[1].axhline(1, color="0.5", lw=0.8, ls=":")
    axes[2].set_title("(c) test error, example 5")
    for ax, tr in zip(axes, [next(iter(traces.values()))] * 3):
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(0, tr.steps[-1])  # no negative steps (a "-10^0" tick)
        ax.set_xlabel("GD step")
        ax.grid(alpha=0.3)
    axes[1].legend()
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=2)
    fig.suptitle(title)
    return fig


def example_rows(traces: dict[str, GDTrace]) -> list[dict[str, str]]:
    """The §3 numbers, measured: ratio at init, final w, test error."""
    rows = []
    for kind, tr in traces.items():
        rows.append({"data": kind, "alpha/alpha_perp at init": f"{tr.ratio[0]:.3f}",
                     "final w": "(" + ", ".join(f"{v:.3f}" for v in tr.w[-1]) + ")",
                     "final test error": f"{tr.test_error[-1]:.4f}",
                     "final train loss": f"{tr.train_loss[-1]:.2e}"})
    return rows


# ------------------------------------------------------------------ interactive: blog Figs 1-2
def toy_ratio(shared: float, idio: float, k: int) -> float:
    """alpha / alpha_perp of g_j = shared u + idio e_j, j = 1..k (orthonormal u, e_j)."""
    g = np.zeros((k, k + 1))
    g[:, 0] = shared
    g[np.arange(k), np.arange(1, k + 1)] = idio
    q = float((g ** 2).sum())
    return float((g.sum(0) ** 2).sum() / q) if q > 0 else float("nan")


def toy_view(frac: float, k: int, dpi: int = 72) -> plt.Figure:
    """One precomputed state: shared part `frac`, idiosyncratic part 1 - frac."""
    s, i = frac, 1 - frac
    g = np.zeros((k, k + 1))
    g[:, 0] = s
    g[np.arange(k), np.arange(1, k + 1)] = i
    mean = g.mean(0)
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 2.8), dpi=dpi, gridspec_kw={"width_ratios": [3, 2]})
    xs = np.arange(k + 1)
    width = 0.8 / (k + 1)
    for j in range(k):
        a.bar(xs + (j - k / 2) * width, g[j], width, color=plt.cm.tab10(j % 10), alpha=0.6,
              label=f"example {j + 1}" if k <= 4 else None)
    a.plot(xs, mean, "k_", ms=22, mew=3, label="average (the GD step)")
    a.set_xticks(xs, ["shared u"] + [f"own e{j + 1}" for j in range(k)], fontsize=7)
    a.set_ylim(0, 1.05)
    a.set_title(f"{k} per-example gradients: shared {s:.1f}, idiosyncratic {i:.1f}", fontsize=9)
    a.legend(fontsize=6, loc="upper right")
    fr = np.linspace(0, 1, 101)
    b.plot(fr, [toy_ratio(f, 1 - f, k) for f in fr], color="0.4")
    b.plot([frac], [toy_ratio(s, i, k)], "o", color="tab:blue")
    b.set_xlabel("shared part (idiosyncratic = 1 - shared)", fontsize=8)
    b.set_title(rf"$\alpha/\alpha_\perp$ = {toy_ratio(s, i, k):.2f} (range 1 to {k})", fontsize=9)
    b.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


FRACTIONS = tuple(round(0.1 * j, 1) for j in range(11))


def interactive_toy(ks: Sequence[int] = (2, 5), fractions: Sequence[float] = FRACTIONS):
    """ipywidgets: a Tab per k, each a slider jslinked (client side) to a Stack of precomputed
    images. Works live in Jupyter and in a static page with the widget state (no kernel)."""
    import ipywidgets as w

    tabs, links = [], []
    for k in ks:
        imgs = [w.Image(value=_png(toy_view(f, k)), format="png") for f in fractions]
        stack = w.Stack(imgs, selected_index=len(fractions) // 2)
        slider = w.IntSlider(value=len(fractions) // 2, min=0, max=len(fractions) - 1,
                             description="shared x10", readout=True)
        links.append(w.jslink((slider, "value"), (stack, "selected_index")))
        tabs.append(w.VBox([slider, stack]))
    tab = w.Tab(tabs)
    for j, k in enumerate(ks):
        tab.set_title(j, f"k = {k} examples")
    tab.links = links  # the client-side links (kept referenced; tests inspect them)
    return tab


def toy_small_multiples(k: int = 2, fractions: Sequence[float] = (0.0, 0.5, 1.0)) -> plt.Figure:
    """A static version of the slider for readers without widget JavaScript."""
    fig, axes = plt.subplots(1, len(fractions), figsize=(4 * len(fractions), 3))
    for ax, f in zip(axes, fractions):
        g = np.zeros((k, k + 1))
        g[:, 0] = f
        g[np.arange(k), np.arange(1, k + 1)] = 1 - f
        xs = np.arange(k + 1)
        for j in range(k):
            ax.bar(xs + (j - k / 2) * 0.3, g[j], 0.3, alpha=0.6, label=f"example {j + 1}")
        ax.plot(xs, g.mean(0), "k_", ms=22, mew=3, label="average")
        ax.set_xticks(xs, ["shared"] + [f"own {j + 1}" for j in range(k)])
        ax.set_ylim(0, 1.05)
        ax.set_title(rf"shared {f:.1f}: $\alpha/\alpha_\perp$ = {toy_ratio(f, 1 - f, k):.2f}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def png_data_uri(fig: plt.Figure) -> str:
    return "data:image/png;base64," + base64.b64encode(_png(fig)).decode()

