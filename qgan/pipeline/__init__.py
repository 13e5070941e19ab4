"""Stage wiring: each stage's typed inputs and outputs, output paths, the run_<stage> orchestrators and
their MLflow logging. The one layer that knows files, DVC stage names and MLflow runs; below it the
domain packages compute (noise, training, scoring, verdicts, the report's text)."""
