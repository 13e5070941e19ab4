"""The metrics every run is scored on: result keys, labels and directions.

Declared here, below ``qgan.params``, so that ``evaluate.primary`` is checked against the same
names that ``metrics/evaluate.json``, ``qgan compare`` and the report use.
"""
from __future__ import annotations

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
