"""Training and scoring of the T19 variants (CNN, CNN+VGGish with 37 / 29 / 8 outputs).

Training follows the authors' ``train.py``: Adam at 0.01, binary cross-entropy on logits with
positive-class weights ``(negatives / positives) ** 0.1`` (:func:`~audiolib.t19.labels.class_weights`),
one evaluation per epoch with the official DCASE 2019 Task 5 metrics on the validation split,
:class:`~audiolib.t19.schedule.WarmRestartPlateau` on the micro AUPRCs, and the best weights
kept separately for the coarse and the fine micro AUPRC: coarse scores come from the
best-coarse weights and fine scores from the best-fine weights.

>>> config = T19Config(width=0.125, epochs=1, batch_size=4)   # doctest: +SKIP
>>> trained = train_model(inputs, "fusion", "all", config)     # doctest: +SKIP
>>> fine, coarse = variant_scores(trained, inputs, inputs.rows("test"))  # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from audiolib.metrics import sonyc_ust_metrics
from audiolib.models import create_model
from audiolib.models.t19 import pack_inputs
from audiolib.t19.inputs import T19Inputs
from audiolib.t19.labels import class_weights, n_outputs, output_targets, predictions_frame, split_outputs, truth_frame
from audiolib.t19.schedule import WarmRestartPlateau
from audiolib.train import TrainConfig, fit, predict, resolve_device, seed_everything

__all__ = ["T19Config", "PackedSet", "Trained", "train_model", "model_scores", "variant_scores", "checkpoint_scores",
           "official_metrics", "KINDS", "MONITORS", "CHECKPOINTS", "cpu_bf16", "PRECISIONS"]

KINDS = {"cnn": "t19_cnn", "fusion": "t19_fusion"}
MONITORS = {"all": ("micro_auprc_coarse", "micro_auprc_fine"), "fine": ("micro_auprc_coarse", "micro_auprc_fine"),
            "coarse": ("micro_auprc_coarse",)}
#: monitored metric -> the checkpoint's name in every table ("best coarse" is the report's CNN+VGGish1,
#: "best fine" its CNN+VGGish2).
CHECKPOINTS = {"micro_auprc_coarse": "best coarse", "micro_auprc_fine": "best fine"}
PRECISIONS = ("auto", "float32", "bf16")


def cpu_bf16() -> bool:
    """True when this CPU has native bf16 arithmetic (AVX-512 BF16 or AMX), from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class _Bf16(torch.nn.Module):
    """Runs the wrapped model under CPU bf16 autocast and returns float32 logits (training speed only).

    Measured here (2 threads, batch 32, width 0.25, 128 x 862 input): about 2x the float32 rate.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.model(x).float()


@dataclass
class T19Config:
    """Training settings shared by every variant (defaults: the report's).

    Attributes:
        width: model width multiplier (1.0: Tables 1 and 2 as published).
        epochs: epochs of the top-level models; fine_epochs: of the hierarchical fine models.
        batch_size: examples per step (the authors': 32).
        lr: Adam's starting rate (0.01).
        weight_root: class weights ``(neg / pos) ** (1 / weight_root)``; ``None``: unweighted.
        patience, factor, factor_step, min_lr: the warm-restart plateau schedule.
        soft_targets: train on annotator agreement instead of 0/1 (SONYC-UST train only).
        threshold: the hierarchical selection threshold on coarse probabilities (0.5).
        fusion: ``"bilinear"`` (Table 2) or ``"concat"`` (sec. 4.1's text) fusion layer.
        precision: ``"bf16"`` trains under CPU bf16 autocast, ``"float32"`` does not, ``"auto"``
            uses bf16 on a CPU with native bf16 (scores are always computed in float32).
        seed, device, progress.
    """

    width: float = 1.0
    epochs: int = 100
    fine_epochs: int = 50
    batch_size: int = 32
    lr: float = 0.01
    weight_root: float | None = 10.0
    patience: int = 10
    factor: float = 0.1
    factor_step: float = 0.1
    min_lr: float = 1e-6
    soft_targets: bool = False
    threshold: float = 0.5
    fusion: str = "bilinear"
    precision: str = "auto"
    seed: int = 0
    device: str = "auto"
    progress: bool = False

    def __post_init__(self):
        if self.width <= 0 or self.epochs < 1 or self.fine_epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"T19Config: width, epochs, fine_epochs, batch_size and lr must be positive, got {self}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"T19Config.threshold must lie in (0, 1), got {self.threshold}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"T19Config.precision must be one of {PRECISIONS}, got {self.precision!r}")

    def use_bf16(self, device: torch.device) -> bool:
        return device.type == "cpu" and (self.precision == "bf16" or (self.precision == "auto" and cpu_bf16()))

    def describe(self) -> dict:
        return asdict(self)


class PackedSet(Dataset):
    """Rows of a :class:`T19Inputs` as model inputs: ``[B, 1, 128, frames (+ 10)]`` and targets.

    ``fusion=True`` packs the VGGish embeddings after the spectrogram (:func:`pack_inputs`).
    """

    def __init__(self, inputs: T19Inputs, rows, targets: np.ndarray, *, fusion: bool):
        self.rows = torch.as_tensor(np.asarray(rows, dtype=np.int64))
        if fusion and inputs.embeddings is None:
            raise ValueError(f"{inputs.name}: the fusion model needs VGGish embeddings; call add_embeddings first")
        if len(targets) != len(self.rows):
            raise ValueError(f"PackedSet: {len(targets)} target rows for {len(self.rows)} examples")
        self.spec, self.emb, self.fusion = inputs.spec, inputs.embeddings, fusion
        self.targets = torch.as_tensor(np.asarray(targets, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.rows)

    def get_batch(self, idx: torch.Tensor):
        rows = self.rows[idx]
        spec = self.spec[rows].float()
        x = pack_inputs(spec, self.emb[rows]) if self.fusion else spec.unsqueeze(1)
        return x, self.targets[idx]

    def __getitem__(self, i: int):
        x, y = self.get_batch(torch.tensor([i]))
        return x[0], y[0]


@dataclass
class Trained:
    """A trained model with its best weights per monitored metric and its training record."""

    model: torch.nn.Module
    kind: str
    outputs: str
    states: dict[str, dict] = field(default_factory=dict)
    best: dict[str, float] = field(default_factory=dict)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    events: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    wall_seconds: float = 0.0
    n_train: int = 0


def official_metrics(fine: np.ndarray, coarse: np.ndarray, inputs: T19Inputs, rows) -> dict[str, float]:
    """The official DCASE 2019 Task 5 metrics of scores for ``rows`` (their hard labels as truth).

    Keys: ``{micro_auprc, micro_f1, macro_auprc}_{fine, coarse}``.
    """
    ids = [inputs.clip_ids[i] for i in rows]
    truth = truth_frame(ids, inputs.fine[rows], inputs.coarse[rows], inputs.taxonomy)
    pred = predictions_frame(ids, np.clip(fine, 0, 1), np.clip(coarse, 0, 1), inputs.taxonomy)
    out = {}
    for level in ("fine", "coarse"):
        m = sonyc_ust_metrics(truth, pred, inputs.taxonomy, level)
        out.update({f"micro_auprc_{level}": m["micro_auprc"], f"micro_f1_{level}": m["micro_f1"],
                    f"macro_auprc_{level}": m["macro_auprc"]})
    return out


def model_scores(model: torch.nn.Module, data: PackedSet, *, state: dict | None = None, device="auto") -> np.ndarray:
    """Sigmoid scores of ``model`` (with ``state`` loaded first, if given) on ``data``."""
    if state is not None:
        model.load_state_dict(state)
    return predict(model, data, batch_size=64, device=device)


def train_model(inputs: T19Inputs, kind: str, outputs: str, config: T19Config, *, train_rows=None, val_rows=None,
                targets=None, val_targets=None, monitors=None, evaluate=None, epochs: int | None = None,
                seed_offset: int = 0) -> Trained:
    """Train a ``t19_cnn`` (``kind="cnn"``) or ``t19_fusion`` model with the authors' recipe.

    Args:
        inputs: the corpus (with embeddings for ``fusion``).
        outputs: ``all`` / ``fine`` / ``coarse`` (37 / 29 / 8 outputs); ignored when ``targets``
            are given (then their width sets the outputs).
        train_rows, val_rows: default all training rows (with augmented copies) and the
            original validation rows.
        targets, val_targets: explicit targets for the rows (hierarchical fine models).
        monitors: metric names the schedule watches; default the micro AUPRCs of ``outputs``.
        evaluate: ``f(scores [n, k]) -> metrics`` for the validation rows; default the official
            metrics of the scores split by ``outputs``.
        epochs: default ``config.epochs``.
    """
    if kind not in KINDS:
        raise ValueError(f"parameter kind: must be one of {list(KINDS)}, got {kind!r}")
    taxonomy = inputs.taxonomy
    train_rows = inputs.rows("train") if train_rows is None else np.asarray(train_rows)
    val_rows = inputs.rows("validate", originals_only=True) if val_rows is None else np.asarray(val_rows)
    if len(train_rows) == 0:
        raise ValueError(f"{inputs.name}: no training rows")
    fine, coarse = (inputs.fine_soft, inputs.coarse_soft) if config.soft_targets else (inputs.fine, inputs.coarse)
    if targets is None:
        targets = output_targets(fine[train_rows], coarse[train_rows], outputs)
        val_targets = output_targets(inputs.fine[val_rows], inputs.coarse[val_rows], outputs)
        width_out = n_outputs(outputs, taxonomy)
    else:
        width_out = targets.shape[1]
    fusion = kind == "fusion"
    train_set = PackedSet(inputs, train_rows, targets, fusion=fusion)
    val_set = PackedSet(inputs, val_rows, val_targets, fusion=fusion) if len(val_rows) else None
    device = resolve_device(config.device)
    seed_everything(config.seed + seed_offset)
    extra = {"embedding_dim": int(inputs.embeddings.shape[-1]), "fusion": config.fusion} if fusion else {}
    model = create_model(KINDS[kind], width_out, width=config.width, **extra)
    runner = _Bf16(model) if config.use_bf16(device) else model
    if evaluate is None:
        def evaluate(scores: np.ndarray) -> dict:
            return official_metrics(*split_outputs(scores, outputs, taxonomy), inputs, val_rows)
    monitors = monitors or MONITORS[outputs]
    hook = WarmRestartPlateau(model, monitors, lr=config.lr, patience=config.patience, factor=config.factor,
                              factor_step=config.factor_step, min_lr=min(config.min_lr, config.lr / 10))
    batch = min(config.batch_size, len(train_set))
    per_epoch = max(1, len(train_set) // batch)
    epochs = epochs or config.epochs
    weights = class_weights(targets, config.weight_root)
    train_config = TrainConfig(steps=per_epoch * epochs, batch_size=batch, lr=config.lr, optimizer="adam",
                               pos_weight=weights, seed=config.seed + seed_offset, device=str(device),
                               eval_every=per_epoch, monitor="", restore_best=False, progress=config.progress)
    # monitor="": fit keeps no best copy of its own; the hook keeps one per monitored metric.
    start = time.perf_counter()
    result = fit(runner, train_set, train_config, val_set=val_set,
                 evaluate_fn=(lambda m, data: evaluate(predict(m, data, batch_size=64, device=device))),
                 on_evaluate=hook)
    return Trained(model=model, kind=kind, outputs=outputs, states=dict(hook.best_states), best=dict(hook.best),
                   history=result.history, events=list(hook.events), train_seconds=result.train_seconds,
                   wall_seconds=time.perf_counter() - start, n_train=len(train_set))


def variant_scores(trained: Trained, inputs: T19Inputs, rows, device="auto") -> tuple[np.ndarray, np.ndarray]:
    """``(fine, coarse)`` scores for ``rows``: fine from the best-fine weights, coarse from the best-coarse ones.

    An 8-output model's fine scores (copies of its coarse ones) use the best-coarse weights; the
    final weights are used where no metric ever improved (no validation rows).
    """
    data = PackedSet(inputs, rows, np.zeros((len(rows), 1), dtype=np.float32), fusion=trained.kind == "fusion")
    final = {k: v.detach().cpu().clone() for k, v in trained.model.state_dict().items()}
    by_level = {}
    for level in ("coarse", "fine"):
        # an 8-output model has no fine metric of its own: its fine copy uses the best-coarse weights
        state = trained.states.get(f"micro_auprc_{level}") or trained.states.get("micro_auprc_coarse") or final
        by_level[level] = split_outputs(model_scores(trained.model, data, state=state, device=device),
                                        trained.outputs, inputs.taxonomy)
    trained.model.load_state_dict(final)
    return by_level["fine"][0], by_level["coarse"][1]


def checkpoint_scores(trained: Trained, inputs: T19Inputs, rows, device="auto",
                      only: tuple[str, ...] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{checkpoint: (fine, coarse)}``: each kept checkpoint scored at BOTH levels, as the report's
    Table 3 scores CNN+VGGish1 (best coarse) and CNN+VGGish2 (best fine).

    Checkpoint names are :data:`CHECKPOINTS` (``"best coarse"``, ``"best fine"``); ``"final"``
    when no metric was ever measured (no validation rows). ``only`` selects checkpoints by name.
    """
    data = PackedSet(inputs, rows, np.zeros((len(rows), 1), dtype=np.float32), fusion=trained.kind == "fusion")
    final = {k: v.detach().cpu().clone() for k, v in trained.model.state_dict().items()}
    states = {CHECKPOINTS[m]: state for m, state in trained.states.items() if m in CHECKPOINTS} or {"final": final}
    out = {}
    for name, state in states.items():
        if only is not None and name not in only:
            continue
        out[name] = split_outputs(model_scores(trained.model, data, state=state, device=device), trained.outputs,
                                  inputs.taxonomy)
    trained.model.load_state_dict(final)
    return out



