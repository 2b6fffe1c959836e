"""1cycle, discriminative groups, staged curves and the range test.

References: ``torch.optim.lr_scheduler.OneCycleLR`` (an independent implementation of the same
policy) for the two- and three-phase cycles, and hand-computed values at the phase boundaries.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from audiolib.schedules import (
    OneCycle,
    Stage,
    discriminative_groups,
    last_layer,
    lr_range_test,
    one_cycle,
    one_cycle_value,
    staged_curve,
    suggest_lr,
)


def _trace(scheduler_cls, opt_cls, total, **kw):
    """lr of group 0 and momentum used at each of ``total`` optimizer steps."""
    model = nn.Linear(3, 2)
    opt = opt_cls(model.parameters(), lr=0.1, **({"momentum": 0.9} if opt_cls is torch.optim.SGD else {}))
    sched = scheduler_cls(opt, **kw)
    lrs, moms = [], []
    for _ in range(total):
        g = opt.param_groups[0]
        lrs.append(g["lr"])
        moms.append(g["betas"][0] if "betas" in g else g["momentum"])
        opt.step()
        sched.step()
    return np.array(lrs), np.array(moms)


@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("opt_cls", [torch.optim.AdamW, torch.optim.SGD])
@pytest.mark.parametrize("total,pct", [(100, 0.25), (37, 0.3), (10, 0.4)])
def test_two_phase_matches_torch_onecycle(anneal, opt_cls, total, pct):
    ours = _trace(OneCycle, opt_cls, total, total_steps=total, max_lr=0.2, pct_start=pct, anneal=anneal)
    ref = _trace(torch.optim.lr_scheduler.OneCycleLR, opt_cls, total, total_steps=total, max_lr=0.2,
                 pct_start=pct, anneal_strategy=anneal, three_phase=False)
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-9, atol=1e-15)  # float rounding order only
    np.testing.assert_allclose(ours[1], ref[1], rtol=1e-9, atol=1e-15)  # float rounding order only


@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("total,pct", [(100, 0.25), (60, 0.45)])
def test_three_phase_matches_torch_onecycle(anneal, total, pct):
    ours = _trace(OneCycle, torch.optim.AdamW, total, total_steps=total, max_lr=0.2, pct_start=pct,
                  pct_final=1 - 2 * pct, anneal=anneal)
    ref = _trace(torch.optim.lr_scheduler.OneCycleLR, torch.optim.AdamW, total, total_steps=total, max_lr=0.2,
                 pct_start=pct, anneal_strategy=anneal, three_phase=True)
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-9, atol=1e-15)  # float rounding order only
    np.testing.assert_allclose(ours[1], ref[1], rtol=1e-9, atol=1e-15)  # float rounding order only


def test_boundaries_by_hand():
    # 100 steps, warm-up 25: step 0 at max/25, step 24 at max with momentum 0.85, last step at max/25e4
    assert one_cycle_value(0, 100) == pytest.approx((1 / 25, 0.95), rel=1e-12)
    assert one_cycle_value(24, 100) == pytest.approx((1.0, 0.85), rel=1e-12)
    assert one_cycle_value(99, 100) == pytest.approx((1 / 25e4, 0.95), rel=1e-12)
    # linear warm-up midpoint (step 12 of 0..24): halfway between 1/25 and 1
    assert one_cycle_value(12, 100, anneal="linear")[0] == pytest.approx(1 / 25 + 0.5 * (1 - 1 / 25), rel=1e-12)
    # Smith's shape: warm-up to 40, back to the start by step 78, then decay with momentum held high
    lr, mom = one_cycle_value(78, 100, pct_start=0.4, pct_final=0.2, anneal="linear")
    assert lr == pytest.approx(1 / 25, rel=1e-12) and mom == pytest.approx(0.95)
    assert one_cycle_value(90, 100, pct_start=0.4, pct_final=0.2, anneal="linear")[1] == pytest.approx(0.95)


def test_momentum_is_in_opposite_phase():
    lr = np.array([one_cycle_value(s, 200)[0] for s in range(200)])
    mom = np.array([one_cycle_value(s, 200)[1] for s in range(200)])
    assert np.argmax(lr) == np.argmin(mom)
    assert np.corrcoef(lr, mom)[0, 1] < -0.99


def test_group_ratio_kept_and_final_decay():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    groups = discriminative_groups(0.03)(model)
    opt = torch.optim.AdamW(groups)
    sched = OneCycle(opt, total_steps=20)
    seen = []
    for _ in range(20):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    seen = np.array(seen)
    np.testing.assert_allclose(seen[:, 1] / seen[:, 0], 3.0, rtol=1e-12)
    assert seen[:, 1].max() == pytest.approx(0.03)
    assert seen[-1, 1] < 0.03 / 25 / 1000  # ends orders of magnitude below the start
    with pytest.raises(ValueError, match="stepped 21 times"):
        opt.step()
        sched.step()
        sched.step()


def test_discriminative_groups_cover_every_parameter_once():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 5))
    groups = discriminative_groups(0.1, 1 / 3)(model)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    assert len(ids) == len(set(ids))
    assert groups[-1]["params"][0] is model[2].weight
    assert groups[0]["lr"] == pytest.approx(0.1 / 3)
    with pytest.raises(ValueError, match="no nn.Linear"):
        last_layer(nn.Conv2d(1, 1, 1))


def test_staged_curve_and_stage_validation():
    stages = [Stage("R1", 2, 0.01, 1.0), Stage("R2", 1, 0.005, 1 / 3), Stage("R3", 1, 0.002, 1 / 3)]
    curve = staged_curve(stages, [5, 4, 3])
    assert len(curve) == 10 + 4 + 3
    assert curve["step"].tolist() == list(range(17))
    first = curve[curve.tag == "R2"]
    assert first["lr_last"].max() == pytest.approx(0.005)
    np.testing.assert_allclose(first["lr_body"] / first["lr_last"], 1 / 3)
    with pytest.raises(ValueError, match="epochs"):
        Stage("bad", 0, 0.1)
    with pytest.raises(ValueError, match="no max_lr"):
        staged_curve([Stage("R1", 1)], 3)


def test_bad_cycle_arguments():
    with pytest.raises(ValueError, match="pct_start"):
        one_cycle_value(0, 10, pct_start=1.2)
    with pytest.raises(ValueError, match="pct_final"):
        one_cycle_value(0, 10, pct_start=0.5, pct_final=0.5)
    with pytest.raises(ValueError, match="anneal"):
        one_cycle_value(0, 10, anneal="exp")
    with pytest.raises(ValueError, match="max_lr has 1 values for 2"):
        m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
        OneCycle(torch.optim.SGD(discriminative_groups(0.1)(m), lr=0.1), 10, max_lr=[0.1])


def test_scheduler_factory_works_with_fit():
    from audiolib.train import TrainConfig, fit

    x = torch.randn(64, 1, 4, 4)
    y = torch.nn.functional.one_hot((x.mean((1, 2, 3)) > 0).long(), 2).float()
    data = torch.utils.data.TensorDataset(x, y)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    cfg = TrainConfig(steps=12, batch_size=16, lr=0.05, optimizer="adamw", loss="softmax_ce",
                      scheduler=one_cycle(pct_start=0.25), param_groups=discriminative_groups(0.05), device="cpu",
                      progress=False)
    result = fit(model, data, cfg)
    lrs = result.history["lr"].to_numpy()  # the last group's (last layer's) rate after each step
    assert lrs.max() == pytest.approx(0.05, rel=1e-6)
    assert lrs[-1] < 0.05 / 25


def test_suggest_lr_on_a_constructed_curve():
    lrs = np.logspace(-6, 0, 61)
    loss = 2.0 - np.tanh(3 * (np.log10(lrs) + 3)) + np.where(lrs > 0.1, 50 * (lrs - 0.1), 0)
    sugg, at_min, steep = suggest_lr(lrs, loss)
    assert at_min == pytest.approx(lrs[np.argmin(loss)])
    assert sugg == pytest.approx(at_min / 10)
    assert steep == pytest.approx(1e-3, rel=0.3)  # the tanh's inflection


def test_lr_range_test_restores_weights_and_finds_a_sane_rate():
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = torch.nn.functional.one_hot((x[:, 0] > 0).long(), 2).float()
    data = torch.utils.data.TensorDataset(x, y)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = lr_range_test(model, data, steps=80, batch_size=32, start_lr=1e-6, end_lr=10, device="cpu")
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} changed"
    assert {"lr", "loss", "smoothed"} <= set(result.curve.columns)
    assert np.all(np.diff(result.curve["lr"]) > 0)
    assert 1e-4 < result.suggestion < 1.0
    assert result.curve["smoothed"].min() < result.curve["smoothed"].iloc[0]
    assert math.isclose(result.suggestion, result.min_loss_lr / 10)
