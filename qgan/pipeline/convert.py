"""The ``convert`` stage: entropy pool -> float32 standard normals, with the randomness tests and plots."""
from __future__ import annotations

from pathlib import Path

from qgan.core.atomic import write_json_atomic
from qgan.core.plots import noise_to_plot_tables, save_noise_plots
from qgan.noise.convert import load_normals, pool_to_normals_file
from qgan.params import Params
from qgan.randomness.suite import check_randomness, pool_to_byte_histogram, randomness_report


def run_convert(params: Params, pool: Path, out: Path, metrics: Path, entropy_metrics: Path, plots: Path
                ) -> tuple[int, dict, str | None]:
    """Convert the pool into ``out`` (``normals.npy``), test the normals and the bytes, write both
    reports and the noise plots. A rejected test with ``convert.fail_on_reject`` removes ``out``
    (rejected noise never reaches training) and stops. Returns the number of normals, the normals'
    report and the warning (None if every test passed)."""
    cfg = params.convert
    n = pool_to_normals_file(pool, out, cfg.bits, cfg.method)
    normals, counts = load_normals(out), pool_to_byte_histogram(pool)
    noise, entropy = randomness_report(pool, counts, normals, cfg.test_size, cfg.test_bits, cfg.alpha)
    try:
        warning = check_randomness(noise, entropy, cfg.fail_on_reject)
    except Exception:
        out.unlink()
        raise
    write_json_atomic(metrics, {"bits": cfg.bits, "method": cfg.method, **noise})
    write_json_atomic(entropy_metrics, entropy)
    save_noise_plots(noise_to_plot_tables(normals, counts), plots, plots / "noise.png")
    return n, noise, warning
