"""CG2020, "Coherent Gradients" (ICLR 2020): Figures 1-4 on MNIST MLPs.

- `fig1_label_noise`: §2.1-2.3, training on 0-100% label noise (Figure 1)
- `figs23_loss_reduction`: §2.4, who reduces the loss, pristine or corrupt (Figures 2, 3)
- `fig4_winsorized`: §3, suppressing weak directions by winsorization (Figure 4)
- `claims`: the paper's statements, checked on the stored runs (`cgh claims`)
- `mlp_config`: the checks the three MLP experiments share; `plots`: their figures
"""

from cgh_lib.book.registry import Figure, register_figure
from cgh_lib.store.experiments import default_seeds
from cgh_lib.papers.cg2020 import fig1_label_noise, fig4_winsorized, figs23_loss_reduction  # noqa: F401  (registers)
from cgh_lib.papers.cg2020 import claims  # noqa: F401  (registers the figures' claims)


def _seeds(configs, seeds=default_seeds):
    """A figure's configs for every seed of the profile (what `cgh book` and the committed-runs test check)."""
    return lambda profile: [c for s in seeds(profile) for c in configs(profile, overrides={"seed": s})]


# what each notebook runs with its parameters (see the notebooks' first cells)
def _each_seed(profile: str, p: dict, seeds=default_seeds) -> list[int]:
    return list(p.get("seeds") or seeds(profile))


def _plan_fig1(profile: str, p: dict) -> list:
    return [c for s in _each_seed(profile, p)
            for c in fig1_label_noise.figure1_configs(profile, p["noise_levels"], {**p["overrides"], "seed": s})]


def _plan_figs23(profile: str, p: dict) -> list:
    over = dict(p["overrides"], **({"estimator": p["estimator"]} if p["estimator"] else {}))
    return [c for s in _each_seed(profile, p)
            for c in figs23_loss_reduction.figure_configs(profile, p["noise_levels"], {**over, "seed": s})]


def _plan_fig4(profile: str, p: dict) -> list:
    return [c for s in _each_seed(profile, p, fig4_winsorized.figure_seeds)
            for c in fig4_winsorized.grid_configs(profile, p["noise_levels"], p["c_levels"],
                                                  {**p["overrides"], "seed": s})]


register_figure(
    Figure("cg2020-fig1", "notebooks/cg2020_fig1_label_noise.md",
           "CG2020 Fig. 1 — label noise", "CG2020 §2.1-2.3",
           _seeds(fig1_label_noise.figure1_configs), _plan_fig1),
    Figure("cg2020-fig2", "notebooks/cg2020_fig2_loss_reduction.md",
           "CG2020 Fig. 2 — who reduces the loss", "CG2020 §2.4",
           _seeds(figs23_loss_reduction.figure_configs), _plan_figs23),
    Figure("cg2020-fig3", "notebooks/cg2020_fig3_contributions.md",
           "CG2020 Fig. 3 — per-example contributions", "CG2020 §2.4",
           _seeds(figs23_loss_reduction.figure_configs), _plan_figs23),
    Figure("cg2020-fig4", "notebooks/cg2020_fig4_winsorized.md",
           "CG2020 Fig. 4 — winsorized gradients", "CG2020 §3",
           _seeds(fig4_winsorized.grid_configs, fig4_winsorized.figure_seeds), _plan_fig4,
           fig4_winsorized.figure_seeds),
)
