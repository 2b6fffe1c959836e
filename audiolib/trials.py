"""One trial runner for every paper: seed -> build -> train -> score, as one :class:`Trial` of tidy rows.

A trial is one model trained once: :func:`run_trial` seeds, builds the model (a registered
name, a builder or a module already built), trains it with :func:`audiolib.train.fit` and scores
it; the :class:`Trial` it returns carries every measurement, times included, as ``metric`` /
``value`` rows. Seeds are an axis of their own: :func:`over_seeds` runs the same trial once per
seed and :func:`tidy` stacks the results, so that paired comparisons over seeds
(:mod:`audiolib.findings`) read one table.

>>> from torch.utils.data import TensorDataset
>>> data = TensorDataset(torch.randn(40, 1, 96, 64), (torch.rand(40, 3) < 0.5).float())
>>> trials = over_seeds([0, 1], lambda seed: run_trial(
...     "fc_audio", data, TrainConfig(steps=2, batch_size=8, seed=seed, progress=False),
...     num_classes=3, ids={"model": "fc_audio"}))
>>> table = tidy(trials)
>>> sorted(table["seed"].unique().tolist()), "train_seconds" in set(table["metric"])
([0, 1], True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .models import create_model
from .runtime import CpuSpeed, resolve_device, seed_everything, torch_threads
from .train import FitResult, TrainConfig, fit

__all__ = ["Trial", "run_trial", "over_seeds", "tidy", "check_seeds", "TIME_METRICS"]

#: Metrics every trial measures about itself (besides what its scorer returns).
TIME_METRICS = ("steps", "train_seconds", "examples_per_second", "eval_seconds", "wall_seconds")

#: ``scorer(model, eval_set) -> (metrics, scores)``: how a trial is scored after training.
Scorer = Callable[[nn.Module, Any], "tuple[dict[str, float], np.ndarray]"]


@dataclass
class Trial:
    """One trained model and every measurement of it.

    Attributes:
        ids: what identifies the trial in a table (``model``, ``seed``, ``fold``, an arm ...);
            every row carries them as columns.
        model: the trained module (unwrapped: its own weights, in eval mode).
        metrics: ``{metric: value}``: the scorer's metrics and the times of :data:`TIME_METRICS`.
        history: :attr:`audiolib.train.FitResult.history` (one row per step, validation metrics
            at the evaluated steps), or the concatenated stages of a multi-stage trial.
        scores: the scorer's scores of the evaluation set ``[n, classes]`` (``None`` unscored).
        fit: the :class:`~audiolib.train.FitResult` (``None`` for a trial assembled from stages).
        extra: what a paper keeps beside (best weights per metric, stages, range tests ...).
    """

    ids: dict[str, Any]
    model: nn.Module
    metrics: dict[str, float]
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    scores: np.ndarray | None = None
    fit: FitResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> int | None:
        return self.ids.get("seed")

    def rows(self, **ids) -> list[dict[str, Any]]:
        """Tidy rows ``{**self.ids, **ids, metric, value}``, one per measurement."""
        base = {**self.ids, **ids}
        return [{**base, "metric": k, "value": float(v)} for k, v in self.metrics.items()]

    def table(self, **ids) -> pd.DataFrame:
        """:meth:`rows` as a DataFrame."""
        return pd.DataFrame(self.rows(**ids))


def _build(model: str | nn.Module | Callable[[], nn.Module], num_classes: int | None,
           model_kwargs: dict[str, Any] | None, seed: int) -> nn.Module:
    if isinstance(model, nn.Module):
        return model  # built (and seeded) by the caller, e.g. a later stage of the same network
    seed_everything(seed)
    if isinstance(model, str):
        if num_classes is None:
            raise ValueError(f"run_trial: model {model!r} given by name needs num_classes")
        return create_model(model, int(num_classes), **(model_kwargs or {}))
    if callable(model):
        return model()
    raise TypeError(f"run_trial: model must be a registered name, a module or a builder, got {type(model).__name__}")


def run_trial(model: str | nn.Module | Callable[[], nn.Module], train_set, config: TrainConfig, *,
              num_classes: int | None = None, model_kwargs: dict[str, Any] | None = None,
              val_set=None, evaluate_fn: Callable | None = None, on_evaluate: Callable | None = None,
              eval_set=None, scorer: Scorer | None = None, threads: int | None = None,
              ids: dict[str, Any] | None = None) -> Trial:
    """Seed, build, train and score one model.

    Args:
        model: a registered model name (built with ``create_model(model, num_classes,
            **model_kwargs)``), a builder ``() -> nn.Module``, both after
            ``seed_everything(config.seed)``; or a module, trained as it is.
        train_set, val_set, evaluate_fn, on_evaluate: as :func:`audiolib.train.fit`.
        config: the :class:`~audiolib.train.TrainConfig`. On the CPU, ``amp`` and
            ``channels_last`` wrap the model in :class:`~audiolib.runtime.CpuSpeed` for training
            and scoring (the weights stay float32 and NCHW afterwards).
        eval_set, scorer: scored after training as ``scorer(model, eval_set) -> (metrics,
            scores)``; both or neither.
        threads: torch intra-op threads while the trial runs on the CPU (``None``: unchanged);
            see :func:`audiolib.runtime.torch_threads`.
        ids: identifying columns of the trial's rows (``seed`` is added from ``config.seed``
            unless given).

    Returns:
        :class:`Trial` with metrics ``scorer's ... , steps, train_seconds, examples_per_second,
        eval_seconds, wall_seconds``.
    """
    if (eval_set is None) != (scorer is None):
        raise ValueError("run_trial: eval_set and scorer go together (both or neither)")
    start = time.perf_counter()
    cpu = resolve_device(config.device).type == "cpu"
    with torch_threads(threads if cpu else None):
        net = _build(model, num_classes, model_kwargs, config.seed)
        runner: nn.Module = net
        if cpu and (config.amp or config.channels_last):
            runner = CpuSpeed(net, amp=config.amp, channels_last=config.channels_last)
        result = fit(runner, train_set, config, val_set=val_set, evaluate_fn=evaluate_fn, on_evaluate=on_evaluate)
        metrics: dict[str, float] = {}
        scores = None
        t0 = time.perf_counter()
        if scorer is not None:
            metrics, scores = scorer(runner, eval_set)
            metrics = dict(metrics)
        eval_seconds = time.perf_counter() - t0
    if runner is not net and config.channels_last:
        net.to(memory_format=torch.contiguous_format)
    metrics.update(steps=result.steps, train_seconds=result.train_seconds,
                   examples_per_second=result.examples_per_second, eval_seconds=eval_seconds,
                   wall_seconds=time.perf_counter() - start)
    trial_ids = dict(ids or {})
    trial_ids.setdefault("seed", config.seed)
    return Trial(trial_ids, net.eval(), metrics, result.history, scores, result)


def check_seeds(seeds: Iterable[int], name: str = "seeds") -> list[int]:
    """``seeds`` as a list of distinct ints >= 0, or a ``ValueError`` naming ``name``.

    >>> check_seeds((0, 1, 2))
    [0, 1, 2]
    """
    out = [int(s) for s in seeds]
    if not out or any(s < 0 for s in out) or len(set(out)) != len(out):
        raise ValueError(f"parameter {name}: a non-empty list of distinct ints >= 0, got {list(seeds)}")
    return out


def over_seeds(seeds: Sequence[int], trial: Callable[[int], Trial | Sequence[Trial]]) -> list[Trial]:
    """``trial(seed)`` for every seed, in order; each result's ``ids["seed"]`` is that seed.

    ``trial`` may return one :class:`Trial` or several (the arms of one seed, which then share
    everything the seed decides: data split, initial weights, batch order).
    """
    out: list[Trial] = []
    for seed in check_seeds(seeds):
        got = trial(seed)
        for t in ([got] if isinstance(got, Trial) else list(got)):
            t.ids["seed"] = seed
            out.append(t)
    return out


def tidy(trials: Iterable[Trial], **ids) -> pd.DataFrame:
    """The rows of every trial in one tidy table (``ids`` added to every row)."""
    rows = [row for t in trials for row in t.rows(**ids)]
    return pd.DataFrame(rows)
