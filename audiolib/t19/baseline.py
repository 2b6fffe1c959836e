"""The DCASE 2019 Task 5 baseline (the report's Table 4): frame-wise logistic regression on embeddings.

As the task's ``classify.py`` (sonyc-project/urban-sound-tagging-baseline) by default: every 0.96 s
embedding frame of a training clip is an example with its clip's labels, standardised; one dense
sigmoid layer, L2 1e-5 on its kernel; Adam at 1e-4, batches of 64, at most 100 epochs, early
stopping after 20 without a lower validation loss (best weights kept); a clip's score is the mean
of its frames'. ``baseline_fine``: fine outputs, coarse = max of a category's fine scores;
``baseline_coarse``: coarse outputs only (Table 4 prints no fine-level numbers for it).

Differences: the embeddings are this run's pretrained branch, not the released VGGish; the fine
model has an output for every fine tag including the "X" ones and an unmasked loss; validation is
the ``validate`` split and scores are reported on ``test`` where the corpus has one.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from audiolib.t19.inputs import T19Inputs
from audiolib.t19.labels import output_targets
from audiolib.trials import Trial


def _frames(inputs: T19Inputs, rows, targets: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    emb = inputs.embeddings[torch.as_tensor(np.asarray(rows, dtype=np.int64))].float()  # [n, k, D]
    k = emb.shape[1]
    return emb.reshape(-1, emb.shape[-1]), torch.as_tensor(np.repeat(targets, k, axis=0), dtype=torch.float32)


def train_baseline(inputs: T19Inputs, outputs: str, *, rows, seed: int = 0, l2: float = 1e-5, lr: float = 1e-4,
                   batch_size: int = 64, epochs: int = 100, patience: int = 20) -> Trial:
    """Train the baseline with ``outputs`` ``"fine"`` or ``"coarse"``; ``scores``: ``[n, outputs]`` of ``rows``.

    Needs ``inputs.embeddings`` (:func:`audiolib.t19.add_embeddings` standardises them: the task's
    ``StandardScaler``). Its own loop rather than :func:`audiolib.train.fit`: per-epoch early stopping
    on the validation loss and the task's batch order, which the numbers depend on.
    """
    if inputs.embeddings is None:
        raise ValueError(f"{inputs.name}: the baseline needs embeddings; call add_embeddings first")
    train, val = inputs.rows("train"), inputs.rows("validate", originals_only=True)
    x, y = _frames(inputs, train, output_targets(inputs.fine[train], inputs.coarse[train], outputs))
    xv, yv = _frames(inputs, val, output_targets(inputs.fine[val], inputs.coarse[val], outputs)) if len(val) else (None, None)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    layer = torch.nn.Linear(x.shape[1], y.shape[1])
    opt = torch.optim.Adam(layer.parameters(), lr=lr)
    bce = torch.nn.BCEWithLogitsLoss()
    best, best_state, best_epoch, stale, epoch = float("inf"), None, 0, 0, 0
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(x), generator=g)
        for first in range(0, len(x), batch_size):
            idx = order[first:first + batch_size]
            loss = bce(layer(x[idx]), y[idx]) + l2 * layer.weight.pow(2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if xv is None:
            continue
        with torch.no_grad():
            val_loss = float(bce(layer(xv), yv) + l2 * layer.weight.pow(2).sum())
        if val_loss < best:
            best, best_epoch, stale = val_loss, epoch, 0
            best_state = {k: v.clone() for k, v in layer.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    if best_state is not None:
        layer.load_state_dict(best_state)
    rows = np.asarray(rows, dtype=np.int64)
    with torch.no_grad():
        emb = inputs.embeddings[torch.as_tensor(rows)].float()
        scores = torch.sigmoid(layer(emb)).mean(dim=1).numpy()  # mean over frames
    return Trial({"seed": seed}, layer.eval(), {"epochs": epoch, "best_epoch": best_epoch,
                 "train_seconds": time.perf_counter() - start}, scores=scores, extra={"outputs": outputs, "n_train": len(train)})
