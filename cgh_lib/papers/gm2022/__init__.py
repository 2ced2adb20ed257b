"""GM2022, "On the Generalization Mystery in Deep Learning" (Chatterjee & Zielinski, 2022).

- `example`: §3's illustrative example (6-weight linear model) and the interactive figure
- `experiments`: coherence during training, real vs random labels (MLP, CNN; Theorem 1's term)
- `plots`, `claims`: the figures and the paper's claims checked on the runs
"""

from cgh_lib.book.registry import Figure, register_figure
from cgh_lib.papers.gm2022 import experiments  # noqa: F401  (registers the experiments)
