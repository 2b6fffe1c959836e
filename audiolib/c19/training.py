"""C19 training: staged 1cycle schedules, progressive resizing, mixup and the cross-validation driver.

Methods (:data:`METHODS`):

``baseline``
    ResNet-34 on R3 images in the three stages of Table 1: all layers at lambda_1 for 20 epochs;
    the last layer at lambda_2 and the others at lambda_2 / 3 for 50; the last layer at lambda_3
    and the others at lambda_3 / 3 for 120 (190 epochs).
``mel``
    two stages at each resolution R1 -> R2 -> R3 (20 + 20, 20 + 20, 20 + 70 epochs: 170, although
    the paper says all methods train equally long), R1 and R2 computed with fewer mel filters and a
    shorter audio extract; the first stage of each resolution trains all layers at lambda_1Rk, the
    second the last layer at lambda_2Rk and the others at lambda_2Rk / 3 (``body_lr_factor``).
``resize``
    the same stages with R1 and R2 bilinearly resized from the R3 image.
``mel+resize``
    the combination the paper leaves to future work: at R1 and R2 the training set is the union
    of both representations of every clip (an epoch still draws as many examples as there are
    clips, so every method trains for the same number of steps), validation uses both too.

Every stage is a 1cycle policy (:class:`audiolib.schedules.OneCycle`: warm-up of 25 % of the
steps from lambda/25 to lambda with momentum (Adam's beta1) 0.95 -> 0.85, cosine annealing to
lambda / 25e4 with momentum back to 0.95), AdamW with weight decay 0.1, the held-out fold
evaluated after every epoch, and the stage's best weights on it restored before the next stage
(and at the end). Reported ``accuracy`` is that restored model's accuracy on the held-out fold
(the paper's procedure, which selects on the test fold; ``accuracy_last_epoch`` is the model
after the last epoch, with no selection).

Reduced CPU schedules take few, large steps, after which batch norm's running averages lag the
weights so far that the evaluated model is near chance even on its training data;
``bn_recalibration > 0`` re-estimates them on a few training batches before each evaluation
(:func:`recalibrate_batchnorm`). It is off in the ``full`` profile, as in the paper.

lambda (``max_lr``) per stage (``C19Config.lr_policy``): ``"table1"`` (default) the paper's
Table 1 for the dataset (:func:`audiolib.c19.paper.rate_column`: ESC-10 and the synthetic corpus
take ESC-50's column); ``"fixed"`` one rate ``lr`` everywhere; ``"range_test"`` Smith's range
test (:func:`audiolib.schedules.lr_range_test`) read as the paper reads it: "the largest value
that achieves a stable reduction in loss" (:func:`largest_stable_lr`), either ``"once"`` per
dataset and (resolution, rate split) from a fresh model on the first held-out fold's training
clips and reused for every fold and method, or ``"every_stage"`` before each stage from the
weights that stage starts from.

``epoch_scale`` multiplies every stage's epochs (at least 1 each), keeping the stage structure:
the reduced profiles train the same schedule, shorter.

>>> cfg = C19Config(epoch_scale=0.05, width=0.0625)                     # doctest: +SKIP
>>> table = tidy(cross_validate(data, images, cfg, test_folds=[1]))      # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from audiolib.data import ClipSet
from audiolib.data.splits import fold_splits
from audiolib.metrics import accuracy
from audiolib.models import create_model
from audiolib.runtime import resolve_device, seed_everything
from audiolib.schedules import RangeTest, Stage, discriminative_groups, lr_range_test, one_cycle
from audiolib.train import TrainConfig, predict
from audiolib.trials import Trial, over_seeds, run_trial

from . import paper
from .data import folds_of, labels_of
from .preprocess import RESOLUTIONS, resize_images

__all__ = ["METHODS", "LR_POLICIES", "C19Config", "ImageSet", "MixupSet", "stage_plan", "stage_images", "init_model",
           "scaled_epochs", "largest_stable_lr", "stage_rates", "recalibrate_batchnorm", "train_method",
           "cross_validate", "choose_lrs", "schedules", "range_tests"]

METHODS = ("baseline", "mel", "resize", "mel+resize")
RANGE_TESTS = ("once", "every_stage")
LR_POLICIES = ("table1", "fixed", "range_test")
#: Table 1's stages: (rate name, resolution, body_lr_factor is 1/3?) per kind of method
BASELINE_STAGES = (("lambda_1", "R3", False), ("lambda_2", "R3", True), ("lambda_3", "R3", True))
PROGRESSIVE_STAGES = tuple((f"lambda_{k}R{r}", f"R{r}", k == 2) for r in (1, 2, 3) for k in (1, 2))


# --- configuration ------------------------------------------------------------------------------
@dataclass(frozen=True)
class C19Config:
    """Everything the C19 training varies.

    Attributes:
        epoch_scale: every stage of Table 1 trains ``max(1, round(epochs * epoch_scale))``
            epochs (1: the paper's 190 / 170 epochs).
        lr_policy: ``"table1"`` (the paper's rates for the dataset), ``"fixed"`` (``lr``
            everywhere) or ``"range_test"``.
        lr: the rate of ``lr_policy="fixed"``.
        range_test: ``"once"`` or ``"every_stage"`` (see the module docstring).
        range_test_steps: steps of each range test.
        range_test_bounds: its first and last rate (exponential in between).
        body_lr_factor: rate of all but the last layer in the second stage at each resolution
            (and the baseline's stages 2 and 3), relative to lambda (the paper: 1/3).
        cycle: :func:`audiolib.schedules.one_cycle_value` arguments (fastai's defaults).
        model, width, in_chans: ``create_model(model, classes, width=..., in_chans=...)``;
            ``in_chans=3`` feeds three identical channels.
        pretrained: a torchvision ResNet-34 checkpoint file for the ImageNet initialisation
            (``""``: random initialisation). Needs ``width=1``.
        batch_size, weight_decay: AdamW settings (paper: weight decay 0.1).
        mixup_alpha: Beta(alpha, alpha) of mixup when a run uses it.
        bn_recalibration: before each evaluation, re-estimate the batch-norm statistics on this
            many training batches (:func:`recalibrate_batchnorm`; 0 = off, as in the paper). For
            the reduced CPU schedules, whose few large steps leave the running averages behind.
        speed: extra :class:`audiolib.train.TrainConfig` switches (``amp``, ``channels_last``,
            ``compile``), e.g. :func:`audiolib.train.speed_switches`.
        seed: the model of fold ``k`` is initialised from ``seed * 1000 + k`` for every method.
        device: ``auto`` / ``cpu`` / ``cuda``.
    """

    epoch_scale: float = 1.0
    lr_policy: str = "table1"
    lr: float | None = None
    range_test: str = "once"
    range_test_steps: int = 100
    range_test_bounds: tuple[float, float] = (1e-6, 1.0)
    body_lr_factor: float = 1 / 3
    cycle: dict = field(default_factory=lambda: {"pct_start": 0.25, "div_factor": 25.0, "final_div_factor": 1e4,
                                                 "moms": (0.95, 0.85), "anneal": "cos"})
    model: str = "resnet34"
    width: float = 1.0
    in_chans: int = 1
    pretrained: str = ""
    batch_size: int = 64
    weight_decay: float = 0.1
    mixup_alpha: float = 0.4
    bn_recalibration: int = 0
    speed: dict = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        if not self.epoch_scale > 0:
            raise ValueError(f"C19Config.epoch_scale must be > 0, got {self.epoch_scale}")
        if self.lr_policy not in LR_POLICIES:
            raise ValueError(f"C19Config.lr_policy must be one of {LR_POLICIES}, got {self.lr_policy!r}")
        if self.lr_policy == "fixed" and (self.lr is None or self.lr <= 0):
            raise ValueError(f"C19Config.lr must be > 0 with lr_policy='fixed', got {self.lr}")
        if self.range_test not in RANGE_TESTS:
            raise ValueError(f"C19Config.range_test must be one of {RANGE_TESTS}, got {self.range_test!r}")
        if self.in_chans not in (1, 3):
            raise ValueError(f"C19Config.in_chans must be 1 or 3, got {self.in_chans}")
        if self.pretrained and self.width != 1.0:
            raise ValueError(f"C19Config.pretrained needs width=1.0 (ImageNet weights are full width), got width={self.width}")
        if self.batch_size < 2:
            raise ValueError(f"C19Config.batch_size must be >= 2 (batch norm), got {self.batch_size}")
        if self.bn_recalibration < 0:
            raise ValueError(f"C19Config.bn_recalibration must be >= 0 batches, got {self.bn_recalibration}")
        if self.mixup_alpha <= 0:
            raise ValueError(f"C19Config.mixup_alpha must be > 0, got {self.mixup_alpha}")
        unknown = set(self.speed) - {"amp", "channels_last", "compile"}
        if unknown:
            raise ValueError(f"C19Config.speed: unknown switches {sorted(unknown)}; allowed: amp, channels_last, compile")


def scaled_epochs(epochs: int, scale: float) -> int:
    """``max(1, round(epochs * scale))``, halves rounded up (the stage structure survives any scale).

    >>> [scaled_epochs(e, 0.05) for e in (20, 50, 120, 70)]
    [1, 3, 6, 4]
    """
    return max(1, int(math.floor(epochs * scale + 0.5)))


def stage_plan(method: str, config: C19Config) -> list[tuple[str, Stage]]:
    """The stages of ``method`` as Table 1 writes them (see the module docstring), epochs scaled by
    ``config.epoch_scale``: ``[(rate name, Stage), ...]`` with ``max_lr`` unset."""
    if method not in METHODS:
        raise ValueError(f"C19: method {method!r} unknown; allowed: {', '.join(METHODS)}")
    plan = BASELINE_STAGES if method == "baseline" else PROGRESSIVE_STAGES
    return [(name, Stage(res, scaled_epochs(paper.TABLE1_EPOCHS[name], config.epoch_scale), None,
                         config.body_lr_factor if split else 1.0, dict(config.cycle)))
            for name, res, split in plan]


def stage_rates(dataset: str, config: C19Config) -> dict[str, float] | None:
    """lambda of every Table 1 stage name for ``dataset`` under ``config.lr_policy`` (``None``: range test)."""
    if config.lr_policy == "table1":
        return dict(paper.TABLE1_RATES[paper.rate_column(dataset)])
    if config.lr_policy == "fixed":
        return {name: float(config.lr) for name in paper.RATE_NAMES}
    return None


# --- datasets -----------------------------------------------------------------------------------
class ImageSet:
    """Images ``[N, H, W]`` with integer labels -> batches ``(x [B, in_chans, H, W], y one-hot [B, K])``.

    >>> s = ImageSet(torch.rand(4, 8, 10), np.array([0, 1, 2, 1]), 3)
    >>> [tuple(t.shape) for t in s.get_batch(torch.tensor([0, 2]))]
    [(2, 1, 8, 10), (2, 3)]
    """

    def __init__(self, images: torch.Tensor, labels, num_classes: int, in_chans: int = 1):
        if images.dim() != 3:
            raise ValueError(f"ImageSet: images must be [N, H, W], got shape {tuple(images.shape)}")
        self.images = images.float().contiguous()
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        if len(self.labels) != len(self.images):
            raise ValueError(f"ImageSet: {len(self.images)} images but {len(self.labels)} labels")
        self.num_classes, self.in_chans = int(num_classes), int(in_chans)

    def __len__(self) -> int:
        return len(self.images)

    def get_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[idx][:, None]
        if self.in_chans > 1:
            x = x.expand(-1, self.in_chans, -1, -1).contiguous()
        return x, torch.nn.functional.one_hot(self.labels[idx], self.num_classes).float()


class MixupSet:
    """Mixup (Zhang et al. 2018) on top of a batch source: ``x = l x_i + (1 - l) x_j``, same for the one-hot targets.

    One ``l ~ Beta(alpha, alpha)`` per batch and a random pairing inside the batch, both from
    a generator seeded by ``seed`` (reproducible for an uninterrupted run).
    """

    def __init__(self, base, alpha: float, seed: int = 0):
        if alpha <= 0:
            raise ValueError(f"MixupSet: alpha must be > 0, got {alpha}")
        self.base, self.alpha = base, float(alpha)
        self.rng = np.random.default_rng(seed)
        self.gen = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return len(self.base)

    def get_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.base.get_batch(idx)
        lam = float(self.rng.beta(self.alpha, self.alpha))
        perm = torch.randperm(len(idx), generator=self.gen)
        return lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm]


def stage_images(images: dict[str, torch.Tensor], method: str, resolution: str) -> list[torch.Tensor]:
    """The image sets a stage of ``method`` uses at ``resolution``: one tensor, or two for ``mel+resize``.

    Args:
        images: ``{"R1": ..., "R2": ..., "R3": ...}`` mel images (R1/R2 from fewer mel filters).
    """
    if resolution == "R3" or method == "baseline":
        return [images["R3"]]
    mel, resized = images[resolution], resize_images(images["R3"], RESOLUTIONS[resolution])
    return {"mel": [mel], "resize": [resized], "mel+resize": [mel, resized]}[method]


def _imageset(parts: list[torch.Tensor], idx: np.ndarray, labels: np.ndarray, k: int, in_chans: int) -> ImageSet:
    return ImageSet(torch.cat([p[idx] for p in parts]), np.concatenate([labels[idx]] * len(parts)), k, in_chans)


# --- models -------------------------------------------------------------------------------------
def init_model(num_classes: int, config: C19Config, seed: int) -> torch.nn.Module:
    """ResNet-34 (or ``config.model``) initialised from ``seed``; ImageNet weights if ``config.pretrained``."""
    seed_everything(seed)
    model = create_model(config.model, num_classes, width=config.width, in_chans=config.in_chans)
    if config.pretrained:
        from audiolib.models.resnet import load_torchvision_resnet

        load_torchvision_resnet(model, config.pretrained)
    return model


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, data: ImageSet, batches: int, batch_size: int, device,
                          seed: int = 0) -> None:
    """Recompute every batch-norm layer's running mean and variance for the current weights.

    The running statistics are reset and re-estimated as a plain average over ``batches``
    training batches (a fixed random subset, no augmentation) in training mode ("precise BN",
    Wu & Johnson 2021). After few, large steps the exponential running averages lag the weights
    so far behind that the model in evaluation mode is near chance even on its training data;
    this removes that lag. ``batches=0`` does nothing.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if batches <= 0 or not norms:
        return
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    was_training = model.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    try:
        for b in range(min(batches, max(1, len(data) // batch_size))):
            x, _ = data.get_batch(order[b * batch_size:(b + 1) * batch_size])
            model(x.to(device))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)


def _accuracy_fn(device, recalibrate: ImageSet, batches: int, batch_size: int):
    def evaluate(model, data: ImageSet) -> dict[str, float]:
        recalibrate_batchnorm(model, recalibrate, batches, batch_size, device)
        scores = predict(model, data, activation="none", device=device, batch_size=128)
        return {"accuracy": accuracy(data.labels.numpy(), scores)}

    return evaluate


def largest_stable_lr(lrs, smoothed, *, window: int | None = None, skip_start: int | None = None) -> float:
    """The paper's reading of the range test: "the largest value that achieves a stable reduction in loss".

    The largest rate ``lrs[i]`` from which the smoothed loss keeps falling for the next
    ``window`` points (default: a twentieth of the curve, at least 2) and has not yet reached its
    minimum; the first ``skip_start`` points (default a tenth), dominated by the first batches'
    noise, are not candidates. Falls back to a tenth of the rate at the smallest loss when the
    loss never falls steadily.

    >>> import numpy as np
    >>> lrs = np.logspace(-6, 0, 61); loss = np.r_[np.linspace(2, 1, 40), np.linspace(1, 5, 21)]
    >>> float(f"{largest_stable_lr(lrs, loss):.2g}")
    0.004
    """
    lrs, smoothed = np.asarray(lrs, dtype=float), np.asarray(smoothed, dtype=float)
    n = len(lrs)
    if n != len(smoothed) or n < 4:
        raise ValueError(f"largest_stable_lr: need >= 4 matching (lr, loss) points, got {n} and {len(smoothed)}")
    window = max(2, n // 20) if window is None else int(window)
    skip = n // 10 if skip_start is None else int(skip_start)
    i_min = int(np.nanargmin(smoothed[skip:])) + skip
    stable = [i for i in range(skip, i_min - window + 1) if np.all(np.diff(smoothed[i:i + window + 1]) < 0)]
    return float(lrs[max(stable)]) if stable else float(lrs[i_min]) / 10.0


def _range_test(model, train: ImageSet, stage: Stage, config: C19Config, seed: int, device) -> RangeTest:
    start, end = config.range_test_bounds
    test = lr_range_test(model, train, start_lr=start, end_lr=end, steps=config.range_test_steps,
                         batch_size=min(config.batch_size, len(train)),
                         optimizer="adamw", weight_decay=config.weight_decay, loss="softmax_ce",
                         param_groups=discriminative_groups(1.0, stage.body_lr_factor), seed=seed, device=device)
    test.suggestion = largest_stable_lr(test.curve["lr"], test.curve["smoothed"])
    test.rule = "largest rate with a stable reduction in loss"
    return test


# --- one fold, one method -----------------------------------------------------------------------
def train_method(data: ClipSet, images: dict[str, torch.Tensor], train_idx: np.ndarray, test_idx: np.ndarray,
                 method: str, config: C19Config, *, fold: int, mixup: bool = False, lrs: dict | None = None,
                 ids: dict | None = None) -> Trial:
    """Train ``method`` on ``train_idx`` and evaluate on ``test_idx`` (the held-out fold ``fold``).

    One network, initialised from ``config.seed * 1000 + fold`` (the same for every method of a
    replicate), goes through the stages of :func:`stage_plan`: each stage is one
    :func:`audiolib.trials.run_trial` of that module, seeded ``config.seed * 1000 + fold * 10 + stage``.

    Args:
        lrs: lambda per Table 1 rate name (``"lambda_1"``, ``"lambda_2R1"``...), e.g. from
            :func:`choose_lrs`; default: the rates of ``config.lr_policy`` for this dataset. Not
            needed with ``range_test="every_stage"``.
        ids: the trial's identifying columns.

    Returns:
        :class:`~audiolib.trials.Trial` with metrics ``accuracy`` (the last stage's best epoch,
        restored), ``accuracy_last_epoch``, ``train_seconds`` and ``wall_seconds`` (summed over the
        stages); ``history`` the stages' histories one after the other (``stage``, ``tag``,
        ``rate``, ``global_step``); ``extra["stages"]`` ``[(rate name, Stage)]`` as run and
        ``extra["range_tests"]`` the range tests run before stages.
    """
    device = resolve_device(config.device)
    labels, k = labels_of(data), len(data.classes)
    model = init_model(k, config, config.seed * 1000 + fold)
    batch = min(config.batch_size, len(train_idx))
    steps_per_epoch = max(1, len(train_idx) // batch)
    lrs = stage_rates(data.name, config) if lrs is None else lrs
    histories, stages, tests, seconds, wall = [], [], [], 0.0, 0.0
    for s, (name, stage) in enumerate(stage_plan(method, config)):
        parts = stage_images(images, method, stage.tag)
        train = _imageset(parts, train_idx, labels, k, config.in_chans)
        val = _imageset(parts, test_idx, labels, k, config.in_chans)
        if config.lr_policy == "range_test" and config.range_test == "every_stage":
            test = _range_test(model, train, stage, config, config.seed * 1000 + fold, device)
            lam = test.suggestion
            tests.append({"dataset": data.name, "fold": fold, "method": method, "stage": s, "tag": stage.tag,
                          "body_lr_factor": stage.body_lr_factor, "test": test})
        elif lrs is not None and name in lrs:
            lam = lrs[name]
        else:
            raise ValueError(f"train_method: no learning rate for stage {name} ({stage.tag}); run choose_lrs first "
                             "or use lr_policy 'table1' or 'fixed'")
        stage = stage.with_lr(lam)
        stages.append((name, stage))
        seed = config.seed * 1000 + fold * 10 + s
        source = MixupSet(train, config.mixup_alpha, seed=seed) if mixup else train
        train_config = TrainConfig(
            steps=stage.epochs * steps_per_epoch, batch_size=batch, lr=lam, optimizer="adamw",
            weight_decay=config.weight_decay, loss="softmax_ce", scheduler=one_cycle(**stage.cycle),
            param_groups=discriminative_groups(lam, stage.body_lr_factor), seed=seed, device=str(device),
            eval_every=steps_per_epoch, monitor="accuracy", restore_best=True, progress=False, **config.speed)
        trial = run_trial(model, source, train_config, val_set=val,
                          evaluate_fn=_accuracy_fn(device, train, config.bn_recalibration, batch))
        seconds += trial.metrics["train_seconds"]
        wall += trial.metrics["wall_seconds"]
        histories.append(trial.history.assign(stage=s, tag=stage.tag, rate=name))
    history = pd.concat(histories, ignore_index=True)
    history["global_step"] = np.arange(1, len(history) + 1)
    metrics = {"accuracy": float(trial.fit.best["accuracy"]),
               "accuracy_last_epoch": float(histories[-1]["val_accuracy"].dropna().iloc[-1]),
               "train_seconds": seconds, "wall_seconds": wall}
    return Trial(dict(ids or {}), model, metrics, history,
                 extra={"stages": stages, "steps_per_epoch": steps_per_epoch, "range_tests": tests})


# --- learning rates -----------------------------------------------------------------------------
def choose_lrs(data: ClipSet, images: dict[str, torch.Tensor], train_idx: np.ndarray, methods, config: C19Config,
               ) -> tuple[dict[str, float], list[dict]]:
    """lambda of every stage the ``methods`` run, from range tests of a fresh model, one per (resolution,
    rate split): ``({rate name: lambda}, [{"tag", "body_lr_factor", "test"}, ...])``.

    R1 and R2 use the mel images (the representation the range test sees first in the paper's
    progressive runs); the result is reused for every fold and method (``range_test="once"``).
    With ``lr_policy`` ``"table1"`` or ``"fixed"``: that policy's rates and no tests.
    """
    fixed = stage_rates(data.name, config)
    if fixed is not None:
        return fixed, []
    device = resolve_device(config.device)
    labels, k = labels_of(data), len(data.classes)
    lrs, tests = {}, {}
    for name, stage in (named for m in methods for named in stage_plan(m, config)):
        key = (stage.tag, stage.body_lr_factor)
        if key not in tests:
            train = _imageset([images[stage.tag]], train_idx, labels, k, config.in_chans)
            test = _range_test(init_model(k, config, config.seed * 1000), train, stage, config, config.seed, device)
            tests[key] = {"tag": stage.tag, "body_lr_factor": stage.body_lr_factor, "test": test}
        lrs[name] = tests[key]["test"].suggestion
    return lrs, list(tests.values())


# --- cross-validation ---------------------------------------------------------------------------
def cross_validate(data: ClipSet, images: dict[str, torch.Tensor], config: C19Config, *, methods=METHODS,
                   mixup_methods=(), test_folds=None, seeds=None, progress: bool = True) -> list[Trial]:
    """Held-out-fold cross-validation of ``methods`` (mixup off) and ``mixup_methods`` (mixup on), per seed.

    Every method of a (seed, fold) starts from the same initial weights (``seed * 1000 + fold``),
    so the methods' differences are paired by replicate.

    Args:
        test_folds: the folds held out in turn (default: every fold present); each is tested
            against a model trained on all other folds present.
        seeds: the seeds (default ``[config.seed]``), run by :func:`audiolib.trials.over_seeds`.

    Returns:
        One :class:`~audiolib.trials.Trial` per (seed, fold, method, mixup), ids ``dataset, seed,
        fold, method, mixup, n_train, n_test, train_folds`` (:func:`audiolib.trials.tidy` makes
        the table); with ``range_test="once"`` every trial's ``extra["range_tests"]`` also holds
        the tests its rates came from (method ``"any"``).
    """
    unknown = sorted((set(methods) | set(mixup_methods)) - set(METHODS))
    if unknown:
        raise ValueError(f"C19: methods {unknown} unknown; allowed: {', '.join(METHODS)}")
    folds = folds_of(data)
    splits = fold_splits(folds, None if test_folds is None else [int(f) for f in test_folds])
    present = sorted(set(folds.tolist()))
    runs = [(m, False) for m in methods] + [(m, True) for m in mixup_methods]
    lrs, once = None, []
    if config.lr_policy == "range_test" and config.range_test == "once":
        fold, first_train, _ = splits[0]
        lrs, once = choose_lrs(data, images, first_train, list(dict.fromkeys(m for m, _ in runs)), config)
        once = [{"dataset": data.name, "fold": fold, "method": "any", **t} for t in once]
    seeds = [config.seed] if seeds is None else list(seeds)
    bar = tqdm(total=len(seeds) * len(splits) * len(runs), desc=f"C19 {data.name}", disable=not progress, leave=False)

    def one_seed(seed: int) -> list[Trial]:
        out = []
        for fold, train_idx, test_idx in splits:
            common = {"dataset": data.name, "seed": seed, "fold": int(fold)}
            size = {"n_train": len(train_idx), "n_test": len(test_idx),
                    "train_folds": ",".join(str(f) for f in present if f != fold)}
            for method, mixup in runs:
                trial = train_method(data, images, train_idx, test_idx, method, replace(config, seed=seed),
                                     fold=fold, mixup=mixup, lrs=lrs,
                                     ids={**common, "method": method, "mixup": mixup, **size})
                trial.extra["range_tests"] = once + trial.extra["range_tests"]
                out.append(trial)
                bar.update(1)
        return out

    trials = over_seeds(seeds, one_seed)
    bar.close()
    return trials


def schedules(trials: list[Trial]) -> pd.DataFrame:
    """One row per (trial, stage): the trial's ids, ``stage`` (from 1), ``rate`` (Table 1's name),
    ``resolution``, ``shape``, ``epochs``, ``lr_last_layer``, ``lr_other_layers``, ``steps_per_epoch``."""
    keys = ("dataset", "seed", "fold", "method", "mixup")
    return pd.DataFrame([{**{k: t.ids[k] for k in keys}, "stage": s + 1, "rate": name, "resolution": st.tag,
                          "shape": "x".join(map(str, RESOLUTIONS[st.tag].shape)), "epochs": st.epochs,
                          "lr_last_layer": st.max_lr, "lr_other_layers": st.max_lr * st.body_lr_factor,
                          "steps_per_epoch": t.extra["steps_per_epoch"]}
                         for t in trials for s, (name, st) in enumerate(t.extra["stages"])])


def range_tests(trials: list[Trial]) -> list[dict]:
    """Every range test the trials ran or took their rates from, once each, in order."""
    return list({id(t["test"]): t for trial in trials for t in trial.extra["range_tests"]}.values())
