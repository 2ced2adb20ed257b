"""per_example_grads must equal a loop of single-example backward passes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cgh_lib.errors import UserError
from cgh_lib.grads.per_example import (
    flatten_grads,
    linear_fast_path_ok,
    per_example_grads,
    per_example_grads_with_loss,
    per_group_grads,
)


def loop_reference(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """The obviously-correct slow way: one backward pass per example."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    rows: dict[str, list[torch.Tensor]] = {n: [] for n in params}
    for i in range(x.shape[0]):
        loss = F.cross_entropy(model(x[i : i + 1]), y[i : i + 1])
        gs = torch.autograd.grad(loss, list(params.values()))
        for n, g in zip(params, gs):
            rows[n].append(g)
    return {n: torch.stack(v) for n, v in rows.items()}


def mlp(sizes: list[int], bias: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, bias=bias))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6 * 3 * 3, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 10 -> 5
        x = F.relu(self.bn(self.conv2(x)))  # 5 -> 3
        return self.fc(x.flatten(1))


def check(model: nn.Module, x: torch.Tensor, y: torch.Tensor, method: str = "auto") -> None:
    got = per_example_grads(model, F.cross_entropy, x, y, method=method)
    ref = loop_reference(model, x, y)
    assert list(got) == list(ref)
    for n in ref:
        assert got[n].shape == (x.shape[0], *dict(model.named_parameters())[n].shape)
        torch.testing.assert_close(got[n], ref[n], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["auto", "vmap"])
def test_mlp_matches_loop(method: str) -> None:
    torch.manual_seed(0)
    model = mlp([20, 16, 7])
    x, y = torch.randn(9, 20), torch.randint(0, 7, (9,))
    assert linear_fast_path_ok(model)
    check(model, x, y, method)


def test_authors_deep_mlp_shape() -> None:
    torch.manual_seed(1)
    model = mlp([784, 256, 256, 256, 10])
    x, y = torch.randn(6, 1, 28, 28), torch.randint(0, 10, (6,))
    check(model, x, y, "linear")


def test_bias_free_and_inplace_activation() -> None:
    torch.manual_seed(2)
    model = nn.Sequential(
        nn.Linear(12, 10, bias=False), nn.ReLU(inplace=True), nn.Linear(10, 10),
        nn.Tanh(), nn.Linear(10, 4, bias=False),
    )
    x, y = torch.randn(8, 12), torch.randint(0, 4, (8,))
    check(model, x, y, "linear")


def test_frozen_layer_is_left_out() -> None:
    torch.manual_seed(3)
    model = mlp([10, 8, 3])
    model[1].weight.requires_grad_(False)
    x, y = torch.randn(5, 10), torch.randint(0, 3, (5,))
    got = per_example_grads(model, F.cross_entropy, x, y)
    assert "1.weight" not in got and "1.bias" in got
    check(model, x, y)


def test_cnn_with_pooling_and_eval_batchnorm() -> None:
    torch.manual_seed(4)
    model = SmallCNN()
    with torch.no_grad():  # non-trivial running stats, so buffers must be passed through
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    model.eval()
    assert not linear_fast_path_ok(model)
    x, y = torch.randn(7, 1, 10, 10), torch.randint(0, 5, (7,))
    check(model, x, y)


def test_train_mode_batchnorm_is_refused() -> None:
    model = SmallCNN().train()
    with pytest.raises(UserError, match="BatchNorm"):
        per_example_grads(model, F.cross_entropy, torch.randn(3, 1, 10, 10), torch.zeros(3, dtype=torch.long))


def test_loss_and_no_grad_side_effects() -> None:
    torch.manual_seed(5)
    model = mlp([6, 5, 3])
    x, y = torch.randn(4, 6), torch.randint(0, 3, (4,))
    _, loss = per_example_grads_with_loss(model, F.cross_entropy, x, y)
    torch.testing.assert_close(loss, F.cross_entropy(model(x), y))
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("method", ["linear", "vmap"])
def test_group_grads_are_group_means(method: str) -> None:
    torch.manual_seed(6)
    model = mlp([6, 5, 3])
    x, y = torch.randn(12, 6), torch.randint(0, 3, (12,))
    per_ex = per_example_grads(model, F.cross_entropy, x, y)
    groups, _ = per_group_grads(model, F.cross_entropy, x, y, 3, method=method)
    for n, g in per_ex.items():
        torch.testing.assert_close(groups[n], g.reshape(3, 4, *g.shape[1:]).mean(1))


def test_flatten_and_errors() -> None:
    grads = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(2, 2, 2)}
    flat = flatten_grads(grads)
    assert flat.shape == (2, 7)
    torch.testing.assert_close(flat[1], torch.tensor([3.0, 4, 5, 1, 1, 1, 1]))
    with pytest.raises(UserError, match="accepted"):
        per_example_grads(mlp([2, 2]), F.cross_entropy, torch.randn(2, 2), torch.zeros(2, dtype=torch.long), method="fast")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="nn.Linear"):
        per_example_grads(SmallCNN().eval(), F.cross_entropy, torch.randn(2, 1, 10, 10), torch.zeros(2, dtype=torch.long), method="linear")
