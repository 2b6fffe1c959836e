"""T19: Tompkins & Nichols, DCASE 2019 Task 5 technical report ("CNN+VGGish", hierarchical).

Urban sound tagging in the SONYC-UST taxonomy (8 coarse categories, 29 fine tags): a log-mel
CNN (their Table 1) fused with VGGish embeddings by a bilinear layer (Table 2), trained with
37, 29 or 8 outputs, and a hierarchical coarse-then-fine model; Adam at 0.01, class weights
smoothed by the tenth root, plateau reductions with warm restarts, pitch / volume / noise
augmentation; scored with the official DCASE 2019 Task 5 metrics (Tables 3 and 4).

The models are ``t19_cnn``, ``t19_fusion`` (:mod:`audiolib.models.t19`) and ``vggish``.
"""

from audiolib.t19 import claims, paper
from audiolib.t19.baseline import train_baseline
from audiolib.t19.claims import findings
from audiolib.t19.experiment import TIMES, load_corpus, results_table, run_seeds, run_variants, scale_text
from audiolib.t19.hierarchical import branch_targets, combine_hierarchical
from audiolib.t19.inputs import T19Inputs, add_embeddings, extract_inputs
from audiolib.t19.labels import class_weights, clip_targets, output_targets, split_outputs
from audiolib.t19.plots import plot_tables
from audiolib.t19.schedule import WarmRestartPlateau
from audiolib.t19.tables import beside_paper, sonyc_label_statistics, tables_3_4
from audiolib.t19.variants import T19Config, official_metrics
from audiolib.t19.vggish_stage import embedding_branch, resolve_embedding
