"""Image datasets for the WS paper: ImageNet folders, CIFAR-10, label noise, tracking samples.

Preprocessing follows torchvision's reference classification recipe *minus
augmentation*, because the paper trained without it (Appendix A): train and
val images alike are resized (shorter side), center-cropped and normalised with
the ImageNet mean/std. Sizes per model (``IMAGENET_SIZES``) are the authors':
256->224 for ResNet/VGG and 299->299 for Inception-V3 (torchvision's reference
uses 342->299 for Inception; pass ``resize_size=342`` for that). Sizes are
parameters so CPU runs on the 64x64 ``imagenet-mini`` can use small crops.

Label noise is applied by wrapping the *training* set only (`NoisyLabels`);
default scheme ``"uniform"`` is the authors' WS code (each example, with
probability p, gets a uniformly random class). Wrapped datasets return
``(x, y, index)`` so trackers can find examples.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from cgh_lib.data.label_noise import NOISE_SCHEMES, corrupt_labels
from cgh_lib.errors import UserError, choice_error

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "CIFAR10_MEAN", "CIFAR10_STD", "IMAGENET_SIZES",
    "imagenet_transform", "resolve_imagenet_root", "imagenet_datasets",
    "resolve_data_root", "CifarBatches", "cifar10_datasets", "write_fake_cifar10",
    "dataset_targets", "NoisyLabels", "IndexedDataset", "tracking_indices", "sample_indices",
    "tracking_subsets", "stream_seed", "describe_noise",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Per-channel statistics of the CIFAR-10 training set. The WS paper does not say
# how it normalised CIFAR-10; per-channel standardisation is the common choice.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

# model name -> (resize of the shorter side, center crop), as in the authors' trainer.
IMAGENET_SIZES: dict[str, tuple[int, int]] = {
    "resnet18": (256, 224), "resnet50": (256, 224), "vgg13": (256, 224), "inception_v3": (299, 299),
}

IMAGENET_ENV = "CGH_IMAGENET"
DATA_ENV = "CGH_DATA"
CIFAR_DIR = "cifar-10-batches-py"


# --------------------------------------------------------------------- ImageNet
def imagenet_transform(crop_size: int = 224, resize_size: int | None = None) -> Callable[[Any], torch.Tensor]:
    """Deterministic eval-style transform (no augmentation): resize, center crop, normalise.

    ``resize_size`` defaults to the usual 256/224 ratio of ``crop_size``.
    """
    import torchvision.transforms as T

    crop = int(crop_size)
    resize = int(resize_size) if resize_size is not None else int(round(crop * 256 / 224))
    if crop < 1 or resize < crop:
        raise UserError(
            f"image sizes resize={resize_size!r}, crop={crop_size!r} are invalid; "
            "accepted: positive integers with resize >= crop"
        )
    return T.Compose([
        T.Resize(resize, antialias=True), T.CenterCrop(crop), T.ToTensor(),
        T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def resolve_imagenet_root(root: str | os.PathLike | None = None) -> Path:
    """Find an ImageFolder tree with ``train/`` and ``val/``; explain how to fix it if absent."""
    how = (f"pass the dataset path (root=...) or set the {IMAGENET_ENV} environment variable to a "
           "folder holding train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (val reorganised into "
           "class folders, e.g. with the usual valprep script)")
    if root is None:
        env = os.environ.get(IMAGENET_ENV)
        if not env:
            raise UserError(f"no ImageNet path given and {IMAGENET_ENV} is not set; {how}")
        root, source = env, f"{IMAGENET_ENV}={env}"
    else:
        source = f"root={str(root)!r}"
    path = Path(root).expanduser()
    if not path.is_dir():
        raise UserError(f"ImageNet folder {str(path)!r} (from {source}) does not exist; {how}")
    missing = [s for s in ("train", "val") if not (path / s).is_dir()]
    if missing:
        raise UserError(
            f"ImageNet folder {str(path)!r} (from {source}) lacks {' and '.join(s + '/' for s in missing)}; {how}"
        )
    return path


def imagenet_datasets(
    root: str | os.PathLike | None = None, model_name: str | None = None,
    crop_size: int | None = None, resize_size: int | None = None,
) -> tuple[Dataset, Dataset]:
    """(train, val) ``ImageFolder`` datasets with identical, augmentation-free transforms.

    Sizes come from ``model_name`` (see ``IMAGENET_SIZES``) unless given
    explicitly; with neither, 256->224. Greyscale JPEGs become RGB (ImageFolder's
    loader converts).
    """
    from torchvision.datasets import ImageFolder

    path = resolve_imagenet_root(root)
    if model_name is not None and model_name not in IMAGENET_SIZES:
        raise choice_error("ImageNet model for preprocessing", model_name, IMAGENET_SIZES)
    d_resize, d_crop = IMAGENET_SIZES.get(model_name or "resnet18")
    crop = crop_size if crop_size is not None else d_crop
    if resize_size is None:
        resize_size = d_resize if crop_size is None else None
    tf = imagenet_transform(crop, resize_size)
    train, val = ImageFolder(str(path / "train"), tf), ImageFolder(str(path / "val"), tf)
    if train.classes != val.classes:
        raise UserError(f"ImageNet folder {str(path)!r}: train/ and val/ have different class folders")
    return train, val


# --------------------------------------------------------------------- CIFAR-10
def resolve_data_root(root: str | os.PathLike | None = None) -> Path:
    """Data root: the argument, else ``$CGH_DATA``, else ``./.data`` (git-ignored)."""
    if root is not None:
        return Path(root).expanduser()
    return Path(os.environ.get(DATA_ENV) or ".data").expanduser()


class CifarBatches(Dataset):
    """CIFAR-10 from its python-pickle batches, held in memory as uint8.

    Read directly (not via ``torchvision.datasets.CIFAR10``) because torchvision
    insists on the official files' md5 sums, which rules out the small
    generated datasets the tests use. Items are ``(float CHW tensor, label)``.
    """

    def __init__(self, folder: str | os.PathLike, train: bool = True, normalize: bool = True) -> None:
        folder = Path(folder)
        names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
        xs, ys = [], []
        for n in names:
            with open(folder / n, "rb") as f:
                d = pickle.load(f, encoding="latin1")
            xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.extend(int(v) for v in d["labels"])
        self.data = torch.from_numpy(np.concatenate(xs))
        self.targets: list[int] = ys
        with open(folder / "batches.meta", "rb") as f:
            self.classes: list[str] = list(pickle.load(f, encoding="latin1")["label_names"])
        mean, std = (CIFAR10_MEAN, CIFAR10_STD) if normalize else ((0.0,) * 3, (1.0,) * 3)
        self._mean = torch.tensor(mean).view(3, 1, 1)
        self._std = torch.tensor(std).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self.data[i].float().div_(255.0)
        return (x - self._mean) / self._std, self.targets[i]


def cifar10_datasets(
    root: str | os.PathLike | None = None, download: bool = True, normalize: bool = True,
) -> tuple[CifarBatches, CifarBatches]:
    """(train, test) CIFAR-10 without augmentation (the WS paper used none).

    Looks for ``<root>/cifar-10-batches-py``; if absent and ``download``, fetches
    it with torchvision's downloader; otherwise (or if that fails) a UserError
    says what was tried.
    """
    base = resolve_data_root(root)
    folder = base / CIFAR_DIR
    if not (folder / "test_batch").is_file():
        how = (f"pass root=... or set {DATA_ENV} to a folder containing {CIFAR_DIR}/ "
               "(as produced by torchvision.datasets.CIFAR10(root, download=True))")
        if not download:
            raise UserError(f"CIFAR-10 not found at {str(folder)!r} and download is off; {how}")
        try:
            from torchvision.datasets import CIFAR10

            CIFAR10(str(base), train=True, download=True)
        except Exception as e:  # network errors come in many types
            raise UserError(
                f"CIFAR-10 not found at {str(folder)!r} and downloading it failed ({type(e).__name__}: {e}); {how}"
            ) from None
    return CifarBatches(folder, True, normalize), CifarBatches(folder, False, normalize)


def write_fake_cifar10(
    root: str | os.PathLike, n_train: int = 500, n_test: int = 100, seed: int = 0,
    num_classes: int = 10, noise: float = 40.0,
) -> Path:
    """Write a small CIFAR-10-format dataset under ``root/cifar-10-batches-py``.

    Images are a per-class smooth random prototype plus pixel noise, so a
    small net can learn the classes; the file layout matches the real one (5
    training batches, ``test_batch``, ``batches.meta``). Returns the folder.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / CIFAR_DIR
    folder.mkdir(parents=True, exist_ok=True)
    coarse = rng.uniform(0, 255, size=(num_classes, 3, 4, 4))
    protos = coarse.repeat(8, axis=2).repeat(8, axis=3)  # 4x4 blocks of 8x8 pixels

    def make(n: int) -> tuple[np.ndarray, list[int]]:
        labels = rng.integers(0, num_classes, size=n)
        imgs = protos[labels] + rng.normal(0.0, noise, size=(n, 3, 32, 32))
        return np.clip(imgs, 0, 255).astype(np.uint8).reshape(n, 3072), [int(v) for v in labels]

    def dump(name: str, data: np.ndarray, labels: list[int]) -> None:
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": data, "labels": labels,
                         "filenames": [f"{name}_{i}.png" for i in range(len(labels))]}, f)

    x, y = make(n_train)
    for i, part in enumerate(np.array_split(np.arange(n_train), 5)):
        dump(f"data_batch_{i + 1}", x[part], [y[j] for j in part])
    dump("test_batch", *make(n_test))
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{k}" for k in range(num_classes)],
                     "num_cases_per_batch": -(-n_train // 5), "num_vis": 3072}, f)
    return folder


# ----------------------------------------------------------- label noise + ids
def dataset_targets(dataset: Dataset) -> torch.Tensor:
    """Labels of a dataset as an int64 tensor, without loading images when possible."""
    if isinstance(dataset, Subset):
        return dataset_targets(dataset.dataset)[torch.as_tensor(list(dataset.indices), dtype=torch.long)]
    for attr in ("targets", "labels"):
        t = getattr(dataset, attr, None)
        if t is not None:
            return torch.as_tensor(t, dtype=torch.int64).clone()
    if hasattr(dataset, "tensors"):  # TensorDataset(x, y)
        return dataset.tensors[1].to(torch.int64).clone()
    return torch.tensor([int(dataset[i][1]) for i in range(len(dataset))], dtype=torch.int64)


class IndexedDataset(Dataset):
    """Wraps a dataset so items are ``(x, y, index)`` with its labels unchanged."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.targets = dataset_targets(dataset)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[Any, int, int]:
        return self.dataset[i][0], int(self.targets[i]), int(i)


class NoisyLabels(IndexedDataset):
    """A training set with corrupted labels; the wrapped dataset is not modified.

    ``targets`` are the noisy labels, ``clean_targets`` the originals and
    ``corrupt_mask[i]`` is True iff example i's label changed. Never wrap a
    test set: test labels must stay clean (use `IndexedDataset`).
    """

    def __init__(
        self, dataset: Dataset, fraction: float, seed: int, scheme: str = "uniform",
        num_classes: int | None = None,
    ) -> None:
        if scheme not in NOISE_SCHEMES:
            raise choice_error("noise scheme", scheme, NOISE_SCHEMES)
        super().__init__(dataset)
        self.clean_targets = self.targets
        if num_classes is None:
            classes = getattr(dataset, "classes", None)
            num_classes = len(classes) if classes else int(self.clean_targets.max()) + 1
        self.num_classes = int(num_classes)
        self.fraction, self.seed, self.scheme = float(fraction), int(seed), scheme
        self.targets, self.corrupt_mask = corrupt_labels(
            self.clean_targets, fraction, seed, scheme=scheme, num_classes=self.num_classes
        )


def tracking_indices(
    corrupt_mask: torch.Tensor | Sequence[bool], n_per_group: int, seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed random samples of pristine and of corrupt training examples.

    Returns ``(pristine_idx, corrupt_idx)``, sorted, each of size
    ``min(n_per_group, group size)`` (the paper: 50k each, fewer pristine at
    100% noise). A private generator keeps it independent of training RNG.
    """
    if int(n_per_group) < 0:
        raise UserError(f"n_per_group {n_per_group!r} is negative; accepted: an integer >= 0")
    mask = torch.as_tensor(corrupt_mask, dtype=torch.bool).flatten().cpu()
    g = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(mask.numel(), generator=g)
    corrupt = perm[mask[perm]][: int(n_per_group)]
    pristine = perm[~mask[perm]][: int(n_per_group)]
    return pristine.sort().values, corrupt.sort().values


def sample_indices(n_total: int, n: int, seed: int) -> torch.Tensor:
    """A fixed random sample (sorted) of ``min(n, n_total)`` indices, e.g. a train-accuracy sample."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randperm(int(n_total), generator=g)[: max(0, int(n))].sort().values


def stream_seed(seed: int, purpose: str) -> int:
    """A seed for ``purpose`` derived by hashing, so it never equals another stream's integer seed.

    Sampling with a plain ``seed`` / ``seed + 1`` clashed with label noise drawn
    from the same integer: with the ``exact`` scheme, a train sample drawn from
    the noise's seed is the noise's own permutation, i.e. almost all corrupt.
    """
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{purpose}:{int(seed)}".encode()).digest()[:7], "big")


def tracking_subsets(
    noisy_train: NoisyLabels, n_per_group: int, seed: int, train_sample: int | None = None,
) -> dict[str, Dataset]:
    """Evaluation sets a WS label-noise run tracks: ``pristine``, ``corrupt`` and ``train``.

    ``train`` is the whole noisy training set, or a fixed sample of
    ``train_sample`` examples of it (evaluated with the noisy labels, as the
    paper's "training accuracy"). Add the test set yourself. Both samples use
    seeds derived from ``seed`` by `stream_seed`, independent of the noise seed.
    """
    pristine, corrupt = tracking_indices(noisy_train.corrupt_mask, n_per_group, stream_seed(seed, "tracking"))
    out: dict[str, Dataset] = {
        "pristine": Subset(noisy_train, pristine.tolist()),
        "corrupt": Subset(noisy_train, corrupt.tolist()),
    }
    if train_sample is None or train_sample >= len(noisy_train):
        out["train"] = noisy_train
    else:
        out["train"] = Subset(noisy_train, sample_indices(len(noisy_train), train_sample,
                                                          stream_seed(seed, "train-sample")).tolist())
    return out


def describe_noise(noisy: NoisyLabels) -> Mapping[str, Any]:
    """Small JSON-able summary (for run metadata)."""
    n = len(noisy)
    k = int(noisy.corrupt_mask.sum())
    return {"fraction": noisy.fraction, "scheme": noisy.scheme, "seed": noisy.seed,
            "num_classes": noisy.num_classes, "n": n, "n_corrupt": k, "n_pristine": n - k}
