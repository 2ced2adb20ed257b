"""GM2022 coherence: the two-sums metric against brute force, its properties, and bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cgh_lib.errors import UserError
from cgh_lib.grads import (
    coherence,
    coherence_of_vectors,
    flatten_grads,
    per_example_grads,
    stylized_minibatch_alpha,
)


def brute_force(model: nn.Module, x, y, loss_fn=None):
    """alpha from all m^2 pairwise dot products of materialized per-example gradients, per layer too."""
    loss_fn = loss_fn or (lambda o, t: F.cross_entropy(o, t, reduction="none"))
    modes = {m: m.training for m in model.modules()}
    model.eval()
    g = per_example_grads(model, lambda o, t: loss_fn(o, t).sum(), x, y, method="vmap")
    for m, mode in modes.items():
        m.train(mode)
    m = x.shape[0]
    flat = flatten_grads(g).double()
    gram = flat @ flat.T
    alpha = float(gram.sum() / (m * gram.diagonal().sum()))
    layers: dict[str, list] = {}
    for n, v in g.items():
        layers.setdefault(n.rsplit(".", 1)[0], []).append(v.reshape(m, -1).double())
    per = {}
    q_tot = float(gram.diagonal().sum())
    for name, parts in layers.items():
        f = torch.cat(parts, 1)
        gl = f @ f.T
        per[name] = (float(gl.sum() / (m * gl.diagonal().sum())), float(gl.diagonal().sum()) / q_tot)
    return alpha, per


def mlp():
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(inplace=True), nn.Linear(16, 5)).double()


def small_cnn():
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=1), nn.ReLU(),  # Gram path (small L)
        nn.Conv2d(6, 5, 1, bias=False), nn.ReLU(),
        nn.Flatten(), nn.Linear(5 * 2 * 2, 3),
    ).double()


def bn_net():
    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
        nn.Flatten(), nn.Linear(4 * 8 * 8, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3),
    ).double()
    # non-trivial running statistics and affine parameters
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return net


CASES = {
    "mlp": (mlp, (3, 4), 5),
    "cnn": (small_cnn, (2, 8, 8), 3),
    "bn": (bn_net, (2, 8, 8), 3),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("method", ["fast", "vmap"])
def test_matches_brute_force(case, method):
    build, shape, classes = CASES[case]
    net = build()
    torch.manual_seed(4)
    x = torch.randn(23, *shape, dtype=torch.float64)
    y = torch.randint(0, classes, (23,))
    want, want_layers = brute_force(net, x, y)
    got = coherence(net, x, y, chunk_size=7, method=method)
    assert got.method == method
    assert got.m == 23
    assert got.alpha == pytest.approx(want, rel=1e-5)
    assert got.ratio == pytest.approx(23 * want, rel=1e-5)
    assert set(got.per_layer) == set(want_layers)
    for name, (a, share) in want_layers.items():
        assert got.per_layer[name].alpha == pytest.approx(a, rel=1e-5)
        assert got.per_layer[name].share == pytest.approx(share, rel=1e-5)
    # whole-model alpha is the share-weighted average of the per-layer ones
    assert sum(l.alpha * l.share for l in got.per_layer.values()) == pytest.approx(got.alpha, rel=1e-9)
    assert sum(l.share for l in got.per_layer.values()) == pytest.approx(1.0)


def test_auto_picks_fast_and_chunking_does_not_change_the_result():
    net = small_cnn()
    x = torch.randn(17, 2, 8, 8, dtype=torch.float64)
    y = torch.randint(0, 3, (17,))
    a = coherence(net, x, y)
    b = coherence(net, x, y, chunk_size=4)
    assert a.method == "fast" and a.alpha == pytest.approx(b.alpha, rel=1e-10)


def test_conv_materialize_and_gram_paths_agree(monkeypatch):
    """Force each conv per-example-norm kernel in turn; both equal brute force."""
    import sys
    coh = sys.modules["cgh_lib.grads.coherence"]
    net = small_cnn()
    x = torch.randn(9, 2, 8, 8, dtype=torch.float64)
    y = torch.randint(0, 3, (9,))
    want, _ = brute_force(net, x, y)
    orig = coh._conv_sq
    for budget in (1, 1 << 25):  # sub-chunk of 1 example vs all at once
        monkeypatch.setattr(coh, "_MATERIALIZE_BUDGET", budget)
        assert coherence(net, x, y).alpha == pytest.approx(want, rel=1e-6)

    def gram_always(mod, a, dz, w, b):
        bsz = a.shape[0]
        d = dz.reshape(bsz, dz.shape[1], -1)
        u = F.unfold(a, mod.kernel_size, dilation=mod.dilation, padding=mod.padding, stride=mod.stride)
        out = orig(mod, a, dz, False, b)
        if w:
            out["weight"] = (torch.bmm(d.transpose(1, 2), d) * torch.bmm(u.transpose(1, 2), u)).sum((1, 2))
        return out
    monkeypatch.setattr(coh, "_conv_sq", gram_always)
    assert coherence(net, x, y).alpha == pytest.approx(want, rel=1e-6)


def test_float32_model_close_to_float64():
    net = small_cnn()
    x = torch.randn(30, 2, 8, 8, dtype=torch.float64)
    y = torch.randint(0, 3, (30,))
    want = coherence(net, x, y).alpha
    got = coherence(net.float(), x.float(), y).alpha
    assert got == pytest.approx(want, rel=1e-4)


def test_generic_fallback_for_other_modules():
    torch.manual_seed(5)
    net = nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Tanh(), nn.Linear(8, 3)).double()
    x = torch.randn(11, 6, dtype=torch.float64)
    y = torch.randint(0, 3, (11,))
    got = coherence(net, x, y)
    assert got.method == "vmap"
    assert got.alpha == pytest.approx(brute_force(net, x, y)[0], rel=1e-5)
    with pytest.raises(UserError, match="fast"):
        coherence(net, x, y, method="fast")


def test_train_eval_modes_restored_and_bn_stats_untouched():
    net = bn_net()
    net.train()
    net[1].eval()  # a mixed state must come back exactly
    before = {n: b.clone() for n, b in net.named_buffers()}
    x = torch.randn(10, 2, 8, 8, dtype=torch.float64)
    y = torch.randint(0, 3, (10,))
    coherence(net, x, y)
    assert net.training and not net[1].training and net[5].training
    for n, b in net.named_buffers():
        assert torch.equal(b, before[n]), n
    assert all(p.grad is None for p in net.parameters())


# ---------------------------------------------------------------- properties
class Fixed(nn.Module):
    """A linear 'model' whose per-example gradients are chosen: loss_i = g_i . w (at w = 0)."""

    def __init__(self, d):
        super().__init__()
        self.lin = nn.Linear(d, 1, bias=False)
        nn.init.zeros_(self.lin.weight)

    def forward(self, x):
        return self.lin(x).squeeze(1)


def fixed_alpha(g, scale=1.0, method="auto"):
    net = Fixed(g.shape[1]).double()
    return coherence(net, g.double(), torch.zeros(g.shape[0]), loss_fn=lambda o, t: scale * o, method=method)


def test_identical_gradients_alpha_one_ratio_m():
    g = torch.randn(1, 7).repeat(12, 1)
    r = fixed_alpha(g)
    assert r.alpha == pytest.approx(1.0) and r.ratio == pytest.approx(12.0)


def test_orthogonal_gradients_ratio_one():
    g = torch.diag(torch.rand(9) + 0.5)  # orthogonal, different norms
    r = fixed_alpha(g)
    assert r.ratio == pytest.approx(1.0) and r.alpha == pytest.approx(1 / 9)
    assert r.alpha_perp == pytest.approx(1 / 9)


def test_zero_mean_sample_alpha_zero():
    g = torch.randn(8, 5)
    g = torch.cat([g, -g])
    assert abs(fixed_alpha(g).alpha) < 1e-12


def test_underparameterized_k_copies_of_d_directions():
    d, k = 4, 5
    dirs = torch.diag(torch.tensor([1.0, 3.0, 0.2, 7.0]))
    r = fixed_alpha(dirs.repeat(k, 1))
    assert r.ratio == pytest.approx(k) and r.alpha == pytest.approx(1 / d)


@pytest.mark.parametrize("scale", [1e-3, 2.0, -5.0])
def test_invariant_to_loss_scaling(scale):
    g = torch.randn(10, 6) + 0.3
    assert fixed_alpha(g, scale).alpha == pytest.approx(fixed_alpha(g).alpha, rel=1e-9)
    net = mlp()
    x, y = torch.randn(15, 3, 4, dtype=torch.float64), torch.randint(0, 5, (15,))
    base = coherence(net, x, y).alpha
    scaled = coherence(net, x, y, loss_fn=lambda o, t: scale * F.cross_entropy(o, t, reduction="none")).alpha
    assert scaled == pytest.approx(base, rel=1e-9)


def test_range_on_random_vectors():
    torch.manual_seed(6)
    for _ in range(20):
        g = torch.randn(6, 3) + torch.randn(3)
        a = fixed_alpha(g).alpha
        assert 0 <= a <= 1
        assert a == pytest.approx(coherence_of_vectors(g), rel=1e-9)


@pytest.mark.parametrize("k", [2, 5])
def test_stylized_minibatching_identity(k):
    """alpha of means of k i.i.d. draws from V equals k alpha / (1 + (k-1) alpha).

    Exact over the *population* of all ordered k-tuples (with replacement) of a small V."""
    torch.manual_seed(7)
    v = torch.randn(4, 3).double() + torch.tensor([0.5, 0.0, 0.0]).double()
    a = coherence_of_vectors(v)
    idx = torch.cartesian_prod(*[torch.arange(4)] * k)
    means = v[idx].mean(1)
    assert coherence_of_vectors(means) == pytest.approx(stylized_minibatch_alpha(a, k), rel=1e-9)
    assert stylized_minibatch_alpha(a, k) >= a


def test_per_layer_decomposition_orthogonal_subspaces():
    """Two 'layers' on orthogonal coordinates: alpha is their share-weighted average."""
    net = mlp()
    x, y = torch.randn(14, 3, 4, dtype=torch.float64), torch.randint(0, 5, (14,))
    r = coherence(net, x, y)
    assert set(r.per_layer) == {"1", "3"}
    assert r.alpha == pytest.approx(sum(l.alpha * l.share for l in r.per_layer.values()), rel=1e-12)


# ---------------------------------------------------------------- bad input
def test_bad_input():
    net = mlp()
    x, y = torch.randn(5, 3, 4, dtype=torch.float64), torch.randint(0, 5, (5,))
    with pytest.raises(UserError, match="empty"):
        coherence(net, x[:0], y[:0])
    with pytest.raises(UserError, match="m = 1"):
        coherence(net, x[:1], y[:1])
    with pytest.raises(UserError, match="5 examples but y has 4"):
        coherence(net, x, y[:4])
    frozen = mlp().requires_grad_(False)
    with pytest.raises(UserError, match="no trainable parameters"):
        coherence(frozen, x, y)
    with pytest.raises(UserError, match="one loss per example"):
        coherence(net, x, y, loss_fn=F.cross_entropy)
    with pytest.raises(UserError, match="chunk_size"):
        coherence(net, x, y, chunk_size=0)
    with pytest.raises(UserError, match="method"):
        coherence(net, x, y, method="exact")


def test_accumulator_over_batches_equals_one_call_and_reports_the_loss():
    from cgh_lib.grads import CoherenceAccumulator
    net = bn_net()
    x = torch.randn(21, 2, 8, 8, dtype=torch.float64)
    y = torch.randint(0, 3, (21,))
    whole = coherence(net, x, y)
    acc = CoherenceAccumulator(net)
    for a, b in ((0, 8), (8, 13), (13, 21)):
        acc.add(x[a:b], y[a:b])
    part = acc.result()
    assert part.m == 21 and part.alpha == pytest.approx(whole.alpha, rel=1e-10)
    net.eval()
    assert whole.loss == pytest.approx(float(F.cross_entropy(net(x), y).detach()), rel=1e-10)
    assert coherence(net, x, y, method="vmap").loss == pytest.approx(whole.loss, rel=1e-10)


def test_torchvision_resnet_fast_path_matches_vmap():
    """A real BatchNorm ResNet (in-place ReLUs, downsample branches, train mode) takes the fast path
    and agrees with the generic per-example gradients; its train mode is restored."""
    from cgh_lib.models.vision import build_vision_model
    net = build_vision_model("resnet18", 4, seed=0).double()
    with torch.no_grad():  # non-trivial running statistics
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_var.uniform_(0.5, 2.0)
    net.train()
    x = torch.randn(5, 3, 32, 32, dtype=torch.float64)
    y = torch.randint(0, 4, (5,))
    fast = coherence(net, x, y)
    slow = coherence(net, x, y, method="vmap")
    assert fast.method == "fast" and net.training
    assert fast.alpha == pytest.approx(slow.alpha, rel=1e-6)
    for name, lc in slow.per_layer.items():
        assert fast.per_layer[name].alpha == pytest.approx(lc.alpha, rel=1e-6, abs=1e-12), name
