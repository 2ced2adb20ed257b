"""Data layer: in-memory tensor datasets (MNIST, Fashion-MNIST, generated smoke data), image datasets
(ImageFolder, CIFAR-10) and label noise. Imports nothing above `cgh_lib.errors`."""

from cgh_lib.data.images import (  # noqa: F401
    IMAGENET_MEAN,
    IMAGENET_STD,
    CIFAR10_MEAN,
    CIFAR10_STD,
    IMAGENET_SIZES,
    IMAGENET_ENV,
    DATA_ENV,
    CIFAR_DIR,
    imagenet_transform,
    resolve_imagenet_root,
    imagenet_datasets,
    resolve_data_root,
    CifarBatches,
    cifar10_datasets,
    write_fake_cifar10,
    dataset_targets,
    IndexedDataset,
    NoisyLabels,
    tracking_indices,
    sample_indices,
    stream_seed,
    tracking_subsets,
    describe_noise,
)
from cgh_lib.data.label_noise import (  # noqa: F401
    NOISE_SCHEMES,
    check_fraction,
    corrupt_labels,
)
from cgh_lib.data.splits import (  # noqa: F401
    split_by_mask,
    draw_disjoint,
    class_counts,
    difficulty_levels,
    difficulty_counts,
    accuracy_by_difficulty,
    balanced_accuracy,
    independent_difficulty_counts,
)
from cgh_lib.data.tensors import (  # noqa: F401
    DATASETS,
    TensorData,
    resolve_root,
    load_dataset,
    synthetic_dataset,
)
