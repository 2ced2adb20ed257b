"""Pristine/corrupt gradient statistics of CG2020 §2.4.

With g the sum of the per-example gradients, g_p the sum over pristine
examples and g_c over corrupt ones, <g, g> = <g, g_p> + <g, g_c>, so
f_p = <g, g_p>/<g, g> and f_c = 1 - f_p split the first-order loss reduction
of a step between the two groups (cross terms shared equally). Everything here
needs only the sums g and g_p, never the m^2 pairwise products, so the exact
statistic costs two gradient sums; the paper's cheaper estimator (400 examples,
300 weights from each of 2 layers) is `subsample_grads` followed by
`pristine_corrupt_fractions`. Figure 3's per-example cumulative contributions
are `cumulative_contributions`, and the null worlds are `null_world_masks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import Tensor, nn

from cgh_lib.errors import UserError
from cgh_lib.grads.per_example import LossFn, per_example_losses, unwrap


def _check_mask(mask: Tensor, m: int | None = None) -> Tensor:
    """Validate a pristine mask: 1-D bool, m long, both sets non-empty."""
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.dim() != 1:
        raise UserError("pristine_mask must be a 1-D torch.bool tensor")
    m = mask.shape[0] if m is None else m
    if mask.shape[0] != m:
        raise UserError(f"pristine_mask has {mask.shape[0]} entries but there are {m} examples")
    n_p = int(mask.sum())
    if n_p == 0:
        raise UserError("the pristine set is empty (pristine_mask has no True entry)")
    if n_p == m:
        raise UserError("the corrupt set is empty (pristine_mask is all True)")
    return mask


def fractions_from_inner(inner_p: float, inner_c: float) -> tuple[float, float]:
    """(f_p, f_c) from <g, g_p> and <g, g_c>; NaN when g = 0 (nothing to split)."""
    total = inner_p + inner_c
    if total == 0.0:
        return float("nan"), float("nan")
    f_p = inner_p / total
    return f_p, 1.0 - f_p


def inner_products(per_example: Tensor, pristine_mask: Tensor) -> tuple[float, float]:
    """(<g, g_p>, <g, g_c>) from an [m, d] matrix of per-example gradients (float64 dots)."""
    if per_example.dim() != 2:
        raise UserError(f"per_example must be an [m, d] matrix, got shape {tuple(per_example.shape)}")
    mask = _check_mask(pristine_mask, per_example.shape[0]).to(per_example.device)
    g_p = per_example[mask].sum(0, dtype=torch.float64)
    g_c = per_example[~mask].sum(0, dtype=torch.float64)
    g = g_p + g_c
    return float(g @ g_p), float(g @ g_c)


def pristine_corrupt_fractions(per_example: Tensor, pristine_mask: Tensor) -> tuple[float, float]:
    """(f_p, f_c) of CG2020 §2.4 from [m, d] per-example gradients; f_p + f_c = 1."""
    return fractions_from_inner(*inner_products(per_example, pristine_mask))


def model_inner_products(
    model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, pristine_mask: Tensor,
    chunk_size: int = 1024,
) -> tuple[float, float]:
    """Exact (<g, g_p>, <g, g_c>) over all of (x, y), in chunks, never forming [m, d].

    g_p is the gradient of the summed loss of the pristine examples and g_c that
    of the corrupt ones, so one forward and two backward passes per chunk give
    both sums; g = g_p + g_c. The model's train/eval mode is left as is (use
    eval mode if it has dropout or BatchNorm) and no `.grad` is touched.
    """
    model = unwrap(model)
    mask = _check_mask(pristine_mask, x.shape[0])
    if y.shape[0] != x.shape[0]:
        raise UserError(f"x has {x.shape[0]} examples but y has {y.shape[0]}")
    if chunk_size < 1:
        raise UserError(f"chunk_size must be >= 1, got {chunk_size}")
    params = [p for p in model.parameters() if p.requires_grad]
    g_p = [torch.zeros_like(p) for p in params]
    g_c = [torch.zeros_like(p) for p in params]
    for start in range(0, x.shape[0], chunk_size):
        xs, ys = x[start : start + chunk_size], y[start : start + chunk_size]
        ms = mask[start : start + chunk_size].to(xs.device)
        losses = per_example_losses(loss_fn, model(xs), ys)
        for acc, sel, last in ((g_p, ms, False), (g_c, ~ms, True)):
            if sel.any():
                gs = torch.autograd.grad(losses[sel].sum(), params, retain_graph=not last, allow_unused=True)
                for a, gi in zip(acc, gs):
                    if gi is not None:
                        a += gi
    vp = torch.cat([t.reshape(-1) for t in g_p]).double()
    vc = torch.cat([t.reshape(-1) for t in g_c]).double()
    g = vp + vc
    return float(g @ vp), float(g @ vc)


def model_fractions(
    model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, pristine_mask: Tensor,
    chunk_size: int = 1024,
) -> tuple[float, float]:
    """Exact (f_p, f_c) over all of (x, y) and all trainable weights; see `model_inner_products`."""
    return fractions_from_inner(*model_inner_products(model, loss_fn, x, y, pristine_mask, chunk_size))


@dataclass(frozen=True)
class GradIndex:
    """Which examples (rows) and which flat coordinates of each tensor were sampled."""

    rows: Tensor  # [m'] sorted example indices
    coords: dict[str, Tensor]  # name -> sorted flat indices into that tensor


@dataclass(frozen=True)
class GradSample:
    """The sampled [m', d'] matrix (columns: `index.coords` in dict order) and its index."""

    matrix: Tensor
    index: GradIndex


def choose_grad_sample(
    shapes: Mapping[str, Sequence[int]], m: int, seed: int, n_examples: int = 400,
    k_per_param: int = 300, names: Sequence[str] | None = None,
) -> GradIndex:
    """Fixed random choice of `n_examples` of m examples and `k_per_param`
    coordinates of each tensor in `names` (default: all of `shapes`).

    Deterministic in (shapes, m, seed, ...), so calling it at every evaluation
    step yields the same choice, as the paper's fixed sample requires. Choosing
    before computing lets a caller take per-example gradients of only the
    sampled examples. Counts larger than available are capped.
    """
    names = list(shapes) if names is None else list(names)
    unknown = [n for n in names if n not in shapes]
    if unknown:
        raise UserError(f"unknown parameter name(s) {unknown}; accepted: {', '.join(shapes)}")
    if n_examples < 1 or k_per_param < 1:
        raise UserError(f"n_examples and k_per_param must be >= 1, got {n_examples}, {k_per_param}")
    gen = torch.Generator().manual_seed(seed)
    rows = torch.randperm(m, generator=gen)[:n_examples].sort().values
    coords = {}
    for n in names:
        numel = int(torch.Size(shapes[n]).numel())
        coords[n] = torch.randperm(numel, generator=gen)[:k_per_param].sort().values
    return GradIndex(rows, coords)


def gather_grad_sample(grads: Mapping[str, Tensor], index: GradIndex, rows_selected: bool = False) -> Tensor:
    """[m', d'] matrix of `grads` ({name: [m, *shape]}) at `index`; pass
    rows_selected=True when `grads` already holds only the sampled examples."""
    cols = []
    for n, c in index.coords.items():
        g = grads[n]
        if not rows_selected:
            g = g[index.rows.to(g.device)]
        cols.append(g.reshape(g.shape[0], -1)[:, c.to(g.device)])
    return torch.cat(cols, dim=1)


def subsample_grads(
    grads: Mapping[str, Tensor], seed: int, n_examples: int = 400, k_per_param: int = 300,
    names: Sequence[str] | None = None,
) -> GradSample:
    """The paper's fidelity estimator input: sample examples and coordinates of
    per-example grads ({name: [m, *shape]}). For CG2020's 1-hidden-layer MLP use
    names=[the two weight matrices] (300 + 300 = 600 weights)."""
    if not grads:
        raise UserError("subsample_grads: no gradients given")
    m = next(iter(grads.values())).shape[0]
    shapes = {n: g.shape[1:] for n, g in grads.items()}
    index = choose_grad_sample(shapes, m, seed, n_examples, k_per_param, names)
    return GradSample(gather_grad_sample(grads, index), index)


def cumulative_contributions(
    inner_p: Sequence[float] | Tensor, inner_c: Sequence[float] | Tensor, n_p: int, n_c: int
) -> tuple[Tensor, Tensor]:
    """Figure 3: i_p(t) = (1/|p|) sum_{t'<=t} <g_t', g^p_t'> and i_c likewise.

    Inputs are the per-step inner products from step 0 on; outputs are float64
    tensors of the same length: the mean cumulative first-order contribution
    (up to the learning rate) of one pristine / one corrupt example.
    """
    ip = torch.as_tensor(inner_p, dtype=torch.float64).reshape(-1)
    ic = torch.as_tensor(inner_c, dtype=torch.float64).reshape(-1)
    if ip.shape != ic.shape:
        raise UserError(f"inner_p and inner_c differ in length ({ip.numel()} vs {ic.numel()})")
    if n_p < 1 or n_c < 1:
        raise UserError(f"n_p and n_c must be >= 1 (set sizes), got {n_p}, {n_c}")
    return ip.cumsum(0) / n_p, ic.cumsum(0) / n_c


def null_world_masks(pristine_mask: Tensor, n_worlds: int, seed: int) -> list[Tensor]:
    """Null worlds of §2.4: the real designations randomly permuted among the
    examples (same pristine/corrupt counts). World i depends only on (seed, i),
    so asking for more worlds keeps the earlier ones."""
    if isinstance(n_worlds, bool) or not isinstance(n_worlds, int) or n_worlds < 0:
        raise UserError(f"n_worlds must be a non-negative integer, got {n_worlds!r}")
    mask = _check_mask(pristine_mask)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_worlds):
        perm = torch.randperm(mask.shape[0], generator=gen).to(mask.device)
        out.append(mask[perm])
    return out
