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
FIGURES.update({f.id: f for f in [  # WS paper (issue #4)
    Figure("ws-fig1", "notebooks/ws_fig1_label_noise_resnet18.ipynb",
           "WS Figure 1: label noise on ImageNet, ResNet-18", "WS §2"),
    Figure("ws-fig2", "notebooks/ws_fig2_rm3_ra3_m3.ipynb",
           "WS Figure 2: RM3, RA3 and M3 vs SGD", "WS §3.3"),
    Figure("ws-fig3", "notebooks/ws_fig3_pristine_corrupt_aggregators.ipynb",
           "WS Figure 3: pristine vs corrupt under SGD, RA3, M3, RM3", "WS §3.3"),
    Figure("ws-fig6", "notebooks/ws_fig6_label_noise_inception.ipynb",
           "WS Figure 6: label noise on ImageNet, Inception-V3", "WS Appendix A"),
    Figure("ws-fig7", "notebooks/ws_fig7_label_noise_vgg13.ipynb",
           "WS Figure 7: label noise on ImageNet, VGG-13", "WS Appendix A"),
    Figure("ws-fig8", "notebooks/ws_fig8_winsorization_cifar10.ipynb",
           "WS Figure 8: winsorization on CIFAR-10, ResNet-32", "WS Appendix B"),
]})


def get_figure(fig_id: str) -> Figure:
    if fig_id not in FIGURES:
        raise choice_error("figure", fig_id, FIGURES)
    return FIGURES[fig_id]
