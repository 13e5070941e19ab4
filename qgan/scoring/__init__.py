"""Scoring generators: the feature-extracting classifier, the metrics (FID-LeNet, KID,
precision/recall, density/coverage, class statistics), the evaluate stage and the report.
"""
