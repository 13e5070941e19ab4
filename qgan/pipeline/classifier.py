"""The ``classifier`` stage: the feature extractor, shipped (``classifier.source: versioned``) or
trained on the training digits less the holdout (``train``, checked against the versioned one when
its key is registered), written with its accuracy and the effective rank of its features."""
from __future__ import annotations

from pathlib import Path

from qgan.core.atomic import read_json, write_json_atomic
from qgan.core.numerics import NUMERICS_KEYS
from qgan.core.runtime import make_deterministic, select_device
from qgan.core.torch_io import write_torch_atomic
from qgan.gan.data import load_split
from qgan.gan.models import state_dict_sha256, uint8_to_images
from qgan.params import Params
from qgan.scoring import classifier as extractor
from qgan.scoring.classifier import (
    SHIPPED_PROVENANCE,
    accuracy,
    check_versioned,
    extractor_key,
    load_shipped,
    split_holdout,
    train_classifier,
)


def run_classifier(params: Params, data_dir: Path, out_model: Path, out_metrics: Path, progress: bool = True) -> dict:
    """Load the shipped extractor (``versioned``) or train on the data stage's training split less
    ``classifier.holdout`` digits and check the weights against the versioned extractor; then write
    the checkpoint (content-stable bytes) and metrics: accuracies, the test features' dimension,
    effective rank and trace, the weight digest, its source and the CPU numerics. Returns the metrics."""
    runtime = make_deterministic(params.train.threads)
    numerics = {k: runtime[k] for k in NUMERICS_KEYS}
    device = select_device(params.train.device)
    train, test = load_split(data_dir, "train"), load_split(data_dir, "test")
    fit, held = split_holdout(train, params.classifier.holdout)
    data_digest = read_json(data_dir / "meta.json")["digest"]
    if params.classifier.source == "versioned":
        model = load_shipped(data_digest, params.classifier).to(device)
        key = SHIPPED_PROVENANCE["extractor_key"]
    else:
        model = train_classifier(fit, params.classifier, device, progress)
        key = extractor_key(data_digest, params.classifier, numerics)
    digest = state_dict_sha256(model)
    check_versioned(key, digest)
    features = extractor.images_to_outputs(model, uint8_to_images(test.images))[0]
    metrics = {"test_accuracy": accuracy(model, test), "train_accuracy": accuracy(model, fit),
               "holdout_accuracy": accuracy(model, held), "n_train": len(fit.labels), "n_holdout": len(held.labels),
               "n_test": len(test.labels), **extractor.features_to_rank(features), "extractor_sha256": digest,
               "extractor_key": key, "source": params.classifier.source, "numerics": numerics}
    write_torch_atomic(out_model, {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                                   "config": params.classifier.to_dict(), "extractor_sha256": digest})
    write_json_atomic(out_metrics, metrics)
    return metrics
