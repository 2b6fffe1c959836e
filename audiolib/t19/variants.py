"""Training and scoring of the T19 models (CNN, CNN+VGGish with 37 / 29 / 8 outputs), as trials.

The authors' ``train.py``: Adam at 0.01, BCE with tenth-root positive-class weights, the official
metrics on the validation split each epoch, :class:`~audiolib.t19.schedule.WarmRestartPlateau` on
the micro AUPRCs, and the best weights kept separately for the coarse and the fine micro AUPRC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from audiolib.metrics import sonyc_ust_metrics
from audiolib.models import accepts, create_model
from audiolib.models.t19 import pack_inputs
from audiolib.runtime import cpu_has_bf16, resolve_device
from audiolib.t19.inputs import T19Inputs
from audiolib.t19.labels import class_weights, output_targets, split_outputs, submission_frame
from audiolib.t19.schedule import WarmRestartPlateau
from audiolib.train import TrainConfig, predict
from audiolib.trials import Trial, run_trial

#: monitored metric -> the checkpoint's name in every table ("best coarse" is the report's CNN+VGGish1,
#: "best fine" its CNN+VGGish2).
CHECKPOINTS = {"micro_auprc_coarse": "best coarse", "micro_auprc_fine": "best fine"}
METRICS = ("micro_auprc", "micro_f1", "macro_auprc")


@dataclass
class T19Config:
    """Training settings shared by every variant (defaults: the report's).

    ``weight_root``: class weights ``(neg / pos) ** (1 / weight_root)``, ``None`` unweighted;
    ``threshold``: the hierarchical selection threshold; ``fusion``: ``"bilinear"`` (Table 2) or
    ``"concat"`` (sec. 4.1); ``precision``: ``"bf16"`` / ``"float32"`` / ``"auto"`` (bf16 on a CPU
    with native bf16) for training; kept checkpoints are always scored in float32.
    """

    width: float = 1.0
    epochs: int = 100
    fine_epochs: int = 50
    batch_size: int = 32
    lr: float = 0.01
    weight_root: float | None = 10.0
    patience: int = 10
    soft_targets: bool = False
    threshold: float = 0.5
    fusion: str = "bilinear"
    precision: str = "auto"
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        # The choices nothing downstream checks (TrainConfig checks lr, steps, batch; the model fusion).
        if self.precision not in ("auto", "float32", "bf16"):
            raise ValueError(f"T19Config.precision must be 'auto', 'float32' or 'bf16', got {self.precision!r}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"T19Config.threshold must lie in (0, 1), got {self.threshold}")


class PackedSet(Dataset):
    """Rows of a :class:`T19Inputs` as model inputs ``[B, 1, 128, frames]`` and targets; ``fusion=True``
    packs the embeddings after the spectrogram (:func:`pack_inputs`)."""

    def __init__(self, inputs: T19Inputs, rows, targets: np.ndarray | None = None, *, fusion: bool):
        self.rows = torch.as_tensor(np.asarray(rows, dtype=np.int64))
        targets = np.zeros((len(self.rows), 1), dtype=np.float32) if targets is None else targets
        if fusion and inputs.embeddings is None:
            raise ValueError(f"{inputs.name}: the fusion model needs embeddings; call add_embeddings first")
        self.spec, self.emb, self.fusion = inputs.spec, inputs.embeddings, fusion
        self.targets = torch.as_tensor(np.asarray(targets, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.rows)

    def get_batch(self, idx: torch.Tensor):
        rows = self.rows[idx]
        spec = self.spec[rows].float()
        x = pack_inputs(spec, self.emb[rows]) if self.fusion else spec.unsqueeze(1)
        return x, self.targets[idx]


def official_metrics(fine: np.ndarray, coarse: np.ndarray, inputs: T19Inputs, rows) -> dict[str, float]:
    """The official DCASE 2019 Task 5 metrics of scores for ``rows`` (their hard labels as truth), keyed
    ``{micro_auprc, micro_f1, macro_auprc}_{fine, coarse}``."""
    ids = [inputs.clip_ids[i] for i in rows]
    truth = submission_frame(ids, inputs.fine[rows], inputs.coarse[rows], inputs.taxonomy, truth=True)
    pred = submission_frame(ids, np.clip(fine, 0, 1), np.clip(coarse, 0, 1), inputs.taxonomy)
    out = {}
    for level in ("fine", "coarse"):
        m = sonyc_ust_metrics(truth, pred, inputs.taxonomy, level)
        out.update({f"{metric}_{level}": float(m[metric]) for metric in METRICS})
    return out


def train_model(inputs: T19Inputs, model: str, outputs: str, config: T19Config, *, train_rows=None, val_rows=None,
                targets=None, val_targets=None, monitors=None, evaluate=None) -> Trial:
    """Train registered model ``model`` (``t19_cnn`` or ``t19_fusion``) with the authors' recipe.

    ``outputs``: ``all`` / ``fine`` / ``coarse`` (37 / 29 / 8 outputs); explicit ``targets`` (hierarchical
    fine models) set the width. ``evaluate``: ``f(scores [n, k]) -> metrics`` of the validation rows,
    default the official metrics. ``extra``: ``model``, ``outputs``, ``states`` (best weights per
    monitored metric), ``best``, ``events`` (learning-rate changes), ``n_train``.
    """
    train_rows = inputs.rows("train") if train_rows is None else np.asarray(train_rows)
    val_rows = inputs.rows("validate", originals_only=True) if val_rows is None else np.asarray(val_rows)
    if len(train_rows) == 0:
        raise ValueError(f"{inputs.name}: no training rows")
    fine, coarse = (inputs.fine_soft, inputs.coarse_soft) if config.soft_targets else (inputs.fine, inputs.coarse)
    if targets is None:
        targets = output_targets(fine[train_rows], coarse[train_rows], outputs)
        val_targets = output_targets(inputs.fine[val_rows], inputs.coarse[val_rows], outputs)
    fusion = accepts(model, "embedding_dim")
    train_set = PackedSet(inputs, train_rows, targets, fusion=fusion)
    val_set = PackedSet(inputs, val_rows, val_targets, fusion=fusion) if len(val_rows) else None
    device = resolve_device(config.device)
    if evaluate is None:
        def evaluate(scores: np.ndarray) -> dict:
            return official_metrics(*split_outputs(scores, outputs, inputs.taxonomy), inputs, val_rows)
    # the monitored micro AUPRCs: both levels, or coarse alone for the 8-output model
    monitors = monitors or (("micro_auprc_coarse",) if outputs == "coarse" else tuple(CHECKPOINTS))
    hook = WarmRestartPlateau(None, monitors, lr=config.lr, patience=config.patience, min_lr=min(1e-6, config.lr / 10))
    kwargs = {"width": config.width}
    if fusion:
        kwargs.update(embedding_dim=int(inputs.embeddings.shape[-1]), fusion=config.fusion)

    def build() -> torch.nn.Module:  # the schedule keeps copies of this model's weights
        hook.model = create_model(model, targets.shape[1], **kwargs)
        return hook.model

    batch = min(config.batch_size, len(train_set))
    per_epoch = max(1, len(train_set) // batch)
    bf16 = device.type == "cpu" and (config.precision == "bf16" or (config.precision == "auto" and cpu_has_bf16()))
    # monitor="": fit keeps no best copy of its own; the hook keeps one per monitored metric.
    train_config = TrainConfig(steps=per_epoch * config.epochs, batch_size=batch, lr=config.lr,
                               optimizer="adam", pos_weight=class_weights(targets, config.weight_root),
                               seed=config.seed, device=str(device), eval_every=per_epoch, monitor="",
                               restore_best=False, progress=False, amp=bf16)
    trial = run_trial(build, train_set, train_config, val_set=val_set, on_evaluate=hook,
                      evaluate_fn=lambda m, data: evaluate(predict(m, data, batch_size=64, device=device)))
    trial.extra.update(model=model, outputs=outputs, states=dict(hook.best_states), best=dict(hook.best),
                       events=list(hook.events), n_train=len(train_set))
    return trial


def checkpoint_scores(trial: Trial, inputs: T19Inputs, rows, device="auto") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{checkpoint: (fine, coarse)}``: each kept checkpoint scored at BOTH levels, as the report's
    Table 3 scores CNN+VGGish1 (best coarse) and CNN+VGGish2 (best fine); ``"final"`` (the weights as
    they are) when no metric was measured. Scored in float32; the model keeps its final weights.
    """
    model = trial.model
    states = {CHECKPOINTS[m]: state for m, state in trial.extra["states"].items() if m in CHECKPOINTS}
    states = states or {"final": model.state_dict()}
    data = PackedSet(inputs, rows, fusion=accepts(trial.extra["model"], "embedding_dim"))
    final = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    out = {}
    for name, state in states.items():
        model.load_state_dict(state)
        out[name] = split_outputs(predict(model, data, batch_size=64, device=device), trial.extra["outputs"],
                                  inputs.taxonomy)
    model.load_state_dict(final)
    return out
