"""WS, "Weak and strong gradient directions": Figures 1-3 and 6-8, and §4 (Figures 4, 5(a), the §4.4 table).

- `experiments`: the three experiments (label noise, aggregators M3/RM3/RA3, winsorization)
- `plots`: their figures
- `easy_hard`: §4's easy / hard examples (classification to 50%, e/h training, difficulty), `easy_hard_plots`,
  `easy_hard_claims` (their claims, through `cgh_lib.book.claims`)
"""

from cgh_lib.book.registry import Figure, register_figure
from cgh_lib.papers.ws import easy_hard, experiments  # registers the experiments
from cgh_lib.papers.ws import easy_hard_claims  # noqa: F401  (registers WS §4's claims)


def _configs(fig_id: str):
    return lambda profile: list(experiments.figure_configs(fig_id, profile).values())


def _eh_configs(fig_id: str):
    return lambda profile: list(easy_hard.figure_configs(fig_id, profile).values())


register_figure(
    Figure("ws-fig1", "notebooks/ws_fig1_label_noise_resnet18.ipynb",
           "WS Figure 1: label noise on ImageNet, ResNet-18", "WS §2", _configs("ws-fig1")),
    Figure("ws-fig2", "notebooks/ws_fig2_rm3_ra3_m3.ipynb",
           "WS Figure 2: RM3, RA3 and M3 vs SGD", "WS §3.3", _configs("ws-fig2")),
    Figure("ws-fig3", "notebooks/ws_fig3_pristine_corrupt_aggregators.ipynb",
           "WS Figure 3: pristine vs corrupt under SGD, RA3, M3, RM3", "WS §3.3", _configs("ws-fig3")),
    Figure("ws-fig4", "notebooks/ws_fig4_easy_hard.ipynb",
           "WS Figure 4: easy and hard examples, ResNet-18", "WS §4.2", _eh_configs("ws-fig4")),
    Figure("ws-fig5a", "notebooks/ws_fig5a_difficulty.ipynb",
           "WS Figure 5(a): RM3 training accuracy by difficulty", "WS §4.3", _eh_configs("ws-fig5a")),
    Figure("ws-tab44", "notebooks/ws_tab44_cross_evaluation.ipynb",
           "WS §4.4: easy and hard cross-evaluation", "WS §4.4", _eh_configs("ws-tab44")),
    Figure("ws-fig6", "notebooks/ws_fig6_label_noise_inception.ipynb",
           "WS Figure 6: label noise on ImageNet, Inception-V3", "WS Appendix A", _configs("ws-fig6")),
    Figure("ws-fig7", "notebooks/ws_fig7_label_noise_vgg13.ipynb",
           "WS Figure 7: label noise on ImageNet, VGG-13", "WS Appendix A", _configs("ws-fig7")),
    Figure("ws-fig8", "notebooks/ws_fig8_winsorization_cifar10.ipynb",
           "WS Figure 8: winsorization on CIFAR-10, ResNet-32", "WS Appendix B", _configs("ws-fig8")),
)
