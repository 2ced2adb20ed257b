"""Training layer: the in-memory stacked trainer, the DataLoader/DDP trainer, evaluation schedules."""

from cgh_lib.train.distributed import (  # noqa: F401
    DistContext,
    setup_distributed,
    cleanup_distributed,
    wrap_model,
    unwrap_model,
    per_rank_batch_size,
    train_sampler,
    ShardSampler,
    all_reduce_sum,
)
from cgh_lib.train.divergence import (  # noqa: F401
    EXPLODE_FACTOR,
    check_loss,
    divergence_reason,
)
from cgh_lib.train.eval_schedule import (  # noqa: F401
    EVAL_SCHEDULES,
    eval_steps,
)
from cgh_lib.train.example_dump import (  # noqa: F401
    predict_per_example,
    correct_per_example,
    pack_mask,
    unpack_mask,
)
from cgh_lib.train.loader import (  # noqa: F401
    LR_SCHEDULES,
    CHECKPOINT_FORMAT,
    GradientAggregator,
    MeanGradient,
    LoaderTrainConfig,
    lr_at,
    evaluate,
    save_checkpoint,
    load_checkpoint,
    train_with_loader,
    stop_reached,
)
from cgh_lib.train.stacked import (  # noqa: F401
    METRICS,
    Member,
    StackSpec,
    Timing,
    mean_gradient,
    forward_deltas,
    sgd_step,
    drive,
    train_stack,
)
