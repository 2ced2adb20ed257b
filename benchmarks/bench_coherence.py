"""Coherence (GM2022's alpha over m examples) against baselines measured in the same run.

For the CG2020 784-2048-10 MLP at m = 5,000 and the small CNN at m = 1,000 it prints
the time of `grads.coherence` divided by that of

* one forward + backward of the mean loss over the same m examples (same chunks): the target
  is <= 3x, since coherence is the same pass plus per-example squared norms;
* naive per-example gradients (vmap, materialized per chunk) with their norms (O(m): timed on a
  subsample and projected linearly, it takes minutes otherwise);
* the naive O(m^2) Gram matrix of all pairwise dot products (materialized per-example
  gradients, then G = F F^T): timed on a subsample and projected quadratically to m, because
  the m x P matrix does not fit in memory (5,000 x 1.6M floats = 32 GB for the MLP);

and the projected cost of one paper-profile measurement (ResNet-50, 50,000 train + 50,000
test images at 224 px) from a measured per-example throughput on this machine.

    python benchmarks/bench_coherence.py [--quick]

On a shared CPU, other jobs' load distorts the absolute times; the ratios are within one run.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from cgh_lib.grads import coherence, per_example_grads
from cgh_lib.models.mlp import mlp
from cgh_lib.models.vision import build_vision_model


def timeit(fn, repeat: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def fwd_bwd(model, x, y, chunk):
    for s in range(0, x.shape[0], chunk):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[s:s + chunk]), y[s:s + chunk], reduction="sum").backward()


def naive_vmap(model, x, y, chunk):
    tot, q = None, 0.0
    for s in range(0, x.shape[0], chunk):
        g = per_example_grads(model, F.cross_entropy, x[s:s + chunk], y[s:s + chunk], method="vmap")
        flat = torch.cat([v.reshape(v.shape[0], -1) for v in g.values()], 1)
        q += float(flat.double().square().sum())
        tot = flat.sum(0) if tot is None else tot + flat.sum(0)
    return float(tot.double().square().sum()) / (x.shape[0] * q)


def naive_gram(model, x, y):
    g = per_example_grads(model, F.cross_entropy, x, y, method="vmap")
    flat = torch.cat([v.reshape(v.shape[0], -1) for v in g.values()], 1)
    gram = flat @ flat.T
    return float(gram.sum() / (x.shape[0] * gram.diagonal().sum()))


def bench(name, model, x, y, chunk, gram_m, vmap_m):
    m = x.shape[0]
    t_coh = timeit(lambda: coherence(model, x, y, chunk_size=chunk))
    t_fb = timeit(lambda: fwd_bwd(model, x, y, chunk))
    vmap_m = min(vmap_m, m)
    t_vmap_sub = timeit(lambda: naive_vmap(model, x[:vmap_m], y[:vmap_m], min(chunk, 64)), repeat=1)
    t_vmap = t_vmap_sub * m / vmap_m  # O(m): linear projection
    t_gram_sub = timeit(lambda: naive_gram(model, x[:gram_m], y[:gram_m]), repeat=1)
    t_gram = t_gram_sub * (m / gram_m) ** 2
    a_fast = coherence(model, x, y, chunk_size=chunk).alpha
    a_gram = naive_gram(model, x[:gram_m], y[:gram_m])
    a_fast_sub = coherence(model, x[:gram_m], y[:gram_m]).alpha
    print(f"\n{name}, m = {m:,} (chunk {chunk})")
    print(f"  coherence                      {t_coh:8.3f} s   alpha = {a_fast:.5f}, ratio = {m * a_fast:.2f}")
    print(f"  forward+backward (baseline)    {t_fb:8.3f} s   coherence / fwd+bwd = {t_coh / t_fb:5.2f}x  (target <= 3x)")
    print(f"  naive vmap per-example + norms {t_vmap:8.3f} s   naive / coherence   = {t_vmap / t_coh:5.2f}x "
          f"(timed {t_vmap_sub:.3f} s at m = {vmap_m}, projected linearly)")
    print(f"  naive Gram O(m^2), projected   {t_gram:8.3f} s   Gram / coherence    = {t_gram / t_coh:5.1f}x "
          f"(timed {t_gram_sub:.3f} s at m = {gram_m}; alpha there {a_gram:.5f} vs ours {a_fast_sub:.5f})")
    return t_coh / t_fb


def resnet50_projection(n_images: int = 4):
    model = build_vision_model("resnet50", 1000, seed=0)
    x = torch.randn(n_images, 3, 224, 224)
    y = torch.randint(0, 1000, (n_images,))
    t = timeit(lambda: coherence(model, x, y, chunk_size=n_images), repeat=1)
    t_fb = timeit(lambda: fwd_bwd(model, x, y, n_images), repeat=1)
    per = t / n_images
    total = 100_000 * per
    print(f"\nResNet-50 (224 px), measured on {n_images} images: coherence {per:.3f} s/image "
          f"({t / t_fb:.2f}x a forward+backward)")
    print(f"  projected paper-profile measurement (50,000 train + 50,000 test images): {total / 3600:.1f} h on "
          f"this CPU; a GPU's forward+backward throughput times {t / t_fb:.1f} gives its cost there")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller m (a smoke run of the benchmark)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    m_mlp, m_cnn = (500, 200) if args.quick else (5000, 1000)
    net = mlp(784, (2048,), 10)
    x, y = torch.rand(m_mlp, 784), torch.randint(0, 10, (m_mlp,))
    r1 = bench("MLP 784-2048-10", net, x, y, 256, 100 if args.quick else 250, 64 if args.quick else 256)
    cnn = build_vision_model("small_cnn", 10, seed=0)
    x, y = torch.rand(m_cnn, 1, 28, 28), torch.randint(0, 10, (m_cnn,))
    r2 = bench("small CNN (Fashion-MNIST 28x28, width 32)", cnn, x, y, 256, 100 if args.quick else 200,
               64 if args.quick else 256)
    resnet50_projection(2 if args.quick else 4)
    print(f"\nsummary: coherence / forward+backward = {r1:.2f}x (MLP), {r2:.2f}x (CNN); target <= 3x")


if __name__ == "__main__":
    main()
