"""CG2020, "Coherent Gradients" (ICLR 2020): Figures 1-4 on MNIST MLPs.

- `fig1_label_noise`: §2.1-2.3, training on 0-100% label noise (Figure 1)
- `figs23_loss_reduction`: §2.4, who reduces the loss, pristine or corrupt (Figures 2, 3)
- `fig4_winsorized`: §3, suppressing weak directions by winsorization (Figure 4)
- `mlp_config`: the checks the three MLP experiments share; `plots`: their figures
"""

from cgh_lib.book.registry import Figure, register_figure
from cgh_lib.papers.cg2020 import fig1_label_noise, fig4_winsorized, figs23_loss_reduction  # noqa: F401  (registers)


# what each notebook runs with its parameters (see the notebooks' first cells)
def _plan_fig1(profile: str, p: dict) -> list:
    return fig1_label_noise.figure1_configs(profile, p["noise_levels"], p["overrides"])


def _plan_figs23(profile: str, p: dict) -> list:
    over = dict(p["overrides"], **({"estimator": p["estimator"]} if p["estimator"] else {}))
    return figs23_loss_reduction.figure_configs(profile, p["noise_levels"], over)


def _plan_fig4(profile: str, p: dict) -> list:
    return fig4_winsorized.grid_configs(profile, p["noise_levels"], p["c_levels"], p["overrides"])


register_figure(
    Figure("cg2020-fig1", "notebooks/cg2020_fig1_label_noise.ipynb",
           "CG2020 Figure 1: label noise on MNIST", "CG2020 §2.1-2.3",
           fig1_label_noise.figure1_configs, _plan_fig1),
    Figure("cg2020-fig2", "notebooks/cg2020_fig2_loss_reduction.ipynb",
           "CG2020 Figure 2: pristine vs corrupt share of the loss reduction", "CG2020 §2.4",
           figs23_loss_reduction.figure_configs, _plan_figs23),
    Figure("cg2020-fig3", "notebooks/cg2020_fig3_contributions.ipynb",
           "CG2020 Figure 3: per-example cumulative contributions", "CG2020 §2.4",
           figs23_loss_reduction.figure_configs, _plan_figs23),
    Figure("cg2020-fig4", "notebooks/cg2020_fig4_winsorized.ipynb",
           "CG2020 Figure 4: winsorized gradients", "CG2020 §3",
           fig4_winsorized.grid_configs, _plan_fig4),
)
