"""The verdict stays valid the way people work: seeds added after looking, until it changes.

Per-seed values are drawn with the spread measured here: single-run FID-LeNet sd about 8 on a
mean of about 80, and paired differences as spread as two independent runs (training is
chaotic), so ``d ~ N(true, 8 sqrt 2)``. A simulated user starts at 3 paired seeds, adds 2 at a
time up to 49, and stops at the first verdict that is not ``inconclusive``.
"""
import math

import numpy as np
import pytest

from qgan.core.errors import QganError
from qgan.decision.verdict import Design, csv_to_values, endpoint_interval, interval_to_verdict, values_to_verdicts


def primary_verdict(d, design):
    """The quality endpoint judged alone at alpha (as ``qgan compare --primary`` does)."""
    return endpoint_interval(d, design.alpha, design.margin, design.primary, design.inference)


SD_RUN, MEAN = 8.0, 80.0   # measured single-run FID-LeNet spread and level
SD_PAIRED = SD_RUN * math.sqrt(2)
LOOKS = range(3, 50, 2)    # 3, 5, ..., 49 seeds
STUDIES = 2000
ALPHA = 0.05
SLACK = 3 * math.sqrt(ALPHA * (1 - ALPHA) / STUDIES)  # three binomial standard errors at alpha


def user(rng: np.random.Generator, true: float, design: Design, on_difference_only: bool = False):
    """One study: paired values of arm and prng; the verdict and the seeds at which the user stopped."""
    arm, base = MEAN + true + rng.normal(0, SD_RUN, LOOKS[-1]), MEAN + rng.normal(0, SD_RUN, LOOKS[-1])
    d = arm - base
    for n in LOOKS:
        verdict, _ = primary_verdict(d[:n], design)
        if on_difference_only and verdict == "equivalent":
            verdict = "inconclusive"
        if verdict != "inconclusive":
            return verdict, n
    return "inconclusive", LOOKS[-1]


def studies(true: float, design: Design, seed: int, **kw) -> tuple[dict[str, float], float]:
    rng = np.random.default_rng(seed)
    runs = [user(rng, true, design, **kw) for _ in range(STUDIES)]
    verdicts = [v for v, _ in runs]
    return {v: verdicts.count(v) / STUDIES for v in ("better", "worse", "equivalent", "inconclusive")}, \
        float(np.mean([n for _, n in runs]))


@pytest.mark.parametrize("inference", ["anytime", "anytime_gaussian"])
def test_adding_seeds_until_the_verdict_changes_keeps_false_differences_under_alpha(inference):
    design = Design(margin=8.0, alpha=ALPHA, inference=inference)
    rates, seeds_used = studies(0.0, design, seed=1)
    false_difference = rates["better"] + rates["worse"]
    naive, _ = studies(0.0, Design(margin=8.0, alpha=ALPHA, inference="fixed"), seed=1, on_difference_only=True)
    naive_false = naive["better"] + naive["worse"]
    print(f"A/A, {STUDIES} studies: {inference} false better/worse {false_difference:.4f}, equivalent "
          f"{rates['equivalent']:.3f} (mean seeds {seeds_used:.1f}); repeated fixed-n t-test {naive_false:.4f}")
    assert false_difference <= ALPHA
    assert naive_false > ALPHA + SLACK  # the same user with a t-test at every look: inflated


@pytest.mark.parametrize("inference", ["anytime", "anytime_gaussian"])
def test_a_true_difference_of_one_sd_is_found_and_a_difference_of_delta_is_never_called_equivalent(inference):
    design = Design(margin=8.0, alpha=ALPHA, inference=inference)
    rates, seeds_used = studies(SD_PAIRED, design, seed=2)   # arm worse by one sd of the paired differences
    print(f"{inference}: true difference 1 sd ({SD_PAIRED:.1f}): power {rates['worse']:.3f}, mean seeds used "
          f"{seeds_used:.1f}")
    assert rates["worse"] >= 0.9 and rates["better"] <= ALPHA
    at_margin, _ = studies(design.margin, design, seed=3)    # true difference exactly delta
    print(f"true difference = delta: false equivalent {at_margin['equivalent']:.4f}")
    assert at_margin["equivalent"] <= ALPHA


def test_fixed_n_inference_is_valid_when_n_is_fixed():
    design = Design(margin=8.0, alpha=ALPHA, inference="fixed")
    rng = np.random.default_rng(4)
    called = [primary_verdict(rng.normal(0, SD_PAIRED, 20), design)[0] in ("better", "worse") for _ in range(STUDIES)]
    assert abs(np.mean(called) - ALPHA) <= SLACK


def test_direction_follows_the_metric():
    assert interval_to_verdict(-3.0, -1.0, 5.0, lower_is_better=True) == "better"
    assert interval_to_verdict(-3.0, -1.0, 5.0, lower_is_better=False) == "worse"
    assert interval_to_verdict(-1.0, 1.0, 5.0, True) == "equivalent"
    assert interval_to_verdict(-6.0, 1.0, 5.0, True) == "inconclusive"
    assert interval_to_verdict(-1.0, 1.0, None, True) == "inconclusive"  # no margin, no equivalence


def test_every_comparison_has_one_verdict_from_the_arms_point_of_view():
    rng = np.random.default_rng(5)
    values = {arm: {s: {"fid": 50 + shift + rng.normal(0, 0.5), "precision": 0.5 - shift / 100}
                    for s in range(30)} for arm, shift in (("prng", 0.0), ("entropy", -10.0), ("torch", 0.0))}
    out = values_to_verdicts(values, Design(margin=3.0, diversity=None))
    assert out["comparisons"]["entropy_vs_prng"]["verdict"] == "better"  # lower FID
    assert out["comparisons"]["entropy_vs_prng"]["secondary"]["precision"]["verdict"] == "better"  # higher precision
    assert out["comparisons"]["torch_vs_prng"]["verdict"] == "equivalent"
    assert out["design"]["inference"] == "anytime" and out["comparisons"]["torch_vs_prng"]["primary"]["mde"] > 0
    with pytest.raises(QganError, match="baseline arm 'prng' has no values"):
        values_to_verdicts({"entropy": values["entropy"]}, Design())
    with pytest.raises(QganError, match="no coverage values: the family's diversity endpoint"):
        values_to_verdicts(values, Design(margin=3.0))


@pytest.mark.parametrize("text, message", [
    ("arm,seed,value\n", "columns must be arm,seed,metric,value"),
    ("arm,seed,metric,value\nprng,x,fid,1\n", ":2: seed must be an integer"),
    ("arm,seed,metric,value\nprng,0,fidd,1\n", ":2: unknown metric 'fidd'"),
    ("arm,seed,metric,value\nprng,0,fid,nan\n", "is not finite"),
    ("arm,seed,metric,value\nprng,0,fid,1\nprng,0,fid,2\n", ":3: prng seed 0 fid appears twice"),
    ("arm,seed,metric,value\n", "no rows"),
])
def test_a_bad_csv_is_named_in_one_line(tmp_path, text, message):
    path = tmp_path / "values.csv"
    path.write_text(text)
    with pytest.raises(QganError, match=message):
        csv_to_values(path)
