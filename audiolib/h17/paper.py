"""The numbers Hershey et al. (ICASSP 2017) report, quoted exactly, as tidy tables to set beside ours.

Every number is a :func:`audiolib.reference.paper_rows` row whose ``quoted`` string is the number as
printed in the paper's text (``../shared/papers/000_8fe8465d0db846fb.txt``); ``value`` is parsed
from it, and ``tests/test_h17_findings.py`` checks both against the text. Nothing is computed.

Where the numbers stand:

- **sec. 3.3** (the text of sec. 3.3.1-3.3.5, not a table): weights and multiplies of the audio
  networks with 3087 outputs. The paper's Table 1 lists example labels, not model sizes.
- **Table 2**: five architectures after 5M mini-batches, and ResNet-50 after 17M.
- **Table 3**: label-set size with and without a 128-d bottleneck, evaluated on the 400 labels (on
  the balanced evaluation set of those 400 labels, sec. 3.2); the 30K model without a bottleneck
  was not trained (the table prints "—").
- **Table 4**: training-set size (23K to 70M videos), ResNet-50.
- **sec. 4.4**: fully-connected AudioSet classifiers on the penultimate ("embedding") layer of the
  best ResNet against 64x20 log-mel patches. These are the numbers of the text at hand (the
  ICASSP 2017 paper); other numbers that circulated for other versions of the paper are not in
  this text and are not used anywhere in the workbook.

The text disagrees with itself in places (:data:`QUIRKS`); both readings are kept, never one
silently chosen.
"""

from __future__ import annotations

from ..reference import paper_rows

PAPER = "Hershey et al. 2017"
PAPER_ID = "H17"
DATASET = "YouTube-100M"  # the paper's data (Tables 2-4)

#: Places where the paper's text disagrees with itself (quoted), shown beside the tables they touch.
QUIRKS = {
    "Table 2 videos": 'Table 2\'s caption says "trained on 700M videos"; sec. 4.1 and the abstract say 70M videos.',
    "Table 2 17M hours": 'The 17M-step ResNet-50 row of Table 2 says "356h"; sec. 4.1 says "17 million mini-batches '
                         '(405 hours)".',
    "Table 4 labels": 'Table 4\'s caption says "labels from a set of 30K"; sec. 4.3 says "on the 3K label set".',
    "Table 4 steps": 'Sec. 4.3 trains the Table 4 models "for 16 million mini-batches of 128 inputs (about 380 '
                     'hours)", Table 2\'s for 5M.',
    "Table 1": "The paper's Table 1 lists example labels by prior; the weights and multiplies are in the text of "
               "sec. 3.3.",
}

_METRICS = ("AUC", "dprime", "mAP")

#: sec. 3.3 (text, not a table): weights and multiplies of the audio variants (3087 outputs, 96x64).
SEC33 = paper_rows(PAPER_ID, "sec. 3.3", [
    {"model": "fc_audio", "section": "3.3.1", "weights": "11.2M", "multiplies": "11.2M"},
    {"model": "alexnet_audio", "section": "3.3.2", "weights": "37.3M", "multiplies": "767M"},
    {"model": "vgg_audio", "section": "3.3.3", "weights": "62M", "multiplies": "2.4B"},
    {"model": "inception_v3_audio", "section": "3.3.4", "weights": "28M", "multiplies": "4.7B"},
    {"model": "resnet50_audio", "section": "3.3.5", "weights": "30M", "multiplies": "1.9B"},
], metrics=("weights", "multiplies"))

