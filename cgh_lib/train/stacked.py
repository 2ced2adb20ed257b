"""The in-memory trainer: K independent MLP runs trained as one stack.

Why one stack: the runs of a figure (e.g. 5 noise levels) share data,
architecture and schedule, so training them as batched weights costs one
kernel per layer instead of K. Each member keeps its own labels, init and
batch order, so a member's numbers do not depend on what it was stacked with.

The dataset lives on the device as one tensor; a minibatch is an index gather,
so there is no DataLoader and no host-side work per step. Epochs are random
permutations per member (the last partial batch of an epoch is dropped, so
total steps = epochs * (N // batch)).

At each scheduled evaluation the whole training set (noisy labels) and test set
are measured, and per-example bookkeeping is updated (as in the authors' code):
``learnt_first`` = first evaluation step at which the example's prediction
equals its training label; ``learnt_last`` = the evaluation step from which it
has stayed correct (reset to -1 whenever it becomes wrong again). -1 = not yet.

Resumability: the full state (weights, per-member generator states, current
epoch permutations, history, bookkeeping, step) is checkpointed atomically
every ``checkpoint_every_s`` seconds (and on Ctrl-C), so a killed run resumes
and, on CPU, ends with bit-identical metrics.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from cgh_lib.data.tensors import TensorData
from cgh_lib.models.mlp import StackedMLP, layer_sizes
from cgh_lib.store import faults
from cgh_lib.train.divergence import check_loss
from cgh_lib.train.interrupt import DeferredSignals

CHECKPOINT_FORMAT = 2  # bump when the checkpoint's content changes: older ones are discarded, not misread
METRICS = ("train_acc", "train_loss", "test_acc", "test_loss",
           "pristine_acc", "corrupt_acc", "pristine_loss", "corrupt_loss")

# A step rule updates the stack in place from a minibatch: (model, x [K,B,in], y [K,B], lr) -> None.
StepRule = Callable[[StackedMLP, torch.Tensor, torch.Tensor, float], None]
# A probe is called at every evaluation with (step, model) and returns arrays to record.
Probe = Callable[[int, StackedMLP], dict[str, np.ndarray]]


@dataclass
class Member:
    """What differs between the runs of one stack."""

    labels: torch.Tensor   # [N] training labels as trained on (possibly noisy)
    corrupt: torch.Tensor  # [N] bool, label differs from the original
    init: str
    init_seed: int
    order_seed: int        # seeds the batch order


@dataclass
class StackSpec:
    """What the runs of one stack share."""

    hidden: tuple[int, ...]
    lr: float
    batch_size: int
    steps: int
    eval_at: list[int]


@dataclass
class Timing:
    train_s: float = 0.0
    eval_s: float = 0.0
    resumed: int = 0
    prior_wall_s: float = 0.0  # wall time spent by earlier, interrupted processes on this run
    extra: dict[str, float] = field(default_factory=dict)


def mean_gradient(model: StackedMLP, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Autograd reference: each member's mean cross-entropy and its gradient.

    Slow-but-obvious; `sgd_step` must agree with it (tested).
    """
    k, b = y.shape
    params = [p.detach().clone().requires_grad_() for p in model.params()]
    with torch.enable_grad():
        logits = model.forward(x, params)
        losses = F.cross_entropy(logits.reshape(k * b, -1), y.reshape(-1), reduction="none").view(k, b).mean(1)
        grads = torch.autograd.grad(losses.sum(), params)
    return losses.detach(), list(grads)


def _narrow(w: torch.Tensor) -> bool:
    """A CPU layer with a wide input and a narrow output (784-2048-10's output layer).

    MKL runs GEMMs whose N is that narrow output (h @ W, a^T delta) at ~10 GFLOP/s;
    the transposed products (W^T h^T, delta^T a) compute the same dot products at
    several times the rate (benchmarks/bench_fig1.py (i): the output layer went
    from ~1.1 ms to ~0.2 ms of an ~11 ms step on one thread).
    """
    return w.device.type == "cpu" and w.shape[-1] <= 64 and w.shape[-2] >= 8 * w.shape[-1]


