"""Scoring generators: the feature extractor, the metrics on its features, the evaluation of every
run at one N, and the evaluation-sampling variance of the primary metric."""
