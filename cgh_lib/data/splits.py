"""Index-list splits and per-example difficulty (WS §4), as plain NumPy on index vectors.

Subsets of a dataset are index lists into it (never copies of images): the WS
paper's e-train / e-test / h-train / h-test are 500K / 100K examples drawn without
replacement from the easy and the hard examples of the ImageNet training set.
Draws are seeded with a private generator, so a split is a pure function of
(indices, sizes, seed) and can be rebuilt or stored as the lists themselves.

*Difficulty* (§4.3) is how many of several easy/hard classifications (one per
initialization) call an example hard: 0 ("super easy") to the number of runs
("super hard").
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cgh_lib.errors import UserError

__all__ = [
    "split_by_mask", "draw_disjoint", "class_counts", "difficulty_levels", "difficulty_counts",
    "accuracy_by_difficulty", "balanced_accuracy", "independent_difficulty_counts",
]


def split_by_mask(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices where ``mask`` is True, where it is False): e.g. (easy, hard) from a "learned" vector."""
    m = np.asarray(mask, dtype=bool)
    return np.flatnonzero(m), np.flatnonzero(~m)


def draw_disjoint(indices: np.ndarray, sizes: Sequence[int], seed: int, what: str = "set") -> list[np.ndarray]:
    """Disjoint random samples of ``indices`` (without replacement) of the given ``sizes``, each sorted.

    One permutation of ``indices`` from ``np.random.default_rng(seed)`` is cut
    into consecutive pieces, so the pieces are disjoint by construction and the
    same (indices, sizes, seed) always gives the same pieces.
    """
    idx = np.asarray(indices, dtype=np.int64)
    sizes = [int(s) for s in sizes]
    if any(s < 0 for s in sizes):
        raise UserError(f"sizes {sizes} for the {what}: accepted: non-negative integers")
    if sum(sizes) > len(idx):
        raise UserError(f"the {what} has {len(idx):,} examples, fewer than the {sum(sizes):,} requested "
                        f"({' + '.join(f'{s:,}' for s in sizes)}); accepted: sizes summing to at most {len(idx):,}")
    perm = idx[np.random.default_rng(int(seed)).permutation(len(idx))]
    out, start = [], 0
    for s in sizes:
        out.append(np.sort(perm[start:start + s]))
        start += s
    return out


def class_counts(labels: np.ndarray, indices: np.ndarray | None, num_classes: int) -> np.ndarray:
    """How many of ``indices`` (all if None) have each label 0..num_classes-1."""
    lab = np.asarray(labels, dtype=np.int64)
    if indices is not None:
        lab = lab[np.asarray(indices, dtype=np.int64)]
    return np.bincount(lab, minlength=num_classes)[:num_classes]


def difficulty_levels(hard: np.ndarray) -> np.ndarray:
    """Per example, how many runs call it hard: ``hard`` is [runs, examples] bool -> int array in 0..runs."""
    h = np.asarray(hard, dtype=bool)
    if h.ndim != 2:
        raise ValueError(f"hard masks must be [runs, examples], got shape {h.shape}")
    return h.sum(axis=0).astype(np.int16)


def difficulty_counts(levels: np.ndarray, n_runs: int) -> np.ndarray:
    """Number of examples at each difficulty 0..n_runs (the COUNT column of WS Figure 5(a))."""
    return np.bincount(np.asarray(levels, dtype=np.int64), minlength=n_runs + 1)[: n_runs + 1]


def accuracy_by_difficulty(levels: np.ndarray, correct: np.ndarray, n_runs: int) -> tuple[np.ndarray, np.ndarray]:
    """(accuracy, count) per difficulty 0..n_runs; accuracy is NaN at a level with no examples."""
    lv = np.asarray(levels, dtype=np.int64)
    c = np.asarray(correct, dtype=bool)
    if lv.shape != c.shape:
        raise ValueError(f"levels {lv.shape} and correct {c.shape} differ in shape")
    counts = np.bincount(lv, minlength=n_runs + 1)[: n_runs + 1]
    hits = np.bincount(lv, weights=c.astype(np.float64), minlength=n_runs + 1)[: n_runs + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    return acc, counts


def balanced_accuracy(correct: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """Mean over the classes present of each class's accuracy: accuracy with the class mix equalised."""
    c = np.asarray(correct, dtype=np.float64)
    lab = np.asarray(labels, dtype=np.int64)
    n = np.bincount(lab, minlength=num_classes)
    hits = np.bincount(lab, weights=c, minlength=num_classes)
    present = n > 0
    return float(np.mean(hits[present] / n[present])) if present.any() else float("nan")


def independent_difficulty_counts(hard_fractions: Sequence[float], n_examples: int) -> np.ndarray:
    """Expected difficulty counts if each run picked its hard examples independently at random
    (run r calls a fraction ``hard_fractions[r]`` hard): a Poisson-binomial histogram.

    The baseline the measured histogram is compared with: if difficulty were mere
    initialization noise, the counts would pile up in the middle, not at 0 and n.
    """
    dist = np.array([1.0])
    for p in hard_fractions:
        dist = np.convolve(dist, [1.0 - float(p), float(p)])
    return dist * int(n_examples)
