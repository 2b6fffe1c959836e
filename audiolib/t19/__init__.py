"""T19: Tompkins & Nichols, DCASE 2019 Task 5 technical report ("CNN+VGGish", hierarchical).

Urban sound tagging in the SONYC-UST taxonomy (8 coarse, 29 fine tags): a log-mel CNN (Table 1,
model ``t19_cnn``) fused with VGGish embeddings by a bilinear layer (Table 2, ``t19_fusion``) with
37, 29 or 8 outputs, and a hierarchical coarse-then-fine model; scored with the official DCASE
2019 Task 5 metrics (Tables 3 and 4).
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
