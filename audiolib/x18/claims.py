"""X18's claims, declared once: what Xu's report asserts, where, and how notebook 06 tests it.

Each ``quote`` is copied from the report's text; ``tests/test_x18_findings.py`` checks it. The
report prints numbers only for Tables 2-4; its Figures 2-6 (learning curves) are missing from
the text, so the claims about them are its sentences, tested on our curves with the statistics
of :mod:`audiolib.x18.effects`:

- *convergence*: the share of the run after which the validation AUC first reaches 90 % of its
  rise from chance (0.5) to its peak;
- *overfitting*: how far the validation loss (binary cross-entropy) rises from its minimum by
  the end of the run (a run without a recorded validation loss: how far the validation AUC falls
  from its peak);
- *spread over settings*: max - min over a sweep's settings, within one seed.

Margins: the report's "almost no effect" and "not much related to the final performance" are
read as a test-AUC spread below 0.01 (the report's own spread between frameworks is 0.003 and
between its fully-connected and residual networks 0.001); its "great influence to the speed of
convergence" as a convergence spread above a tenth of the run.
"""

from __future__ import annotations

from audiolib.findings import ClaimSet

__all__ = ["CLAIMS", "FINAL_MARGIN", "SPEED_MARGIN"]

#: |test AUC difference| below which a setting is "not much related to the final performance".
FINAL_MARGIN = 0.01
#: Convergence spread (share of the run) above which a setting has "a great influence" on speed.
SPEED_MARGIN = 0.1

_SPEED_SCALE = ("AudioSet's released embeddings (bal_train about 20K clips, unbal_train about 2M): a download "
                "of about 2.4 GB and about 1 GPU-hour for the sweeps at the report's sizes")

CLAIMS = ClaimSet("X18")

