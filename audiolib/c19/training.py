"""C19 training: staged 1cycle schedules, progressive resizing, mixup and the cross-validation driver.

Methods (:data:`METHODS`), stages as Table 1 writes them (:func:`stage_plan`):

``baseline``
    three stages at R3: all layers at lambda_1 (20 epochs); the last layer at lambda_2 and the
    others at lambda_2 / 3 (50); the same with lambda_3 (120).
``mel`` / ``resize``
    two stages per resolution R1 -> R2 -> R3 (20 + 20, 20 + 20, 20 + 70 epochs), the first all
    layers at lambda_1Rk, the second the last layer at lambda_2Rk and the others at a third of
    it; R1 and R2 from fewer mel filters and a shorter extract (``mel``) or resized from R3 (``resize``).
``mel+resize``
    the paper's future work: at R1 and R2 the union of both representations of every clip.

Every stage is a 1cycle policy with AdamW, the held-out fold evaluated after every epoch and the
stage's best weights restored (the paper's procedure, which selects on the test fold;
``accuracy_last_epoch`` has no selection). lambda per stage: Table 1's for the dataset
(``lr_policy="table1"``), one ``lr`` (``"fixed"``), or Smith's range test read as the paper
reads it (:func:`largest_stable_lr`), ``"once"`` per dataset or ``"every_stage"``.

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
from audiolib.schedules import Stage, discriminative_groups, lr_range_test, one_cycle
from audiolib.train import TrainConfig, predict
from audiolib.trials import Trial, over_seeds, run_trial

from . import paper
from .data import folds_of, labels_of
from .preprocess import RESOLUTIONS, resize_images

METHODS = ("baseline", "mel", "resize", "mel+resize")
#: Table 1's stages: (rate name, resolution, body_lr_factor is 1/3?) per kind of method
BASELINE_STAGES = (("lambda_1", "R3", False), ("lambda_2", "R3", True), ("lambda_3", "R3", True))
PROGRESSIVE_STAGES = tuple((f"lambda_{k}R{r}", f"R{r}", k == 2) for r in (1, 2, 3) for k in (1, 2))


@dataclass(frozen=True)
class C19Config:
    """Everything the C19 training varies.

    Attributes:
        epoch_scale: every stage of Table 1 trains ``max(1, round(epochs * epoch_scale))`` epochs.
        lr_policy: ``"table1"``, ``"fixed"`` (``lr`` everywhere) or ``"range_test"``.
        range_test: ``"once"`` (per dataset and (resolution, rate split), from a fresh model on the
            first held-out fold's training clips) or ``"every_stage"`` (before each stage, from the
            weights that stage starts from); ``range_test_steps`` and ``range_test_bounds`` its length and rates.
        body_lr_factor: rate of all but the last layer in the split stages, relative to lambda (paper: 1/3).
        cycle: :func:`audiolib.schedules.one_cycle_value` arguments (fastai's defaults).
        model, width, in_chans: ``create_model(model, classes, width=..., in_chans=...)``;
            ``in_chans=3`` feeds three identical channels.
        pretrained: a torchvision ResNet-34 checkpoint for the ImageNet initialisation (``""``: none).
        mixup_alpha: Beta(alpha, alpha) of mixup when a run uses it.
        bn_recalibration: re-estimate batch-norm statistics on this many training batches before
            each evaluation (:func:`recalibrate_batchnorm`; 0 = off, as in the paper).
        speed: extra :class:`audiolib.train.TrainConfig` switches (``amp``, ``channels_last``, ``compile``).
        seed: the model of fold ``k`` is initialised from ``seed * 1000 + k`` for every method.
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
        if self.lr_policy not in ("table1", "fixed", "range_test") or self.range_test not in ("once", "every_stage"):
            raise ValueError(f"C19Config: unknown lr_policy {self.lr_policy!r} or range_test {self.range_test!r}")
        if self.mixup_alpha <= 0:
            raise ValueError(f"C19Config.mixup_alpha must be > 0 (Beta(alpha, alpha)), got {self.mixup_alpha}")
        if self.pretrained and self.width != 1.0:
            raise ValueError(f"C19Config.pretrained needs width=1.0 (ImageNet weights are full width), got width={self.width}")


def scaled_epochs(epochs: int, scale: float) -> int:
    """``max(1, round(epochs * scale))``, halves rounded up (the stage structure survives any scale).

    >>> [scaled_epochs(e, 0.05) for e in (20, 50, 120, 70)]
    [1, 3, 6, 4]
    """
    return max(1, int(math.floor(epochs * scale + 0.5)))


def stage_plan(method: str, config: C19Config) -> list[tuple[str, Stage]]:
    """The stages of ``method`` as Table 1 writes them, epochs scaled: ``[(rate name, Stage), ...]``, ``max_lr`` unset."""
    if method not in METHODS:
        raise ValueError(f"C19: method {method!r} unknown; allowed: {', '.join(METHODS)}")
    plan = BASELINE_STAGES if method == "baseline" else PROGRESSIVE_STAGES
    return [(name, Stage(res, scaled_epochs(paper.TABLE1_EPOCHS[name], config.epoch_scale), None,
                         config.body_lr_factor if split else 1.0, dict(config.cycle)))
            for name, res, split in plan]


def stage_rates(dataset: str, config: C19Config) -> dict[str, float] | None:
    """lambda of every Table 1 rate name for ``dataset`` under ``config.lr_policy`` (``None``: range test)."""
    if config.lr_policy == "table1":
        return dict(paper.TABLE1_RATES[paper.rate_column(dataset)])
    if config.lr_policy == "fixed":
        return {name: float(config.lr) for name in paper.RATE_NAMES}
    return None


class ImageSet:
    """Images ``[N, H, W]`` with integer labels -> batches ``(x [B, in_chans, H, W], y one-hot [B, K])``.

    >>> s = ImageSet(torch.rand(4, 8, 10), np.array([0, 1, 2, 1]), 3)
    >>> [tuple(t.shape) for t in s.get_batch(torch.tensor([0, 2]))]
    [(2, 1, 8, 10), (2, 3)]
    """

    def __init__(self, images: torch.Tensor, labels, num_classes: int, in_chans: int = 1):
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
    """Mixup (Zhang et al. 2018) on a batch source: ``x = l x_i + (1 - l) x_j``, the same for the one-hot targets.

    One ``l ~ Beta(alpha, alpha)`` per batch and a random pairing inside the batch, both seeded by ``seed``.
    """

    def __init__(self, base, alpha: float, seed: int = 0):
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
    """The image sets a stage of ``method`` uses at ``resolution`` from the mel images: one, or two for ``mel+resize``."""
    if resolution == "R3" or method == "baseline":
        return [images["R3"]]
    mel, resized = images[resolution], resize_images(images["R3"], RESOLUTIONS[resolution])
    return {"mel": [mel], "resize": [resized], "mel+resize": [mel, resized]}[method]


def _imageset(parts: list[torch.Tensor], idx: np.ndarray, labels: np.ndarray, k: int, in_chans: int) -> ImageSet:
    return ImageSet(torch.cat([p[idx] for p in parts]), np.concatenate([labels[idx]] * len(parts)), k, in_chans)


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
    """Recompute every batch-norm layer's running statistics as a plain average over ``batches`` training
    batches (a fixed random subset) in training mode ("precise BN", Wu & Johnson 2021).

    After few, large steps the running averages lag the weights so far that the model in evaluation
    mode is near chance even on its training data; this removes that lag. ``batches=0`` does nothing.
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
    window = max(2, n // 20) if window is None else int(window)
    skip = n // 10 if skip_start is None else int(skip_start)
    i_min = int(np.nanargmin(smoothed[skip:])) + skip
    stable = [i for i in range(skip, i_min - window + 1) if np.all(np.diff(smoothed[i:i + window + 1]) < 0)]
    return float(lrs[max(stable)]) if stable else float(lrs[i_min]) / 10.0


def range_test(model, train: ImageSet, plan: Stage, config: C19Config, seed: int, **ids) -> dict:
    """One range test for stage ``plan`` (its rate split) from ``model``'s weights, read by
    :func:`largest_stable_lr`: the record ``{**ids, "tag", "body_lr_factor", "test"}`` that tables and
    plots read (``ids`` may hold a ``stage`` index)."""
    start, end = config.range_test_bounds
    test = lr_range_test(model, train, start_lr=start, end_lr=end, steps=config.range_test_steps,
                         batch_size=min(config.batch_size, len(train)),
                         optimizer="adamw", weight_decay=config.weight_decay, loss="softmax_ce",
                         param_groups=discriminative_groups(1.0, plan.body_lr_factor), seed=seed,
                         device=resolve_device(config.device))
    test.suggestion = largest_stable_lr(test.curve["lr"], test.curve["smoothed"])
    test.rule = "largest rate with a stable reduction in loss"
    return {**ids, "tag": plan.tag, "body_lr_factor": plan.body_lr_factor, "test": test}


def choose_lrs(data: ClipSet, images: dict[str, torch.Tensor], train_idx: np.ndarray, methods, config: C19Config,
               *, fold: int) -> tuple[dict[str, float], list[dict]]:
    """``range_test="once"``: lambda of every stage the ``methods`` run, from range tests of a fresh model on
    the training clips of held-out ``fold``, one per (resolution, rate split): ``({rate name: lambda}, records)``.

    R1 and R2 use the mel images (what the paper's progressive runs see first); the rates serve every fold and method.
    """
    labels, k = labels_of(data), len(data.classes)
    lrs, tests = {}, {}
    for name, stage in (named for m in methods for named in stage_plan(m, config)):
        key = (stage.tag, stage.body_lr_factor)
        if key not in tests:
            train = _imageset([images[stage.tag]], train_idx, labels, k, config.in_chans)
            tests[key] = range_test(init_model(k, config, config.seed * 1000), train, stage, config, config.seed,
                                    dataset=data.name, fold=fold, method="any")
        lrs[name] = tests[key]["test"].suggestion
    return lrs, list(tests.values())


def train_method(data: ClipSet, images: dict[str, torch.Tensor], train_idx: np.ndarray, test_idx: np.ndarray,
                 method: str, config: C19Config, *, fold: int, lrs: dict, mixup: bool = False,
                 ids: dict | None = None) -> Trial:
    """Train ``method`` on ``train_idx`` and evaluate on ``test_idx`` (the held-out fold ``fold``).

    One network, initialised from ``config.seed * 1000 + fold`` (the same for every method of a
    replicate), goes through :func:`stage_plan`, each stage one :func:`audiolib.trials.run_trial`
    seeded ``config.seed * 1000 + fold * 10 + stage``, at ``lrs[rate name]`` (unused with
    ``range_test="every_stage"``).

    Returns:
        :class:`~audiolib.trials.Trial`: metrics ``accuracy`` (the last stage's best epoch, restored),
        ``accuracy_last_epoch``, ``train_seconds`` and ``wall_seconds`` (summed over the stages);
        ``history`` the stages' one after the other (``stage``, ``tag``, ``rate``, ``global_step``);
        ``extra`` ``stages`` ``[(rate name, Stage)]`` as run, ``steps_per_epoch``, ``range_tests``.
    """
    device = resolve_device(config.device)
    labels, k = labels_of(data), len(data.classes)
    model = init_model(k, config, config.seed * 1000 + fold)
    batch = min(config.batch_size, len(train_idx))
    steps_per_epoch = max(1, len(train_idx) // batch)
    histories, stages, tests, seconds, wall = [], [], [], 0.0, 0.0
    for s, (name, stage) in enumerate(stage_plan(method, config)):
        parts = stage_images(images, method, stage.tag)
        train = _imageset(parts, train_idx, labels, k, config.in_chans)
        val = _imageset(parts, test_idx, labels, k, config.in_chans)
        if config.lr_policy == "range_test" and config.range_test == "every_stage":
            tests.append(range_test(model, train, stage, config, config.seed * 1000 + fold, dataset=data.name,
                                    fold=fold, method=method, stage=s))
            lam = tests[-1]["test"].suggestion
        else:
            lam = lrs[name]
        stage = stage.with_lr(lam)
        stages.append((name, stage))
        seed = config.seed * 1000 + fold * 10 + s
        source = MixupSet(train, config.mixup_alpha, seed=seed) if mixup else train

        def evaluate(model, data: ImageSet) -> dict[str, float]:
            recalibrate_batchnorm(model, train, config.bn_recalibration, batch, device)
            scores = predict(model, data, activation="none", device=device, batch_size=128)
            return {"accuracy": accuracy(data.labels.numpy(), scores)}

        train_config = TrainConfig(
            steps=stage.epochs * steps_per_epoch, batch_size=batch, lr=lam, optimizer="adamw",
            weight_decay=config.weight_decay, loss="softmax_ce", scheduler=one_cycle(**stage.cycle),
            param_groups=discriminative_groups(lam, stage.body_lr_factor), seed=seed, device=str(device),
            eval_every=steps_per_epoch, monitor="accuracy", restore_best=True, progress=False, **config.speed)
        trial = run_trial(model, source, train_config, val_set=val, evaluate_fn=evaluate)
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


def cross_validate(data: ClipSet, images: dict[str, torch.Tensor], config: C19Config, *, methods=METHODS,
                   mixup_methods=(), test_folds=None, seeds=None, progress: bool = True) -> list[Trial]:
    """Held-out-fold cross-validation of ``methods`` (mixup off) and ``mixup_methods`` (mixup on), per seed.

    Every method of a (seed, fold) starts from the same initial weights, so the methods' differences
    are paired by replicate. ``test_folds``: the folds held out in turn (default: every fold present);
    ``seeds``: default ``[config.seed]``.

    Returns:
        One :class:`~audiolib.trials.Trial` per (seed, fold, method, mixup), ids ``dataset, seed,
        fold, method, mixup, n_train, n_test, train_folds``; with ``range_test="once"`` every
        trial's ``extra["range_tests"]`` also holds the tests its rates came from.
    """
    folds = folds_of(data)
    splits = fold_splits(folds, None if test_folds is None else [int(f) for f in test_folds])
    present = sorted(set(folds.tolist()))
    runs = [(m, False) for m in methods] + [(m, True) for m in mixup_methods]
    lrs, once = stage_rates(data.name, config), []
    if config.lr_policy == "range_test" and config.range_test == "once":
        fold, first_train, _ = splits[0]
        lrs, once = choose_lrs(data, images, first_train, list(dict.fromkeys(m for m, _ in runs)), config, fold=fold)
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
