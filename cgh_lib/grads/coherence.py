"""Coherence of per-example gradients (GM2022; "m-coherence" of arXiv 2008.01217).

For per-example gradients g_1..g_m of a sample,

    alpha = ||sum_i g_i||^2 / (m * sum_i ||g_i||^2)   in [0, 1],
    ratio = alpha / alpha_perp = m * alpha = ||sum_i g_i||^2 / sum_i ||g_i||^2   in [0, m],

where alpha_perp = 1/m is the value for pairwise orthogonal gradients. The ratio reads as
"how many examples of the sample a step along one example's gradient helps, on average".

Why two running sums and no m x P matrix: sum_{i,j} g_i . g_j = ||sum_i g_i||^2, so the
metric needs only S = sum_i g_i (a parameter-sized vector, i.e. the ordinary gradient of the
summed loss) and Q = sum_i ||g_i||^2 (a scalar per layer), accumulated over chunks of the
sample. The cost is O(m) forward/backward work, never m^2 dot products.

Q needs per-example squared norms, which we get without per-example gradients where we can:

* ``nn.Linear``: dW_i = dz_i^T a_i, so ||dW_i||^2 = ||dz_i||^2 ||a_i||^2 (one row per example;
  with extra leading dims, the Gram form sum_{k,l} (dz_k.dz_l)(a_k.a_l)); bias ||sum_k dz_k||^2.
* ``nn.Conv2d`` (groups 1): with U_i = unfold(a_i) [D, L] and dz_i [C_out, L], dW_i = dz_i U_i^T;
  its squared norm is either formed from dW_i (cost C_out*D*L per example, in sub-chunks) or
  from the Gram form sum_{l,l'} (dz_i^T dz_i) * (U_i^T U_i) (cost L^2 (C_out + D)), whichever
  is cheaper for the layer's shape.
* ``BatchNorm`` in eval mode: dgamma_i = sum_hw dy_i * xhat_i, dbeta_i = sum_hw dy_i.
* anything else (a parameter outside those modules, weight sharing across calls): the whole
  model falls back to vmap per-example gradients in chunks (`per_example.per_example_grads`),
  folded into S and Q chunk by chunk.

BatchNorm is put in **eval mode** for the measurement (running statistics), because in train
mode one example's loss depends on the whole batch and "the gradient of one example" is not
defined; the model's train/eval mode of every module is restored afterwards. Per-layer alpha
and each layer's share of Q come out of the same pass; whole-model alpha is their
share-weighted average (GM2022's orthogonal decomposition).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cgh_lib.errors import UserError, choice_error
from cgh_lib.grads.per_example import per_example_grads_with_loss, unwrap

__all__ = [
    "COHERENCE_METHODS",
    "Coherence",
    "CoherenceAccumulator",
    "LayerCoherence",
    "coherence",
    "coherence_of_vectors",
    "stylized_minibatch_alpha",
]

LossFn = Callable[[Tensor, Tensor], Tensor]
COHERENCE_METHODS = ("auto", "fast", "vmap")
_BN = nn.modules.batchnorm._BatchNorm
# Elements of a materialized per-example conv weight-gradient block, per sub-chunk.
_MATERIALIZE_BUDGET = 1 << 25


class LayerCoherence(NamedTuple):
    """Coherence of one layer's (module's) parameters and its share of sum_i ||g_i||^2."""

    alpha: float
    share: float


@dataclass(frozen=True)
class Coherence:
    """Result of `coherence`: `alpha` in [0, 1], `ratio` = m * alpha in [0, m] (alpha / alpha_perp),
    `m` the sample size, `per_layer` {module name: LayerCoherence(alpha, share)}, `method`
    the path taken ('fast' or 'vmap'), and the raw sums (`sum_sq_norm` = ||sum_i g_i||^2,
    `sum_norm_sq` = sum_i ||g_i||^2), and `loss`, the sample's mean loss."""

    alpha: float
    ratio: float
    m: int
    per_layer: dict[str, LayerCoherence]
    method: str
    sum_sq_norm: float
    sum_norm_sq: float
    loss: float = float("nan")  # mean per-example loss on the sample (free: same forward)

    @property
    def alpha_perp(self) -> float:
        return 1.0 / self.m


