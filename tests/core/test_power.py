"""Power and seeds needed: the noncentral t where it applies, and simulation agreeing with it."""
import numpy as np

from qgan.core import power


def test_fixed_seeds_needed_matches_the_known_paired_t_values():
    # detect an effect of 1 sd at alpha 0.05, power 0.8: 10 seeds (DESIGN's table; not 8 as a z-test says)
    assert power.seeds_needed(1.0, 1.0, 0.05, "fixed")["detect"] == 10
    assert power.seeds_needed(1.0, 2.0, 0.05, "fixed")["detect"] == 5


def test_fixed_mde_matches_the_table_in_sd_units():
    for n, mde in ((10, 1.00), (20, 0.66), (30, 0.53)):
        assert abs(power.minimum_detectable_effect(n, 1.0, 0.05, "fixed") - mde) < 0.02


def test_simulated_detection_rate_agrees_with_the_noncentral_t():
    rates = power.decision_rates(1.0, 1.0, 1.0, 0.05, "fixed", n_max=12)
    assert abs(rates["detect"][10 - 2] - 0.80) < 0.03  # n = 10, effect 1 sd: 0.80 by the noncentral t


def test_anytime_needs_more_seeds_than_fixed_and_more_for_smaller_margins():
    fixed = power.seeds_needed(1.0, 1.0, 0.05, "fixed")
    anytime = power.seeds_needed(1.0, 1.0, 0.05, "anytime")
    assert anytime["detect"] > fixed["detect"] and anytime["equivalent"] > fixed["equivalent"]
    assert power.seeds_needed(1.0, 0.5, 0.05, "anytime")["equivalent"] > anytime["equivalent"]
    assert power.seeds_needed(1.0, 0.01, 0.05, "anytime")["equivalent"] is None  # beyond N_MAX


def test_anytime_mde_is_detected_with_the_stated_power():
    mde = power.minimum_detectable_effect(20, 1.0, 0.05, "anytime")
    rates = power.decision_rates(mde, 1.0, 1.0, 0.05, "anytime", n_max=20)
    assert abs(rates["detect"][-1] - 0.8) < 0.03 and mde > power.minimum_detectable_effect(20, 1.0, 0.05, "fixed")
    assert np.isinf(power.minimum_detectable_effect(4, 1.0, 0.05, "anytime"))
