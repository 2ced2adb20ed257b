"""Image datasets: ImageNet folder (imagenet-mini), generated CIFAR-10, label noise, tracking samples."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cgh_lib.data.images import (
    IMAGENET_SIZES,
    IndexedDataset,
    NoisyLabels,
    cifar10_datasets,
    dataset_targets,
    imagenet_datasets,
    imagenet_transform,
    resolve_imagenet_root,
    sample_indices,
    tracking_indices,
    tracking_subsets,
    write_fake_cifar10,
)
from cgh_lib.errors import UserError

MINI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "imagenet-mini"
needs_mini = pytest.mark.skipif(not MINI.is_dir(), reason="imagenet-mini not available")


@needs_mini
def test_imagenet_mini_folder() -> None:
    train, val = imagenet_datasets(MINI, crop_size=56, resize_size=64)
    assert len(train.classes) == 10 and train.classes == val.classes
    assert (len(train), len(val)) == (1000, 500)
    assert torch.bincount(dataset_targets(train)).tolist() == [100] * 10
    x, y = train[0]
    assert x.shape == (3, 56, 56) and x.dtype == torch.float32 and 0 <= y < 10
    # Greyscale JPEGs come out as 3 channels too.
    assert all(val[i][0].shape == (3, 56, 56) for i in range(0, 500, 97))


@needs_mini
def test_imagenet_model_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGH_IMAGENET", str(MINI))
    train, _ = imagenet_datasets(model_name="inception_v3")  # env var path
    assert train[0][0].shape == (3, 299, 299)
    assert IMAGENET_SIZES["resnet18"] == (256, 224)
    assert imagenet_transform(224)(train.loader(train.samples[0][0])).shape == (3, 224, 224)


def test_imagenet_missing_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="does not exist.*CGH_IMAGENET"):
        resolve_imagenet_root(tmp_path / "nope")
    (tmp_path / "train").mkdir()
    with pytest.raises(UserError, match="lacks val/"):
        resolve_imagenet_root(tmp_path)
    monkeypatch.delenv("CGH_IMAGENET", raising=False)
    with pytest.raises(UserError, match="CGH_IMAGENET is not set"):
        resolve_imagenet_root(None)
    with pytest.raises(UserError, match="crop"):
        imagenet_transform(64, 32)


def test_cifar_generated_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_fake_cifar10(tmp_path, n_train=250, n_test=60, seed=1)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"])
    monkeypatch.setenv("CGH_DATA", str(tmp_path))
    train, test = cifar10_datasets(download=False)
    assert (len(train), len(test)) == (250, 60) and len(train.classes) == 10
    x, y = train[3]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and isinstance(y, int)
    # Learnable structure: nearest class mean on train classifies test well.
    xs = torch.stack([train[i][0] for i in range(len(train))]).flatten(1)
    ys = dataset_targets(train)
    means = torch.stack([xs[ys == k].mean(0) for k in range(10)])
    xt = torch.stack([test[i][0] for i in range(len(test))]).flatten(1)
    acc = (torch.cdist(xt, means).argmin(1) == dataset_targets(test)).float().mean()
    assert acc > 0.9


def test_cifar_missing_without_download(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="download is off"):
        cifar10_datasets(tmp_path / "empty", download=False)


def test_noise_applies_to_train_only(tmp_path: Path) -> None:
    write_fake_cifar10(tmp_path, n_train=500, n_test=100, seed=2)
    train, test = cifar10_datasets(tmp_path, download=False)
    clean_train, clean_test = dataset_targets(train), dataset_targets(test)
    noisy = NoisyLabels(train, fraction=0.5, seed=3, scheme="uniform")
    wrapped_test = IndexedDataset(test)
    assert torch.equal(dataset_targets(train), clean_train)  # underlying data untouched
    assert torch.equal(noisy.clean_targets, clean_train)
    assert torch.equal(noisy.corrupt_mask, noisy.targets != clean_train)
    assert 0.3 < noisy.corrupt_mask.float().mean() < 0.6  # 0.5 * 9/10 expected
    assert torch.equal(wrapped_test.targets, clean_test)
    x, y, i = noisy[7]
    assert i == 7 and y == int(noisy.targets[7]) and torch.equal(x, train[7][0])
    assert [wrapped_test[j][1] for j in range(5)] == clean_test[:5].tolist()
    again = NoisyLabels(train, fraction=0.5, seed=3, scheme="uniform")
    assert torch.equal(again.targets, noisy.targets)
    with pytest.raises(UserError, match="noise scheme"):
        NoisyLabels(train, 0.5, 0, scheme="symmetric")


def test_tracking_indices() -> None:
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(1000, generator=g) < 0.3
    p, c = tracking_indices(mask, 100, seed=4)
    assert len(p) == len(c) == 100
    assert not set(p.tolist()) & set(c.tolist())
    assert not mask[p].any() and mask[c].all()
    p2, c2 = tracking_indices(mask, 100, seed=4)
    assert torch.equal(p, p2) and torch.equal(c, c2)
    p_all, c_all = tracking_indices(mask, 10_000, seed=4)  # fewer available than asked
    assert len(p_all) == int((~mask).sum()) and len(c_all) == int(mask.sum())
    s = sample_indices(1000, 50, seed=1)
    assert len(s) == 50 and len(set(s.tolist())) == 50


def test_tracking_subsets(tmp_path: Path) -> None:
    write_fake_cifar10(tmp_path, n_train=200, n_test=20, seed=5)
    train, _ = cifar10_datasets(tmp_path, download=False)
    noisy = NoisyLabels(train, 0.5, seed=1)
    sets = tracking_subsets(noisy, n_per_group=30, seed=2, train_sample=50)
    assert (len(sets["pristine"]), len(sets["corrupt"]), len(sets["train"])) == (30, 30, 50)
    assert all(bool(noisy.corrupt_mask[sets["corrupt"][j][2]]) for j in range(30))
    assert not any(bool(noisy.corrupt_mask[sets["pristine"][j][2]]) for j in range(30))


def test_train_sample_independent_of_noise_seed() -> None:
    """Regression: the train sample once used seed+1, so with noise drawn from that same integer
    (exact scheme) the sample was the noise permutation's head, ~90% corrupt at 45% corruption."""
    from torch.utils.data import TensorDataset

    n = 4000
    y = torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(5))
    base = TensorDataset(torch.zeros(n, 1), y)
    for seed in (0, 1, 2):
        noisy = NoisyLabels(base, 0.5, seed=seed + 1, scheme="exact", num_classes=10)
        sample = tracking_subsets(noisy, n_per_group=10, seed=seed, train_sample=800)["train"]
        frac = noisy.corrupt_mask[torch.tensor(sample.indices)].float().mean().item()
        overall = noisy.corrupt_mask.float().mean().item()
        assert abs(frac - overall) < 0.06, (seed, frac, overall)
