"""Per-example (and per-group) gradients.

Both CG2020 experiments need the gradient of each example's *own* loss:
§2.4 decomposes the step into pristine and corrupt contributions, and §3's
winsorized SGD clips each coordinate across the examples of a minibatch. WS's
M3 needs the mean gradient of each of 3 groups of a minibatch, which is the
same computation with groups of B/3 examples instead of groups of one, so both
are served by `per_group_grads`.

Two exact methods:

* Fast path, for models whose parameters all live in `nn.Linear` layers and
  whose other leaf modules are elementwise (ReLU, Tanh, Dropout, Flatten, ...):
  one forward with hooks recording each Linear's input `a` and output `z`, one
  backward of the summed per-example loss to get dL/dz, then per example (or
  group) dW = dz^T a and db = sum dz, as a single batched matmul. This is the
  method of the authors' code and costs about one SGD step plus the size of the
  result; there is no Python loop over examples.
* General path: `torch.func.functional_call` + `vmap(grad(...))` over examples
  (or groups), for convolutions, normalization layers in eval mode, etc.

Both assume the model treats examples independently (no BatchNorm in train
mode), which is what makes "the gradient of one example's loss" well defined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad_and_value, vmap

from cgh_lib.errors import UserError, choice_error

LossFn = Callable[[Tensor, Tensor], Tensor]
Method = Literal["auto", "linear", "vmap"]
METHODS = ("auto", "linear", "vmap")

# Leaf modules that act on each example separately and hold no parameters; a
# model made of these plus nn.Linear qualifies for the fast path.
_ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Hardtanh, nn.Hardswish,
    nn.Hardsigmoid, nn.Softsign, nn.Tanhshrink, nn.LogSigmoid, nn.Identity,
    nn.Flatten, nn.Unflatten, nn.Dropout, nn.AlphaDropout,
)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel/DataParallel wrapper (else itself)."""
    inner = getattr(model, "module", None)
    if isinstance(inner, nn.Module) and isinstance(
        model, (nn.parallel.DistributedDataParallel, nn.DataParallel)
    ):
        return inner
    return model


def per_example_losses(loss_fn: LossFn, out: Tensor, y: Tensor) -> Tensor:
    """Loss of each example, shape [B], by vmapping `loss_fn` over single examples.

    `loss_fn` only has to be right for one example (e.g. F.cross_entropy with
    its default mean reduction), so callers need not know a 'none' reduction.
    """
    return vmap(lambda o, t: loss_fn(o.unsqueeze(0), t.unsqueeze(0)))(out, y)


def linear_fast_path_ok(model: nn.Module) -> bool:
    """True when every trainable parameter sits in an nn.Linear and every other
    leaf module is in the elementwise allowlist (so the hook method is exact)."""
    for mod in model.modules():
        own = [p for p in mod.parameters(recurse=False) if p.requires_grad]
        if own and not isinstance(mod, nn.Linear):
            return False
        is_leaf = next(mod.children(), None) is None
        if is_leaf and not isinstance(mod, (nn.Linear, *_ELEMENTWISE)):
            return False
    return True


