"""Loader trainer: kill-and-resume equals an uninterrupted run; lr schedules at their boundaries."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn as nn
from torch.utils.data import TensorDataset

from cgh_lib.data.images import IndexedDataset, NoisyLabels, tracking_subsets
from cgh_lib.errors import UserError
from cgh_lib.train.loader import (
    GradientAggregator,
    LoaderTrainConfig,
    MeanGradient,
    lr_at,
    train_with_loader,
)


def _data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=g)
    y = (x[:, 0, :4].sum((1, 2)) > 0).long() + 2 * (x[:, 0, 4:].sum((1, 2)) > 0).long()
    return TensorDataset(x, y)


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 4))


class RollingMean2:
    """Stateful toy aggregator (mean of this and the previous gradient), to test its checkpointing."""

    def __init__(self) -> None:
        self.prev: list[torch.Tensor] | None = None

    def backward(self, model: nn.Module, loss_fn: Any, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = loss_fn(model(x), y)
        loss.backward()
        cur = [p.grad.detach().clone() for p in model.parameters()]
        if self.prev is not None:
            for p, old in zip(model.parameters(), self.prev):
                p.grad.add_(old).mul_(0.5)
        self.prev = cur
        return loss.detach()

    def state_dict(self) -> dict[str, Any]:
        return {"prev": self.prev}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.prev = state["prev"]


def _sets() -> tuple[NoisyLabels, dict]:
    noisy = NoisyLabels(_data(48, 1), fraction=0.5, seed=2, scheme="uniform", num_classes=4)
    evals = tracking_subsets(noisy, n_per_group=10, seed=3)
    evals["test"] = IndexedDataset(_data(32, 4))
    return noisy, evals


CFG = dict(epochs=3, batch_size=8, lr=0.1, momentum=0.9, schedule="step", lr_milestones=(2,), seed=7)


class Killed(Exception):
    pass


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    train, evals = _sets()
    cfg = LoaderTrainConfig(**CFG)
    full_model = _model(0)
    full = train_with_loader(full_model, train, evals, cfg, RollingMean2(), tmp_path / "a.pt")

    def kill(epochs_done: int, _h: dict) -> None:
        if epochs_done == 1:
            raise Killed
    with pytest.raises(Killed):
        train_with_loader(_model(0), train, evals, cfg, RollingMean2(), tmp_path / "b.pt", on_epoch_end=kill)
    torch.manual_seed(999)  # the resumed process starts with a different global RNG and model
    resumed_model = _model(5)
    resumed = train_with_loader(resumed_model, train, evals, cfg, RollingMean2(), tmp_path / "b.pt")

    assert resumed == full
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values()):
        assert torch.equal(a, b)
    assert full["epoch"] == [0, 1, 2, 3] and full["step"] == [0, 6, 12, 18]
    assert full["lr"][1:] == [0.1, 0.1, pytest.approx(0.01)]
    assert full["train_running_loss"][0] is None
    assert full["test_loss"][-1] < full["test_loss"][0]
    assert full["train_n"] == [48] * 4 and full["pristine_n"] == [10] * 4
    json.dumps(full)  # JSON-serialisable
    # A finished checkpoint just returns its history.
    assert train_with_loader(_model(1), train, evals, cfg, RollingMean2(), tmp_path / "a.pt") == full


def test_resume_refuses_other_settings(tmp_path: Path) -> None:
    train, evals = _sets()
    cfg = LoaderTrainConfig(**{**CFG, "epochs": 1})
    train_with_loader(_model(0), train, evals, cfg, checkpoint_path=tmp_path / "c.pt")
    with pytest.raises(UserError, match="different lr"):
        train_with_loader(_model(0), train, evals, LoaderTrainConfig(**{**CFG, "epochs": 1, "lr": 0.2}),
                          checkpoint_path=tmp_path / "c.pt")
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left no temp file


def test_lr_schedules_at_boundaries() -> None:
    step = LoaderTrainConfig(epochs=90, schedule="step", lr_milestones=(30, 60))
    assert [lr_at(step, e, 0) for e in (0, 29, 30, 59, 60, 89)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    cos = LoaderTrainConfig(epochs=90, schedule="cosine")
    assert lr_at(cos, 0, 0) == pytest.approx(0.1)
    assert lr_at(cos, 45, 0) == pytest.approx(0.05)
    assert lr_at(cos, 89, 0) == pytest.approx(0.05 * (1 + math.cos(math.pi * 89 / 90)))
    ms = LoaderTrainConfig(epochs=None, max_steps=100_000, batch_size=32, schedule="multistep_steps")
    got = [lr_at(ms, 0, s) for s in (0, 39_999, 40_000, 59_999, 60_000, 79_999, 80_000, 99_999)]
    assert got == pytest.approx([0.1, 0.1, 0.01, 0.01, 1e-3, 1e-3, 1e-4, 1e-4])
    assert lr_at(LoaderTrainConfig(schedule="constant"), 50, 10**6) == 0.1
    with pytest.raises(UserError, match="lr schedule"):
        LoaderTrainConfig(schedule="linear").validate()


def test_step_based_run_and_schedule_in_training() -> None:
    train, evals = _sets()  # 48 examples, batch 8: 6 steps per epoch
    cfg = LoaderTrainConfig(epochs=None, max_steps=10, batch_size=8, momentum=0.0, schedule="multistep_steps",
                            step_first=4, step_every=3, eval_every_steps=4, seed=1)
    h = train_with_loader(_model(0), train, {"test": evals["test"]}, cfg)
    assert h["step"] == [0, 4, 8, 10]
    assert h["epoch"] == pytest.approx([0, 4 / 6, 8 / 6, 10 / 6])
    # lr of the last step before each record: steps 3, 7, 9 -> 0.1, 0.01 (4..6), 0.001 (7..9)
    assert h["lr"] == pytest.approx([0.1, 0.1, 0.001, 0.001])


def test_zero_noise_has_empty_corrupt_group_and_ready_flag() -> None:
    noisy = NoisyLabels(_data(16, 1), fraction=0.0, seed=0, num_classes=4)
    evals = tracking_subsets(noisy, n_per_group=5, seed=0)
    assert len(evals["corrupt"]) == 0

    class Never(MeanGradient):
        ready = False  # like serial M3 between its 3 micro-batches

    model = _model(0)
    before = [p.detach().clone() for p in model.parameters()]
    h = train_with_loader(model, noisy, evals, LoaderTrainConfig(epochs=1, batch_size=8), Never())
    assert h["corrupt_acc"] == [None, None] and h["corrupt_n"] == [0, 0]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert isinstance(MeanGradient(), GradientAggregator)
    with pytest.raises(UserError, match="multiple of"):
        train_with_loader(_model(0), noisy, {}, LoaderTrainConfig(epochs=1, batch_size=0))


def test_m3_drops_the_short_last_batch() -> None:
    """50 examples in batches of 12 leave a last batch of 2, which M3 cannot split in 3:
    the trainer drops it (4 steps per epoch), while SGD keeps it (5 steps)."""
    from cgh_lib.grads.aggregators import make_aggregator

    train = IndexedDataset(_data(50, 5))
    cfg = LoaderTrainConfig(epochs=2, batch_size=12, momentum=0.0, schedule="constant")
    steps = {}
    for name in ("m3", "sgd"):
        hist = train_with_loader(_model(0), train, {}, cfg, aggregator=make_aggregator(name))
        steps[name] = max(hist["step"])
    assert steps == {"m3": 8, "sgd": 10}
