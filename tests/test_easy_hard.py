"""WS §4 pieces: index-list splits, difficulty counts, the per-example dump, the stop-at-accuracy
condition (exact resume), and the easy / hard experiments end to end at the smoke profile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.utils.data import TensorDataset

from cgh_lib.data.splits import (
    accuracy_by_difficulty,
    balanced_accuracy,
    class_counts,
    difficulty_counts,
    difficulty_levels,
    draw_disjoint,
    independent_difficulty_counts,
    split_by_mask,
)
from cgh_lib.errors import UserError
from cgh_lib.train.example_dump import correct_per_example, pack_mask, predict_per_example, unpack_mask
from cgh_lib.train.loader import LoaderTrainConfig, train_with_loader


# ----------------------------------------------------------------------------- splits
def test_draw_disjoint_sizes_disjoint_and_deterministic() -> None:
    pool = np.arange(1000, 3000, 3)  # 667 indices, not starting at 0
    a, b = draw_disjoint(pool, (500, 100), seed=7)
    assert (len(a), len(b)) == (500, 100)
    assert not set(a) & set(b)
    assert set(a) | set(b) <= set(pool)
    assert np.all(np.diff(a) > 0) and np.all(np.diff(b) > 0)  # sorted, no repeats (without replacement)
    a2, b2 = draw_disjoint(pool, (500, 100), seed=7)
    assert np.array_equal(a, a2) and np.array_equal(b, b2)
    a3, _ = draw_disjoint(pool, (500, 100), seed=8)
    assert not np.array_equal(a, a3)


def test_draw_disjoint_refuses_too_many() -> None:
    with pytest.raises(UserError, match="fewer than the 700 requested"):
        draw_disjoint(np.arange(600), (600, 100), seed=0, what="easy set")


def test_split_by_mask_and_class_counts() -> None:
    mask = np.array([True, False, True, True, False])
    easy, hard = split_by_mask(mask)
    assert easy.tolist() == [0, 2, 3] and hard.tolist() == [1, 4]
    labels = np.array([0, 1, 1, 2, 2])
    assert class_counts(labels, easy, 3).tolist() == [1, 1, 1]
    assert class_counts(labels, None, 4).tolist() == [1, 2, 2, 0]


# ----------------------------------------------------------------------------- difficulty
def test_difficulty_levels_counts_and_accuracy() -> None:
    hard = np.array([[1, 0, 1, 1, 0, 0],
                     [1, 0, 0, 1, 0, 1],
                     [1, 0, 1, 1, 0, 0]], dtype=bool)
    lv = difficulty_levels(hard)
    assert lv.tolist() == [3, 0, 2, 3, 0, 1]
    assert difficulty_counts(lv, 3).tolist() == [2, 1, 1, 2]
    correct = np.array([0, 1, 1, 1, 1, 0], dtype=bool)
    acc, n = accuracy_by_difficulty(lv, correct, 3)
    assert n.tolist() == [2, 1, 1, 2]
    assert acc.tolist() == [1.0, 0.0, 1.0, 0.5]
    acc4, n4 = accuracy_by_difficulty(np.array([0, 0]), np.array([True, False]), 2)
    assert n4.tolist() == [2, 0, 0] and acc4[0] == 0.5 and np.isnan(acc4[1:]).all()


def test_independent_difficulty_counts_is_binomial() -> None:
    got = independent_difficulty_counts([0.5] * 8, 256)
    from math import comb

    assert np.allclose(got, [comb(8, k) for k in range(9)])
    assert independent_difficulty_counts([0.2, 0.7, 0.4], 1000).sum() == pytest.approx(1000)


def test_balanced_accuracy_ignores_class_mix() -> None:
    labels = np.array([0] * 90 + [1] * 10)
    correct = np.array([True] * 90 + [False] * 10)  # plain accuracy 0.9, per class 1.0 and 0.0
    assert balanced_accuracy(correct, labels, 3) == pytest.approx(0.5)


# ----------------------------------------------------------------------------- per-example dump
def _data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=g)
    y = (x[:, 0, :4].sum((1, 2)) > 0).long() + 2 * (x[:, 0, 4:].sum((1, 2)) > 0).long()
    return TensorDataset(x, y)


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4))


def test_per_example_dump_matches_the_model_and_packs() -> None:
    ds, m = _data(203, 1), _model(0)
    pred, lab = predict_per_example(m, ds, batch_size=50)
    with torch.no_grad():
        want = m(ds.tensors[0]).argmax(1).numpy()
    assert np.array_equal(pred, want) and np.array_equal(lab, ds.tensors[1].numpy())
    c = correct_per_example(m, ds, batch_size=64)
    assert np.array_equal(c, want == lab)
    bits = pack_mask(c)
    assert bits.nbytes == 26 and np.array_equal(unpack_mask(bits, len(c)), c)


# ----------------------------------------------------------------------------- stop condition
def _cfg(stop_at: float | None) -> LoaderTrainConfig:
    return LoaderTrainConfig(epochs=6, batch_size=16, lr=0.05, momentum=0.9, schedule="constant",
                             eval_every_steps=3, seed=1, stop_metric="train_acc" if stop_at else None,
                             stop_at=stop_at)


def _threshold(train: TensorDataset) -> tuple[float, int]:
    """A threshold first reached after the first epoch (so a kill at the epoch end precedes the stop)."""
    hist = train_with_loader(_model(0), train, {"train": train}, _cfg(None))
    acc, ep = np.array(hist["train_acc"]), np.array(hist["epoch"])
    before = acc[ep <= 1].max()
    later = acc[(ep > 1) & (acc > before)]
    assert len(later), "the toy run never improves after epoch 1"
    thr = float(later[0])
    return thr, int(np.flatnonzero(acc >= thr)[0])


def test_stop_condition_stops_at_first_crossing_and_resumes_exactly(tmp_path: Path) -> None:
    train = _data(160, 0)
    thr, first = _threshold(train)
    full = train_with_loader(m_full := _model(0), train, {"train": train}, _cfg(thr))
    assert len(full["train_acc"]) == first + 1  # stopped at the first evaluation reaching thr
    assert full["train_acc"][-1] >= thr and max(full["train_acc"][:-1]) < thr
    assert full["epoch"][-1] > 1

    ckpt = tmp_path / "ck.pt"

    class Kill(Exception):
        pass

    def die(epochs: int, hist: dict) -> None:
        raise Kill

    with pytest.raises(Kill):
        train_with_loader(_model(0), train, {"train": train}, _cfg(thr), checkpoint_path=ckpt, on_epoch_end=die)
    resumed = train_with_loader(m_res := _model(5), train, {"train": train}, _cfg(thr), checkpoint_path=ckpt)
    assert resumed == full
    for a, b in zip(m_full.state_dict().values(), m_res.state_dict().values()):
        assert torch.equal(a, b)
    # called again, the stopped run returns its stopped model and history: no training on
    again = train_with_loader(m_again := _model(9), train, {"train": train}, _cfg(thr), checkpoint_path=ckpt)
    assert again == full
    for a, b in zip(m_full.state_dict().values(), m_again.state_dict().values()):
        assert torch.equal(a, b)


def test_stop_condition_checks_its_settings(tmp_path: Path) -> None:
    train = _data(64, 0)
    with pytest.raises(UserError, match="give both or neither"):
        LoaderTrainConfig(stop_metric="train_acc").validate()
    cfg = LoaderTrainConfig(epochs=1, batch_size=16, stop_metric="nope_acc", stop_at=0.5)
    with pytest.raises(UserError, match="nope_acc"):
        train_with_loader(_model(0), train, {"train": train}, cfg)


# ----------------------------------------------------------------------------- experiments (smoke)
def test_easy_hard_smoke_runs_store_disjoint_index_lists() -> None:
    from cgh_lib.papers.ws import easy_hard as eh

    runs = eh.figure_runs("ws-fig4", "smoke")
    cls = runs["classify"]
    acc = cls.arrays["train_acc"]
    assert acc[-1] >= cls.config["stop_at"] > acc[:-1].max()  # stopped at the first crossing
    learned = eh.learned_mask(cls)
    assert len(learned) == cls.final["n"] and learned.mean() == pytest.approx(cls.final["easy_fraction"])
    e = runs["easy"].arrays
    c = runs["easy"].config
    sets = {k: set(e[k].tolist()) for k in ("e_train", "e_test", "h_train", "h_test")}
    assert [len(sets[k]) for k in sets] == [c["n_train"], c["n_test"], c["n_train"], c["n_test"]]
    names = list(sets)
    assert all(not sets[a] & sets[b] for i, a in enumerate(names) for b in names[i + 1:])
    assert learned[e["e_train"]].all() and learned[e["e_test"]].all()
    assert not learned[e["h_train"]].any() and not learned[e["h_test"]].any()
    for k in sets:  # the hard run drew the same split; it is a function of the stored classification
        assert np.array_equal(runs["hard"].arrays[k], e[k])
    rebuilt = eh.split_indices(eh.WSEasyHardConfig(**{**c, "lr_milestones": tuple(c["lr_milestones"])}), learned)
    assert all(np.array_equal(rebuilt[k], e[k]) for k in sets)
    assert len(eh.cross_table(runs)) == 4
    from cgh_lib.book import claims

    for fig in ("ws-fig4", "ws-tab44"):  # the claims find these runs through their own configs
        verdicts = claims.evaluate_figure(fig, "smoke")
        assert verdicts and all(v.verdict != "missing" for v in verdicts), fig


def test_imagefolder_resnet18_path(tmp_path, monkeypatch) -> None:
    """The paper profile's path (ImageFolder data, ResNet-18 with BatchNorm, subsets of an ImageFolder)
    on the 10-class imagenet-mini at a 32-pixel crop."""
    mini = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "imagenet-mini"
    if not (mini / "train").is_dir():
        pytest.skip("imagenet-mini not available")
    from cgh_lib.papers.ws import easy_hard as eh
    from cgh_lib.store.experiments import RunOptions, ensure_runs, make_config

    monkeypatch.setenv("CGH_IMAGENET", str(mini))
    cfg = make_config("ws-easy-hard", "paper", dict(
        subset="hard", image_size=32, epochs=1, batch_size=50, train_sample=40, n_test_full=50, n_train=60,
        n_test=12, cls_batch_size=50, cls_stop_at=0.2, cls_monitor=200, cls_eval_every_steps=2, cls_epochs=2))
    assert cfg.model == "resnet18" and cfg.dataset == "imagenet"
    r = ensure_runs([cfg], RunOptions(progress=False))[0]
    cls = ensure_runs([cfg.classify_config()], RunOptions(progress=False))[0]
    assert cls.final["n"] == 1000 and "10 classes" in cls.provenance["data"]
    learned = eh.learned_mask(cls)
    assert not learned[r.arrays["h_train"]].any() and learned[r.arrays["e_test"]].all()
    assert r.arrays["test_n"][-1] == 50 and r.arrays["h_test_n"][-1] == 12
    assert 0 <= r.final["h_test_balanced_acc"] <= 1


def test_tables_over_seeds_are_means_with_each_seeds_value():
    """A table over {seed: runs} is the per-seed tables' mean; a spread column lists each seed's
    value beside it; columns equal in every seed (sizes, the paper's numbers) stay as they are."""
    import pandas as pd

    from cgh_lib.papers.ws import easy_hard as eh

    t0 = pd.DataFrame({"set": ["easy", "hard"], "n": [10, 20], "ours": [0.5, 0.25]})
    t1 = pd.DataFrame({"set": ["easy", "hard"], "n": [10, 20], "ours": [0.7, 0.75]})
    out = eh.mean_over_seeds([t0, t1], ["ours"])
    assert list(out.columns) == ["set", "n", "ours", "ours, per seed"]
    assert out["ours"].tolist() == [0.6, 0.5] and out["n"].tolist() == [10, 20] and out["n"].dtype == t0["n"].dtype
    assert out["ours, per seed"].tolist() == ["0.500 / 0.700", "0.250 / 0.750"]
    assert eh.mean_over_seeds([t0], ["ours"]) is t0


def test_figure_plan_counts_shared_classifications_once():
    """Figure 5(a)'s difficulty uses the classifications of seeds 0-7 whatever the seed, so three seeds
    add only their RM3 / SGD trainings; Figure 4's seeds each have their own classification."""
    from cgh_lib.papers.ws import easy_hard as eh

    n_cls = eh.N_DIFFICULTY_SEEDS
    assert len(eh.figure_plan("ws-fig5a", "small", {"seeds": [0, 1, 2]})) == n_cls + 3 * 2
    fig4 = eh.figure_plan("ws-fig4", "small", {"seeds": [0, 1, 2]})
    assert len(fig4) == 3 * (1 + 3)
    assert sorted(c.seed for c in fig4 if type(c).EXPERIMENT == "ws-easy-hard-classify") == [0, 1, 2]
