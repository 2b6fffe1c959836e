"""The registry of experiments: one notebook each, with its parameters per profile.

Profiles change parameters only; the notebook code is the same in every profile.

- ``smoke``: seconds per notebook, for CI and the notebook smoke test.
- ``quick``: the whole workbook on a 2-core CPU in at most 30 minutes, with at least 3 seeds and a
  verdict per claim, on the embedded default corpus (and the real subsets in ``../shared/data``
  where an experiment uses them). **The quick profile is the notebook's own parameter defaults**:
  a notebook opened in JupyterLab runs ``quick`` as it stands, and the two cannot drift apart.
- ``full``: the papers' settings, for a GPU.

An entry lists overrides for ``smoke`` and ``full`` only.

Each entry also declares the tables and figures its run folder must contain; the smoke test
and the runner check them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths

PROFILES = ("smoke", "quick", "full")


@dataclass(frozen=True)
class Experiment:
    """A notebook and what a run of it must produce.

    Attributes:
        name: notebook stem, e.g. ``"01_architectures"``.
        reproduces: the paper's tables/figures it reproduces.
        profiles: parameter overrides for ``smoke`` and ``full`` (``quick`` is the notebook's defaults).
        tables: table names the run folder must contain (``<name>.csv``).
        figures: figure names the run folder must contain (``<name>.png`` and ``.svg``).
        paper: the paper whose claims it tests (``H17``, ``T19``, ``X18``, ``C19``; ``""`` for none);
            such a notebook writes a ``findings`` table.
    """

    name: str
    reproduces: str
    profiles: dict[str, dict[str, Any]]
    tables: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    optional_tables: tuple[str, ...] = field(default=())
    paper: str = ""

    @property
    def notebook(self) -> Path:
        return paths.project_root() / "notebooks" / f"{self.name}.ipynb"

    def __post_init__(self) -> None:
        if "quick" in self.profiles:
            raise ValueError(f"experiment {self.name!r}: the quick profile is the notebook's parameter defaults; "
                             "set them in its parameters cell, not in the registry")
        unknown = set(self.profiles) - set(PROFILES)
        if unknown:
            raise ValueError(f"experiment {self.name!r}: unknown profile(s) {sorted(unknown)}")

    def parameters(self, profile: str) -> dict[str, Any]:
        """Parameter overrides for ``profile`` (with ``PROFILE`` set); ``quick`` overrides nothing."""
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
        return {**self.profiles.get(profile, {}), "PROFILE": profile}


EXPERIMENTS: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    if experiment.name in EXPERIMENTS:
        raise ValueError(f"experiment {experiment.name!r} registered twice")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def select(pattern: str | None = None) -> list[Experiment]:
    """Experiments whose name contains ``pattern`` (all when ``None``), in notebook order."""
    chosen = [e for name, e in sorted(EXPERIMENTS.items()) if pattern is None or pattern in name]
    if not chosen:
        raise ValueError(f"--only {pattern!r} matches no experiment; experiments: {', '.join(sorted(EXPERIMENTS))}")
    return chosen


# --- 00: data tour ------------------------------------------------------------------------------
register(Experiment(
    name="00_data_tour",
    reproduces="the data: waveforms, log-mel images and label statistics (no paper table)",
    profiles={
        "smoke": {"N_CLIPS": 60},
        "full": {"N_CLIPS": 5000},
    },
    tables=("label_statistics",),
    figures=("waveforms_logmel", "label_prior"),
))

# --- 01: H17 architectures ----------------------------------------------------------------------
register(Experiment(
    name="01_architectures",
    paper="H17",
    reproduces="H17 sec. 3.3 (weights, multiplies), Table 2 (architectures; ResNet-50 trained longer), Figure 1 "
               "(ResNet-50's per-class d' vs prior), Figure 2 (frame-wise outputs); claims of sec. 4.1",
    profiles={
        "smoke": {"N_CLIPS": 60, "EVAL_PER_CLASS": 3, "WIDTH": 0.03125, "STEPS": 3, "BATCH_SIZE": 8,
                  "LONGER_FACTOR": 2, "RECORDING_SECONDS": 60.0, "SEEDS": [0]},
        "full": {"N_CLIPS": 20000, "EVAL_PER_CLASS": 100, "WIDTH": 1.0, "STEPS": 20000, "BATCH_SIZE": 128,
                 "NUM_WORKERS": 8, "SEEDS": [0, 1, 2]},
    },
    tables=("sec33_complexity", "table2_architectures", "table2_beside_paper", "figure1_per_class", "figure2_framewise",
            "findings"),
    figures=("table2_architectures", "figure1_dprime_prior", "figure2_framewise"),
))

# --- 02: H17 label-set size ---------------------------------------------------------------------
register(Experiment(
    name="02_label_set_size",
    paper="H17",
    reproduces="H17 Table 3 (label-set size, with and without a bottleneck, evaluated on a set balanced for the "
               "smallest label set); claims of sec. 4.2",
    profiles={
        "smoke": {"N_CLIPS": 60, "FINE_PER_COARSE": 4, "EVAL_PER_CLASS": 2, "WIDTH": 0.03125, "STEPS": 2,
                  "BATCH_SIZE": 8, "LABEL_FRACTIONS": [1.0, 0.25, 0.05], "SEEDS": [0]},
        "full": {"N_CLIPS": 20000, "FINE_PER_COARSE": 64, "EVAL_PER_CLASS": 33, "MODEL": "resnet50_audio",
                 "WIDTH": 1.0, "BOTTLENECK_UNITS": 128, "STEPS": 20000, "BATCH_SIZE": 128,
                 "LABEL_FRACTIONS": [1.0, 0.1, 0.013], "NUM_WORKERS": 8, "SEEDS": [0, 1, 2]},
    },
    tables=("label_subsets", "table3_label_set_size", "table3_beside_paper", "findings"),
    figures=("table3_label_set_size",),
))

# --- 03: H17 training-set size ------------------------------------------------------------------
register(Experiment(
    name="03_training_set_size",
    paper="H17",
    reproduces="H17 Table 4 (training-set size, the same model and steps); claims of sec. 4.3",
    profiles={
        "smoke": {"N_CLIPS": 60, "EVAL_PER_CLASS": 3, "N_SIZES": 2, "SIZE_RATIO": 2.0, "WIDTH": 0.03125, "STEPS": 2,
                  "BATCH_SIZE": 8, "SEEDS": [0]},
        "full": {"N_CLIPS": 20000, "EVAL_PER_CLASS": 100, "N_SIZES": 5, "SIZE_RATIO": 4.0, "MODEL": "resnet50_audio",
                 "WIDTH": 1.0, "STEPS": 20000, "BATCH_SIZE": 128, "NUM_WORKERS": 8, "SEEDS": [0, 1, 2]},
    },
    tables=("table4_training_set_size", "table4_beside_paper", "findings"),
    figures=("table4_training_set_size",),
))

# --- 04: H17 embedding transfer -----------------------------------------------------------------
register(Experiment(
    name="04_embedding_transfer",
    paper="H17",
    reproduces="H17 sec. 4.4 (classifier on a network's penultimate layer, and on YAMNet's AudioSet embedding, "
               "vs on 64x20 log-mel patches; synthetic small set, ESC-10 and UrbanSound8K by official fold)",
    profiles={
        "smoke": {"N_CLIPS": 80, "SMALL_CLIPS": 30, "REAL_SETS": [], "EVAL_PER_CLASS": 3, "WIDTH": 0.03125,
                  "STEPS": 2, "BATCH_SIZE": 8, "CLASSIFIER_UNITS": 16, "CLASSIFIER_STEPS": 3, "SEEDS": [0]},
        "full": {"N_CLIPS": 20000, "SMALL_CLIPS": 4000, "REAL_SETS": ["esc10", "urbansound8k"],
                 "REAL_MAX_CLIPS_PER_FOLD": 0, "REAL_SEEDS": [0, 1, 2], "EVAL_PER_CLASS": 100,
                 "WIDTH": 1.0, "STEPS": 20000, "BATCH_SIZE": 128, "CLASSIFIER_UNITS": 1000,
                 "CLASSIFIER_STEPS": 5000, "NUM_WORKERS": 8, "SEEDS": [0, 1, 2]},
    },
    tables=("embedding_network", "transfer", "transfer_beside_paper", "findings"),
    figures=("transfer",),
))

# --- 05: T19 DCASE 2019 Task 5 ------------------------------------------------------------------
# quick (the notebook's defaults): CNN, CNN+fusion, hierarchical and the baselines on the urban mixtures, 3 seeds;
# smoke and full run every variant (class weights, 29 / 8 outputs, the all-data hierarchy too).
_T19_ALL = ["cnn", "fusion_37", "fusion_37_unweighted", "fusion_37_full_weights", "fusion_29", "fusion_8", "hierarchical",
            "hierarchical_all_data", "baseline_fine", "baseline_coarse"]
register(Experiment(
    name="05_dcase_hierarchical",
    paper="T19",
    reproduces="T19 Tables 3 and 4 (CNN+VGGish 37/29/8 outputs at its best-coarse and best-fine checkpoints, CNN "
               "alone, class weights, hierarchical, proposed improvement, the task's baseline; official DCASE 2019 "
               "Task 5 metrics) on an UrbanSound8K urban-mixture stand-in (and the default corpus); claims of "
               "secs. 3.2, 4.1, 5 and 6",
    profiles={
        "smoke": {"DATASETS": ["urban_mixtures", "synthetic"], "N_CLIPS": 10, "N_MIXTURES": 5, "VARIANTS": _T19_ALL,
                  "WIDTH": 0.125, "EPOCHS": 1, "FINE_EPOCHS": 1, "BATCH_SIZE": 8, "PATIENCE": 0,
                  "AUGMENT_COPIES": 1, "VGGISH_WIDTH": 0.125, "VGGISH_STEPS": 3, "SEEDS": [0]},
        "full": {"DATASETS": ["urban_mixtures", "synthetic"], "N_CLIPS": 5000, "N_MIXTURES": 3000,
                 "VARIANTS": _T19_ALL, "WIDTH": 1.0, "EPOCHS": 100, "FINE_EPOCHS": 100, "BATCH_SIZE": 32,
                 "PATIENCE": 10, "AUGMENT_COPIES": 4, "VGGISH_WIDTH": 1.0, "VGGISH_STEPS": 20000, "SEEDS": [0, 1, 2]},
    },
    tables=("t19_tables_3_4", "t19_beside_paper", "findings"),
    figures=("t19_tables_3_4",),
    optional_tables=("sonyc_ust_labels",),
))

# --- 06: X18 AudioSet-embedding classifiers -----------------------------------------------------
register(Experiment(
    name="06_embedding_classifiers",
    paper="X18",
    reproduces="X18 Table 3 (architectures and their average), Figures 2-6 (dropout, L2, data size, weight scale, "
               "width), Table 4 (big data), Table 2 analogue (eager vs torch.compile), on AudioSet-format embeddings "
               "of real clips by YAMNet",
    profiles={
        "smoke": {"DATASETS": ["esc10"], "REAL_MAX_CLIPS": 30, "N_CLIPS": 40, "EMBED_STEPS": 4, "EMBED_BATCH": 16,
                  "WIDTH": 0.0625, "STEPS": 8, "BATCH_SIZE": 16, "EVAL_EVERY": 4,
                  "DROPOUTS": [0.0, 0.5], "L2S": [0.0, 0.01], "DATA_FRACTIONS": [0.5, 1.0], "WIDTHS": [0.0625, 0.125],
                  "INIT_SCALES": [0.01, 0.1], "BACKENDS": ["eager"], "SEEDS": [0]},
        "full": {"N_CLIPS": 5000, "EMBED_MODEL": "vggish", "EMBED_STEPS": 5000, "EMBED_WIDTH": 1.0, "EMBED_BATCH": 128,
                 "CPU_THREADS": 0, "DATASETS": ["urbansound8k", "esc10", "synthetic"],
                 "REAL_MAX_CLIPS": 100000, "WIDTH": 1.0, "STEPS": 5000, "BATCH_SIZE": 256, "EVAL_EVERY": 100,
                 "DROPOUTS": [0.0, 0.2, 0.4, 0.6, 0.8], "L2S": [0.0, 1e-5, 1e-4, 1e-3, 1e-2],
                 "DATA_FRACTIONS": [0.01, 0.1, 0.25, 0.5, 1.0], "WIDTHS": [0.125, 0.25, 0.5, 1.0],
                 "INIT_SCALES": [0.001, 0.01, 0.1, 1.0], "BACKENDS": ["eager", "compile"], "SEEDS": [0, 1, 2, 3, 4]},
    },
    tables=("embedding_files", "table3_architectures", "table3_beside_paper", "sweeps", "curves",
            "table4_beside_paper", "table2_backends", "findings"),
    figures=("architectures", "fig2_dropout", "fig3_regularization", "fig4_data_size", "fig5_weight_scale",
             "fig6_width", "backends"),
))

# --- 07: C19 progressive resizing ---------------------------------------------------------------
register(Experiment(
    name="07_progressive_resizing",
    paper="C19",
    reproduces="C19 Table 1 (staged 1cycle schedules, as written), Tables 2 (UrbanSound8K) and 3 (ESC-50) per fold "
               "beside the paper's, Figs. 2 and 3 (box plots), the learning-rate range test; mel+resize and mixup "
               "added; the paper's claims judged",
    profiles={
        "smoke": {"DATASETS": ["esc10"], "CLIPS_PER_FOLD": 5, "TEST_FOLDS": 1, "SEEDS": [0],
                  "METHODS": ["baseline", "mel+resize"], "MIXUP_METHODS": ["resize"], "MIXUP_DATASETS": ["esc10"],
                  "EPOCH_SCALE": 0.01, "LR_POLICY": "table1", "RANGE_TEST": "once", "RANGE_TEST_STEPS": 10,
                  "WIDTH": 0.0625, "BATCH_SIZE": 8, "BN_RECALIBRATION": 1},
        "full": {"DATASETS": ["esc50", "urbansound8k"], "CLIPS_PER_FOLD": 0, "TEST_FOLDS": 0, "SEEDS": [0, 1, 2],
                 "MIXUP_METHODS": ["baseline", "mel", "resize", "mel+resize"],
                 "MIXUP_DATASETS": ["esc50", "urbansound8k"], "EPOCH_SCALE": 1.0,
                 "LR_POLICY": "table1", "RANGE_TEST": "every_stage", "RANGE_TEST_STEPS": 100, "WIDTH": 1.0,
                 "BATCH_SIZE": 64, "BN_RECALIBRATION": 0},
    },
    tables=("table1_schedule", "table2_3_accuracy", "tables2_3_beside_paper", "mixup_accuracy", "findings"),
    figures=("fig2_3_boxplots", "lr_range_test", "table1_schedule"),
    optional_tables=("lr_range_test",),   # rows only when LR_POLICY is "range_test"
))
