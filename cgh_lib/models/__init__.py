"""Models layer: CG2020 MLPs (single and stacked) and the WS vision models."""

from cgh_lib.models.mlp import (  # noqa: F401
    INITS,
    init_std,
    layer_sizes,
    mlp,
    StackedMLP,
)
from cgh_lib.models.vision import (  # noqa: F401
    CifarResNet,
    SmallCNN,
    MODEL_NAMES,
    MIN_INPUT_SIDE,
    input_size,
    build_vision_model,
    count_parameters,
)
