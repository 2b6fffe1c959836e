"""The data tour: label statistics and pictures of the default corpus and any real data present."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .data import ClipSet, load_dataset
from .data.splits import load_available
from .features import get_config, log_mel


def available_datasets(names: list[str]) -> dict[str, ClipSet]:
    """Each named real dataset that is present (:func:`audiolib.data.splits.load_available`).

    An absent dataset is not an error here: the tour shows what exists, and prints why the others
    are missing. SONYC-UST without its audio is shown by its annotations' labels, its unusable
    list kept.
    """
    loaded, _ = load_available(names)
    if len(loaded.get("sonyc_ust", ())) == 0 and "sonyc_ust" in loaded:
        labels = load_dataset("sonyc_ust", audio=False)
        labels.unusable = loaded["sonyc_ust"].unusable
        loaded["sonyc_ust"] = labels
    return loaded


def label_statistics(datasets: dict[str, ClipSet]) -> pd.DataFrame:
    """Tidy label statistics: one row per (dataset, label, metric).

    Metrics: ``clips`` (clips carrying the label), ``prior`` (fraction of clips), and per dataset
    ``labels_per_clip`` (mean) under label ``"(all)"``.
    """
    rows = []
    for name, clips in datasets.items():
        counts = clips.label_counts()
        n = max(1, len(clips))
        for label, count in counts.items():
            rows.append({"dataset": name, "label": label, "metric": "clips", "value": int(count)})
            rows.append({"dataset": name, "label": label, "metric": "prior", "value": count / n})
        per_clip = np.mean([len(l) for l in clips.manifest["labels"]]) if len(clips) else 0.0
        rows.append({"dataset": name, "label": "(all)", "metric": "labels_per_clip", "value": float(per_clip)})
        rows.append({"dataset": name, "label": "(all)", "metric": "clips_total", "value": len(clips)})
        rows.append({"dataset": name, "label": "(all)", "metric": "unusable_files", "value": len(clips.unusable)})
    return pd.DataFrame(rows, columns=["dataset", "label", "metric", "value"])


def plot_examples(clips: ClipSet, rows: list[int], preset: str = "vggish"):
    """Waveform (left) and log-mel image (right) of the selected clips of ``clips``."""
    config = get_config(preset)
    fig, axes = plt.subplots(len(rows), 2, figsize=(12, 2.2 * len(rows)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.4]})
    for ax_wave, ax_spec, row in zip(axes[:, 0], axes[:, 1], rows):
        waveform, sr = clips.load(row)
        t = np.arange(waveform.shape[-1]) / sr
        ax_wave.plot(t, waveform.numpy(), lw=0.3, color="0.2")
        ax_wave.set_xlim(0, t[-1] if len(t) else 1)
        labels = ", ".join(clips.manifest.iloc[row]["labels"]) or "(no label)"
        ax_wave.set_title(f"{clips.name} {clips.manifest.iloc[row]['clip_id']}: {labels}", fontsize=8, loc="left")
        spec = log_mel(waveform, sr, config).numpy()
        ax_spec.imshow(spec.T, origin="lower", aspect="auto", cmap="magma",
                       extent=(0, spec.shape[0] * config.hop_length / config.sample_rate, 0, config.n_mels))
        ax_spec.set_ylabel("mel band", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    axes[-1, 1].set_xlabel("time (s)")
    fig.tight_layout()
    return fig


def plot_label_prior(stats: pd.DataFrame):
    """Label prior per dataset, sorted: the long tail of each label set (log scale)."""
    priors = stats[stats["metric"] == "prior"]
    datasets = list(dict.fromkeys(priors["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4 * len(datasets), 3), squeeze=False)
    for ax, name in zip(axes[0], datasets):
        values = priors[priors["dataset"] == name].sort_values("value", ascending=False)["value"].to_numpy()
        ax.bar(np.arange(len(values)), values, color="tab:blue", width=0.9)
        ax.set_yscale("log")
        ax.set_title(f"{name} ({len(values)} labels)", fontsize=9)
        ax.set_xlabel("label rank")
    axes[0, 0].set_ylabel("fraction of clips")
    fig.tight_layout()
    return fig
