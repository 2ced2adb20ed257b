"""Robust gradient aggregation: winsorized mean (CG2020 §3), M3 / RM3 / RA3 (WS §3.2).

An `Aggregator` replaces the usual `loss.backward()` of a training step: its
`backward(model, loss_fn, x, y)` leaves the aggregated gradient in each
`p.grad` (overwriting, so no zero_grad is needed) and returns the minibatch's
mean loss; the caller then runs any `torch.optim` optimizer's `step()`. Keeping
aggregation out of the optimizer (the authors wrote M3/RM3 as SGD clones
without momentum) is what lets momentum, weight decay and LR schedules
compose with it unchanged.

`loss_fn(out, target)` must return the mean loss over its examples (e.g.
F.cross_entropy's default), so that a batch of one gives that example's loss.
"""

from __future__ import annotations

import numbers
import os
from collections import deque
from typing import Any, Callable, ClassVar, Sequence

import torch
from torch import Tensor, nn

from cgh_lib.errors import UserError, choice_error
from cgh_lib.grads import native_winsorize
from cgh_lib.grads.per_example import (
    LinearFactors,
    LossFn,
    linear_factors,
    linear_fast_path_ok,
    per_example_grads_with_loss,
    per_group_grads,
    unwrap,
)

# ---------------------------------------------------------------------------
# Elementwise robust means


def _check_c(c: object, batch: int | None = None) -> int:
    """Validate the winsorization level (and, given a batch size, that it fits)."""
    if isinstance(c, bool) or not isinstance(c, numbers.Integral):
        raise UserError(f"winsorization level c must be a non-negative integer, got {c!r}")
    c = int(c)
    if c < 0:
        raise UserError(f"winsorization level c must be a non-negative integer, got {c}")
    if batch is not None and 2 * c + 2 > batch:
        raise UserError(
            f"winsorization level c={c} needs a batch of at least 2c+2={2 * c + 2} examples "
            f"(c are clipped at each end and two must remain), got {batch}; accepted: "
            f"0 <= c <= {max((batch - 2) // 2, 0)}"
        )
    return c


# Columns per chunk of the CPU kernel: small enough that the running top/bottom
# lists (2(c+1) vectors) stay in L2, large enough to amortize per-op overhead.
_CPU_CHUNK = 16384


def _insert(rows: Sequence[Tensor], lists: list[Tensor], keep: Callable, drop: Callable,
            tmp: tuple[Tensor, Tensor]) -> None:
    """Insert each row into the sorted running lists (`lists[0]` most extreme)
    with compare-exchanges: exact with ties, no sort, no allocation."""
    k = len(lists)
    for r in rows:
        v = r
        for j in range(k - 1):
            nv = tmp[0] if v is not tmp[0] else tmp[1]
            drop(lists[j], v, out=nv)
            keep(lists[j], v, out=lists[j])
            v = nv
        keep(lists[k - 1], v, out=lists[k - 1])


def _winsorized_sum_cpu(x: Tensor, c: int, out: Tensor) -> None:
    """Column sums of x [B, w] after clipping to the (c+1)-th extremes, into out [w].

    Closed form: sum - (c largest) - (c smallest) + c*(u + l), with u, l the
    (c+1)-th largest / smallest. On CPU, torch.topk/sort along the batch dim cost
    ~1-2 us per column; elementwise insertion into running top/bottom lists is
    ~10x cheaper for small c.
    """
    k = c + 1
    rows = x.unbind(0)
    w = x.shape[1]
    top = [rows[0].clone()] + [x.new_full((w,), float("-inf")) for _ in range(k - 1)]
    bot = [rows[0].clone()] + [x.new_full((w,), float("inf")) for _ in range(k - 1)]
    tmp = (x.new_empty(w), x.new_empty(w))
    _insert(rows[1:], top, torch.maximum, torch.minimum, tmp)
    _insert(rows[1:], bot, torch.minimum, torch.maximum, tmp)
    torch.sum(x, 0, out=out)
    for j in range(c):
        out.sub_(top[j]).sub_(bot[j])
    out.add_(top[c] + bot[c], alpha=c)