def _trainable(model: nn.Module) -> dict[str, nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def _check_groups(batch: int, n_groups: int) -> int:
    if isinstance(n_groups, bool) or not isinstance(n_groups, int) or n_groups < 1:
        raise UserError(f"n_groups must be a positive integer, got {n_groups!r}")
    if batch % n_groups:
        raise UserError(
            f"batch size {batch} is not divisible into {n_groups} equal groups; "
            "use a batch size that is a multiple of the number of groups"
        )
    return batch // n_groups


@dataclass
class LinearFactors:
    """Per-example factors of one nn.Linear's gradient, from which any per-example
    or per-group gradient is a batched matmul: dW_e = sum_k dz[e,k]^T a[e,k] and
    db_e = sum_k dz[e,k] (k > 1 only when the layer sees extra dims; one pair of
    factors per call of the layer). Names are None for frozen tensors."""

    weight: str | None
    bias: str | None
    a: list[Tensor] = field(default_factory=list)  # each [B, k, in]
    dz: list[Tensor] = field(default_factory=list)  # each [B, k, out], dL_e/dz of own loss


def linear_factors(
    model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor
) -> tuple[list[LinearFactors], Tensor] | None:
    """One forward with hooks and one backward of the summed per-example loss.

    Returns (factors of each Linear with a trainable tensor, mean loss), or None
    if a Linear saw a leading dim other than the batch (a custom forward folding
    examples together), so callers can fall back to the general path. Assumes
    `linear_fast_path_ok(model)`.
    """
    model = unwrap(model)
    batch = x.shape[0]
    params = _trainable(model)
    linears = {m: name for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    records: list[tuple[nn.Module, Tensor, Tensor]] = []

    def hook(mod: nn.Module, inp: tuple[Tensor, ...], out: Tensor) -> Tensor:
        records.append((mod, inp[0], out))
        # Hand the rest of the net a copy, so an in-place activation cannot
        # rewrite `out`, which must stay the pre-activation we differentiate by.
        return out.clone()

    handles = [m.register_forward_hook(hook) for m in linears]
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    losses = per_example_losses(loss_fn, out, y)
    used = [(m, a, z) for m, a, z in records if z.requires_grad]
    if any(a.shape[0] != batch for _, a, _ in used):
        return None
    dzs = torch.autograd.grad(losses.sum(), [z for _, _, z in used], allow_unused=True)
    by_layer: dict[nn.Module, LinearFactors] = {}
    for (mod, a, _), dz in zip(used, dzs):
        prefix = linears[mod] + "." if linears[mod] else ""
        wname, bname = prefix + "weight", prefix + "bias"
        f = by_layer.setdefault(mod, LinearFactors(
            wname if wname in params else None, bname if bname in params else None))
        if dz is None or (f.weight is None and f.bias is None):
            continue
        f.a.append(a.detach().reshape(batch, -1, a.shape[-1]))
        f.dz.append(dz.reshape(batch, -1, dz.shape[-1]))
    return [f for f in by_layer.values() if f.a], losses.detach().mean()


def _linear_group_grads(
    model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, n_groups: int
) -> tuple[dict[str, Tensor], Tensor] | None:
    """Per-group means from the Linear factors: one bmm per layer, no example loop."""
    res = linear_factors(model, loss_fn, x, y)
    if res is None:
        return None
    factors, loss = res
    size = x.shape[0] // n_groups
    grads: dict[str, Tensor] = {}
    for f in factors:
        for a, dz in zip(f.a, f.dz):
            # [G, s*k, out] and [G, s*k, in]
            dz3 = dz.reshape(n_groups, -1, dz.shape[-1])
            if f.weight is not None:
                gw = torch.bmm(dz3.transpose(1, 2), a.reshape(n_groups, -1, a.shape[-1]))
                grads[f.weight] = grads[f.weight] + gw if f.weight in grads else gw
            if f.bias is not None:
                gb = dz3.sum(1)
                grads[f.bias] = grads[f.bias] + gb if f.bias in grads else gb
    if size > 1:
        grads = {n: g.div_(size) for n, g in grads.items()}
    # Keep named_parameters order; a Linear never reached gets zero gradient.
    params = _trainable(unwrap(model))
    result = {
        n: grads[n] if n in grads else torch.zeros((n_groups, *p.shape), dtype=p.dtype, device=p.device)
        for n, p in params.items()
    }
    return result, loss


def _check_vmappable(model: nn.Module) -> None:
    for name, mod in model.named_modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.training:
            raise UserError(
                f"module {name!r} is a BatchNorm layer in train mode: per-example/group "
                "gradients mix examples there; call model.eval() first (or, for M3, use "
                "serial micro-batches)"
            )


def _vmap_group_grads(
    model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, n_groups: int,
    chunk_size: int | None,
) -> tuple[dict[str, Tensor], Tensor]:
    """vmap(grad) over groups of examples; the group loss is the mean of its
    examples' own losses, so a group of one gives the per-example gradient."""
    _check_vmappable(model)
    params = {n: p.detach() for n, p in _trainable(model).items()}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    frozen.update(dict(model.named_buffers()))
    xs = x.reshape(n_groups, -1, *x.shape[1:])
    ys = y.reshape(n_groups, -1, *y.shape[1:])

    def group_loss(p: dict[str, Tensor], xg: Tensor, yg: Tensor) -> Tensor:
        out = functional_call(model, (p, frozen), (xg,))
        return per_example_losses(loss_fn, out, yg).mean()

    fn = vmap(
        grad_and_value(group_loss), in_dims=(None, 0, 0),
        randomness="different", chunk_size=chunk_size,
    )
    grads, losses = fn(params, xs, ys)
    return {n: grads[n].detach() for n in params}, losses.detach().mean()


def per_group_grads(
    model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, n_groups: int,
    method: Method = "auto", chunk_size: int | None = None,
) -> tuple[dict[str, Tensor], Tensor]:
    """Gradient of the mean loss of each of `n_groups` consecutive equal groups.

    Returns ({name: [n_groups, *param.shape]}, mean loss over the batch). With
    n_groups == batch this is the per-example gradient. `method`: 'auto' picks
    the Linear fast path when `linear_fast_path_ok`, else vmap; 'linear' insists
    on the fast path; 'vmap' forces the general one. `chunk_size` bounds vmap's
    memory. No `.grad` is touched.
    """
    if method not in METHODS:
        raise choice_error("per-example gradient method", method, METHODS)
    model = unwrap(model)
    _check_groups(x.shape[0], n_groups)
    if x.shape[0] != y.shape[0]:
        raise UserError(f"x has {x.shape[0]} examples but y has {y.shape[0]}")
    fast_ok = linear_fast_path_ok(model)
    if method == "linear" and not fast_ok:
        raise UserError("method='linear' needs a model of nn.Linear + elementwise layers only")
    if method != "vmap" and fast_ok:
        res = _linear_group_grads(model, loss_fn, x, y, n_groups)
        if res is not None:
            return res
        if method == "linear":
            raise UserError("method='linear': a Linear layer saw inputs not indexed by example")
    return _vmap_group_grads(model, loss_fn, x, y, n_groups, chunk_size)


def per_example_grads_with_loss(
    model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor,
    method: Method = "auto", chunk_size: int | None = None,
) -> tuple[dict[str, Tensor], Tensor]:
    """`per_example_grads` plus the (detached) mean loss, which trainers report."""
    return per_group_grads(model, loss_fn, x, y, x.shape[0], method, chunk_size)


def per_example_grads(
    model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor,
    method: Method = "auto", chunk_size: int | None = None,
) -> dict[str, Tensor]:
    """{name: [batch, *param.shape]}: the gradient of each example's own loss.

    Keys are the trainable parameters in `model.named_parameters()` order.
    `loss_fn(out, target)` is applied to one example at a time (batch of 1).
    """
    return per_example_grads_with_loss(model, loss_fn, x, y, method, chunk_size)[0]


def flatten_grads(grads: dict[str, Tensor]) -> Tensor:
    """Concatenate {name: [m, *shape]} into one [m, d] matrix (dict order)."""
    if not grads:
        raise UserError("flatten_grads: no gradients given")
    return torch.cat([g.reshape(g.shape[0], -1) for g in grads.values()], dim=1)
