"""Gradients layer: per-example gradients (incl. through a shared BatchNorm forward), robust
aggregators (winsorized mean, M3 / RM3 / RA3) and gradient statistics (incl. GM2022 coherence)."""

from cgh_lib.grads.aggregators import (  # noqa: F401
    WINSORIZE_KERNELS,
    KERNEL_ENV,
    winsorize_kernel,
    winsorized_mean,
    winsorized_mean_reference,
    median_of_three,
    Aggregator,
    SGDAggregator,
    WinsorizedAggregator,
    M3_MODES,
    M3Aggregator,
    WARMUPS,
    RM3Aggregator,
    RA3Aggregator,
    AGGREGATORS,
    make_aggregator,
)
from cgh_lib.grads.batchnorm import (  # noqa: F401
    has_batchnorm,
    per_example_grads_shared_forward,
    BNWinsorizedAggregator,
)
from cgh_lib.grads.coherence import (  # noqa: F401
    COHERENCE_METHODS,
    Coherence,
    CoherenceAccumulator,
    LayerCoherence,
    coherence,
    coherence_of_vectors,
    stylized_minibatch_alpha,
)
from cgh_lib.grads.per_example import (  # noqa: F401
    METHODS,
    unwrap,
    per_example_losses,
    linear_fast_path_ok,
    LinearFactors,
    linear_factors,
    per_group_grads,
    per_example_grads_with_loss,
    per_example_grads,
    flatten_grads,
)
from cgh_lib.grads.pristine_corrupt import (  # noqa: F401
    fractions_from_inner,
    inner_products,
    pristine_corrupt_fractions,
    model_inner_products,
    model_fractions,
    GradIndex,
    GradSample,
    choose_grad_sample,
    gather_grad_sample,
    subsample_grads,
    cumulative_contributions,
    null_world_masks,
)
