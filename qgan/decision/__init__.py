"""Deciding: verdicts of arms against the baseline, what a design can see and costs, the verdicts
in words and figures, and the report rendered from an evaluation result (no torch)."""