#: Table 2: steps, training time, AUC, d', mAP (3K labels; see QUIRKS for 70M/700M and 356h/405h).
TABLE2 = paper_rows(PAPER_ID, "Table 2", [
    {"model": "fc_audio", "variant": "", "steps": "5M", "train_hours": "35h", "AUC": "0.851", "dprime": "1.471",
     "mAP": "0.058"},
    {"model": "alexnet_audio", "variant": "", "steps": "5M", "train_hours": "82h", "AUC": "0.894", "dprime": "1.764",
     "mAP": "0.115"},
    {"model": "vgg_audio", "variant": "", "steps": "5M", "train_hours": "184h", "AUC": "0.911", "dprime": "1.909",
     "mAP": "0.161"},
    {"model": "inception_v3_audio", "variant": "", "steps": "5M", "train_hours": "137h", "AUC": "0.918",
     "dprime": "1.969", "mAP": "0.181"},
    {"model": "resnet50_audio", "variant": "", "steps": "5M", "train_hours": "119h", "AUC": "0.916", "dprime": "1.952",
     "mAP": "0.182"},
    {"model": "resnet50_audio", "variant": "17M steps", "steps": "17M", "train_hours": "356h", "AUC": "0.926",
     "dprime": "2.041", "mAP": "0.212"},
], metrics=("steps", "train_hours") + _METRICS)

#: Table 3: ResNet-50, evaluated over the 400 labels; the 30K model without a bottleneck prints "—".
TABLE3 = paper_rows(PAPER_ID, "Table 3", [
    {"model": "resnet50_audio", "bottleneck": False, "labels": "30K", "n_labels": 30871, "AUC": "—", "dprime": "—",
     "mAP": "—"},
    {"model": "resnet50_audio", "bottleneck": False, "labels": "3K", "n_labels": 3087, "AUC": "0.930",
     "dprime": "2.087", "mAP": "0.381"},
    {"model": "resnet50_audio", "bottleneck": False, "labels": "400", "n_labels": 400, "AUC": "0.928",
     "dprime": "2.067", "mAP": "0.376"},
    {"model": "resnet50_audio", "bottleneck": True, "labels": "30K", "n_labels": 30871, "AUC": "0.925",
     "dprime": "2.035", "mAP": "0.369"},
    {"model": "resnet50_audio", "bottleneck": True, "labels": "3K", "n_labels": 3087, "AUC": "0.919",
     "dprime": "1.982", "mAP": "0.347"},
    {"model": "resnet50_audio", "bottleneck": True, "labels": "400", "n_labels": 400, "AUC": "0.924",
     "dprime": "2.026", "mAP": "0.365"},
], metrics=_METRICS)

#: Table 4: training videos (see QUIRKS: 30K labels in the caption, 3K in sec. 4.3).
TABLE4 = paper_rows(PAPER_ID, "Table 4", [
    {"model": "resnet50_audio", "videos": "70M", "train_clips": 70_000_000, "AUC": "0.923", "dprime": "2.019",
     "mAP": "0.206"},
    {"model": "resnet50_audio", "videos": "7M", "train_clips": 7_000_000, "AUC": "0.922", "dprime": "2.006",
     "mAP": "0.202"},
    {"model": "resnet50_audio", "videos": "700K", "train_clips": 700_000, "AUC": "0.921", "dprime": "1.997",
     "mAP": "0.203"},
    {"model": "resnet50_audio", "videos": "70K", "train_clips": 70_000, "AUC": "0.909", "dprime": "1.883",
     "mAP": "0.162"},
    {"model": "resnet50_audio", "videos": "23K", "train_clips": 23_000, "AUC": "0.868", "dprime": "1.581",
     "mAP": "0.118"},
], metrics=_METRICS)

#: sec. 4.4 (text): AudioSet classifiers on the best ResNet's embedding vs on 64x20 log-mel patches.
SEC44 = paper_rows(PAPER_ID, "sec. 4.4", [
    {"features": "embedding", "mAP": "0.435", "AUC": "0.963", "dprime": "2.522"},
    {"features": "log-mel 64x20", "mAP": "0.105", "AUC": "0.859", "dprime": "1.524"},
], metrics=("mAP", "AUC", "dprime"))

ALL = {"sec. 3.3": SEC33, "Table 2": TABLE2, "Table 3": TABLE3, "Table 4": TABLE4, "sec. 4.4": SEC44}


def counts(model: str) -> tuple[float, float]:
    """(weights, multiplies) of ``model`` as sec. 3.3 prints them (NaN for other models)."""
    rows = SEC33[SEC33["model"] == model].set_index("metric")["value"]
    return float(rows.get("weights", float("nan"))), float(rows.get("multiplies", float("nan")))