CLAIMS.add(
    id="X18-T3-fc-best",
    quote="It's a little bit surprising that the fully-connected network achieved the best performance.",
    where="sec. 3.3, Table 3",
    paper_numbers="AP 0.220 (fully-connected) vs 0.203 (residual), 0.207 (convolution); "
                  "AUC 0.942 vs 0.941, 0.926",
    metric="test AP(fully connected) - max(test AP(residual), test AP(convolutional))",
    direction="greater",
    scale_needed=_SPEED_SCALE,
)
CLAIMS.add(
    id="X18-T3-average-best",
    quote="I also tried the simplest ensemble method, just average the score of the three models.",
    where="sec. 3.3, Table 3",
    paper_numbers="ensemble AP 0.258, AUC 0.949; best single model AP 0.220, AUC 0.942",
    metric="test AP(average of the three) - max test AP of the three",
    direction="greater",
    scale_needed=_SPEED_SCALE,
)
CLAIMS.add(
    id="X18-F2-dropout-no-effect",
    quote="According to Figure 2, we can see that dropout has almost no effect in this project.",
    where="sec. 3.4, Figure 2",
    paper_numbers="",
    metric="spread of test AUC over the dropout rates (max - min)",
    direction="equivalent",
    margin=FINAL_MARGIN,
    scale_needed=_SPEED_SCALE,
)
CLAIMS.add(
    id="X18-F3-l2-matters",
    quote="Training curve (Figure 3) shows that proper regularization hyper parameter is of vital importance, "
          "not only preventing overfitting, but also accelerating converge.",
    where="sec. 3.4, Figure 3",
    paper_numbers="",
    metric="test AUC(L2 > 0 chosen on validation) - test AUC(no L2)",
    direction="greater",
    scale_needed=_SPEED_SCALE,
)
CLAIMS.add(
    id="X18-F3-l2-less-overfitting",
    quote="Training curve (Figure 3) shows that proper regularization hyper parameter is of vital importance, "
          "not only preventing overfitting, but also accelerating converge.",
    where="sec. 3.4, Figure 3",
    paper_numbers="",
    metric="overfitting(no L2) - overfitting(L2 > 0 chosen on validation); overfitting = rise of the "
           "validation loss from its minimum to the end",
    direction="greater",
    scale_needed=_SPEED_SCALE,
)
CLAIMS.add(
    id="X18-F3-l2-faster",
    quote="Training curve (Figure 3) shows that proper regularization hyper parameter is of vital importance, "
          "not only preventing overfitting, but also accelerating converge.",
    where="sec. 3.4, Figure 3",
    paper_numbers="",
    metric="convergence(L2 > 0 chosen on validation) - convergence(no L2), share of the run",
    direction="less",
    scale_needed=_SPEED_SCALE,
)
CLAIMS.add(
    id="X18-s3.4-overfitting-wide",
    quote="Due to the small size of data, the phenomenon of overfitting is very serious, especially when the "
          "network is deep and wide.",
    where="sec. 3.4",
    paper_numbers="",
    metric="overfitting(widest) - overfitting(narrowest); overfitting = rise of the validation loss from its "
           "minimum to the end",
    direction="greater",
    scale_needed=_SPEED_SCALE,
)
CLAIMS.add(
    id="X18-F4-big-data-less-overfitting",
    quote="We can see that using big data can prevent overfitting to a large degree, but the speed of "
          "convergence is been slowed down.",
    where="sec. 3.4, Figure 4",
    paper_numbers="small data about 20K clips, big data ≈2M",
    metric="overfitting(smallest training share) - overfitting(all training clips)",
    direction="greater",
    scale_needed=_SPEED_SCALE,
)
CLAIMS.add(
    id="X18-F4-big-data-slower",
    quote="We can see that using big data can prevent overfitting to a large degree, but the speed of "
          "convergence is been slowed down.",
    where="sec. 3.4, Figure 4",
    paper_numbers="small data about 20K clips, big data ≈2M",
    metric="convergence(all training clips) - convergence(smallest training share), share of the run",
    direction="greater",
    scale_needed=_SPEED_SCALE,
)
CLAIMS.add(
    id="X18-T4-big-data-better",
    quote="Figure 4 and Table 4 show the performance of big data, compared to with small data.",
    where="sec. 3.4, Tables 3 and 4",
    paper_numbers="fully-connected AP 0.232 (big) vs 0.220 (small), AUC 0.944 vs 0.942; "
                  "residual AP 0.210 vs 0.203, AUC 0.942 vs 0.941",
    metric="test AP(all training clips) - test AP(smallest training share), fully connected",
    direction="greater",
    scale_needed=_SPEED_SCALE,
)
_F56 = ("In this project, weight scale of initialization and the width of each layer are not much related to the "
        "final performance, but has a great influence to the speed of convergence.")
CLAIMS.add(
    id="X18-F5-weight-scale-final-equal",
    quote=_F56,
    where="sec. 3.5, Figure 5",
    paper_numbers="",
    metric="spread of test AUC over the weight scales (max - min)",
    direction="equivalent",
    margin=FINAL_MARGIN,
    scale_needed=_SPEED_SCALE,
)
CLAIMS.add(
    id="X18-F5-weight-scale-speed",
    quote=_F56,
    where="sec. 3.5, Figure 5",
    paper_numbers="",
    metric="spread of convergence over the weight scales (max - min), share of the run",
    direction="greater",
    margin=SPEED_MARGIN,
    scale_needed=_SPEED_SCALE,
)
CLAIMS.add(
    id="X18-F6-width-final-equal",
    quote=_F56,
    where="sec. 3.5, Figure 6",
    paper_numbers="",
    metric="spread of test AUC over the widths (max - min)",
    direction="equivalent",
    margin=FINAL_MARGIN,
    scale_needed=_SPEED_SCALE,
)
CLAIMS.add(
    id="X18-F6-width-speed",
    quote=_F56,
    where="sec. 3.5, Figure 6",
    paper_numbers="",
    metric="spread of convergence over the widths (max - min), share of the run",
    direction="greater",
    margin=SPEED_MARGIN,
    scale_needed=_SPEED_SCALE,
)
