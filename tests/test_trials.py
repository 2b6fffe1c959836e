"""The shared experiment layer: one trial runner, seeds as an axis, availability and splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from audiolib.data import splits
from audiolib.runtime import CpuSpeed
from audiolib.train import TrainConfig
from audiolib.trials import TIME_METRICS, Trial, check_seeds, over_seeds, run_trial, tidy


def _data(n: int = 32, classes: int = 3) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(n, 1, 96, 64, generator=g), (torch.rand(n, classes, generator=g) < 0.5).float())


def _config(seed: int = 0, **kw) -> TrainConfig:
    return TrainConfig(**{"steps": 3, "batch_size": 8, "seed": seed, "progress": False, "device": "cpu", **kw})


def _mean_scorer(model, data):
    scores = torch.sigmoid(model(data.tensors[0])).detach().numpy()
    return {"mean_score": float(scores.mean())}, scores


def test_trial_rows_carry_ids_and_every_metric():
    trial = Trial({"model": "m", "seed": 3}, nn.Identity(), {"AUC": 0.75, "train_seconds": 2.0})
    assert trial.rows(fold=1) == [
        {"model": "m", "seed": 3, "fold": 1, "metric": "AUC", "value": 0.75},
        {"model": "m", "seed": 3, "fold": 1, "metric": "train_seconds", "value": 2.0}]
    assert trial.seed == 3


def test_run_trial_measures_times_as_metric_rows_and_seeds_the_build():
    data = _data()
    a = run_trial("fc_audio", data, _config(5), num_classes=3, eval_set=data, scorer=_mean_scorer,
                  ids={"model": "fc_audio"})
    b = run_trial("fc_audio", data, _config(5), num_classes=3, eval_set=data, scorer=_mean_scorer,
                  ids={"model": "fc_audio"})
    assert a.ids == {"model": "fc_audio", "seed": 5}
    assert set(TIME_METRICS) <= set(a.metrics) and a.metrics["steps"] == 3
    assert a.metrics["mean_score"] == b.metrics["mean_score"]          # same seed, same numbers
    np.testing.assert_array_equal(a.scores, b.scores)
    c = run_trial("fc_audio", data, _config(6), num_classes=3, eval_set=data, scorer=_mean_scorer)
    assert c.metrics["mean_score"] != a.metrics["mean_score"]
    assert set(a.table()["metric"]) == set(a.metrics)


def test_run_trial_takes_a_builder_or_a_module():
    data = _data()
    built = []

    def build():
        built.append(torch.initial_seed())
        return nn.Sequential(nn.Flatten(), nn.Linear(96 * 64, 3))

    t = run_trial(build, data, _config(7))
    assert built == [7] and t.scores is None and "mean_score" not in t.metrics
    module = nn.Sequential(nn.Flatten(), nn.Linear(96 * 64, 3))
    before = module[1].weight.detach().clone()
    t2 = run_trial(module, data, _config(0))
    assert t2.model is module and not torch.equal(before, module[1].weight)   # trained in place


def test_run_trial_cpu_speed_wraps_only_while_running():
    data = _data()
    seen = []

    def scorer(model, d):
        seen.append(type(model))
        return _mean_scorer(model, d)

    t = run_trial("fc_audio", data, _config(0, amp=True), num_classes=3, eval_set=data, scorer=scorer)
    assert seen == [CpuSpeed] and not isinstance(t.model, CpuSpeed)


def test_run_trial_rejects_half_a_scorer_and_names_the_problem():
    with pytest.raises(ValueError, match="eval_set and scorer"):
        run_trial("fc_audio", _data(), _config(), num_classes=3, eval_set=_data())
    with pytest.raises(ValueError, match="num_classes"):
        run_trial("fc_audio", _data(), _config())


def test_over_seeds_gives_each_arm_its_seed_and_tidy_stacks_them():
    def arms(seed):
        return [Trial({"arm": a}, nn.Identity(), {"x": 10 * seed + i}) for i, a in enumerate("ab")]

    table = tidy(over_seeds([1, 2], arms), dataset="d")
    assert table.to_dict("records") == [
        {"arm": "a", "seed": 1, "dataset": "d", "metric": "x", "value": 10.0},
        {"arm": "b", "seed": 1, "dataset": "d", "metric": "x", "value": 11.0},
        {"arm": "a", "seed": 2, "dataset": "d", "metric": "x", "value": 20.0},
        {"arm": "b", "seed": 2, "dataset": "d", "metric": "x", "value": 21.0}]


@pytest.mark.parametrize("bad", [[], [0, 0], [-1]])
def test_seeds_must_be_distinct_non_negative(bad):
    with pytest.raises(ValueError, match="parameter seeds"):
        check_seeds(bad)


def test_load_available_skips_absent_with_reason_and_propagates_real_errors(capsys):
    def load(name, **kw):
        if name == "absent":
            raise FileNotFoundError("no folder /x")
        if name == "broken":
            raise KeyError("column")
        return (name, kw)

    loaded, skipped = splits.load_available(["a", "absent", "b"], load, size=1, per_name={"b": {"extra": 2}})
    assert loaded == {"a": ("a", {"size": 1}), "b": ("b", {"size": 1, "extra": 2})}
    assert skipped == {"absent": "not available: no folder /x"}
    assert "absent: not available" in capsys.readouterr().out
    with pytest.raises(KeyError):
        splits.load_available(["broken"], load)


def test_fold_splits_hand_computed_and_errors():
    folds = np.array([2, 1, 2, 3])
    got = [(f, tr.tolist(), te.tolist()) for f, tr, te in splits.fold_splits(folds)]
    assert got == [(1, [0, 2, 3], [1]), (2, [1, 3], [0, 2]), (3, [0, 1, 2], [3])]
    with pytest.raises(ValueError, match=r"test folds \[4\]"):
        splits.fold_splits(folds, [4])
    with pytest.raises(ValueError, match="at least 2 folds"):
        splits.fold_splits([1, 1])


def test_cap_per_fold_takes_classes_in_turn():
    labels = np.array([0, 0, 0, 1, 1, 0, 1])
    folds = np.array([1, 1, 1, 1, 1, 2, 2])
    rows = splits.cap_per_fold(labels, folds, 2, seed=0)
    # fold 1 gives one clip of class 0 and one of class 1; fold 2 both its clips
    assert sorted(labels[rows[folds[rows] == 1]].tolist()) == [0, 1]
    assert rows[folds[rows] == 2].tolist() == [5, 6]


def test_share_of_groups_keeps_every_group():
    rows = splits.share_of_groups({"a": np.arange(0, 8), "b": np.arange(8, 10)}, 10, 5, seed=0)
    assert len(rows) == 5 and (rows >= 8).sum() == 1   # 4 of a (5*8/10), 1 of b (5*2/10)


def test_column_split_names_the_missing_split():
    with pytest.raises(ValueError, match="no clip in split 'validate'"):
        splits.column_split(["train", "test"], name="corpus")