def forward_deltas(model: StackedMLP, x: torch.Tensor, y: torch.Tensor
                   ) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Forward pass keeping layer inputs, and d(mean loss)/d(logits) per member.

    Returns ``(inputs, delta)`` where ``inputs[l]`` is the input of layer l
    (``[K, B, fan_in]``) and ``delta`` is ``(softmax - onehot) / B``. Per-example
    gradients are outer products of inputs and back-propagated deltas, which
    is what the manual step rules build on.
    """
    b = y.shape[1]
    inputs = [x]
    h = x
    last = len(model.weights) - 1
    for i, (w, bias) in enumerate(zip(model.weights, model.biases)):
        if _narrow(w):  # (W^T h^T)^T: the same products as h @ W, as a wide GEMM
            h = torch.bmm(w.transpose(1, 2), h.transpose(1, 2)).transpose(1, 2).add_(bias)
        else:
            h = torch.baddbmm(bias, h, w)
        if i < last:
            h = h.relu_()
            inputs.append(h)
    delta = torch.softmax(h, -1)
    delta.scatter_add_(-1, y.unsqueeze(-1), torch.full(y.shape + (1,), -1.0, dtype=delta.dtype, device=delta.device))
    return inputs, delta.mul_(1.0 / b)


def sgd_step(model: StackedMLP, x: torch.Tensor, y: torch.Tensor, lr: float) -> None:
    """One vanilla SGD step on the mean cross-entropy, by a hand-written backward.

    Why by hand: for an MLP the backward is three lines, and folding the update
    into the weight-gradient matmul (``W.baddbmm_(a^T, delta, alpha=-lr)``)
    never materializes dW or runs a separate update pass over the weights.
    The input layer's dX is never computed.
    """
    inputs, delta = forward_deltas(model, x, y)
    for i in range(len(model.weights) - 1, -1, -1):
        w, a = model.weights[i], inputs[i]
        # before w changes; ReLU's backward as one op (a bool mask multiply costs ~7x more)
        prev = torch.ops.aten.threshold_backward(torch.bmm(delta, w.transpose(1, 2)), a, 0.0) if i > 0 else None
        if _narrow(w):  # dW^T = delta^T a is a wide GEMM; a^T delta (N = fan_out) is not
            w.add_(torch.bmm(delta.transpose(1, 2), a).transpose(1, 2), alpha=-lr)
        else:
            w.baddbmm_(a.transpose(1, 2), delta, alpha=-lr)
        model.biases[i].sub_(delta.sum(1, keepdim=True), alpha=lr)
        if prev is not None:
            delta = prev


class _Orders:
    """Per-member epoch permutations drawn from per-member generators."""

    def __init__(self, n: int, batch: int, seeds: Sequence[int], device: torch.device) -> None:
        self.n, self.batch, self.device = n, batch, device
        self.per_epoch = n // batch
        self.gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.pos = self.per_epoch  # forces a fresh permutation on first use
        self.perm = torch.empty(len(seeds), n, dtype=torch.long, device=device)

    def next(self) -> torch.Tensor:
        if self.pos >= self.per_epoch:
            self.perm = torch.stack([torch.randperm(self.n, generator=g) for g in self.gens]).to(self.device)
            self.pos = 0
        s = self.pos * self.batch
        self.pos += 1
        return self.perm[:, s:s + self.batch]

    def state(self) -> dict[str, Any]:
        return {"pos": self.pos, "perm": self.perm.cpu(), "gens": [g.get_state() for g in self.gens]}

    def load(self, st: dict[str, Any]) -> None:
        self.pos = st["pos"]
        self.perm = st["perm"].to(self.device)
        for g, s in zip(self.gens, st["gens"]):
            g.set_state(s)


@torch.no_grad()
def _evaluate(model: StackedMLP, data: TensorData, y_train: torch.Tensor, corrupt: torch.Tensor,
              chunk: int = 8192) -> tuple[dict[str, np.ndarray], torch.Tensor]:
    """All metrics per member, plus the [K, N] correctness mask on the training set."""
    k = model.k

    def run(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        losses, correct = [], []
        for s in range(0, x.shape[0], chunk):
            logits = model.forward_shared(x[s:s + chunk])
            yy = y[:, s:s + chunk]
            losses.append(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yy.reshape(-1),
                                          reduction="none").view(k, -1))
            correct.append(logits.argmax(-1) == yy)
        return torch.cat(losses, 1), torch.cat(correct, 1)

    tr_loss, tr_ok = run(data.x_train, y_train)
    te_loss, te_ok = run(data.x_test, data.y_test.expand(k, -1))
    pris = ~corrupt

    def masked_mean(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        cnt = m.sum(1)
        return torch.where(cnt > 0, (v * m).sum(1) / cnt.clamp(min=1), torch.full_like(cnt, float("nan"), dtype=v.dtype))

    okf = tr_ok.float()
    out = {
        "train_acc": okf.mean(1), "train_loss": tr_loss.mean(1),
        "test_acc": te_ok.float().mean(1), "test_loss": te_loss.mean(1),
        "pristine_acc": masked_mean(okf, pris), "corrupt_acc": masked_mean(okf, corrupt),
        "pristine_loss": masked_mean(tr_loss, pris), "corrupt_loss": masked_mean(tr_loss, corrupt),
    }
    return {k_: v.double().cpu().numpy() for k_, v in out.items()}, tr_ok


def drive(
    one_step: Callable[[], None],
    evaluate: Callable[[int], None],
    save: Callable[[int], None] | None,
    *,
    start: int,
    steps: int,
    eval_at: Sequence[int],
    timing: Timing,
    device: torch.device,
    checkpoint_every_s: float = 60.0,
    checkpoint_every_steps: int = 0,
    progress: bool = True,
    desc: str = "train",
    postfix: Callable[[], dict[str, str]] | None = None,
) -> int:
    """The step loop every in-memory trainer shares: train from step ``start`` to
    ``steps``, calling ``evaluate(step)`` after each step in ``eval_at``.

    Checkpoints (``save(step)``) are written only at step boundaries and always
    *after* that step's evaluation, so a resumed run never misses or repeats one:
    every ``checkpoint_every_s`` seconds / ``checkpoint_every_steps`` steps, at
    the last step (so a kill during the final store resumes with nothing to
    redo), and when SIGINT / SIGTERM arrived (deferred, see `interrupt`); the
    run then stops with `Interrupted`. ``timing`` gets the pure training time
    (evaluation and checkpoints excluded). Returns the last step.
    """
    step = start
    next_evals = [s for s in sorted(set(eval_at) | {steps}) if s > step]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, initial=step, desc=desc, unit="step", mininterval=1.0, smoothing=0.05)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    last_ckpt = time.perf_counter()

    def boundary(step: int, sig: DeferredSignals) -> bool:
        """Checkpoint if due (or asked to stop) and stop if asked; True if it saved."""
        nonlocal last_ckpt
        due = save is not None and (sig.requested or step == steps
                                    or (checkpoint_every_steps and step % checkpoint_every_steps == 0)
                                    or time.perf_counter() - last_ckpt > checkpoint_every_s)
        if due:
            save(step)  # type: ignore[misc]
            faults.point("checkpoint", step)
            last_ckpt = time.perf_counter()
        sig.check()
        return bool(due)

    try:
        with DeferredSignals() as sig:
            while step < steps:  # segments between evaluations
                seg_end = next_evals.pop(0)
                t0 = time.perf_counter()
                while step < seg_end:
                    one_step()
                    step += 1
                    if bar is not None:
                        bar.update(1)
                    if step < seg_end:
                        due = sig.requested or (save is not None and (
                            (checkpoint_every_steps and step % checkpoint_every_steps == 0)
                            or time.perf_counter() - last_ckpt > checkpoint_every_s))
                        if due:
                            sync()
                            timing.train_s += time.perf_counter() - t0
                            boundary(step, sig)
                            t0 = time.perf_counter()
                sync()
                timing.train_s += time.perf_counter() - t0
                evaluate(step)  # the step's evaluation comes before its checkpoint
                if bar is not None and postfix is not None:
                    bar.set_postfix(postfix(), refresh=False)
                boundary(step, sig)
    finally:
        if bar is not None:
            bar.close()
    return step


def train_stack(
    data: TensorData,
    members: Sequence[Member],
    spec: StackSpec,
    *,
    device: torch.device | str = "cpu",
    checkpoint: tuple[Callable[[dict[str, Any]], None], Callable[[], dict[str, Any] | None]] | None = None,
    checkpoint_every_s: float = 60.0,
    checkpoint_every_steps: int = 0,
    step_rule: StepRule = sgd_step,
    probe: Probe | None = None,
    progress: bool = True,
    desc: str = "train",
    run_id: str | None = None,
) -> tuple[list[dict[str, np.ndarray]], Timing]:
    """Train the stack; return per-member arrays (curves + bookkeeping) and timing.

    ``checkpoint`` is a (save, load) pair of callables; the trainer resumes from
    ``load()`` if it returns a state. ``probe`` results are recorded per
    evaluation under ``probe_<name>`` keys. ``run_id`` names the run in the
    one-line "resuming ... from step N of M" message.
    """
    device = torch.device(device)
    data = data.to(device)
    k, n = len(members), data.x_train.shape[0]
    if spec.batch_size > n:
        raise ValueError(f"batch_size {spec.batch_size} exceeds the {n} training examples")
    y = torch.stack([m.labels for m in members]).to(device)
    corrupt = torch.stack([m.corrupt for m in members]).to(device)
    model = StackedMLP(layer_sizes(data.x_train.shape[1], spec.hidden, data.num_classes),
                       [m.init for m in members], [m.init_seed for m in members], device)
    orders = _Orders(n, spec.batch_size, [m.order_seed for m in members], device)
    hist: dict[str, list[np.ndarray]] = {name: [] for name in METRICS}
    hist["step"] = []
    probes: dict[str, list[np.ndarray]] = {}
    first = torch.full((k, n), -1, dtype=torch.int32, device=device)
    last = torch.full((k, n), -1, dtype=torch.int32, device=device)
    timing = Timing()
    step = 0
    started = time.perf_counter()
    eval_at = sorted(set(spec.eval_at) | {0, spec.steps})

    state = checkpoint[1]() if checkpoint else None
    if state is not None and state.get("format") != CHECKPOINT_FORMAT:
        print(f"cgh: discarding a stale checkpoint of {run_id or desc} (format {state.get('format')!r}, "
              f"this code writes {CHECKPOINT_FORMAT}); starting from step 0", file=sys.stderr)
        state = None
    if state is not None:
        model.load_state(state["params"])
        orders.load(state["orders"])
        hist = {name: [v.numpy() if isinstance(v, torch.Tensor) else np.int64(v) for v in vals]
                for name, vals in state["hist"].items()}
        probes = {name: [v.numpy() for v in vals] for name, vals in state["probes"].items()}
        first, last = state["first"].to(device), state["last"].to(device)
        step = state["step"]
        timing = Timing(state["train_s"], state["eval_s"], state["resumed"] + 1, state.get("wall_s", 0.0))
        print(f"resuming {run_id or desc} from step {step} of {spec.steps}", file=sys.stderr)

    def save(step: int) -> None:
        # plain tensors and numbers only: the store loads checkpoints with weights_only=True
        if checkpoint:
            checkpoint[0]({"format": CHECKPOINT_FORMAT, "params": model.state(), "orders": orders.state(),
                           "hist": {name: [torch.from_numpy(np.asarray(v)) if name != "step" else int(v)
                                           for v in vals] for name, vals in hist.items()},
                           "probes": {name: [torch.from_numpy(np.asarray(v)) for v in vals]
                                      for name, vals in probes.items()},
                           "first": first.cpu(), "last": last.cpu(), "step": step,
                           "train_s": timing.train_s, "eval_s": timing.eval_s, "resumed": timing.resumed,
                           "wall_s": timing.prior_wall_s + time.perf_counter() - started})

    def evaluate(step: int) -> None:
        nonlocal first, last
        t0 = time.perf_counter()
        metrics, ok = _evaluate(model, data, y, corrupt)
        for name in METRICS:
            hist[name].append(metrics[name])
        faults.point("eval", step)
        hist["step"].append(np.int64(step))
        check_loss(step, metrics["train_loss"], hist["train_loss"][0])  # NaN / exploding: stop, store as diverged
        first = torch.where((first < 0) & ok, torch.full_like(first, step), first)
        last = torch.where(ok, torch.where(last < 0, torch.full_like(last, step), last), torch.full_like(last, -1))
        if probe is not None:
            for name, val in probe(step, model).items():
                probes.setdefault(name, []).append(np.asarray(val))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        timing.eval_s += time.perf_counter() - t0

    if step == 0 and not hist["step"]:
        evaluate(step)

    def postfix() -> dict[str, str]:
        return {"train_acc": f"{hist['train_acc'][-1].mean():.3f}", "test_acc": f"{hist['test_acc'][-1].mean():.3f}"}

    taken = [step]  # steps taken so far (for fault injection)

    def one_step() -> None:
        idx = orders.next()
        taken[0] += 1
        faults.point("mid_step", taken[0])
        step_rule(model, data.x_train[idx], torch.gather(y, 1, idx), lr)

    lr = float(spec.lr)
    drive(one_step, evaluate, save if checkpoint else None, start=step, steps=spec.steps, eval_at=eval_at,
          timing=timing, device=device, checkpoint_every_s=checkpoint_every_s,
          checkpoint_every_steps=checkpoint_every_steps, progress=progress, desc=desc, postfix=postfix)
    out = []
    for i in range(k):
        arr = {name: np.array([v[i] for v in hist[name]]) for name in METRICS}
        arr["step"] = np.array(hist["step"], dtype=np.int64)
        arr["learnt_first"] = first[i].cpu().numpy()
        arr["learnt_last"] = last[i].cpu().numpy()
        arr["corrupt"] = members[i].corrupt.cpu().numpy()
        for name, vals in probes.items():
            arr[f"probe_{name}"] = np.stack([v[i] for v in vals])
        out.append(arr)
    return out, timing