def _winsorized_sum_topk(x: Tensor, c: int) -> Tensor:
    """Same closed form via topk (fast on GPU). topk returns values, so the sum of
    the c extremes is right whatever the ties."""
    k = c + 1
    top = x.topk(k, dim=0).values
    bot = x.topk(k, dim=0, largest=False).values
    return x.sum(0) - top[:c].sum(0) - bot[:c].sum(0) + c * (top[c] + bot[c])


def _winsorized_sum_network(x: Tensor, c: int) -> Tensor:
    """The insertion network of `_winsorized_sum_cpu` written functionally (no
    out=, no in-place) so that torch.compile can fuse its B*(4c+2) elementwise
    ops into one loop over columns that keeps the running lists in registers:
    one read of x instead of ~B*(4c+2) kernel launches over it."""
    k = c + 1
    top: list[Tensor] = [x[0]]
    bot: list[Tensor] = [x[0]]
    for i in range(1, x.shape[0]):
        for lists, keep, drop in ((top, torch.maximum, torch.minimum), (bot, torch.minimum, torch.maximum)):
            v = x[i]
            for j in range(len(lists)):
                lists[j], v = keep(lists[j], v), drop(lists[j], v)
            if len(lists) < k:
                lists.append(v)
    res = x.sum(0)
    for j in range(c):
        res = res - top[j] - bot[j]
    return res + c * (top[c] + bot[c])


WINSORIZE_KERNELS = ("auto", "native", "eager", "compiled")
KERNEL_ENV = "CGH_WINSORIZE_KERNEL"
_compiled: dict[str, Callable[[Tensor, int], Tensor]] = {}


def winsorize_kernel(kernel: str | None = None) -> str:
    """The CPU winsorization kernel to use: ``kernel``, else $CGH_WINSORIZE_KERNEL, else auto.

    "native" (default through "auto"): the C++ kernel of `native_winsorize`,
    built in seconds on first use and cached; for a Linear layer it fuses the
    per-example outer products with the selection, bit-equal to
    `winsorized_mean_reference`. "auto" resolves to it, or to "eager" (torch
    ops, agrees with the reference to float rounding) when no C++ compiler
    works. "compiled" (torch.compile of the insertion network) compiles for
    ~0.5-2 min per (batch, c) and is kept for comparison.
    """
    k = kernel if kernel is not None else os.environ.get(KERNEL_ENV, "auto")
    if k not in WINSORIZE_KERNELS:
        raise choice_error("winsorization kernel" + ("" if kernel is not None else f" (${KERNEL_ENV})"),
                           k, WINSORIZE_KERNELS)
    if k == "auto":
        return "native" if native_winsorize.available() else "eager"
    if k == "native" and not native_winsorize.available():
        raise UserError(f"winsorization kernel 'native' cannot be built: {native_winsorize.build_error()}; "
                        "accepted: auto, eager, compiled")
    return k


def _compiled_network() -> Callable[[Tensor, int], Tensor]:
    if "fn" not in _compiled:
        # dynamic: one compile serves every column count; guards specialize on (B, c).
        _compiled["fn"] = torch.compile(_winsorized_sum_network, dynamic=True, fullgraph=True)
    return _compiled["fn"]


def _winsorized_sum_into(x: Tensor, c: int, out: Tensor, kernel: str) -> None:
    """Winsorized column sums of a CPU block x [B, w] into out [w] (c >= 1; eager or compiled)."""
    if kernel == "compiled":
        out.copy_(_compiled_network()(x, c))
        return
    for s in range(0, x.shape[1], _CPU_CHUNK):
        _winsorized_sum_cpu(x[:, s : s + _CPU_CHUNK], c, out[s : s + _CPU_CHUNK])


