"""T19: Tompkins & Nichols, DCASE 2019 Task 5 technical report ("CNN+VGGish", hierarchical).

Urban sound tagging in the SONYC-UST taxonomy (8 coarse categories, 29 fine tags): a log-mel
CNN (their Table 1) fused with VGGish embeddings by a bilinear layer (Table 2), trained with
37, 29 or 8 outputs, and a hierarchical coarse-then-fine model; Adam at 0.01, class weights
smoothed by the tenth root, plateau reductions with warm restarts, pitch / volume / noise
augmentation; scored with the official DCASE 2019 Task 5 metrics (Tables 3 and 4).

Modules: :mod:`.paper` (the report's Tables 3 and 4), :mod:`.claims` (its claims, the effects
that test them, the findings), :mod:`.labels` (targets, class weights, evaluation frames),
:mod:`.inputs` (features in memory), :mod:`.vggish_stage` (the pretrained branch: YAMNet, the
official VGGish or one trained here), :mod:`.baseline` (the task's baseline, Table 4), :mod:`.schedule` (warm restarts),
:mod:`.variants` (training and scoring), :mod:`.hierarchical`, :mod:`.experiment` (end to end,
submission files), :mod:`.tables` (report layout, reference numbers, figure). The models are
``t19_cnn``, ``t19_fusion`` (:mod:`audiolib.models.t19`) and ``vggish`` (:mod:`audiolib.models.vggish`).
"""

from audiolib.t19 import claims, paper
from audiolib.t19.baseline import BASELINES, train_baseline
from audiolib.t19.claims import CLAIMS, findings
from audiolib.t19.experiment import (
    CORPORA,
    METRICS,
    VARIANTS,
    WEIGHT_ROOTS,
    evaluate_submission,
    load_corpus,
    resolve_embedding,
    run_seeds,
    run_variants,
    scale_text,
)
from audiolib.t19.hierarchical import (
    branch_categories,
    branch_scores,
    branch_targets,
    combine_hierarchical,
    train_branches,
)
from audiolib.t19.inputs import EXAMPLE_FRONT_ENDS, T19Inputs, add_embeddings, extract_inputs, fit_length
from audiolib.t19.labels import (
    class_weights,
    clip_targets,
    n_outputs,
    output_targets,
    predictions_frame,
    split_outputs,
    truth_frame,
)
from audiolib.t19.schedule import WarmRestartPlateau
from audiolib.t19.tables import (
    available_sonyc_label_statistics,
    beside_paper,
    sonyc_label_statistics,
    plot_tables,
    reference_rows,
    tables_3_4,
)
from audiolib.t19.variants import (
    PackedSet,
    T19Config,
    Trained,
    checkpoint_scores,
    official_metrics,
    train_model,
    variant_scores,
)
from audiolib.t19.vggish_stage import (
    NETWORKS,
    VGGishBranch,
    embedding_branch,
    vggish_branch,
    yamnet_available,
    yamnet_branch,
)

__all__ = [
    "BASELINES", "CLAIMS", "EXAMPLE_FRONT_ENDS", "NETWORKS", "WEIGHT_ROOTS", "beside_paper", "checkpoint_scores",
    "claims", "embedding_branch", "resolve_embedding", "run_seeds", "scale_text", "findings", "paper", "train_baseline", "yamnet_available", "yamnet_branch",
    "CORPORA", "METRICS", "VARIANTS", "PackedSet", "T19Config", "T19Inputs", "Trained", "VGGishBranch",
    "WarmRestartPlateau", "add_embeddings", "available_sonyc_label_statistics", "branch_categories", "branch_scores", "branch_targets", "class_weights",
    "clip_targets", "combine_hierarchical", "evaluate_submission", "extract_inputs", "fit_length", "sonyc_label_statistics",
    "load_corpus", "n_outputs", "official_metrics", "output_targets", "plot_tables", "predictions_frame",
    "reference_rows", "run_variants", "split_outputs", "tables_3_4", "train_branches", "train_model", "truth_frame",
    "variant_scores", "vggish_branch",
]
