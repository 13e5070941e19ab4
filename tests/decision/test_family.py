"""The primary family (quality and diversity, Holm inside the anytime-valid design) keeps its promise.

Simulated users look at 3, 5, ..., 49 paired seeds and stop at the first family verdict that is
not ``inconclusive``; 2,000 studies per case, seeded. The two endpoints' differences are
correlated (a run that is worse in FID tends to cover less: rho = -0.6 in the metric's own
direction) and skewed (median-centred lognormal), the case a reviewer would build to break it.
"""
import math

import numpy as np
import pytest

from qgan.decision.verdict import Design, compare_arm, family_verdict, holm_intervals

ALPHA, STUDIES = 0.05, 2000
LOOKS = range(3, 50, 2)
SE = math.sqrt(ALPHA * (1 - ALPHA) / STUDIES)
FID_SD, COV_SD = 4.0, 0.01      # per-endpoint sd of the paired differences (units of each metric)
DESIGN = Design(margin=FID_SD, diversity="coverage", diversity_margin=COV_SD, alpha=ALPHA)


def draws(rng: np.random.Generator, n: int, skewed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Paired differences (fid, coverage), median 0, correlation -0.6 (worse FID with less coverage)."""
    z = rng.multivariate_normal([0, 0], [[1, -0.6], [-0.6, 1]], n)
    if skewed:
        z = np.exp(z) - 1.0  # lognormal, median 0, long right tail
    return FID_SD * z[:, 0], COV_SD * z[:, 1]


def study(rng, shift_fid: float, shift_cov: float, skewed: bool) -> str:
    fid, cov = draws(rng, LOOKS[-1], skewed)
    fid, cov = fid + shift_fid, cov + shift_cov
    for n in LOOKS:
        judged = holm_intervals({"fid": fid[:n], "coverage": cov[:n]}, DESIGN)
        verdict = family_verdict([v for _, v, _ in judged.values()])
        if verdict != "inconclusive":
            return verdict
    return "inconclusive"


def rates(shift_fid: float, shift_cov: float, skewed: bool, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    out = [study(rng, shift_fid, shift_cov, skewed) for _ in range(STUDIES)]
    return {v: out.count(v) / STUDIES for v in ("better", "worse", "mixed", "equivalent", "inconclusive")}


@pytest.mark.parametrize("skewed", [False, True])
def test_an_aa_family_is_called_different_at_most_alpha_of_the_time(skewed):
    r = rates(0.0, 0.0, skewed, seed=11 + skewed)
    false = r["better"] + r["worse"] + r["mixed"]
    print(f"A/A family ({'skewed' if skewed else 'Gaussian'}), {STUDIES} studies: false better/worse/mixed "
          f"{false:.4f} (se {SE:.4f}), equivalent {r['equivalent']:.3f}")
    assert false <= ALPHA


def test_a_diversity_loss_alone_is_found_and_called_worse():
    """Coverage worse by one paired sd, FID unchanged: the family sees what FID alone would miss."""
    r = rates(0.0, -COV_SD, skewed=False, seed=13)
    print(f"coverage worse by 1 sd: worse {r['worse']:.3f}, better {r['better']:.4f}, mixed {r['mixed']:.4f}")
    assert r["worse"] >= 0.9 and r["better"] + r["mixed"] <= ALPHA


def test_a_difference_of_one_margin_is_never_called_equivalent():
    r = rates(FID_SD, 0.0, skewed=False, seed=14)
    print(f"FID worse by its margin: false equivalent {r['equivalent']:.4f}")
    assert r["equivalent"] <= ALPHA


def test_holm_judges_the_rest_at_a_higher_level_once_one_is_rejected():
    """Twelve seeds: every coverage difference negative (rejected at alpha/2); FID's eleven
    positives and one negative exclude 0 at alpha (the sign sequence's bound at n = 12 allows one
    sign the other way) but not at alpha/2, so only Holm's second step calls it."""
    fid = np.array([3.0, 2.5, 4.0, 1.0, 2.0, 5.0, 3.5, 2.2, 1.7, 2.9, 0.8, -0.1])
    cov = -np.linspace(0.01, 0.05, 12)
    judged = holm_intervals({"fid": fid, "coverage": cov}, DESIGN)
    assert judged["coverage"][:2] == (ALPHA / 2, "worse")
    assert judged["fid"][:2] == (ALPHA, "worse")  # re-judged at alpha after coverage was rejected
    alone = holm_intervals({"fid": fid}, Design(margin=FID_SD, diversity=None, alpha=ALPHA / 2))
    assert alone["fid"][1] == "inconclusive"  # at alpha / 2 the same differences are not enough
    assert family_verdict([v for _, v, _ in judged.values()]) == "worse"


def test_the_family_rule_when_endpoints_disagree():
    assert family_verdict(["better", "worse"]) == "mixed"
    assert family_verdict(["better", "inconclusive"]) == family_verdict(["equivalent", "better"]) == "better"
    assert family_verdict(["inconclusive", "worse"]) == "worse"
    assert family_verdict(["equivalent", "equivalent"]) == "equivalent"
    assert family_verdict(["equivalent", "inconclusive"]) == "inconclusive"


def test_compare_arm_carries_both_endpoints_and_the_family_verdict():
    rng = np.random.default_rng(7)
    values = {arm: {s: {"fid": 30 + rng.normal(0, 1), "coverage": 0.8 + shift + rng.normal(0, 0.002)}
                    for s in range(12)} for arm, shift in (("prng", 0.0), ("distinct-64", -0.5))}
    c = compare_arm(values, "distinct-64", DESIGN)
    assert c["diversity"]["metric"] == "coverage" and c["diversity"]["verdict"] == "worse"
    assert c["primary"]["metric"] == "fid" and c["verdict"] in ("worse", "mixed")
    assert "coverage" not in c["secondary"] and "fid" not in c["secondary"]
