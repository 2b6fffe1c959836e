"""C19: Colangelo et al., "Progressive training of CNNs for acoustic events classification".

ResNet-34 on log-mel images of ESC-50 (5 official folds) and UrbanSound8K (10 official folds),
trained at full resolution (baseline) or progressively, 64x128 -> 96x214 -> 128x300, with the
small images made either by bilinear resizing of the full one ("resize") or by fewer mel
filters and a shorter audio extract ("mel"); staged 1cycle schedules; per-fold accuracy tables
(their Tables 2 and 3) and box plots (Figs. 2 and 3).

Modules
-------
:mod:`.preprocess`  silence trimming, t-second extraction, the three resolutions, bilinear resize
:mod:`.data`        single-label datasets with folds; the on-disk feature cache per dataset and resolution
:mod:`.training`    staged training, mixup, range tests, the cross-validation driver
:mod:`.report`      Tables 1-3 layouts, the mixup table, box plots, range-test and schedule plots
:mod:`.experiment`  the notebook's steps (run every dataset, save the tables, ours beside the paper's)
:mod:`.paper`       the paper's Tables 1-3, quoted exactly
:mod:`.claims`      the paper's claims and the evaluator that gives their verdicts

Pre-processing, as the paper gives it
-------------------------------------
22.05 kHz; leading and trailing silence cropped (60 dB below the loudest 2048-sample frame, the
rule of ``librosa.effects.trim``); t seconds extracted (crop from the start, or tile a short
clip); mel spectrogram with a 1024-sample window and a 256-sample hop, in dB; min-max to [0, 1].
R1 64x128 (t = 1.5 s), R2 96x214 (t = 2.5 s), R3 128x300 (t = 3.5 s).

The schedule: Table 1 as written
--------------------------------
Baseline, at R3 only: all layers at lambda_1 for 20 epochs; the last layer at lambda_2 and the
others at lambda_2 / 3 for 50; the last layer at lambda_3 and the others at lambda_3 / 3 for 120.
Progressive (``mel``, ``resize``, ``mel+resize``), two stages per resolution: at R1, R2 and R3 in
turn, all layers at lambda_1Rk for 20 epochs, then the last layer at lambda_2Rk and the others at
lambda_2Rk / 3 for 20, 20 and 70 epochs. The rates default to Table 1's per dataset
(:mod:`.paper`; ESC-10 and the synthetic corpus take ESC-50's); the range test is an option, read
as the paper reads it, "the largest value that achieves a stable reduction in loss". The paper
says all methods train equally long, yet its stages add up to 190 epochs (baseline) and 170
(progressive); we train them as listed.

Each stage: fastai's 1cycle (25 % warm-up from lambda/25, cosine annealing to lambda/25e4,
momentum 0.95 -> 0.85 -> 0.95 in opposite phase), AdamW with weight decay 0.1, batch 64, the
held-out fold evaluated after every epoch and the best weights reloaded before the next stage.

Departures in the reduced profiles (``smoke``, ``quick``) only: a width multiplier on ResNet-34,
every stage's epochs scaled by ``EPOCH_SCALE`` (at least one each, the stage structure kept), a
cap on clips per fold, one held-out fold per dataset (three seeds), and batch-norm statistics
re-estimated on two training batches before each evaluation (without it the few large steps
leave the running averages so far behind that every method scores near chance).

Claims and the paper's numbers: :mod:`.paper` (Tables 1-3 quoted exactly) and :mod:`.claims`
(``CLAIMS`` and :func:`findings`).

>>> from audiolib import c19
>>> sorted(c19.RESOLUTIONS)
['R1', 'R2', 'R3']
"""

from . import claims, paper
from .claims import CLAIMS, findings
from .data import C19Data, dataset_images, load_c19_dataset, select_datasets
from .experiment import beside_paper, first_folds, run_all, save_tables, schedule_curve_inputs
from .preprocess import RESOLUTIONS, Resolution, clip_image, fit_duration, resize_images, trim_silence
from .report import (
    accuracy_wide,
    mixup_wide,
    plot_boxplots,
    plot_range_tests,
    plot_schedule,
    range_test_table,
    schedule_table,
    with_summary,
)
from .training import METHODS, C19Config, ImageSet, MixupSet, cross_validate, largest_stable_lr, stage_plan, train_method

__all__ = [
    "CLAIMS",
    "beside_paper",
    "claims",
    "findings",
    "largest_stable_lr",
    "paper",
    "C19Config",
    "C19Data",
    "ImageSet",
    "METHODS",
    "MixupSet",
    "RESOLUTIONS",
    "Resolution",
    "accuracy_wide",
    "clip_image",
    "cross_validate",
    "dataset_images",
    "first_folds",
    "fit_duration",
    "load_c19_dataset",
    "mixup_wide",
    "plot_boxplots",
    "plot_range_tests",
    "plot_schedule",
    "range_test_table",
    "resize_images",
    "run_all",
    "save_tables",
    "schedule_curve_inputs",
    "schedule_table",
    "select_datasets",
    "stage_plan",
    "train_method",
    "trim_silence",
    "with_summary",
]
