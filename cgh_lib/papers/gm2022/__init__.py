"""GM2022, "On the Generalization Mystery in Deep Learning" (Chatterjee & Zielinski, 2022).

- `example`: §3's illustrative example (6-weight linear model) and the interactive blog Figs. 1-2
- `experiments`: coherence during training, real vs random labels (MLP, CNN; Theorem 1's term);
  Figure 4's configs (M3 vs SGD at 50% noise, WS machinery)
- `plots`, `claims`: the figures and the paper's claims checked on the runs
"""

from cgh_lib.book.registry import Figure, register_figure
from cgh_lib.papers.gm2022 import (
    claims,  # noqa: F401  (registers the claims)
    experiments,  # registers the experiments
)

register_figure(
    Figure("gm-fig1", "notebooks/gm_fig1_illustrative_example.md",
           "GM2022 §3 — the illustrative example", "GM2022 §3, blog Figs. 1-2",
           lambda profile: []),
    Figure("gm-fig3", "notebooks/gm_fig3_coherence_real_random.md",
           "GM2022 blog Fig. 3 — coherence, real vs random", "GM2022 blog Fig. 3, Theorem 1",
           experiments.figure3_configs),
    Figure("gm-fig4", "notebooks/gm_fig4_m3_vs_sgd.md",
           "GM2022 blog Fig. 4 — M3 vs SGD", "GM2022 blog Fig. 4",
           lambda profile: experiments.fig4_plan(profile, {}), experiments.fig4_plan),
)
