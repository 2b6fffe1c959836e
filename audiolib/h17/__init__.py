"""Experiment helpers for Hershey et al. 2017 ("CNN architectures for large-scale audio classification").

- :mod:`.data`: the corpus, balanced evaluation sets, label subsets, training-set sizes, the Fig. 2 recording.
- :mod:`.training`: H17 trials (:func:`~.training.train_and_evaluate`), complexity and Table 2 tables, per-class tables.
- :mod:`.scaling`: label-set size (Table 3) and training-set size (Table 4).
- :mod:`.transfer`: embeddings vs log-mel patches on a small labelled set (sec. 4.4).
- :mod:`.plots`: the figures (Fig. 2, frame-wise outputs, is :func:`audiolib.tagging.plot_framewise`).
- :mod:`.paper`: the paper's own numbers, quoted exactly, to set beside ours.
- :mod:`.claims`: the paper's claims and the per-replicate effects that judge them.

The package namespace holds what the notebooks call; the other helpers are in their modules.
Results are :class:`audiolib.trials.Trial` s; frame-wise tagging and tagger checkpoints are
:mod:`audiolib.tagging`.
"""

from . import claims, data, paper, plots, scaling, training, transfer
from .claims import findings
from .data import prepare_corpus, recording
from .scaling import label_set_experiment, label_subsets, training_size_experiment
from .training import ARCHITECTURES, complexity_table, per_class_runs, table2, tidy_per_class, train_architectures
from .transfer import real_small_set, train_embedders, transfer_corpus, transfer_experiment, transfer_notes
