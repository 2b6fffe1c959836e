"""C19: Colangelo et al., "Progressive training of CNNs for acoustic events classification".

ResNet-34 on log-mel images of ESC-50 (5 official folds) and UrbanSound8K (10 official folds),
trained at full resolution (baseline) or progressively, 64x128 -> 96x214 -> 128x300, with the
small images made either by bilinear resizing of the full one ("resize") or by fewer mel
filters and a shorter audio extract ("mel"); staged 1cycle schedules; per-fold accuracy tables
(their Tables 2 and 3) and box plots (Figs. 2 and 3).

Modules
-------
:mod:`.preprocess`  silence trimming, t-second extraction, the three resolutions, bilinear resize
:mod:`.data`        single-label ClipSets with folds; their images from the shared feature cache
:mod:`.training`    staged training (one :func:`audiolib.trials.run_trial` per stage), mixup, range tests,
                    the cross-validation driver (one :class:`audiolib.trials.Trial` per seed x fold x method x mixup)
:mod:`.experiment`  the notebook's steps: every dataset run, Tables 1-3 and the mixup table, ours beside the paper's
:mod:`.plots`       box plots (Figs. 2-3), range-test and schedule plots
:mod:`.paper`       the paper's Tables 1-3, quoted exactly
:mod:`.claims`      the paper's claims and the evaluator that gives their verdicts

Departures in the reduced profiles (``smoke``, ``quick``) only: a width multiplier on ResNet-34,
every stage's epochs scaled by ``EPOCH_SCALE`` (at least one each, the stage structure kept), a
cap on clips per fold, one held-out fold per dataset (three seeds), and batch-norm statistics
re-estimated on two training batches before each evaluation (without it the few large steps
leave the running averages so far behind that every method scores near chance).

>>> from audiolib import c19
>>> sorted(c19.RESOLUTIONS)
['R1', 'R2', 'R3']
"""

from . import claims, paper
from .claims import findings
from .data import dataset_images, folds_of, labels_of, load_c19_dataset, select_datasets
from .experiment import accuracy_wide, mixup_wide, range_test_table, run_all, save_tables, schedule_table, with_summary
from .plots import plot_boxplots, plot_range_tests, plot_schedule
from .preprocess import RESOLUTIONS
from .training import C19Config, schedules
