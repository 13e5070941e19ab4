"""Shared foundations: errors, atomic file writes, the params schema machinery, runtime settings,
the stage runner, statistics, MLflow tracking and plots. Imports nothing else of qgan.
"""
