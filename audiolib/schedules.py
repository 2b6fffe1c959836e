"""Learning-rate schedules: the 1cycle policy, staged 1cycle schedules and the range test.

The 1cycle policy (L. N. Smith, "A disciplined approach to neural network hyper-parameters",
2018; "Super-convergence", 2019) as fastai's ``fit_one_cycle`` runs it:

* warm-up, the first ``pct_start`` of the steps: the learning rate rises from
  ``max_lr / div_factor`` to ``max_lr`` while the momentum falls from ``moms[0]`` to
  ``moms[1]`` (opposite phases: a large step size goes with little momentum);
* annealing: the learning rate falls back and the momentum rises back to ``moms[0]``;
* final decay: the learning rate ends at ``max_lr / (div_factor * final_div_factor)``, orders of
  magnitude below where it started (Smith's "annihilation").

``pct_final = 0`` (default, fastai) anneals straight from ``max_lr`` to the final value;
``pct_final > 0`` (Smith) anneals to the starting value and spends the last ``pct_final`` of
the steps decaying to the final value, with the momentum held at ``moms[0]``. With
``pct_final = 1 - 2 * pct_start`` this is ``torch.optim.lr_scheduler.OneCycleLR(three_phase=True)``
step for step, and with ``pct_final = 0`` it is ``OneCycleLR(three_phase=False)``; the tests
check both.

A staged schedule (:class:`Stage`) is a sequence of 1cycle policies, one per training stage,
each with its own length, peak and discriminative rates (last layer at ``max_lr``, the others at
``max_lr * body_lr_factor``).

The learning-rate range test (:func:`lr_range_test`, Smith 2017, fastai's ``lr_find``) trains
for a few steps with an exponentially growing learning rate and returns the loss curve and a
suggested ``max_lr``.

>>> import torch
>>> model = torch.nn.Linear(4, 2)
>>> opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
>>> sched = OneCycle(opt, total_steps=100)
>>> round(opt.param_groups[0]["lr"], 6), opt.param_groups[0]["betas"][0]
(0.0004, 0.95)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

__all__ = [
    "one_cycle_phases",
    "one_cycle_value",
    "OneCycle",
    "one_cycle",
    "last_layer",
    "discriminative_groups",
    "Stage",
    "staged_curve",
    "RangeTest",
    "lr_range_test",
    "suggest_lr",
]

ANNEALS = ("cos", "linear")


# --- the 1cycle policy as pure math ---------------------------------------------------------------
@dataclass(frozen=True)
class _Phase:
    end_step: float
    lr: tuple[float, float]  # start, end (as fractions of max_lr)
    mom: tuple[float, float]


def _check_cycle(total_steps: int, pct_start: float, pct_final: float, div_factor: float,
                 final_div_factor: float, moms: Sequence[float], anneal: str) -> None:
    if not isinstance(total_steps, (int, np.integer)) or total_steps < 1:
        raise ValueError(f"one cycle: total_steps must be a positive int, got {total_steps!r}")
    if not 0.0 < pct_start < 1.0:
        raise ValueError(f"one cycle: pct_start must be in (0, 1), got {pct_start}")
    if not 0.0 <= pct_final < 1.0 or pct_start + pct_final >= 1.0:
        raise ValueError(f"one cycle: pct_final must be in [0, 1) with pct_start + pct_final < 1, "
                         f"got pct_start={pct_start}, pct_final={pct_final}")
    if div_factor < 1 or final_div_factor < 1:
        raise ValueError(f"one cycle: div_factor and final_div_factor must be >= 1, "
                         f"got {div_factor}, {final_div_factor}")
    if len(moms) != 2 or not all(0.0 <= m < 1.0 for m in moms):
        raise ValueError(f"one cycle: moms must be two momenta in [0, 1), got {moms!r}")
    if anneal not in ANNEALS:
        raise ValueError(f"one cycle: anneal must be one of {ANNEALS}, got {anneal!r}")


def one_cycle_phases(total_steps: int, *, pct_start: float = 0.25, pct_final: float = 0.0,
                     div_factor: float = 25.0, final_div_factor: float = 1e4,
                     moms: Sequence[float] = (0.95, 0.85)) -> list[_Phase]:
    """The phases of a 1cycle policy: ``end_step`` and (start, end) of lr fraction and momentum.

    Step ``s`` (0-based, the value used for the ``s``-th optimizer step) belongs to the first
    phase whose ``end_step >= s``; the phase boundaries follow ``OneCycleLR``'s convention, so
    step 0 is the start of the warm-up and step ``total_steps - 1`` the end of the final decay.
    """
    initial, final = 1.0 / div_factor, 1.0 / (div_factor * final_div_factor)
    hi, lo = moms
    warm = _Phase(float(pct_start * total_steps) - 1, (initial, 1.0), (hi, lo))
    if pct_final == 0.0:
        return [warm, _Phase(total_steps - 1, (1.0, final), (lo, hi))]
    return [warm,
            _Phase(float((1.0 - pct_final) * total_steps) - 2, (1.0, initial), (lo, hi)),
            _Phase(total_steps - 1, (initial, final), (hi, hi))]


def _anneal(start: float, end: float, pct: float, kind: str) -> float:
    if kind == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)
    return (end - start) * pct + start


def one_cycle_value(step: int, total_steps: int, *, pct_start: float = 0.25, pct_final: float = 0.0,
                    div_factor: float = 25.0, final_div_factor: float = 1e4,
                    moms: Sequence[float] = (0.95, 0.85), anneal: str = "cos") -> tuple[float, float]:
    """``(lr / max_lr, momentum)`` of a 1cycle policy at 0-based ``step`` (``0..total_steps``).

    Args:
        step: the step; ``total_steps`` itself is allowed (a scheduler stepped after the last
            optimizer step lands there) and extrapolates the final phase.
        total_steps: optimizer steps in the cycle.
        pct_start: fraction of the steps spent warming up (fastai: 0.25; Smith: about 0.45).
        pct_final: fraction spent on the final decay after returning to the starting rate;
            0 anneals from the peak straight to the final rate (fastai).
        div_factor: the cycle starts at ``max_lr / div_factor``.
        final_div_factor: it ends at ``max_lr / (div_factor * final_div_factor)``.
        moms: ``(high, low)`` momentum; high at the start and end, low at the peak rate.
        anneal: ``"cos"`` (fastai) or ``"linear"`` (Smith) interpolation inside each phase.

    >>> round(one_cycle_value(0, 100)[0], 12) == 1 / 25
    True
    >>> one_cycle_value(24, 100)
    (1.0, 0.85)
    """
    _check_cycle(total_steps, pct_start, pct_final, div_factor, final_div_factor, moms, anneal)
    if not 0 <= step <= total_steps:
        raise ValueError(f"one cycle: step {step} outside 0..{total_steps}")
    phases = one_cycle_phases(total_steps, pct_start=pct_start, pct_final=pct_final, div_factor=div_factor,
                              final_div_factor=final_div_factor, moms=moms)
    start = 0.0
    for i, phase in enumerate(phases):
        if step <= phase.end_step or i == len(phases) - 1:
            span = phase.end_step - start
            pct = (step - start) / span if span > 0 else 1.0
            return _anneal(*phase.lr, pct, anneal), _anneal(*phase.mom, pct, anneal)
        start = phase.end_step
    raise AssertionError("unreachable")  # pragma: no cover


# --- the scheduler ------------------------------------------------------------------------------
def _set_momentum(group: dict, value: float) -> None:
    if "betas" in group:
        group["betas"] = (value, *group["betas"][1:])
    elif "momentum" in group:
        group["momentum"] = value


class OneCycle(torch.optim.lr_scheduler.LRScheduler):
    """1cycle learning rate and opposite-phase momentum for every param group of ``optimizer``.

    Each group's peak is its own ``lr`` at construction (so discriminative groups, e.g. last
    layer at ``lambda`` and the rest at ``lambda / 3``, keep their ratio), unless ``max_lr``
    is given (a float for all groups or one per group). The momentum is Adam's ``beta1`` or
    SGD/RMSprop's ``momentum``. Call :meth:`step` after every optimizer step, ``total_steps``
    times in all. See :func:`one_cycle_value` for the other arguments.

    >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.9)
    >>> sched = OneCycle(opt, total_steps=10, pct_start=0.3)
    >>> for _ in range(2): opt.step(); sched.step()
    >>> round(opt.param_groups[0]["lr"], 4)
    0.1
    """

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int, *, max_lr: float | Sequence[float] | None = None,
                 pct_start: float = 0.25, pct_final: float = 0.0, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, moms: Sequence[float] = (0.95, 0.85), anneal: str = "cos",
                 cycle_momentum: bool = True):
        _check_cycle(total_steps, pct_start, pct_final, div_factor, final_div_factor, moms, anneal)
        groups = optimizer.param_groups
        if max_lr is None:
            peaks = [float(g["lr"]) for g in groups]
        elif isinstance(max_lr, (int, float)):
            peaks = [float(max_lr)] * len(groups)
        else:
            peaks = [float(v) for v in max_lr]
            if len(peaks) != len(groups):
                raise ValueError(f"OneCycle: max_lr has {len(peaks)} values for {len(groups)} param groups")
        if any(p <= 0 for p in peaks):
            raise ValueError(f"OneCycle: every max_lr must be > 0, got {peaks}")
        self.total_steps = int(total_steps)
        self.peaks = peaks
        self.cycle = dict(pct_start=pct_start, pct_final=pct_final, div_factor=div_factor,
                          final_div_factor=final_div_factor, moms=tuple(moms), anneal=anneal)
        self.cycle_momentum = cycle_momentum
        for g, peak in zip(groups, peaks):
            g["max_lr"] = peak
            g["lr"] = peak / div_factor  # LRScheduler records this as initial_lr
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        step = min(self.last_epoch, self.total_steps)
        if self.last_epoch > self.total_steps:
            raise ValueError(f"OneCycle stepped {self.last_epoch} times; the cycle has {self.total_steps} steps")
        factor, momentum = one_cycle_value(step, self.total_steps, **self.cycle)
        if self.cycle_momentum:
            for g in self.optimizer.param_groups:
                _set_momentum(g, momentum)
        return [peak * factor for peak in self.peaks]


def one_cycle(**kw) -> Callable[[torch.optim.Optimizer, int], OneCycle]:
    """A ``TrainConfig.scheduler`` factory: ``f(optimizer, total_steps) -> OneCycle(**kw)``.

    >>> from audiolib.train import TrainConfig
    >>> cfg = TrainConfig(steps=10, scheduler=one_cycle(pct_start=0.3))
    """
    def make(optimizer: torch.optim.Optimizer, total_steps: int) -> OneCycle:
        return OneCycle(optimizer, total_steps, **kw)

    make.__name__ = "one_cycle(" + ", ".join(f"{k}={v}" for k, v in kw.items()) + ")"
    return make


# --- discriminative learning rates --------------------------------------------------------------
def last_layer(model: nn.Module) -> nn.Module:
    """The model's output layer: ``model.head.output`` / ``model.fc`` when present, else its last ``nn.Linear``."""
    for path in ("head.output", "fc", "classifier"):
        mod = model
        for part in path.split("."):
            mod = getattr(mod, part, None)
            if mod is None:
                break
        if isinstance(mod, nn.Linear):
            return mod
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear output layer")
    return linears[-1]


