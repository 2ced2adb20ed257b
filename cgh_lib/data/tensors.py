"""Datasets as in-memory tensors.

MNIST-sized data fits in memory many times over, so we load it once as float
tensors (flattened, scaled to [0, 1]) and index minibatches directly on the
device: no DataLoader, no per-step host work.

Where data comes from, in order:
1. ``data_root`` argument, else the ``CGH_DATA`` environment variable;
   inside it, the torchvision layout (``<root>/MNIST/raw``), or the layout of
   the shared offline folder (``<root>/MNIST-22k/MNIST/raw``,
   ``<root>/FashionMNIST/FashionMNIST/raw``);
2. torchvision's downloader (into the given root, else ``~/.cache/cgh/data``),
   unless ``CGH_NO_DOWNLOAD=1``.
If all fail, a `UserError` lists what was tried and how to fix it.

``synthetic`` needs no files at all: a generated 28x28, 10-class dataset with
real class structure (noisy, shifted prototypes), so smoke runs and the book
build work anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from cgh_lib.data.label_noise import NOISE_SCHEMES, check_fraction, check_label_range, corrupt_labels  # noqa: F401  (public API)
from cgh_lib.errors import UserError, choice_error

DATASETS = ("mnist", "fashion-mnist", "synthetic")
_TV_CLASS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
# sub-folders tried inside a data root (torchvision layout first, then ../shared/data's)
_SUBDIRS = {"mnist": ("", "MNIST-22k"), "fashion-mnist": ("", "FashionMNIST")}


@dataclass
class TensorData:
    """Train and test split of a classification dataset, as tensors."""

    name: str
    x_train: torch.Tensor  # [N, 784] float32 in [0, 1]
    y_train: torch.Tensor  # [N] int64, original (clean) labels
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str  # where it was loaded from, for the figure caption
    num_classes: int = 10

    def __post_init__(self) -> None:
        # a label outside 0..num_classes-1 would surface as an index error deep in the loss
        for split, y in (("train", self.y_train), ("test", self.y_test)):
            check_label_range(y, self.num_classes, f"{self.name} {split} labels ({self.source})")

    def to(self, device: torch.device | str) -> "TensorData":
        return TensorData(self.name, self.x_train.to(device), self.y_train.to(device),
                          self.x_test.to(device), self.y_test.to(device), self.source, self.num_classes)

    def describe(self) -> str:
        return f"{self.name} ({len(self.y_train):,} train / {len(self.y_test):,} test; {self.source})"


def resolve_root(data_root: str | os.PathLike[str] | None) -> Path | None:
    """The data root from the argument or ``CGH_DATA``; error if given but missing."""
    given = data_root if data_root not in (None, "") else os.environ.get("CGH_DATA") or None
    if given is None:
        return None
    root = Path(given).expanduser()
    if not root.is_dir():
        src = "data_root" if data_root not in (None, "") else "CGH_DATA"
        raise UserError(f"data root {str(root)!r} (from {src}) does not exist; accepted: an existing folder "
                        "holding MNIST / FashionMNIST in torchvision's layout")
    return root


def _from_torchvision(name: str, root: Path, download: bool) -> tuple[torch.Tensor, ...]:
    import torchvision

    cls = getattr(torchvision.datasets, _TV_CLASS[name])
    tr = cls(str(root), train=True, download=download)
    te = cls(str(root), train=False, download=download)
    return tr.data, tr.targets, te.data, te.targets


def load_dataset(name: str, data_root: str | os.PathLike[str] | None = None,
                 n_train: int = 0, n_test: int = 0, seed: int = 0) -> TensorData:
    """Load ``name`` as CPU tensors, keeping the first ``n_train``/``n_test`` examples (0 = all)."""
    if name not in DATASETS:
        raise choice_error("dataset", name, DATASETS)
    if name == "synthetic":
        return synthetic_dataset(n_train or 2000, n_test or 1000, seed=seed)
    root = resolve_root(data_root)
    tried: list[str] = []
    raw = None
    if root is not None:
        for sub in _SUBDIRS[name]:
            cand = root / sub if sub else root
            try:
                raw = _from_torchvision(name, cand, download=False)
                source = str(cand)
                break
            except (RuntimeError, OSError) as e:
                tried.append(f"{cand} ({type(e).__name__})")
    if raw is None and os.environ.get("CGH_NO_DOWNLOAD", "") not in ("1", "true"):
        target = root if root is not None else Path("~/.cache/cgh/data").expanduser()
        try:
            raw = _from_torchvision(name, target, download=True)
            source = f"{target} (downloaded)"
        except Exception as e:  # any network / IO failure: report below
            tried.append(f"torchvision download into {target} ({type(e).__name__})")
    if raw is None:
        raise UserError(f"dataset {name!r} not found; tried: {'; '.join(tried) or 'nothing (no data root)'}. "
                        f"Fix: pass data_root=... or set CGH_DATA to a folder with {_TV_CLASS[name]}/raw "
                        "(e.g. ../shared/data/MNIST-22k), or allow the torchvision download")
    xtr, ytr, xte, yte = raw
    if n_train:
        xtr, ytr = xtr[:n_train], ytr[:n_train]
    if n_test:
        xte, yte = xte[:n_test], yte[:n_test]

    def prep(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1).to(torch.float32).div_(255.0)

    return TensorData(name, prep(xtr), ytr.to(torch.int64), prep(xte), yte.to(torch.int64), source)


def synthetic_dataset(n_train: int = 2000, n_test: int = 1000, seed: int = 0,
                      num_classes: int = 10, side: int = 28) -> TensorData:
    """A generated MNIST-shaped dataset with genuine class structure.

    Each class has a smooth random prototype image; an example is its class
    prototype shifted by up to 2 pixels, scaled, plus pixel noise. Nets learn
    it well above chance (so pristine/corrupt effects show), yet it needs no
    files and costs milliseconds.
    """
    g = torch.Generator().manual_seed(10_000 + int(seed))
    coarse = torch.rand(num_classes, 1, 7, 7, generator=g)
    protos = torch.nn.functional.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False)[:, 0]

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, num_classes, (n,), generator=g)
        dx = torch.randint(-2, 3, (n,), generator=g)
        dy = torch.randint(-2, 3, (n,), generator=g)
        x = protos[y]
        idx = torch.arange(side)
        rows = (idx.view(1, -1) - dy.view(-1, 1)).clamp(0, side - 1)
        cols = (idx.view(1, -1) - dx.view(-1, 1)).clamp(0, side - 1)
        x = x[torch.arange(n).view(-1, 1, 1), rows.view(n, side, 1), cols.view(n, 1, side)]
        x = x * (0.7 + 0.6 * torch.rand(n, 1, 1, generator=g)) + 0.35 * torch.randn(n, side, side, generator=g)
        return x.clamp(0, 1).reshape(n, -1), y

    xtr, ytr = make(n_train)
    xte, yte = make(n_test)
    return TensorData("synthetic", xtr, ytr, xte, yte, f"generated (seed {seed})", num_classes)
