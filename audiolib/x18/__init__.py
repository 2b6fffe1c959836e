"""Xu, "Audio Event Recognition" (X18): classifiers on AudioSet-format 10x128 embeddings.

The library behind ``notebooks/06_embedding_classifiers.ipynb``:

- :mod:`.data`: the 10x128 input: embeddings of the default corpus and of real clips (ESC-10,
  UrbanSound8K) by YAMNet (trained on AudioSet) or by a network trained here, written as the
  AudioSet release's TFRecords and read back; real AudioSet embeddings when given.
- :mod:`.studies`: one :class:`~audiolib.models.describe.ModelDescription` trained and scored as
  a :class:`~audiolib.trials.Trial`; architectures and their average (Table 3), one-factor
  sweeps (Figs. 2-6, the big-data Table 4), execution back ends (an analogue of Table 2), over seeds.
- :mod:`.paper`: the report's Tables 2-4, quoted; :mod:`.tables` sets ours beside them.
- :mod:`.claims`: the report's claims (``CLAIMS``); :mod:`.effects` measures them per seed and
  :func:`findings` judges them.
- :mod:`.plots`: the figures.
"""

from . import claims, paper
from .data import embed_default_corpus, prepare_datasets, split_embeddings, train_embedding_model, write_and_reload
from .effects import findings
from .plots import plot_architectures, plot_backends, plot_curves
from .studies import (SWEEP_FIGURES, architecture_study, compare_backends, families, run_sweeps, score, sweep_variants,
                      train)
from .tables import table2_beside, table3_beside, table4_beside
