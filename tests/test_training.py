"""The stacked trainer: manual step vs autograd, stacking invariance, bookkeeping."""

import numpy as np
import pytest
import torch

from cgh_lib.data.tensors import corrupt_labels, synthetic_dataset
from cgh_lib.models.mlp import StackedMLP, mlp
from cgh_lib.train.eval_schedule import eval_steps
from cgh_lib.train.stacked import Member, StackSpec, mean_gradient, sgd_step, train_stack


@pytest.mark.parametrize("hidden", [[32], [16, 16, 16]])
def test_manual_sgd_step_equals_autograd(hidden):
    torch.manual_seed(0)
    model = StackedMLP([20, *hidden, 10], ["xavier", "authors"], [0, 1])
    x = torch.randn(2, 8, 20)
    y = torch.randint(0, 10, (2, 8))
    _, grads = mean_gradient(model, x, y)
    expected = [p - 0.1 * g for p, g in zip(model.params(), grads)]
    sgd_step(model, x, y, 0.1)
    for p, e in zip(model.params(), expected):
        torch.testing.assert_close(p, e, rtol=1e-5, atol=1e-6)


def test_stack_member_equals_nn_sequential():
    model = StackedMLP([12, 7, 3], ["xavier", "xavier"], [5, 6])
    x = torch.randn(4, 12)
    seq = mlp(12, [7], 3, "xavier", seed=6)
    torch.testing.assert_close(model.forward_shared(x)[1], seq(x))
    torch.testing.assert_close(model.member(1)(x), seq(x))


def test_init_statistics():
    from cgh_lib.models.mlp import init_std
    big = mlp(784, [2048], 10, "xavier", seed=0)
    std = big[0].weight.std().item()
    assert abs(std - np.sqrt(2 / (784 + 2048))) / std < 0.01
    assert torch.count_nonzero(big[0].bias) == 0
    assert init_std(784, 2048, "authors") == pytest.approx(np.sqrt(2) * init_std(784, 2048, "xavier"))
    assert [tuple(p.shape) for p in big.parameters()] == [(2048, 784), (2048,), (10, 2048), (10,)]


def _members(data, noises, seed=0):
    out = []
    for nz in noises:
        y, c = corrupt_labels(data.y_train, nz, seed + 1)
        out.append(Member(y, c, "xavier", seed, seed + 2))
    return out


def test_stacked_training_equals_individual_runs():
    data = synthetic_dataset(600, 200, seed=0)
    spec = StackSpec((32,), 0.1, 50, 60, eval_steps("log", 60))
    both, _ = train_stack(data, _members(data, [0.0, 0.5]), spec, progress=False)
    alone, _ = train_stack(data, _members(data, [0.5]), spec, progress=False)
    for key in ("train_acc", "test_loss", "learnt_last"):
        np.testing.assert_allclose(both[1][key], alone[0][key], rtol=1e-4, atol=1e-5)


def test_learning_bookkeeping_invariants():
    data = synthetic_dataset(600, 200, seed=1)
    spec = StackSpec((64,), 0.1, 50, 200, eval_steps("authors", 200))
    (run,), _ = train_stack(data, _members(data, [0.25]), spec, progress=False)
    first, last = run["learnt_first"], run["learnt_last"]
    steps = set(run["step"].tolist())
    learned = last >= 0
    assert set(first[first >= 0].tolist()) <= steps and set(last[learned].tolist()) <= steps
    assert np.all(first[learned] <= last[learned])  # learned-for-good never precedes first-learned
    assert np.all(first[learned] >= 0)
    # the final training accuracy counts exactly the examples correct at the last evaluation
    assert run["train_acc"][-1] == pytest.approx(learned.mean())
    assert run["step"][0] == 0 and run["step"][-1] == 200
    assert run["train_acc"][-1] > 0.8  # the synthetic task is learnable


def test_eval_schedules():
    a = eval_steps("authors", 100_000)
    assert a[:11] == list(range(10)) + [10] and a[-1] == 100_000 and len(a) == 47
    assert 9000 in a and 10_000 in a and 20_000 in a and 15_000 not in a
    lg = eval_steps("log", 10_000)
    assert lg[0] == 0 and lg[-1] == 10_000 and len(lg) == 18