def discriminative_groups(lr: float, body_lr_factor: float = 1 / 3) -> Callable[[nn.Module], list[dict]]:
    """A ``TrainConfig.param_groups`` factory: last layer at ``lr``, all other weights at ``lr * body_lr_factor``.

    >>> groups = discriminative_groups(0.01)(torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 2)))
    >>> [round(g["lr"], 5) for g in groups]
    [0.00333, 0.01]
    """
    if lr <= 0 or body_lr_factor <= 0:
        raise ValueError(f"discriminative_groups: lr and body_lr_factor must be > 0, got {lr}, {body_lr_factor}")

    def groups(model: nn.Module) -> list[dict]:
        head = {id(p) for p in last_layer(model).parameters()}
        params = [p for p in model.parameters() if p.requires_grad]
        body = [p for p in params if id(p) not in head]
        out = [{"params": body, "lr": lr * body_lr_factor, "name": "body"}] if body else []
        return out + [{"params": [p for p in params if id(p) in head], "lr": lr, "name": "last_layer"}]

    groups.__name__ = f"discriminative_groups(lr={lr}, body_lr_factor={body_lr_factor:.4g})"
    return groups


# --- staged schedules ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """One stage of a staged schedule: a 1cycle policy over ``epochs`` epochs.

    Attributes:
        tag: what the stage trains on, e.g. ``"R1"`` (free text, used in tables and plots).
        epochs: length in epochs (> 0).
        max_lr: peak rate of the last layer; ``None``: chosen by a range test before the stage.
        body_lr_factor: the other layers peak at ``max_lr * body_lr_factor`` (1 = one rate;
            1/3 = the fastai discriminative setting).
        cycle: keyword arguments of :func:`one_cycle_value` (``pct_start``, ``div_factor``, ...).
    """

    tag: str
    epochs: int
    max_lr: float | None = None
    body_lr_factor: float = 1.0
    cycle: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"Stage {self.tag!r}: epochs must be a positive int, got {self.epochs!r}")
        if self.max_lr is not None and self.max_lr <= 0:
            raise ValueError(f"Stage {self.tag!r}: max_lr must be > 0 or None, got {self.max_lr}")
        if not 0 < self.body_lr_factor <= 1:
            raise ValueError(f"Stage {self.tag!r}: body_lr_factor must be in (0, 1], got {self.body_lr_factor}")

    def with_lr(self, max_lr: float) -> "Stage":
        return Stage(self.tag, self.epochs, max_lr, self.body_lr_factor, dict(self.cycle))


def staged_curve(stages: Sequence[Stage], steps_per_epoch: int | Sequence[int]) -> pd.DataFrame:
    """The whole staged schedule, one row per optimizer step.

    Args:
        stages: stages with ``max_lr`` set.
        steps_per_epoch: one value for all stages or one per stage.

    Returns:
        DataFrame with ``step`` (global, 0-based), ``stage`` (index), ``tag``, ``lr_last``,
        ``lr_body`` and ``momentum``.
    """
    per = [steps_per_epoch] * len(stages) if isinstance(steps_per_epoch, (int, np.integer)) else list(steps_per_epoch)
    if len(per) != len(stages):
        raise ValueError(f"staged_curve: {len(per)} steps_per_epoch values for {len(stages)} stages")
    rows, offset = [], 0
    for k, (stage, spe) in enumerate(zip(stages, per)):
        if stage.max_lr is None:
            raise ValueError(f"staged_curve: stage {stage.tag!r} has no max_lr yet")
        total = stage.epochs * int(spe)
        for s in range(total):
            factor, mom = one_cycle_value(s, total, **stage.cycle)
            rows.append({"step": offset + s, "stage": k, "tag": stage.tag, "lr_last": stage.max_lr * factor,
                         "lr_body": stage.max_lr * stage.body_lr_factor * factor, "momentum": mom})
        offset += total
    return pd.DataFrame(rows)


# --- learning-rate range test -------------------------------------------------------------------
@dataclass
class RangeTest:
    """The outcome of :func:`lr_range_test`.

    Attributes:
        curve: one row per step: ``lr``, ``loss`` (raw), ``smoothed`` (bias-corrected EMA).
        suggestion: the suggested ``max_lr``.
        rule: how it was chosen.
        min_loss_lr: the rate at the smallest smoothed loss.
        steepest_lr: the rate where the smoothed loss falls fastest (per log-rate).
    """

    curve: pd.DataFrame
    suggestion: float
    rule: str
    min_loss_lr: float
    steepest_lr: float


def suggest_lr(lrs: Sequence[float], smoothed: Sequence[float], rule: str = "min/10",
               skip_start: int = 0) -> tuple[float, float, float]:
    """``(suggestion, min_loss_lr, steepest_lr)`` from a range-test curve.

    Rules: ``"min/10"`` (fastai v1's and Smith's rule of thumb: a tenth of the rate at the
    smallest loss) or ``"steepest"`` (the rate of steepest descent of loss over log-rate).
    The first ``skip_start`` points (where the smoothed loss is still dominated by the first
    batches' noise) are not considered, as fastai's plot skips them.
    """
    lrs, smoothed = np.asarray(lrs, dtype=float), np.asarray(smoothed, dtype=float)
    if len(lrs) != len(smoothed):
        raise ValueError(f"suggest_lr: {len(lrs)} rates but {len(smoothed)} losses")
    if skip_start < 0:
        raise ValueError(f"suggest_lr: skip_start must be >= 0, got {skip_start}")
    lrs, smoothed = lrs[skip_start:], smoothed[skip_start:]
    if len(lrs) < 3:
        raise ValueError(f"suggest_lr: need at least 3 (lr, loss) points after skipping {skip_start}, got {len(lrs)}")
    i_min = int(np.nanargmin(smoothed))
    min_loss_lr = float(lrs[i_min])
    grad = np.gradient(smoothed, np.log(lrs))
    upto = max(i_min, 1)
    steepest_lr = float(lrs[int(np.nanargmin(grad[:upto + 1]))])
    if rule == "min/10":
        return min_loss_lr / 10.0, min_loss_lr, steepest_lr
    if rule == "steepest":
        return steepest_lr, min_loss_lr, steepest_lr
    raise ValueError(f"suggest_lr: rule must be 'min/10' or 'steepest', got {rule!r}")


def lr_range_test(model: nn.Module, train_set, *, start_lr: float = 1e-7, end_lr: float = 10.0, steps: int = 100,
                  batch_size: int = 32, optimizer: str = "adamw", weight_decay: float = 0.0,
                  loss: str = "softmax_ce", param_groups: Callable[[nn.Module], list[dict]] | None = None,
                  smoothing: float = 0.98, diverge: float = 4.0, rule: str = "min/10", skip_start: int | None = None,
                  seed: int = 0, device: str | torch.device | None = "auto") -> RangeTest:
    """Smith's learning-rate range test: train with ``lr = start_lr * (end_lr / start_lr) ** (i / (steps - 1))``.

    The model is trained in place from its current weights and restored afterwards (the test
    leaves no trace). Stops early when the smoothed loss exceeds ``diverge`` times its minimum.
    With ``param_groups``, every group's rate keeps its ratio to the last group's (the curve's
    ``lr`` is the last group's, i.e. the last layer's).

    Args:
        train_set: a dataset with ``get_batch(idx)`` or ``__getitem__`` returning ``(x, y)``.
        optimizer, weight_decay, loss: as in :class:`audiolib.train.TrainConfig`.
        smoothing: EMA factor of the loss (fastai: 0.98).
        rule, skip_start: see :func:`suggest_lr`; ``skip_start`` defaults to a tenth of the
            points recorded.

    Returns:
        :class:`RangeTest`.

    >>> result = lr_range_test(model, patches, steps=50)   # doctest: +SKIP
    >>> result.suggestion                                  # doctest: +SKIP
    """
    from .loaders import batch_indices, get_batch
    from .runtime import resolve_device
    from .train import TrainConfig, loss_function, make_optimizer

    if not 0 < start_lr < end_lr:
        raise ValueError(f"lr_range_test: need 0 < start_lr < end_lr, got {start_lr}, {end_lr}")
    if steps < 3:
        raise ValueError(f"lr_range_test: steps must be >= 3, got {steps}")
    device = resolve_device(device)
    config = TrainConfig(steps=steps, batch_size=batch_size, lr=start_lr, optimizer=optimizer,
                         weight_decay=weight_decay, loss=loss, device=str(device))
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    was_training = model.training
    model.to(device)
    groups = param_groups(model) if param_groups else [{"params": [p for p in model.parameters() if p.requires_grad]}]
    ratios = [g.get("lr", 1.0) / groups[-1].get("lr", 1.0) for g in groups]
    opt = make_optimizer(groups, config)
    criterion = loss_function(config, device)
    rows, avg, best = [], 0.0, math.inf
    gen_state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        model.train()
        for i in range(steps):
            lr = start_lr * (end_lr / start_lr) ** (i / (steps - 1))
            for g, r in zip(opt.param_groups, ratios):
                g["lr"] = lr * r
            idx = batch_indices(len(train_set), batch_size, i, seed)
            x, y = get_batch(train_set, idx)
            out = criterion(model(x.to(device)).float(), y.to(device).float())
            value = out.item()
            if not math.isfinite(value):
                break
            opt.zero_grad(set_to_none=True)
            out.backward()
            opt.step()
            avg = smoothing * avg + (1 - smoothing) * value
            smooth = avg / (1 - smoothing ** (i + 1))
            rows.append({"lr": lr, "loss": value, "smoothed": smooth})
            best = min(best, smooth)
            if i > 2 and smooth > diverge * best:
                break
    finally:
        model.load_state_dict(saved)
        model.train(was_training)
        torch.set_rng_state(gen_state)
    curve = pd.DataFrame(rows, columns=["lr", "loss", "smoothed"])
    skip = len(curve) // 10 if skip_start is None else skip_start
    if len(curve) - skip < 3:
        raise FloatingPointError(f"lr_range_test: the loss diverged after {len(curve)} steps from start_lr={start_lr}; "
                                 "lower start_lr")
    suggestion, min_lr, steep = suggest_lr(curve["lr"], curve["smoothed"], rule, skip)
    return RangeTest(curve, suggestion, rule, min_lr, steep)
