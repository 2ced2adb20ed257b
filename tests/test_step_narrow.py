"""The stacked SGD step's transposed GEMMs for a narrow output layer agree with autograd."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cgh_lib.models.mlp import StackedMLP
from cgh_lib.train.stacked import _narrow, sgd_step


def test_narrow_output_layer_step_matches_autograd() -> None:
    torch.manual_seed(0)
    model = StackedMLP([50, 96, 5], ["xavier"] * 3, [0, 1, 2], "cpu")
    assert [_narrow(w) for w in model.weights] == [False, True]  # the 96 -> 5 layer takes the new path
    x = torch.randn(3, 20, 50)
    y = torch.randint(0, 5, (3, 20))
    params = [p.clone().requires_grad_(True) for p in model.params()]
    logits = model.forward(x, params)
    loss = sum(F.cross_entropy(logits[k], y[k]) for k in range(3))
    grads = torch.autograd.grad(loss, params)
    want = [p.detach() - 0.1 * g for p, g in zip(params, grads)]
    sgd_step(model, x, y, 0.1)
    for got, w in zip(model.params(), want):
        torch.testing.assert_close(got, w, rtol=1e-5, atol=1e-6)
