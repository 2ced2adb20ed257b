"""Label noise: the exact CG2020 scheme and the authors' code variants."""

import pytest
import torch

from cgh_lib.data.tensors import corrupt_labels, load_dataset
from cgh_lib.errors import UserError


def _labels(n=5000, seed=0):
    return torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_exact_scheme_multiset_fraction_and_mask(fraction):
    y = _labels()
    noisy, corrupt = corrupt_labels(y, fraction, seed=3)
    assert torch.equal(torch.bincount(noisy, minlength=10), torch.bincount(y, minlength=10))  # multiset kept
    assert torch.equal(corrupt, noisy != y)  # mask is exactly "label changed"
    changed_positions = int((noisy != y).sum())
    assert changed_positions <= round(fraction * len(y))  # only chosen examples can change
    # a random permutation of k labels among 10 balanced classes changes about 90% of them
    assert abs(corrupt.float().mean().item() - 0.9 * fraction) < 0.03
    assert y.dtype == noisy.dtype


def test_pristine_fraction_matches_paper_proper_accuracy():
    y = _labels(60000)
    _, corrupt = corrupt_labels(y, 0.25, seed=0)
    assert abs((~corrupt).float().mean().item() - 0.775) < 0.01  # paper: about 77.5% pristine


def test_exact_scheme_selects_exact_count():
    # with all-distinct labels every selected example moves (unless a fixed point), so count <= k
    y = torch.arange(1000)
    noisy, corrupt = corrupt_labels(y, 0.3, seed=1)
    assert int(corrupt.sum()) <= 300 and int(corrupt.sum()) >= 290


def test_deterministic_and_seed_dependent():
    y = _labels()
    a = corrupt_labels(y, 0.5, seed=7)
    b = corrupt_labels(y, 0.5, seed=7)
    c = corrupt_labels(y, 0.5, seed=8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_does_not_touch_global_rng_or_input():
    y = _labels()
    y0 = y.clone()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    corrupt_labels(y, 0.5, seed=1)
    assert torch.equal(torch.rand(1), before)
    assert torch.equal(y, y0)


def test_bernoulli_and_uniform_schemes():
    y = _labels(20000)
    nb, cb = corrupt_labels(y, 0.5, seed=2, scheme="bernoulli")
    assert torch.equal(torch.bincount(nb, minlength=10), torch.bincount(y, minlength=10))
    assert abs(cb.float().mean().item() - 0.45) < 0.02
    nu, cu = corrupt_labels(y, 0.5, seed=2, scheme="uniform", num_classes=10)
    assert torch.equal(cu, nu != y)
    assert abs(cu.float().mean().item() - 0.45) < 0.02  # uniform may redraw the same class


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_fraction_outside_unit_interval_is_rejected(bad):
    with pytest.raises(UserError, match=r"outside \[0, 1\]"):
        corrupt_labels(_labels(), bad, seed=0)


def test_unknown_scheme_lists_accepted():
    with pytest.raises(UserError, match="exact, bernoulli, uniform"):
        corrupt_labels(_labels(), 0.1, seed=0, scheme="flip")


def test_test_set_untouched_by_experiment_data(shared_data):
    d = load_dataset("mnist", shared_data, n_train=3000)
    clean_test = d.y_test.clone()
    corrupt_labels(d.y_train, 1.0, seed=0)
    assert torch.equal(d.y_test, clean_test)
