"""The ladder's defects are what their names say, and come from the prng arm's own noise."""
import numpy as np
import pytest

from qgan.core.errors import QganError
from qgan.noise.ladder import parse_rung
from qgan.noise.streams import make_noise, noise_context


@pytest.fixture
def ctx(tiny_params):
    return noise_context(tiny_params.noise_plan, 256, 0, None, None, reading=False)


def draw(arm, ctx, region="train", batch=512):
    return make_noise(arm, region, ctx).sample(batch, ctx.latent_dim).numpy()


def test_distinct_k_has_k_vectors_shared_by_train_and_eval(ctx):
    z, e = draw("distinct-8", ctx), draw("distinct-8", ctx, "eval", batch=32)
    assert len(np.unique(z, axis=0)) == 8 and {tuple(r) for r in e} <= {tuple(r) for r in z}
    counts = np.unique(z, axis=0, return_counts=True)[1]
    assert counts.min() > 30  # every code used (512 draws, 64 expected each)


def test_bits_b_has_2_to_the_b_values_per_dimension(ctx):
    z = draw("bits-2", ctx)
    assert len(np.unique(z)) == 4 and abs(z.mean()) < 0.05


def test_rank_r_lies_on_an_r_dimensional_subspace_with_unit_scale(ctx):
    z = draw("rank-3", ctx)
    assert np.linalg.matrix_rank(z.astype(np.float64), tol=1e-3) == 3
    assert abs((z ** 2).sum(1).mean() / ctx.latent_dim - 1) < 0.2


def test_scale_and_pairing_with_prng(ctx):
    prng, half = draw("prng", ctx), draw("scale-50", ctx)
    np.testing.assert_allclose(half, prng * 0.5, rtol=1e-6)  # the same prng normals, defect applied
    stream = make_noise("bits-1", "train", ctx)
    stream.sample(4, ctx.latent_dim)
    assert stream.record()["defect"] == "bits-1" and stream.drawn == 4 * ctx.latent_dim
    with pytest.raises(QganError, match="serves whole latent vectors"):
        stream.take(10)


def test_rung_names_are_checked():
    assert parse_rung("prng") is None and parse_rung("distinct-64").n == 64
    with pytest.raises(QganError, match="bits-40: n must be in 1..23"):
        parse_rung("bits-40")
