"""WS, "Weak and strong gradient directions": Figures 1-3 and 6-8, the RM3 mini-batch sweep, and §4
(Figures 4, 5(a), the §4.4 table).

- `experiments`: the three experiments (label noise, aggregators M3/RM3/RA3, winsorization)
- `plots`: their figures
- `claims`: the paper's statements about Figures 1-3, 6-8 and the RM3 sweep, checked on the stored runs
- `easy_hard`: §4's easy / hard examples (classification to 50%, e/h training, difficulty), `easy_hard_plots`,
  `easy_hard_claims` (their claims, through `cgh_lib.book.claims`)
"""

from cgh_lib.book.registry import Figure, register_figure
from cgh_lib.papers.ws import easy_hard, experiments  # registers the experiments
from cgh_lib.papers.ws import easy_hard_claims  # noqa: F401  (registers WS §4's claims)
from cgh_lib.store.experiments import default_seeds


def _configs(fig_id: str):
    """Every config the figure shows at a profile: its runs for each of the profile's seeds."""
    return lambda profile: [c for s in default_seeds(profile)
                            for c in experiments.figure_configs(fig_id, profile, {"seed": s}).values()]


def _rm3_batch_configs(profile: str):
    return [c for s in default_seeds(profile) for c in experiments.rm3_batch_configs(profile, {"seed": s}).values()]


def _plan(fig_id: str):  # what the notebook runs with its parameters (every seed it shows)
    return lambda profile, p: [c for s in (p.get("seeds") or default_seeds(profile))
                               for c in experiments.figure_configs(fig_id, profile,
                                                                   {**p["overrides"], "seed": s}).values()]


def _rm3_batch_plan(profile: str, p: dict) -> list:
    return [c for s in (p.get("seeds") or default_seeds(profile))
            for c in experiments.rm3_batch_configs(profile, {**p["overrides"], "seed": s}, p.get("batches")).values()]


def _eh_configs(fig_id: str):  # every seed's runs (shared classifications once)
    return lambda profile: easy_hard.figure_plan(fig_id, profile, {})


def _eh_plan(fig_id: str):
    return lambda profile, p: easy_hard.figure_plan(fig_id, profile, p)


register_figure(
    Figure("ws-fig1", "notebooks/ws_fig1_label_noise_resnet18.md",
           "WS Fig. 1 — label noise, ResNet-18", "WS §2", _configs("ws-fig1"), _plan("ws-fig1")),
    Figure("ws-fig2", "notebooks/ws_fig2_rm3_ra3_m3.md",
           "WS Fig. 2 — RM3, RA3 and M3 vs SGD", "WS §3.3", _configs("ws-fig2"),
           _plan("ws-fig2")),
    Figure("ws-fig3", "notebooks/ws_fig3_pristine_corrupt_aggregators.md",
           "WS Fig. 3 — pristine vs corrupt, by aggregator", "WS §3.3",
           _configs("ws-fig3"), _plan("ws-fig3")),
    Figure("ws-rm3-batch", "notebooks/ws_rm3_batch_size.md",
           "WS §3.3 — RM3's mini-batch size", "WS §3.3", _rm3_batch_configs,
           _rm3_batch_plan),
    Figure("ws-fig4", "notebooks/ws_fig4_easy_hard.md",
           "WS Fig. 4 — easy vs hard examples", "WS §4.2", _eh_configs("ws-fig4"), _eh_plan("ws-fig4")),
    Figure("ws-fig5a", "notebooks/ws_fig5a_difficulty.md",
           "WS Fig. 5(a) — accuracy by difficulty", "WS §4.3", _eh_configs("ws-fig5a"),
           _eh_plan("ws-fig5a")),
    Figure("ws-tab44", "notebooks/ws_tab44_cross_evaluation.md",
           "WS §4.4 — easy/hard cross-evaluation", "WS §4.4", _eh_configs("ws-tab44"), _eh_plan("ws-tab44")),
    Figure("ws-fig6", "notebooks/ws_fig6_label_noise_inception.md",
           "WS Fig. 6 — label noise, Inception-V3", "WS Appendix A", _configs("ws-fig6"), _plan("ws-fig6")),
    Figure("ws-fig7", "notebooks/ws_fig7_label_noise_vgg13.md",
           "WS Fig. 7 — label noise, VGG-13", "WS Appendix A", _configs("ws-fig7"), _plan("ws-fig7")),
    Figure("ws-fig8", "notebooks/ws_fig8_winsorization_cifar10.md",
           "WS Fig. 8 — winsorization", "WS Appendix B", _configs("ws-fig8"),
           _plan("ws-fig8")),
)

from cgh_lib.papers.ws import claims  # noqa: E402,F401  (registers the figures' claims)
