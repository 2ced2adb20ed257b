"""Fully connected models of CG2020, single and stacked.

`mlp` builds an ordinary ``nn.Sequential`` (Linear/ReLU), the form the
per-example-gradient and analysis code works with. `StackedMLP` holds K
independent MLPs of the same shape as batched weight tensors ``[K, in, out]``
so K runs (e.g. the 5 noise levels of Figure 1) train in one ``baddbmm`` per
layer: one kernel launch instead of K, which is what makes batching pay on a
GPU. Member k of a stack is numerically the same model as `mlp` built with the
same seed (`StackedMLP.member` converts back).

Init schemes:
* ``xavier``: Xavier/Glorot normal, std = sqrt(2 / (fan_in + fan_out)); biases 0
  (the paper says "Xavier").
* ``authors``: Normal(0, 1) * 2 / sqrt(fan_in + fan_out), biases 0 (what the
  authors' TF code did: sqrt(2) times the Xavier std).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from cgh_lib.errors import choice_error

INITS = ("xavier", "authors")


def init_std(fan_in: int, fan_out: int, init: str) -> float:
    """Standard deviation of the weight init for a layer."""
    if init == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if init == "authors":
        return 2.0 / math.sqrt(fan_in + fan_out)
    raise choice_error("init", init, INITS)


def layer_sizes(in_dim: int, hidden: Sequence[int], out_dim: int) -> list[int]:
    return [int(in_dim), *[int(h) for h in hidden], int(out_dim)]


def _init_weights(sizes: list[int], init: str, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Weights as ``[in, out]`` (x @ W layout) and zero biases, from a private generator."""
    g = torch.Generator().manual_seed(int(seed))
    out = []
    for fi, fo in zip(sizes[:-1], sizes[1:]):
        w = torch.randn(fi, fo, generator=g) * init_std(fi, fo, init)
        out.append((w, torch.zeros(fo)))
    return out


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, init: str = "xavier", seed: int = 0) -> nn.Sequential:
    """An MLP ``in -> hidden... -> out`` with ReLUs, initialized deterministically from ``seed``."""
    sizes = layer_sizes(in_dim, hidden, out_dim)
    layers: list[nn.Module] = []
    for i, (w, b) in enumerate(_init_weights(sizes, init, seed)):
        lin = nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(w.T)
            lin.bias.copy_(b)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class StackedMLP:
    """K same-shaped MLPs as batched tensors; plain tensors, not a Module, for a lean hot loop."""

    def __init__(self, sizes: list[int], inits: Sequence[str], seeds: Sequence[int],
                 device: torch.device | str = "cpu") -> None:
        self.sizes = sizes
        members = [_init_weights(sizes, init, s) for init, s in zip(inits, seeds)]
        # plain tensors updated in place by the step rules (no autograd in the hot loop)
        self.weights = [torch.stack([m[i][0] for m in members]).to(device) for i in range(len(sizes) - 1)]
        self.biases = [torch.stack([m[i][1] for m in members]).unsqueeze(1).to(device)
                       for i in range(len(sizes) - 1)]

    @property
    def k(self) -> int:
        return self.weights[0].shape[0]

    def params(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases]

    def forward(self, x: torch.Tensor, params: list[torch.Tensor] | None = None) -> torch.Tensor:
        """``x``: ``[K, B, in]`` (each member its own batch) -> logits ``[K, B, out]``.

        ``params`` (weights then biases, as `params()`) substitutes other tensors,
        e.g. copies that require grad for an autograd reference.
        """
        n = len(self.weights)
        ws, bs = (params[:n], params[n:]) if params is not None else (self.weights, self.biases)
        h = x
        last = n - 1
        for i, (w, b) in enumerate(zip(ws, bs)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = torch.relu(h)
        return h

    def forward_shared(self, x: torch.Tensor) -> torch.Tensor:
        """Same input for every member: ``x`` ``[N, in]`` -> ``[K, N, out]`` (evaluation)."""
        outs = []
        last = len(self.weights) - 1
        for k in range(self.k):  # 2-D addmm per member: no broadcast copy of x
            h = x
            for i, (w, b) in enumerate(zip(self.weights, self.biases)):
                h = torch.addmm(b[k], h, w[k])
                if i < last:
                    h.relu_()
            outs.append(h)
        return torch.stack(outs)

    def member(self, k: int) -> nn.Sequential:
        """Member ``k`` as an ordinary ``nn.Sequential`` (copies the weights)."""
        layers: list[nn.Module] = []
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            lin = nn.Linear(w.shape[1], w.shape[2])
            with torch.no_grad():
                lin.weight.copy_(w[k].T)
                lin.bias.copy_(b[k, 0])
            layers.append(lin)
            if i < len(self.weights) - 1:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    def state(self) -> list[torch.Tensor]:
        return [p.detach().cpu().clone() for p in self.params()]

    def load_state(self, tensors: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for p, t in zip(self.params(), tensors):
                p.copy_(t)
