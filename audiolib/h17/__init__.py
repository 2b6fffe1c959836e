"""Experiment helpers for Hershey et al. 2017 ("CNN architectures for large-scale audio classification").

- :mod:`.data`: the corpus, balanced evaluation sets, label subsets, training-set sizes, the Fig. 2 recording.
- :mod:`.training`: H17 trials (:func:`train_and_evaluate`), complexity and Table 2 tables, per-class tables.
- :mod:`.scaling`: label-set size (Table 3) and training-set size (Table 4).
- :mod:`.transfer`: embeddings vs log-mel patches on a small labelled set (sec. 4.4).
- :mod:`.plots`: the figures (Fig. 2, frame-wise outputs, is :func:`audiolib.tagging.plot_framewise`).
- :mod:`.paper`: the paper's own numbers, quoted exactly, to set beside ours.
- :mod:`.claims`: the paper's claims and the per-replicate effects that judge them.

Results are :class:`audiolib.trials.Trial` s; frame-wise tagging and tagger checkpoints are
:mod:`audiolib.tagging`.

>>> from audiolib import h17
>>> h17.label_subset_sizes(128, [1.0, 0.1, 0.013])
[128, 13, 2]
"""

from . import claims, paper, plots
from .claims import CLAIMS, findings
from .data import (
    H17Data,
    balanced_eval_rows,
    coarse_targets,
    label_subset_sizes,
    most_frequent_classes,
    nested_subsets,
    prepare_corpus,
    recording,
    repatch,
    split_corpus,
    training_sizes,
    with_targets,
)
from .scaling import label_eval_set, label_set_experiment, label_subsets, training_size_experiment
from .training import (
    ARCHITECTURES,
    METRICS,
    best_of,
    complexity_table,
    evaluate_clips,
    per_class_runs,
    per_class_table,
    table2,
    tidy_per_class,
    train_and_evaluate,
    train_architectures,
)
from .transfer import (
    Embedders,
    Features,
    SmallSet,
    embedding_patchset,
    embedding_transfer,
    real_small_set,
    synthetic_small_set,
    train_embedders,
    transfer_corpus,
    transfer_experiment,
    transfer_features,
    transfer_notes,
    yamnet_patchset,
)

__all__ = [
    "ARCHITECTURES", "CLAIMS", "Embedders", "Features", "H17Data", "METRICS", "SmallSet", "balanced_eval_rows",
    "best_of", "claims", "coarse_targets", "complexity_table", "embedding_patchset",
    "embedding_transfer", "evaluate_clips", "findings", "label_eval_set", "label_set_experiment",
    "label_subset_sizes", "label_subsets", "most_frequent_classes", "nested_subsets", "paper", "per_class_runs",
    "per_class_table", "plots", "prepare_corpus", "real_small_set", "recording", "repatch", "split_corpus",
    "synthetic_small_set", "table2", "tidy_per_class", "train_and_evaluate", "train_architectures",
    "train_embedders", "training_size_experiment", "training_sizes", "transfer_corpus", "transfer_experiment",
    "transfer_features", "transfer_notes", "with_targets", "yamnet_patchset",
]
