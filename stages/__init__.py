"""Thin DVC stage scripts, run as `python -m stages.<name>` from the repo root (so the checkout's qgan/ is imported).

Importing this package pins the CPU numerics before any stage imports torch (qgan/core/numerics.py).
"""
from qgan.core.numerics import pin_cpu_numerics

pin_cpu_numerics()
