"""Thin DVC stage scripts, run as `python -m stages.<name>` from the repo root (so the checkout's qgan/ is imported)."""
