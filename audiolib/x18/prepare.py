"""The datasets of notebook 06, embedded by the chosen network, in one call."""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from audiolib.models import list_models

from .data import EMBEDDERS, audioset_splits, embed_dataset, embed_default_corpus, load_embedder, yamnet_available

__all__ = ["prepare_datasets"]


def prepare_datasets(names: Sequence[str], *, embedder: str = "auto", primary: str = "auto", n_clips: int,
                     embed_model: str, embed_width: float, embed_steps: int, embed_batch: int, max_clips: int,
                     audioset_dir: str = "", seed: int = 0, device: str = "auto", out_dir=None
                     ) -> tuple[dict, str, dict[str, Any], pd.DataFrame]:
    """Embed the datasets ``names`` (``synthetic``, ``esc10``, ``urbansound8k``) as AudioSet-format
    10x128 embeddings, written as TFRecords under ``out_dir/<name>`` and read back.

    ``embedder``: ``"yamnet"`` (YAMNet, trained on AudioSet; PCA fitted per dataset on its
    training clips), ``"trained"`` (``embed_model`` trained here on the synthetic corpus, which is
    then always embedded too; its PCA for every dataset) or ``"auto"`` (YAMNet when it can be
    loaded here, else trained, saying why). ``audioset_dir``: real AudioSet embeddings, added as
    ``audioset``. ``primary``: the dataset the sweeps and findings run on; ``"auto"`` is
    ``audioset`` when given, else the first of ``names`` that is present.

    Returns ``(splits by name, primary, info, files)``; ``info`` has the embedder, the clip sets
    (``clips``) and the datasets skipped as absent (``skipped``) with the reason.
    """
    if embedder not in (*EMBEDDERS, "auto"):
        raise ValueError(f"EMBEDDER {embedder!r} unknown; allowed: auto, {', '.join(EMBEDDERS)}")
    # Checked whatever the embedder, so a mistyped name fails now, not in a later run that trains it.
    if embed_model not in list_models():
        raise ValueError(f"EMBED_MODEL: unknown model {embed_model!r}; registered models: {', '.join(list_models())}")
    info: dict[str, Any] = {"clips": {}, "skipped": {}}
    if embedder == "auto":
        reason = yamnet_available()
        embedder = "trained" if reason else "yamnet"
        if reason:
            print(f"EMBEDDER auto -> trained ({reason})")
            info["embedder_note"] = reason
    info["embedder"] = embedder

    def where(name):
        return None if out_dir is None else f"{out_dir}/{name}"

    datasets, files = {}, []
    loaded, pca, config, label = None, None, "vggish", ""
    if embedder == "yamnet":
        loaded = load_embedder("yamnet", device)
        _, config, label = loaded
    common = dict(model_name=embed_model, width=embed_width, steps=embed_steps, batch_size=embed_batch, seed=seed,
                  device=device)
    if embedder == "trained" or "synthetic" in names:
        splits, model, pca_syn, corpus_info, f = embed_default_corpus(n_clips, **common, out_dir=where("synthetic"),
                                                                      embedder=embedder, loaded=loaded)
        info["clips"]["synthetic"] = corpus_info.pop("clips")
        info["synthetic"] = corpus_info
        datasets["synthetic"], files = splits, [f]
        if embedder == "trained":
            loaded, pca, label = (model, "vggish", splits.embedder), pca_syn, splits.embedder
    for name in names:
        if name == "synthetic":
            continue
        try:
            datasets[name], info["clips"][name], f = embed_dataset(
                name, loaded[0], pca, max_clips=max_clips, seed=seed, device=device, out_dir=where(name),
                config=config, embedder=label)
        except (FileNotFoundError, ImportError) as exc:
            info["skipped"][name] = f"not available: {exc}"
            print(f"{name}: {info['skipped'][name]}")
            continue
        files.append(f)
    if audioset_dir:
        datasets = {"audioset": audioset_splits(audioset_dir, seed=seed), **datasets}
    if primary == "auto":
        present = [n for n in ["audioset", *names] if n in datasets]
        if not present:
            raise FileNotFoundError(f"none of the datasets {list(names)} is available: {info['skipped']}")
        primary = present[0]
    if primary not in datasets:
        raise ValueError(f"PRIMARY {primary!r} is not among the embedded datasets {sorted(datasets)}")
    return datasets, primary, info, pd.concat(files, ignore_index=True) if files else pd.DataFrame()