def winsorized_mean_reference(per_example: Tensor, c: int) -> Tensor:
    """The definition the native kernel is bit-equal to (slow: a full sort).

    Per coordinate: clip the B values to [(c+1)-th smallest, (c+1)-th largest],
    add the clipped values in batch order in the input dtype (they are bounded
    once clipped, so this loses nothing to cancellation), divide by B. Fixing
    the summation order is what makes "bit-equal" a testable property; torch's
    own sum/mean reorder.
    """
    batch = per_example.shape[0]
    c = _check_c(c, batch)
    s = per_example.sort(0).values
    clipped = torch.minimum(torch.maximum(per_example, s[c]), s[batch - 1 - c])
    acc = torch.zeros_like(per_example[0])
    for row in clipped:
        acc += row
    return acc / batch


def winsorized_mean(per_example: Tensor, c: int, kernel: str | None = None) -> Tensor:
    """Coordinate-wise c-winsorized mean over dim 0 (CG2020 §3, WS App. B).

    Each coordinate's B values are clipped to [(c+1)-th smallest, (c+1)-th
    largest] and averaged; c = 0 is the plain mean. c is a count per minibatch
    (the paper's percentile c with batch 100); requires 2c+2 <= B. ``kernel``
    picks the CPU implementation (see `winsorize_kernel`): "native" is
    bit-equal to `winsorized_mean_reference`, the others agree to float rounding.
    """
    batch = per_example.shape[0]
    c = _check_c(c, batch)
    kernel = winsorize_kernel(kernel)
    if c == 0:
        return per_example.mean(0)
    x = per_example.reshape(batch, -1)
    if kernel == "native" and native_winsorize.supports(x):
        return native_winsorize.winsor_rows(x, c).reshape(per_example.shape[1:])
    if x.is_cuda or x.shape[1] == 0:
        res = _winsorized_sum_topk(x, c)
    else:
        res = x.new_empty(x.shape[1])
        _winsorized_sum_into(x, c, res, kernel)
    return res.div_(batch).reshape(per_example.shape[1:])


def median_of_three(a: Tensor, b: Tensor, c: Tensor, out: Tensor | None = None,
                    tmp: Tensor | None = None) -> Tensor:
    """Elementwise median of three tensors: max(min(a,b), min(max(a,b),c)).

    Exact (each output is one of the inputs; sum-min-max would round). `out`
    and `tmp` (same shape, not aliasing the inputs) let a caller reuse buffers.
    """
    if out is None:
        return torch.maximum(torch.minimum(a, b), torch.minimum(torch.maximum(a, b), c))
    tmp = torch.minimum(a, b) if tmp is None else torch.minimum(a, b, out=tmp)
    torch.maximum(a, b, out=out)
    torch.minimum(out, c, out=out)
    return torch.maximum(tmp, out, out=out)


def _robust_combine_lists(steps: Sequence[list[Tensor]], use_median: bool, out: list[Tensor],
                          tmp: list[Tensor]) -> None:
    """Median (len 3 and use_median) or mean of 1-3 steps' gradients into `out`,
    for every parameter at once with torch._foreach ops: a handful of calls per
    step instead of ~4 per parameter, so RM3/RA3 add little more than the
    arithmetic to a step. Median of 1 or 2 values is their mean."""
    if len(steps) == 3 and use_median:  # median_of_three, exact
        a, b, c = steps
        torch._foreach_copy_(tmp, a)
        torch._foreach_minimum_(tmp, b)
        torch._foreach_copy_(out, a)
        torch._foreach_maximum_(out, b)
        torch._foreach_minimum_(out, c)
        torch._foreach_maximum_(out, tmp)
        return
    torch._foreach_copy_(out, steps[0])
    if len(steps) == 1:
        return
    for s in steps[1:]:
        torch._foreach_add_(out, s)
    torch._foreach_div_(out, float(len(steps)))


# ---------------------------------------------------------------------------
# Aggregators


def _trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def _clear_grads(params: Sequence[nn.Parameter]) -> None:
    for p in params:
        p.grad = None


