"""Learning-rate reduction on a stalled metric, with warm restarts that reduce more mildly each cycle.

Tompkins & Nichols' ``train.py``: when no monitored metric (validation micro AUPRC, coarse and
fine) has improved for more than ``patience`` epochs, the learning rate is multiplied by ``factor``
(0.1) with a fresh optimizer; once at ``min_lr`` (1e-6) it restarts at the starting rate and
``factor`` grows by ``factor_step`` (0.1, at most 0.9). Here each monitored metric keeps its own
best weights. An ``on_evaluate(step, metrics, optimizer)`` hook for :func:`audiolib.train.fit`.

>>> import torch
>>> model = torch.nn.Linear(2, 1)
>>> opt = torch.optim.Adam(model.parameters(), lr=0.01)
>>> hook = WarmRestartPlateau(model, ("auprc",), lr=0.01, patience=1, min_lr=1e-4)
>>> for step, value in enumerate([0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]):
...     hook(step, {"auprc": value}, opt)
>>> [(e["event"], round(e["lr"], 6)) for e in hook.events]
[('reduce', 0.001), ('reduce', 0.0001), ('restart', 0.01)]
"""

from __future__ import annotations

import math

import torch
from torch import nn


class WarmRestartPlateau:
    """Plateau LR reduction with warm restarts, and the best weights per monitored metric (maximised).

    ``model`` may be set later (``hook.model``) by the model's builder. Attributes: ``best``,
    ``best_states`` (CPU copies), ``best_steps`` per metric; ``events``: LR changes
    ``{"step", "event", "lr", "factor"}``.
    """

    def __init__(self, model: nn.Module | None, monitors, *, lr: float, patience: int = 10, factor: float = 0.1,
                 factor_step: float = 0.1, min_lr: float = 1e-6):
        if not 0 < min_lr < lr:
            raise ValueError(f"parameters min_lr ({min_lr}) and lr ({lr}): need 0 < min_lr < lr")
        self.model = model
        self.monitors = tuple(monitors)
        self.base_lr, self.lr = float(lr), float(lr)
        self.patience, self.factor, self.factor_step, self.min_lr = patience, factor, factor_step, min_lr
        self.best = {m: -math.inf for m in self.monitors}
        self.best_states: dict[str, dict] = {}
        self.best_steps: dict[str, int] = {}
        self.stalled = 0
        self.events: list[dict] = []

    def __call__(self, step: int, metrics: dict, optimizer: torch.optim.Optimizer) -> None:
        improved = False
        for name in self.monitors:
            value = metrics.get(name)
            if value is None or not math.isfinite(value):
                continue
            if value > self.best[name]:
                self.best[name] = float(value)
                self.best_steps[name] = int(step)
                self.best_states[name] = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
                improved = True
        self.stalled = 0 if improved else self.stalled + 1
        if self.stalled <= self.patience:
            return
        self.stalled = 0
        if self.lr <= self.min_lr * (1 + 1e-9):
            self.lr = self.base_lr
            self.factor = min(self.factor + self.factor_step, 0.9)
            event = "restart"
        else:
            self.lr = max(self.lr * self.factor, self.min_lr)
            event = "reduce"
        for group in optimizer.param_groups:
            group["lr"] = self.lr
        optimizer.state.clear()  # a fresh Adam, as the authors built a new optimizer
        self.events.append({"step": int(step), "event": event, "lr": self.lr, "factor": self.factor})
