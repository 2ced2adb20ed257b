"""Config hashing and the run store."""

import dataclasses
import json

import numpy as np
import pytest

from cgh_lib.book.registry import make_config
from cgh_lib.errors import UserError
from cgh_lib.papers.cg2020.fig1_label_noise import LabelNoiseConfig
from cgh_lib.store.config import apply_overrides, config_hash, from_dict, to_dict
from cgh_lib.store.experiments import RunOptions, ensure_runs
from cgh_lib.store.runstore import RunStore


def test_config_hash_is_stable_and_content_based():
    a = LabelNoiseConfig()
    assert config_hash(a) == config_hash(LabelNoiseConfig())
    # pinned: changing this means every stored run changes key; bump it only on purpose
    assert config_hash(a) == config_hash(from_dict(LabelNoiseConfig, json.loads(json.dumps(to_dict(a)))))
    b = dataclasses.replace(a, noise=0.25)
    assert config_hash(a) != config_hash(b)
    assert len(config_hash(a)) == 16


def test_overrides_are_typed_and_validated():
    cfg = apply_overrides(LabelNoiseConfig(), {"steps": "1e3", "hidden": "256,256", "noise": "0.5"})
    assert cfg.steps == 1000 and cfg.hidden == (256, 256) and cfg.noise == 0.5
    with pytest.raises(UserError, match="steps='12.5' is not an integer"):
        apply_overrides(LabelNoiseConfig(), {"steps": "12.5"})
    with pytest.raises(UserError, match="unknown parameter key 'lrr'.*accepted: dataset"):
        apply_overrides(LabelNoiseConfig(), {"lrr": "1"})
    with pytest.raises(UserError, match="unknown init 'he'; accepted: xavier, authors"):
        apply_overrides(LabelNoiseConfig(), {"init": "he"})


def test_cache_hit_returns_stored_result_without_training(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "s")
    cfg = make_config("cg2020-label-noise", "smoke", {"steps": 30, "noise": 0.5})
    (first,) = ensure_runs([cfg], RunOptions(store=store, progress=False))
    import cgh_lib.papers.cg2020.fig1_label_noise as ln

    monkeypatch.setattr(ln, "train_stack", lambda *a, **k: pytest.fail("trained despite a stored result"))
    (again,) = ensure_runs([cfg], RunOptions(store=store, progress=False))
    assert again.final == first.final
    np.testing.assert_array_equal(again.arrays["learnt_last"], first.arrays["learnt_last"])
    assert first.provenance["torch"] and "wall_time_s" in first.provenance and "commit" in first.provenance
    assert (store.run_dir(cfg) / "config.json").exists()


def test_stacked_group_stores_each_member_under_its_own_hash(tmp_path):
    store = RunStore(tmp_path / "s")
    cfgs = [make_config("cg2020-label-noise", "smoke", {"steps": 20, "noise": n}) for n in (0.0, 1.0)]
    res = ensure_runs(cfgs, RunOptions(store=store, progress=False))
    assert [r.path.name for r in res] == [config_hash(c) for c in cfgs]
    assert res[0].final["pristine_fraction"] == 1.0 and res[1].final["pristine_fraction"] < 0.2
