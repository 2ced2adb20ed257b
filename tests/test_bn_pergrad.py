"""Per-example gradients through a shared train-mode BatchNorm forward (WS Figure 8's winsorization)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cgh_lib.grads.aggregators import winsorized_mean
from cgh_lib.grads.batchnorm import BNWinsorizedAggregator, per_example_grads_shared_forward
from cgh_lib.models.vision import build_vision_model


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3)).train()


def _batch(n: int = 8):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 1, 6, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_batched_matches_slow_reference_and_averages_to_batch_gradient() -> None:
    x, y = _batch()
    net = _net()
    fast, loss_fast = per_example_grads_shared_forward(net, F.cross_entropy, x, y, batched=True)
    slow, loss_slow = per_example_grads_shared_forward(net, F.cross_entropy, x, y, batched=False)
    torch.testing.assert_close(loss_fast, loss_slow)
    ref = _net()
    F.cross_entropy(ref(x), y).backward()
    for name, p in ref.named_parameters():
        assert fast[name].shape == (8, *p.shape)
        torch.testing.assert_close(fast[name], slow[name], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(fast[name].mean(0), p.grad, rtol=1e-5, atol=1e-6)
    # examples interact through the batch statistics: an example's gradient differs from
    # its gradient computed alone in a batch of one with eval-mode BN, and is not zero
    assert all(fast[n].abs().sum() > 0 for n in fast)


def test_winsorized_bn_aggregator() -> None:
    x, y = _batch(10)
    net0, ref = _net(), _net()
    BNWinsorizedAggregator(0).backward(net0, F.cross_entropy, x, y)
    F.cross_entropy(ref(x), y).backward()
    for p0, pr in zip(net0.parameters(), ref.parameters()):  # c = 0 is SGD
        torch.testing.assert_close(p0.grad, pr.grad, rtol=1e-5, atol=1e-6)
    net2 = _net()
    BNWinsorizedAggregator(2).backward(net2, F.cross_entropy, x, y)
    per, _ = per_example_grads_shared_forward(_net(), F.cross_entropy, x, y)
    for (name, p) in net2.named_parameters():
        torch.testing.assert_close(p.grad, winsorized_mean(per[name], 2))
    # running statistics were updated once, as by one SGD forward
    torch.testing.assert_close(net2[1].running_mean, ref[1].running_mean)


def test_resnet32_per_example_shapes() -> None:
    net = build_vision_model("resnet32", 10, seed=0).train()
    x = torch.randn(4, 3, 32, 32)
    y = torch.tensor([0, 1, 2, 3])
    g, loss = per_example_grads_shared_forward(net, F.cross_entropy, x, y)
    assert torch.isfinite(loss)
    assert sum(v[0].numel() for v in g.values()) == sum(p.numel() for p in net.parameters())
