"""``reports/report.md``: what was compared, with which entropy, and what came out."""
from __future__ import annotations

from pathlib import Path

from qgan.metrics import FID, FID_REFERENCE


def _fmt(x: float) -> str:
    return f"{x:.3f}" if abs(x) < 1000 else f"{x:.4g}"


def paired_sentence(name: str, stats: dict) -> str:
    """One honest line about a paired difference: its CI, and whether it excludes 0."""
    if "ci95_low" not in stats:
        return (f"- **{name}**: mean difference {_fmt(stats['mean'])} over {stats['n_seeds']} seed(s); "
                "at least two seeds are needed for a confidence interval.")
    lo, hi = stats["ci95_low"], stats["ci95_high"]
    if lo > 0 or hi < 0:
        verdict = "the interval excludes 0: a difference is detected"
    else:
        verdict = "the interval includes 0: no detectable difference at this number of seeds"
    return (f"- **{name}**: mean {_fmt(stats['mean'])}, 95% CI [{_fmt(lo)}, {_fmt(hi)}] "
            f"(Student t, {stats['n_seeds']} paired seeds); {verdict}.")


def noise_line(stats: dict) -> str:
    """The normals' headline numbers and the randomness verdict, from ``metrics/noise.json``."""
    tests = stats.get("tests", {})
    if "kolmogorov_smirnov" not in tests:
        return f"- normals: {stats.get('n', 0):,} (no run reads the pool)"
    ks, family = tests["kolmogorov_smirnov"], stats["randomness"]
    verdict = (f"{family['rejected']} of {family['tests']} randomness tests reject at family-wise "
               f"alpha = {family['alpha']} (Holm)")
    return (f"- normals: {stats['n']:,} ({stats['bits']}-bit {stats['method']}); KS vs N(0,1) "
            f"D = {ks['statistic']:.5f}, p = {ks['pvalue']:.3f} (n = {ks['n']:,}); mean "
            f"{stats['mean']['value']:+.2e} (se {stats['mean']['se']:.1e}); variance "
            f"{stats['variance']['value']:.5f} (se {stats['variance']['se']:.1e}); {verdict}")


def randomness_table(noise: dict, entropy: dict) -> list[str]:
    """Every randomness test of the convert stage as Markdown: on what, how many, the verdict."""
    family = noise.get("randomness")
    if not family or not family["tests"]:
        return ["No randomness tests ran (no run reads the pool)."]
    lines = [f"{family['tests']} tests judged as one family at alpha = {family['alpha']} (Holm): "
             f"**{family['rejected']} rejected**.", "",
             "| on | test | n | statistic | p | Holm p | verdict |", "|---|---|---|---|---|---|---|"]
    for part, tests in (("normals", noise["tests"]), ("bytes", entropy["tests"])):
        for name, t in tests.items():
            lines.append(f"| {part} | {name.replace('_', ' ')} | {t['n']:,} | {t['statistic']:.4g} | "
                         f"{t['pvalue']:.3g} | {t['pvalue_holm']:.3g} | {'reject' if t['reject'] else 'pass'} |")
    mcv = entropy.get("min_entropy_mcv")
    if mcv:
        lines += ["", f"Min-entropy (SP 800-90B most common value, 99% upper confidence bound on the most "
                      f"likely byte): {mcv['bits_per_byte']:.4f} bits per byte over {mcv['n']:,} bytes."]
    return lines


def write_report(path: Path, result: dict, manifest: dict, noise_stats: dict, entropy_tests: dict,
                 classifier: dict, runs: list[tuple[str, int]], figures: dict[str, str]) -> str:
    """Markdown report; ``figures`` maps a name to a path relative to the report."""
    from qgan.atomic import write_text_atomic

    fids = result[FID]
    seeds = sorted({s for _, s in runs})
    lines = [
        "# qgan report: quantum vs pseudo-random latent noise",
        "",
        "## Entropy provenance",
        "",
        f"- sources: {', '.join(manifest.get('sources', [])) or 'none'}; "
        f"quantum: **{'yes' if manifest.get('quantum') else 'no'}**",
        f"- pool: {manifest['total_bytes']:,} bytes in {len(manifest['chunks'])} chunks; "
        f"sha256 `{manifest['sha256']}`",
        noise_line(noise_stats),
        "",
        f"![noise]({figures['noise']})" if "noise" in figures else "",
        "",
        "## Randomness tests (convert stage)",
        "",
        *randomness_table(noise_stats, entropy_tests),
        "",
        "## Metric",
        "",
        f"Frechet distance on the features of a small CNN trained on the training split (FID-LeNet, "
        f"{result['extractor']}); test accuracy {classifier['test_accuracy']:.4f}. Not comparable to "
        f"Inception FID. N = {result['n_samples']} generated images vs {result['n_test']} real test images "
        f"(FID is biased in N: compare only at equal N). Floor: {result['reference']['n_real']} real training images "
        f"score {_fmt(result['reference'][FID_REFERENCE])}.",
        "",
        "| arm | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
        "|---|" + "---|" * (len(seeds) + 1),
    ]
    for arm, values in fids.items():
        cells = [_fmt(values[str(s)]) if str(s) in values else "-" for s in seeds]
        lines.append(f"| {arm} | " + " | ".join(cells) + f" | {_fmt(values['mean'])} |")
    lines += ["", f"![FID per seed]({figures['fid']})" if "fid" in figures else "", "",
              "## Paired comparison (lower FID is better)", ""]
    for name, metrics in result["paired"].items():
        lines.append(paired_sentence(f"{FID}: {name.replace('_minus_', ' − ')}", metrics[FID]))
    if not result["paired"]:
        lines.append("- no `prng` arm to pair with.")
    lines += ["", "## Samples (fixed grid noise of each run)", "",
              "| seed | " + " | ".join(sorted({a for a, _ in runs})) + " |",
              "|---|" + "---|" * len({a for a, _ in runs})]
    for s in seeds:
        cells = [f"![{a}-{s}]({figures[f'grid:{a}-{s}']})" if f"grid:{a}-{s}" in figures else "-"
                 for a in sorted({a for a, _ in runs})]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    write_text_atomic(path, text)
    return text
