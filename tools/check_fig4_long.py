"""Check the fused Fig 4 step against an independent reference over a long run.

Why: the stacked trainer's bit-equality tests cover a few hundred steps, and at
the `large` profile some c > 0 cells broke down after thousands of steps. This
trains one cell exactly as `train_cells` does (fused per-example deltas + the
native kernel) and, every ``--every`` steps, recomputes that step's gradient at
the same weights and minibatch by an independent route: autograd per-example
gradients (`torch.func.vmap(grad)`, no hooks, no hand-written backward) and the
sort-based `winsorized_mean_reference`. It prints the largest deviation relative
to the gradient's scale, and the training loss / accuracies along the way, so a
breakdown can be told apart from a faulty step.

    python tools/check_fig4_long.py --c 2 --noise 0.25 --steps 12000 --every 200
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from cgh_lib.data.tensors import corrupt_labels
from cgh_lib.grads.aggregators import winsorized_mean_reference
from cgh_lib.models.mlp import mlp
from cgh_lib.papers.cg2020.fig1_label_noise import load_data
from cgh_lib.papers.cg2020.fig4_winsorized import WinsorizedConfig, evaluate, fused_backward, sgd_update
from cgh_lib.store.provenance import provenance


def reference_grads(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, c: int) -> dict[str, torch.Tensor]:
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(model, p, (xi[None],)), yi[None])

    per_ex = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    return {k: winsorized_mean_reference(g, c) for k, g in per_ex.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--c", type=int, default=2)
    ap.add_argument("--noise", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=12_000)
    ap.add_argument("--every", type=int, default=200)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--json", default=None, help="write the log here")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = WinsorizedConfig(n_train=22_699, c=a.c, noise=a.noise, seed=a.seed, steps=a.steps)
    data = load_data(cfg, a.data_root)
    y, corrupt = corrupt_labels(data.y_train, cfg.noise, cfg.seed + 1, cfg.noise_scheme)
    model = mlp(data.x_train.shape[1], cfg.hidden, data.num_classes, cfg.init, cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    n = data.x_train.shape[0]
    per_epoch, pos, perm = n // cfg.batch_size, n // cfg.batch_size, None
    log: dict[str, list] = {"checks": [], "evals": []}
    t0 = time.time()
    for step in range(1, a.steps + 1):
        if pos >= per_epoch:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos * cfg.batch_size:(pos + 1) * cfg.batch_size]
        pos += 1
        x, yb = data.x_train[idx], y[idx]
        fused_backward(model, x, yb, cfg.c)
        if step % a.every == 0 or step == 1:
            ref = reference_grads(model, x, yb, cfg.c)
            worst, scale, exact = 0.0, 0.0, True
            for k, p in model.named_parameters():
                d = (p.grad - ref[k]).abs().max().item()
                worst, scale = max(worst, d), max(scale, ref[k].abs().max().item())
                exact &= torch.equal(p.grad, ref[k])
            log["checks"].append({"step": step, "max_abs_diff": worst, "grad_scale": scale, "bit_equal": exact})
        sgd_update(model, cfg.lr)
        if step % a.eval_every == 0:
            ev = evaluate(model, data, y, corrupt)
            ev["step"] = step
            log["evals"].append(ev)
            last = log["checks"][-1]
            print(f"step {step:6d}  train loss {ev['train_loss']:.3f} acc {ev['train_acc']:.3f}  "
                  f"test {ev['test_acc']:.3f}  | check@{last['step']}: max|fused-ref| {last['max_abs_diff']:.2e} "
                  f"of {last['grad_scale']:.2e}  ({time.time() - t0:.0f}s)", flush=True)
    rel = max(ch["max_abs_diff"] / max(ch["grad_scale"], 1e-30) for ch in log["checks"])
    print(f"{len(log['checks'])} checks; largest deviation relative to gradient scale {rel:.2e}; "
          f"{sum(ch['bit_equal'] for ch in log['checks'])} bit-equal")
    if a.json:
        args = {k: v for k, v in vars(a).items() if k not in ("json", "data_root")}  # no machine paths
        prov = provenance(torch.device("cpu"))
        with open(a.json, "w") as f:
            json.dump({"args": args, "largest_relative_deviation": rel, "wall_s": round(time.time() - t0, 1),
                       "provenance": {k: prov.get(k) for k in ("commit", "dirty", "cpu", "device_name", "torch",
                                                                "torch_build", "winsorize_kernel")},
                       **log}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