def _default_loss(out: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(out, y, reduction="none")


def _layer_of(pname: str) -> str:
    return pname.rsplit(".", 1)[0] if "." in pname else ""


# ------------------------------------------------------------------ fast path
def _fast_modules(model: nn.Module) -> dict[nn.Module, str] | None:
    """{module: name} of the parameter-holding modules if every trainable parameter sits in a
    module with a per-example norm rule (Linear, Conv2d with groups 1 and numeric padding,
    affine BatchNorm with running statistics); else None (use vmap)."""
    mods: dict[nn.Module, str] = {}
    for name, mod in model.named_modules():
        own = [p for p in mod.parameters(recurse=False) if p.requires_grad]
        if not own:
            continue
        if isinstance(mod, nn.Linear):
            pass
        elif isinstance(mod, nn.Conv2d):
            if mod.groups != 1 or isinstance(mod.padding, str) or mod.padding_mode != "zeros":
                return None
        elif isinstance(mod, _BN):
            if not mod.track_running_stats or mod.running_mean is None:
                return None
        else:
            return None
        mods[mod] = name
    return mods


def _linear_sq(a: Tensor, dz: Tensor, weight: bool, bias: bool) -> dict[str, Tensor]:
    """Per-example squared norms [B] of a Linear's weight and bias gradients."""
    b = a.shape[0]
    a3 = a.reshape(b, -1, a.shape[-1])
    d3 = dz.reshape(b, -1, dz.shape[-1])
    out: dict[str, Tensor] = {}
    if a3.shape[1] == 1:
        if weight:
            out["weight"] = d3.square().sum((1, 2)) * a3.square().sum((1, 2))
    elif weight:  # several positions per example: ||sum_k dz_k^T a_k||^2 by Gram matrices
        out["weight"] = (torch.bmm(d3, d3.transpose(1, 2)) * torch.bmm(a3, a3.transpose(1, 2))).sum((1, 2))
    if bias:
        out["bias"] = d3.sum(1).square().sum(1)
    return out


def _conv_sq(mod: nn.Conv2d, a: Tensor, dz: Tensor, weight: bool, bias: bool) -> dict[str, Tensor]:
    """Per-example squared norms [B] of a Conv2d's weight and bias gradients (see module doc)."""
    b = a.shape[0]
    d = dz.reshape(b, dz.shape[1], -1)  # [B, C_out, L]
    out: dict[str, Tensor] = {}
    if weight:
        u = F.unfold(a, mod.kernel_size, dilation=mod.dilation, padding=mod.padding, stride=mod.stride)
        c_out, dim, n_pos = d.shape[1], u.shape[1], d.shape[2]
        if n_pos * n_pos * (c_out + dim) < c_out * dim * n_pos:
            gd = torch.bmm(d.transpose(1, 2), d)  # [B, L, L]
            gu = torch.bmm(u.transpose(1, 2), u)
            out["weight"] = (gd * gu).sum((1, 2))
        else:
            step = max(1, _MATERIALIZE_BUDGET // max(1, c_out * dim))
            parts = [torch.bmm(d[s:s + step], u[s:s + step].transpose(1, 2)).square().sum((1, 2))
                     for s in range(0, b, step)]
            out["weight"] = torch.cat(parts)
    if bias:
        out["bias"] = d.sum(2).square().sum(1)
    return out


def _bn_sq(mod: _BN, a: Tensor, dz: Tensor, weight: bool, bias: bool) -> dict[str, Tensor]:
    """Per-example squared norms [B] of an eval-mode BatchNorm's gamma and beta gradients."""
    b, c = a.shape[0], a.shape[1]
    shape = (1, c) + (1,) * (a.dim() - 2)
    xhat = (a - mod.running_mean.view(shape)) / torch.sqrt(mod.running_var.view(shape) + mod.eps)
    d = dz.reshape(b, c, -1)
    out: dict[str, Tensor] = {}
    if weight:
        out["weight"] = (d * xhat.reshape(b, c, -1)).sum(2).square().sum(1)
    if bias:
        out["bias"] = d.sum(2).square().sum(1)
    return out


def _fast_chunk(model: nn.Module, mods: dict[nn.Module, str], loss_fn: LossFn, x: Tensor, y: Tensor,
                params: dict[str, nn.Parameter]) -> tuple[dict[str, Tensor], dict[str, Tensor], Tensor] | None:
    """One forward with hooks and one backward: ({param: sum_i g_i}, {param: sum_i ||g_i||^2}, sum_i loss_i).
    None when a module ran more than once or saw a leading dim other than the batch."""
    records: list[tuple[nn.Module, Tensor, Tensor]] = []

    def hook(mod: nn.Module, inp: tuple[Tensor, ...], out: Tensor) -> Tensor:
        records.append((mod, inp[0].detach(), out))
        return out.clone()  # an in-place activation after us must not rewrite `out`

    handles = [m.register_forward_hook(hook) for m in mods]
    try:
        losses = _losses(model, loss_fn, x, y)
    finally:
        for h in handles:
            h.remove()
    batch = x.shape[0]
    seen = [m for m, _, _ in records]
    if len(set(seen)) != len(seen) or any(a.shape[0] != batch or z.shape[0] != batch for _, a, z in records):
        return None
    names = list(params)
    zs = [z for _, _, z in records if z.requires_grad]
    grads = torch.autograd.grad(losses.sum(), [params[n] for n in names] + zs, allow_unused=True)
    sums = {n: (g.detach() if g is not None else torch.zeros_like(params[n])) for n, g in zip(names, grads)}
    dzs = iter(grads[len(names):])
    sq: dict[str, Tensor] = {}
    for mod, a, z in records:
        if not z.requires_grad:
            continue
        dz = next(dzs)
        if dz is None:
            continue
        prefix = mods[mod] + "." if mods[mod] else ""
        w_ok = (prefix + "weight") in params
        b_ok = (prefix + "bias") in params
        if isinstance(mod, nn.Linear):
            part = _linear_sq(a, dz, w_ok, b_ok)
        elif isinstance(mod, nn.Conv2d):
            part = _conv_sq(mod, a, dz, w_ok, b_ok)
        else:
            part = _bn_sq(mod, a, dz, w_ok, b_ok)
        for k, v in part.items():
            sq[prefix + k] = v.double().sum()
    return sums, sq, losses.detach().double().sum()


def _losses(model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor) -> Tensor:
    losses = loss_fn(model(x), y)
    if losses.dim() != 1 or losses.shape[0] != x.shape[0]:
        raise UserError(f"loss_fn must return one loss per example (shape [{x.shape[0]}], reduction='none'), "
                        f"got shape {list(losses.shape)}")
    return losses


def _vmap_chunk(model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor
                ) -> tuple[dict[str, Tensor], dict[str, Tensor], Tensor]:
    """Generic fallback: materialize this chunk's per-example gradients by vmap and fold them."""
    _losses(model, loss_fn, x[:1], y[:1])  # check the loss contract once, on one example
    g, mean_loss = per_example_grads_with_loss(model, lambda o, t: loss_fn(o, t).sum(), x, y, method="vmap")
    return ({n: v.sum(0) for n, v in g.items()},
            {n: v.double().reshape(v.shape[0], -1).square().sum() for n, v in g.items()},
            mean_loss.double() * x.shape[0])


# ------------------------------------------------------------------ public API
def _check_batch(x: Tensor, y: Tensor) -> None:
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise UserError(f"x and y must be tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.dim() == 0 or x.shape[0] == 0:
        raise UserError("coherence needs a sample of at least 2 examples, got an empty one")
    if y.dim() == 0 or x.shape[0] != y.shape[0]:
        raise UserError(f"x has {x.shape[0]} examples but y has {y.shape[0] if y.dim() else 'a scalar'}")


class CoherenceAccumulator:
    """The two running sums over a sample fed in batches (e.g. from a DataLoader, for samples
    that do not fit in memory): ``acc.add(x, y)`` per batch, then ``acc.result()``. The model
    must not change between calls. `coherence` is this over one (x, y) in chunks."""

    def __init__(self, model: nn.Module, loss_fn: LossFn | None = None, chunk_size: int | None = None,
                 method: str = "auto") -> None:
        if method not in COHERENCE_METHODS:
            raise choice_error("coherence method", method, COHERENCE_METHODS)
        if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                       or chunk_size < 1):
            raise UserError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
        self.net = unwrap(model)
        self.params = {n: p for n, p in self.net.named_parameters() if p.requires_grad}
        if not self.params:
            raise UserError("the model has no trainable parameters (requires_grad=True), so it has no gradients")
        self.loss_fn = loss_fn or _default_loss
        self.method = method
        self.mods = _fast_modules(self.net) if method != "vmap" else None
        if method == "fast" and self.mods is None:
            raise UserError("method='fast' needs every trainable parameter in a Linear, Conv2d (groups=1) or "
                            "BatchNorm (with running stats); use method='auto' or 'vmap'")
        self.used = "fast" if self.mods is not None else "vmap"
        self.step = chunk_size or (256 if self.mods is not None else 64)
        self.sums: dict[str, Tensor] = {}
        self.sq: dict[str, Tensor] = {}
        self.m = 0
        self.loss_sum = 0.0

    def add(self, x: Tensor, y: Tensor) -> None:
        """Fold the examples of (x, y) into the sums (BatchNorm in eval mode meanwhile)."""
        _check_batch(x, y)
        net = self.net
        modes = {m: m.training for m in net.modules()}
        for m in net.modules():
            if isinstance(m, _BN):
                m.eval()
        try:
            with torch.enable_grad():
                for s in range(0, x.shape[0], self.step):
                    xc, yc = x[s:s + self.step], y[s:s + self.step]
                    res = (_fast_chunk(net, self.mods, self.loss_fn, xc, yc, self.params)
                           if self.used == "fast" else None)
                    if res is None:
                        if self.used == "fast" and self.method == "fast":
                            raise UserError("method='fast': a module ran twice per forward or saw inputs not "
                                            "indexed by example; use method='vmap'")
                        self.used = "vmap"
                        res = _vmap_chunk(net, self.loss_fn, xc, yc)
                    for n, v in res[0].items():
                        self.sums[n] = self.sums[n] + v if n in self.sums else v.clone()
                    for n, v in res[1].items():
                        self.sq[n] = self.sq[n] + v if n in self.sq else v
                    self.loss_sum += float(res[2])
                    self.m += xc.shape[0]
        finally:
            for m, mode in modes.items():
                m.train(mode)

    def result(self) -> Coherence:
        if self.m < 2:
            raise UserError(f"coherence needs a sample of at least 2 examples (m = 1 gives alpha = 1 trivially), "
                            f"got m = {self.m}" if self.m else "coherence needs a sample of at least 2 examples, "
                            "got an empty one")
        return _assemble(self.params, self.sums, self.sq, self.m, self.used, self.loss_sum / self.m)


def coherence(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn | None = None,
              chunk_size: int | None = None, method: str = "auto") -> Coherence:
    """Coherence alpha and m-coherence alpha/alpha_perp of the per-example gradients on (x, y).

    `loss_fn(output, target)` returns per-example losses (no reduction); default cross-entropy.
    `chunk_size` examples are processed at a time (default: 256, or 64 on the vmap path); it
    bounds memory, not the result. `method`: 'auto' (fast per-module norms where every
    parameter has a rule, else vmap), 'fast' (insist), 'vmap' (generic). BatchNorm layers are
    in eval mode during the measurement; every module's mode is restored afterwards. No
    `.grad` is touched.
    """
    _check_batch(x, y)
    if x.shape[0] < 2:
        raise UserError("coherence needs a sample of at least 2 examples (m = 1 gives alpha = 1 trivially), got m = 1")
    acc = CoherenceAccumulator(model, loss_fn, chunk_size, method)
    acc.add(x, y)
    return acc.result()


def _assemble(params: dict[str, nn.Parameter], sums: dict[str, Tensor], sq: dict[str, Tensor],
              m: int, method: str, loss: float) -> Coherence:
    layers: dict[str, list[float]] = {}
    for n in params:
        lay = layers.setdefault(_layer_of(n), [0.0, 0.0])
        lay[0] += float(sums[n].double().square().sum()) if n in sums else 0.0
        lay[1] += float(sq[n]) if n in sq else 0.0
    s_tot = sum(v[0] for v in layers.values())
    q_tot = sum(v[1] for v in layers.values())
    nan = float("nan")
    per_layer = {name: LayerCoherence(s / (m * q) if q > 0 else nan, q / q_tot if q_tot > 0 else nan)
                 for name, (s, q) in layers.items()}
    alpha = s_tot / (m * q_tot) if q_tot > 0 else nan
    return Coherence(alpha, m * alpha, m, per_layer, method, s_tot, q_tot, loss)


def coherence_of_vectors(g: Tensor) -> float:
    """alpha of the rows of an [m, d] matrix, by the two sums (the definition, for small examples)."""
    if g.dim() != 2 or g.shape[0] < 2:
        raise UserError(f"coherence_of_vectors needs an [m, d] matrix with m >= 2, got shape {list(g.shape)}")
    q = g.double().square().sum()
    return float(g.double().sum(0).square().sum() / (g.shape[0] * q)) if q > 0 else float("nan")


def stylized_minibatch_alpha(alpha: float, k: int) -> float:
    """alpha of means of k i.i.d. draws: k alpha / (1 + (k-1) alpha) (GM2022's stylized mini-batching)."""
    return k * alpha / (1 + (k - 1) * alpha)
