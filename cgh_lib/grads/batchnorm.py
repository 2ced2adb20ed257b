"""Per-example gradients for nets with BatchNorm in train mode (WS Appendix B, Figure 8).

`pergrad.per_group_grads` refuses BatchNorm in train mode because there an
example's loss depends on the whole minibatch (through the batch statistics),
so "the gradient of one example" needs a definition. Here it is the one that
matches how the minibatch is actually trained:

    one forward of the whole minibatch in train mode (BatchNorm normalises with
    the batch's statistics and updates its running statistics once, exactly as
    an SGD step does), then, for each example i, the gradient of *its own* loss
    l_i through that shared forward, including l_i's dependence on the batch
    statistics.

These per-example gradients average exactly to the ordinary minibatch gradient
(mean_i grad l_i = grad mean_i l_i), so winsorization with c = 0 is plain SGD,
as the paper's s = 0 is. The WS paper does not say how its CIFAR-10 ResNet-32
handled BatchNorm; this is our choice.

Computed as the Jacobian of the loss vector by a vmapped backward
(``is_grads_batched``), falling back to one backward per example where an
operator has no batching rule.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from cgh_lib.errors import UserError
from cgh_lib.grads.aggregators import Aggregator, winsorized_mean
from cgh_lib.grads.per_example import LossFn, per_example_losses, unwrap

__all__ = ["per_example_grads_shared_forward", "BNWinsorizedAggregator", "has_batchnorm"]


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in unwrap(model).modules())


def per_example_grads_shared_forward(
    model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, batched: bool = True,
) -> tuple[dict[str, Tensor], Tensor]:
    """({name: [B, *param.shape]}, mean loss): grad of each example's loss through one shared forward.

    ``batched=False`` forces the slow reference (one backward per example).
    No ``.grad`` is touched.
    """
    net = unwrap(model)
    named = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    out = net(x)
    losses = per_example_losses(loss_fn, out.float(), y)
    b = losses.shape[0]
    grads: list[Tensor] | None = None
    if batched:
        try:
            eye = torch.eye(b, dtype=losses.dtype, device=losses.device)
            grads = list(torch.autograd.grad(losses, params, grad_outputs=eye, is_grads_batched=True,
                                             retain_graph=True, allow_unused=True))
        except RuntimeError:  # an op without a batching rule: take the loop below
            grads = None
    if grads is None:
        rows: list[list[Tensor | None]] = []
        for i in range(b):
            rows.append(list(torch.autograd.grad(losses[i], params, retain_graph=i < b - 1, allow_unused=True)))
        grads = [torch.stack([r[j] if r[j] is not None else torch.zeros_like(params[j]) for r in rows])
                 for j in range(len(params))]
    result = {n: (g if g is not None else torch.zeros(b, *p.shape, dtype=p.dtype, device=p.device)).detach()
              for (n, p), g in zip(named, grads)}
    return result, losses.detach().mean()


class BNWinsorizedAggregator(Aggregator):
    """Coordinate-wise c-winsorized mean of per-example gradients from a shared train-mode forward.

    The WS paper's s is ``c``: per coordinate, values below the (c+1)-th
    smallest / above the (c+1)-th largest of the B per-example values are
    clipped to them, then averaged (the paper says "summed"; we average like
    the mean-loss SGD it is compared with, so c = 0 is exactly SGD).
    """

    name = "winsorized-bn"

    def __init__(self, c: int = 0, batched: bool = True) -> None:
        if isinstance(c, bool) or not isinstance(c, int) or c < 0:
            raise UserError(f"winsorization level c must be a non-negative integer, got {c!r}")
        self.c = c
        self.batched = batched

    def backward(self, model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor) -> Tensor:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            raise UserError("winsorization does not support DistributedDataParallel; train it on one device")
        if 2 * self.c + 2 > x.shape[0]:
            raise UserError(f"winsorization level c={self.c} needs a batch of at least {2 * self.c + 2}, "
                            f"got {x.shape[0]}; accepted: 0 <= c <= {max((x.shape[0] - 2) // 2, 0)}")
        grads, loss = per_example_grads_shared_forward(model, loss_fn, x, y, self.batched)
        for n, p in unwrap(model).named_parameters():
            if p.requires_grad:
                g = grads.pop(n)
                p.grad = g.mean(0) if self.c == 0 else winsorized_mean(g, self.c).to(p.dtype)
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "c": self.c}

    def __repr__(self) -> str:
        return f"BNWinsorizedAggregator(c={self.c})"
