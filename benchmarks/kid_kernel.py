"""KID's cubic kernel: ``k * k * k`` (ours) against ``k ** 3`` (the previous code), side by side.

Both compute the polynomial kernel ``(x y^T / d + 1)^3`` of one KID subset pair at the default
size (100 x 100 of 128-d features) and at 1,000 x 1,000, interleaved over rounds; the ratio is
the baseline's median time over ours. Run: ``.venv/bin/python benchmarks/kid_kernel.py``
"""
import statistics
import time

import numpy as np

from qgan.scoring.fidelity import cubic_kernel

ROUNDS = 7


def timed(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    rng = np.random.default_rng(0)
    ratio = None
    for size, repeat in ((100, 400), (1000, 8)):
        x = rng.standard_normal((size, 128))
        k = x @ x.T / 128 + 1
        assert np.allclose(cubic_kernel(k), k ** 3)
        ours, base = [], []
        for _ in range(ROUNDS):
            ours.append(timed(lambda: cubic_kernel(k), repeat))
            base.append(timed(lambda: k ** 3, repeat))
        ratio = statistics.median(base) / statistics.median(ours)
        print(f"{size} x {size}: k ** 3 {statistics.median(base) * 1e6:.0f} us, k * k * k "
              f"{statistics.median(ours) * 1e6:.0f} us: {ratio:.2f}x")
    print(f"ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
