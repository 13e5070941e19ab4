"""Scale-out: ``qgan sweep`` runs the pending ``train@…`` items on Dask while DVC keeps the record
(:mod:`qgan.sweep.sweep`), and ``qgan server`` serves MLflow on PostgreSQL for many writers
(:mod:`qgan.sweep.servers`)."""
