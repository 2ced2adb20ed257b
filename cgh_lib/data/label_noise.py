"""Label noise, exactly as the papers define it.

Two schemes, because the papers' text and the authors' code differ:

* ``"exact"`` (CG2020 §2.1 text, our default): pick exactly round(fraction*N)
  examples at random and randomly permute their labels among themselves.
* ``"bernoulli"`` (authors' CG2020 code): select each example with probability
  ``fraction``, then permute the selected labels among themselves.
* ``"uniform"`` (authors' WS code): each example, with probability ``fraction``,
  gets a uniformly random class, which may equal the original one.

In every scheme an example is *corrupt* iff its label changed, so a permutation
that happens to return an example's own label leaves it *pristine* (25% noise on
10 balanced classes leaves about 77.5% pristine). Test labels are never touched:
callers pass the training labels only.
"""

from __future__ import annotations

import torch

from cgh_lib.errors import UserError, choice_error

NOISE_SCHEMES = ("exact", "bernoulli", "uniform")


def check_fraction(fraction: float) -> float:
    """Validate a noise fraction; it must lie in [0, 1]."""
    f = float(fraction)
    if not (0.0 <= f <= 1.0):
        raise UserError(f"noise fraction {fraction!r} is outside [0, 1]; accepted: a number in [0, 1]")
    return f


def check_label_range(labels: torch.Tensor, num_classes: int, what: str = "labels") -> None:
    """Raise a one-line `UserError` when a label is outside ``0..num_classes-1`` (the model has
    ``num_classes`` outputs), naming the first bad label and its index."""
    y = torch.as_tensor(labels)
    if y.numel() == 0:
        return
    bad = torch.nonzero((y < 0) | (y >= int(num_classes))).flatten()
    if bad.numel():
        i = int(bad[0])
        raise UserError(f"{what}: label {int(y[i])} at index {i} is out of range ({bad.numel():,} such labels); "
                        f"accepted: integers 0..{int(num_classes) - 1} for a {int(num_classes)}-class dataset")


def corrupt_labels(
    labels: torch.Tensor,
    fraction: float,
    seed: int,
    scheme: str = "exact",
    num_classes: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(noisy_labels, corrupt_mask)`` for 1-D integer ``labels``.

    Deterministic for a given ``seed`` (a private CPU generator is used, so the
    global RNG is neither read nor advanced). The multiset of labels is
    preserved by the permutation schemes.
    """
    fraction = check_fraction(fraction)
    if scheme not in NOISE_SCHEMES:
        raise choice_error("noise scheme", scheme, NOISE_SCHEMES)
    labels = torch.as_tensor(labels)
    if labels.dim() != 1:
        raise ValueError(f"labels must be 1-D, got shape {tuple(labels.shape)}")
    cpu = labels.detach().to("cpu", torch.int64)
    if num_classes is not None:
        check_label_range(cpu, num_classes)
    n = cpu.numel()
    g = torch.Generator().manual_seed(int(seed))
    noisy = cpu.clone()
    if scheme == "exact":
        k = int(round(fraction * n))
        chosen = torch.randperm(n, generator=g)[:k]
    elif scheme == "bernoulli":
        chosen = torch.nonzero(torch.rand(n, generator=g) < fraction).flatten()
    else:  # uniform
        k_classes = int(num_classes) if num_classes is not None else int(cpu.max().item()) + 1
        chosen = torch.nonzero(torch.rand(n, generator=g) < fraction).flatten()
        noisy[chosen] = torch.randint(0, k_classes, (chosen.numel(),), generator=g)
    if scheme != "uniform" and chosen.numel() > 0:
        noisy[chosen] = cpu[chosen[torch.randperm(chosen.numel(), generator=g)]]
    corrupt = noisy != cpu
    return noisy.to(labels.device), corrupt.to(labels.device)