def _is_ddp(model: nn.Module) -> bool:
    return isinstance(model, nn.parallel.DistributedDataParallel)


def _has_train_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in model.modules())


class Aggregator:
    """Base: plain backward of the mean loss (SGD's mean gradient)."""

    name: ClassVar[str] = "sgd"

    def backward(self, model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor) -> Tensor:
        """Leave the aggregated gradient in each trainable `p.grad`; return the mean loss."""
        _clear_grads(_trainable(model))
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss.detach()

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name:
            raise UserError(f"aggregator state is for {state.get('name')!r}, not {self.name!r}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SGDAggregator(Aggregator):
    """Mean gradient: the baseline every other aggregator is compared with."""

    name = "sgd"


class WinsorizedAggregator(Aggregator):
    """CG2020 §3: coordinate-wise c-winsorized mean of per-example gradients."""

    name = "winsorized"

    def __init__(self, c: int = 0, kernel: str | None = None) -> None:
        self.c = _check_c(c)
        self.kernel = winsorize_kernel(kernel)
        self._buf: Tensor | None = None  # reused per-example block buffer (CPU fast path)

    def backward(self, model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor) -> Tensor:
        if _is_ddp(model):
            # The clipping thresholds are order statistics of the whole minibatch;
            # averaging per-rank winsorized means would be a different estimator.
            raise UserError("the winsorized aggregator does not support DistributedDataParallel; "
                            "train it on one device")
        _check_c(self.c, x.shape[0])
        if self.c == 0:  # nothing is clipped: the plain mean gradient, no per-example pass
            return super().backward(model, loss_fn, x, y)
        named = {n: p for n, p in model.named_parameters() if p.requires_grad}
        if self.c > 0 and not x.is_cuda and linear_fast_path_ok(model):
            res = linear_factors(model, loss_fn, x, y)
            if res is not None:
                factors, loss = res
                _clear_grads(list(named.values()))
                for f in factors:
                    self._winsorize_linear(f, named, x.shape[0])
                for p in named.values():  # a Linear never reached
                    if p.grad is None:
                        p.grad = torch.zeros_like(p)
                return loss
        grads, loss = per_example_grads_with_loss(model, loss_fn, x, y)
        for name, p in named.items():
            p.grad = winsorized_mean(grads.pop(name), self.c, self.kernel)
        return loss

    def _winsorize_linear(self, f: LinearFactors, named: dict[str, nn.Parameter], batch: int) -> None:
        """CPU: the winsorized weight gradient without the [B, out, in] tensor.

        native kernel, one call of the layer per example (an MLP): fused, the
        per-example outer products are formed in registers and selected on the
        fly. Otherwise: build the per-example gradients a block of output rows
        at a time in one reused cache-sized buffer and winsorize each block.
        """
        native = self.kernel == "native" and all(native_winsorize.supports(t) for t in f.a + f.dz)
        if native and len(f.a) == 1 and f.a[0].shape[1] == 1:
            dz, a = f.dz[0][:, 0], f.a[0][:, 0]
            if f.bias is not None:
                named[f.bias].grad = native_winsorize.winsor_rows(dz, self.c)
            if f.weight is not None:
                named[f.weight].grad = native_winsorize.winsor_outer(dz, a, self.c)
            return
        if f.bias is not None:
            per_ex_b = sum(dz.sum(1) for dz in f.dz)
            named[f.bias].grad = winsorized_mean(per_ex_b, self.c, self.kernel)
        if f.weight is None:
            return
        w = named[f.weight]
        n_out, n_in = w.shape
        rows = max(1, _CPU_CHUNK // n_in)
        need = batch * rows * n_in
        if self._buf is None or self._buf.numel() < need or self._buf.dtype != w.dtype:
            self._buf = torch.empty(need, dtype=w.dtype, device=w.device)
        grad = torch.empty_like(w)
        flat = grad.view(-1)
        for o0 in range(0, n_out, rows):
            o1 = min(o0 + rows, n_out)
            blk = self._buf[: batch * (o1 - o0) * n_in].view(batch, o1 - o0, n_in)
            for i, (a, dz) in enumerate(zip(f.a, f.dz)):
                dzt = dz[:, :, o0:o1].transpose(1, 2)
                if i == 0:
                    torch.bmm(dzt, a, out=blk)
                else:
                    blk.baddbmm_(dzt, a)
            cols = blk.view(batch, -1)
            dst = flat[o0 * n_in : o1 * n_in]
            if native:  # means, bit-equal to the reference on these per-example values
                dst.copy_(native_winsorize.winsor_rows(cols, self.c))
            else:
                _winsorized_sum_into(cols, self.c, dst, self.kernel)
                dst.div_(batch)
        w.grad = grad

    def __repr__(self) -> str:
        return f"WinsorizedAggregator(c={self.c}, kernel={self.kernel!r})"


M3_MODES = ("auto", "batched", "serial")


class M3Aggregator(Aggregator):
    """WS §3.2 M3: coordinate-wise median of the mean gradients of 3 equal groups.

    'batched' computes the 3 group gradients in one pass (Linear hook path or
    vmap over groups); 'serial' runs 3 micro-batch backward passes as the paper
    did, which is what BatchNorm in train mode (per-group statistics) and DDP
    (each micro-batch all-reduced) need. 'auto' uses batched only for models on
    the Linear fast path: on CPU the vmap route measured ~1.4-1.6x slower than
    serial for a small CNN (benchmarks/bench_aggregators.py); rerun that with
    --device cuda before preferring it on a GPU.
    One update per minibatch of 3 micro-batches (the authors' M3 stepped once
    every 3 micro-batches, i.e. the same update).
    """

    name = "m3"
    needs_full_batches: ClassVar[bool] = True  # trainers drop an epoch's short last batch

    def __init__(self, mode: str = "auto") -> None:
        if mode not in M3_MODES:
            raise choice_error("M3 mode", mode, M3_MODES)
        self.mode = mode

    def _batched_ok(self, model: nn.Module) -> bool:
        return not _is_ddp(model) and not _has_train_batchnorm(model)

    def backward(self, model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor) -> Tensor:
        if x.shape[0] < 3 or x.shape[0] % 3:
            raise UserError(f"M3 splits the minibatch into 3 equal groups; batch size {x.shape[0]} "
                            "is not a positive multiple of 3")
        params = _trainable(model)
        batched = self.mode == "batched" or (
            self.mode == "auto" and self._batched_ok(model) and linear_fast_path_ok(unwrap(model)))
        if batched:
            if not self._batched_ok(model):
                raise UserError("M3 mode 'batched' cannot handle DDP or BatchNorm in train mode; "
                                "use mode 'serial' or 'auto'")
            grads, loss = per_group_grads(model, loss_fn, x, y, 3)
            named = [(n, p) for n, p in unwrap(model).named_parameters() if p.requires_grad]
            for n, p in named:
                g = grads.pop(n)
                p.grad = median_of_three(g[0], g[1], g[2])
            return loss
        return self._serial(model, loss_fn, x, y, params)

    @staticmethod
    def _serial(model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor,
                params: Sequence[nn.Parameter]) -> Tensor:
        group_grads: list[list[Tensor]] = []
        losses = []
        copy = _is_ddp(model)  # DDP grads are bucket views the next backward overwrites
        for xg, yg in zip(x.chunk(3), y.chunk(3)):
            _clear_grads(params)  # so each backward writes a fresh tensor we may keep
            loss = loss_fn(model(xg), yg)
            loss.backward()
            losses.append(loss.detach())
            group_grads.append([torch.zeros_like(p) if p.grad is None else (p.grad.clone() if copy else p.grad)
                                for p in params])
        out = [torch.empty_like(p) for p in params]
        _robust_combine_lists(group_grads, True, out, [torch.empty_like(p) for p in params])
        for p, o in zip(params, out):
            p.grad = o
        return torch.stack(losses).mean()

    def __repr__(self) -> str:
        return f"M3Aggregator(mode={self.mode!r})"


WARMUPS = ("mean", "skip")


class _RollingAggregator(Aggregator):
    """Shared machinery of RM3/RA3: a normal (possibly DDP all-reduced) backward,
    then the median/mean of this step's gradient and the previous two.

    Until 3 gradients exist: warmup='mean' (default) uses the mean of those
    available, which is also their median (median of 1 or 2 values is their
    mean), so every step updates; warmup='skip' sets p.grad = None, so torch
    optimizers skip the step entirely, like the authors' code, which stepped
    only once 3 gradients existed.
    """

    use_median: ClassVar[bool] = True

    def __init__(self, warmup: str = "mean") -> None:
        if warmup not in WARMUPS:
            raise choice_error(f"{self.name} warmup", warmup, WARMUPS)
        self.warmup = warmup
        self._history: deque[list[Tensor]] = deque(maxlen=3)
        # Output/scratch buffers reused every step (p.grad is set to `out`):
        # avoids allocating, hence page-faulting, gradient-sized tensors per step.
        self._out: list[Tensor] = []
        self._tmp: list[Tensor] = []

    def backward(self, model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor) -> Tensor:
        params = _trainable(model)
        loss = super().backward(model, loss_fn, x, y)
        # Under DDP p.grad may be a view into a communication bucket that the
        # next backward overwrites, so keep a copy; otherwise the fresh tensor
        # autograd allocated is ours to keep.
        copy = _is_ddp(model)
        current = [
            torch.zeros_like(p) if p.grad is None else (p.grad.clone() if copy else p.grad)
            for p in params
        ]
        if self._history and len(self._history[-1]) != len(current):
            raise UserError(f"{self.name} history has {len(self._history[-1])} tensors but the model "
                            f"has {len(current)} trainable parameters")
        self._history.append(current)
        if len(self._history) < 3 and self.warmup == "skip":
            _clear_grads(params)
            return loss
        if len(self._out) != len(params) or any(o.shape != p.shape or o.device != p.device
                                                 for o, p in zip(self._out, params)):
            self._out = [torch.empty_like(p) for p in params]
            self._tmp = [torch.empty_like(p) for p in params]
        for step in self._history:  # history restored from a checkpoint may sit on another device
            for i, p in enumerate(params):
                if step[i].device != p.device:
                    step[i] = step[i].to(p.device)
        _robust_combine_lists(list(self._history), self.use_median, self._out, self._tmp)
        for p, o in zip(params, self._out):
            p.grad = o
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "warmup": self.warmup,
            "history": [[t.detach().clone() for t in step] for step in self._history],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.warmup = state.get("warmup", self.warmup)
        self._history = deque(([t.clone() for t in step] for step in state["history"]), maxlen=3)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(warmup={self.warmup!r})"


class RM3Aggregator(_RollingAggregator):
    """WS §3.2 RM3: coordinate-wise median of the last 3 minibatch gradients."""

    name = "rm3"
    use_median = True


class RA3Aggregator(_RollingAggregator):
    """WS §3.2 RA3 (ablation of RM3): mean of the last 3 minibatch gradients."""

    name = "ra3"
    use_median = False


AGGREGATORS: dict[str, type[Aggregator]] = {
    "sgd": SGDAggregator,
    "winsorized": WinsorizedAggregator,
    "m3": M3Aggregator,
    "rm3": RM3Aggregator,
    "ra3": RA3Aggregator,
}


def make_aggregator(name: str, **kw: Any) -> Aggregator:
    """Build an aggregator by name: sgd, winsorized(c), m3(mode), rm3(warmup), ra3(warmup)."""
    if name not in AGGREGATORS:
        raise choice_error("aggregator", name, AGGREGATORS)
    try:
        return AGGREGATORS[name](**kw)
    except TypeError as e:
        raise UserError(f"bad option(s) {sorted(kw)} for aggregator {name!r}: {e}") from None
