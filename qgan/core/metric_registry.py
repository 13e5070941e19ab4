"""The metrics every run is scored on (result keys, labels and directions) and the kinds of
inference a verdict can use.

Declared here, below ``qgan.params``, so that ``evaluate.primary`` and ``evaluate.inference`` are
checked against the same names that ``metrics/evaluate.json``, ``qgan compare`` and the report
use, without params (which every stage loads) importing the statistics.
"""
from __future__ import annotations

# How a verdict's interval is built (qgan.core.stats.interval): anytime-valid and distribution-free for the
# median difference; anytime-valid for the mean of Gaussian differences; Student t for the mean at a fixed n.
INFERENCES = ("anytime", "anytime_gaussian", "fixed")
FID = "fid"
# metric -> (label, lower is better): every metric of every run, compared arm against the baseline
METRICS = {
    "fid": ("FID-LeNet", True),
    "kid": ("KID", True),
    "precision": ("precision (k=3)", False),
    "recall": ("recall (k=3)", False),
    "density": ("density (k=5)", False),
    "coverage": ("coverage (k=5)", False),
    "class_kl_uniform": ("class KL to uniform", True),
    "inception_score": ("Inception Score (classifier)", False),
}
