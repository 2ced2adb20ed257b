"""The figure registry: every paper figure and the notebook that reproduces it."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import choice_error
from .provenance import REPO_ROOT


@dataclass(frozen=True)
class Figure:
    id: str
    notebook: str  # path relative to the repo root
    title: str
    paper: str     # which paper section

    @property
    def source(self):
        return REPO_ROOT / self.notebook

    @property
    def stem(self) -> str:
        return self.source.stem


FIGURES: dict[str, Figure] = {f.id: f for f in [
    Figure("cg2020-fig1", "notebooks/cg2020_fig1_label_noise.ipynb",
           "CG2020 Figure 1: label noise on MNIST", "CG2020 §2.1-2.3"),
    Figure("cg2020-fig2", "notebooks/cg2020_fig2_loss_reduction.ipynb",
           "CG2020 Figure 2: pristine vs corrupt share of the loss reduction", "CG2020 §2.4"),
    Figure("cg2020-fig3", "notebooks/cg2020_fig3_contributions.ipynb",
           "CG2020 Figure 3: per-example cumulative contributions", "CG2020 §2.4"),
    Figure("cg2020-fig4", "notebooks/cg2020_fig4_winsorized.ipynb",
           "CG2020 Figure 4: winsorized gradients", "CG2020 §3"),
]}


def get_figure(fig_id: str) -> Figure:
    if fig_id not in FIGURES:
        raise choice_error("figure", fig_id, FIGURES)
    return FIGURES[fig_id]
