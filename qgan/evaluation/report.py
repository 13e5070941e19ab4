"""``reports/report.md``: what was compared, with which entropy, and what came out."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from qgan.core.atomic import write_text_atomic
from qgan.evaluation.metrics import METRICS


def _fmt(x: float) -> str:
    return f"{x:.3f}" if abs(x) < 1000 else f"{x:.4g}"


def _p(x: float) -> str:
    return f"{x:.2g}" if x >= 1e-3 else f"{x:.1e}"


def metrics_table(result: dict, arms: list[str]) -> list[str]:
    """Metric rows: the real-vs-real floor, each arm's mean +- sd over seeds, and for each
    paired comparison the mean difference with its bootstrap CI, p-values and the verdict."""
    header = "| metric | floor (real) | " + " | ".join(arms)
    rule = "|---|---|" + "---|" * len(arms)
    pairs = list(result["paired"])
    for name in pairs:
        header += f" | {name.replace('_vs_', ' − ')}: mean [95% bootstrap CI] | t / Wilcoxon / TOST p | verdict"
        rule += "---|---|---|"
    lines = [header + " |", rule]
    for metric, (label, lower) in METRICS.items():
        cells = [f"{label} {'↓' if lower else '↑'}", _fmt(result["reference"][metric])]
        for arm in arms:
            values = [v for s, v in result[metric][arm].items() if s != "mean"]
            sd = f" ± {_fmt(float(np.std(values, ddof=1)))}" if len(values) > 1 else ""
            cells.append(_fmt(result[metric][arm]["mean"]) + sd)
        for name in pairs:
            c = result["paired"][name][metric]
            if "bootstrap_ci95_low" in c:
                cells += [f"{_fmt(c['mean'])} [{_fmt(c['bootstrap_ci95_low'])}, {_fmt(c['bootstrap_ci95_high'])}]",
                          f"{_p(c['t_pvalue'])} / {_p(c['wilcoxon_pvalue'])} / {_p(c['tost_pvalue'])}",
                          f"**{c['verdict']}**"]
            else:
                cells += [_fmt(c["mean"]), "-", f"**{c['verdict']}**"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def controls_lines(result: dict) -> list[str]:
    """Whether the negative (prng2) and positive (legacy8) controls behaved, when present."""
    lines = []
    negative = result["verdicts"].get("prng2_vs_prng")
    if negative is None:
        lines.append("- Negative control (`prng2`, an independent PRNG stream): not in `train.arms`.")
    else:
        called = [m for m, v in negative.items() if v.endswith("better")]
        lines.append("- Negative control `prng2` vs `prng`: " + (
            f"**did not behave**: called different on {', '.join(called)}" if called else
            "behaved: no metric called different."))
    positive = result["verdicts"].get("legacy8_vs_prng")
    if positive is None:
        lines.append("- Positive control (`legacy8`, the tutorial's 8-bit quantisation): not in `train.arms`. "
                     "The 8-bit conversion is checked by the noise tests instead (`convert.bits: 8` fails the "
                     "tail-mass test at N = 10^6).")
    else:
        called = [m for m, v in positive.items() if not v.startswith("inconclusive")]
        lines.append(f"- Positive control `legacy8` vs `prng`: distinguished on {len(called)} of {len(positive)} "
                     f"metrics ({', '.join(f'{m}: {positive[m]}' for m in called) or 'none'}).")
    return lines


def _span(rec: dict) -> str:
    a, b = rec["normals"]
    return f"[{a:,}, {b:,})"


def accounting_lines(result: dict) -> list[str]:
    """Where each run's noise came from, how much it drew and whether any was reused."""
    acc, runs = result["accounting"], result["noise"]
    reuse = acc["max_reuse_factor"]
    lines = [(f"**Training noise was reused**: with `train.on_exhausted: cycle` each run read its training range "
              f"up to {reuse:.3g} times (the pool was shorter than the runs draw). Every arm's stream restarts "
              "after the same number of normals, so reuse does not confound the comparison, but the noise is not "
              "fresh." if reuse > 1 else
              "No normal was read twice: each run's training, grid and evaluation noise come from disjoint ranges."),
             "", f"Pool: {acc['pool_bytes']:,} bytes; {acc['pool_ranges']} ranges read by the runs, "
                 f"{acc['bytes_in_ranges']:,} bytes in all, none overlapping and all inside the pool "
                 "(checked by `evaluate`).", "",
             "| run | source | training normals | pool bytes | drawn | reuse | grid normals | evaluation normals |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        t = r["train"]
        source = t["source"] + (f" (seed {t['seed']}, spawn key {t['spawn_key']})" if "spawn_key" in t else "")
        pool = f"[{t['bytes'][0]:,}, {t['bytes'][1]:,})" if "bytes" in t else "-"
        lines.append(f"| {name} | {source} | {_span(t)} | {pool} | {t['drawn']:,} | {t['reuse_factor']:.3g} | "
                     f"{_span(r['grid'])} | {_span(r['eval'])} |")
    return lines + ["", "Ranges of `pool` sources are positions in `normals.npy` (normals [a, b) are pool bytes "
                        "[a·w, b·w), w = ceil(bits/8)); other sources count positions in their own stream."]


def health_line(health: dict | None) -> str:
    """The last harvest's SP 800-90B health-test record, from the manifest."""
    if not health:
        return "- health tests: none recorded (no chunk appended since they were added)"
    return (f"- health tests (SP 800-90B, H = {health['min_entropy']} bits/byte, alpha {health['alpha']}): "
            f"{health['chunks_checked']:,} chunks checked, {health['chunks_rejected']:,} rejected "
            f"(cutoffs: repetition {health['repetition_count_cutoff']}, adaptive proportion "
            f"{health['adaptive_proportion_cutoff']} of {health['adaptive_proportion_window']})")


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


def numerics_text(numerics: dict | None) -> str:
    """How the extractor's kernels were chosen, in words."""
    if not numerics:
        return "CPU numerics not recorded"
    if numerics["numerics"] == "pinned":
        return f"CPU numerics pinned: ATen {numerics['aten_cpu_capability']}, MKL CNR {numerics['mkl_cbwr']}"
    return f"native CPU numerics (ATen {numerics['aten_cpu_capability']}): not comparable across machines"


def verdict_lines(result: dict, n_seeds: int) -> list[str]:
    """One line per comparison: its metrics grouped by verdict."""
    lines = []
    for name, verdicts in result["verdicts"].items():
        groups: dict[str, list[str]] = {}
        for metric, verdict in verdicts.items():
            kind, _, detail = verdict.partition(" (")
            label = METRICS[metric][0] + (f" ({detail}" if detail else "")
            groups.setdefault(kind if not kind.startswith("equivalent") else "equivalent within the margin",
                              []).append(label)
        lines.append(f"- **{name.replace('_vs_', ' vs ')}** over {n_seeds} paired seeds: "
                     + "; ".join(f"{kind}: {', '.join(labels)}" for kind, labels in groups.items()) + ".")
    if not result["verdicts"]:
        lines.append("- no `prng` arm to compare with.")
    return lines


def figure_lines(runs: list[tuple[str, int]], seeds: list[int], figures: dict[str, str]) -> list[str]:
    """The sample grids, the grids over training and the loss curves of every run."""
    arms = sorted({a for a, _ in runs})
    lines = ["", "## Samples (fixed grid noise of each run)", "",
             "| seed | " + " | ".join(arms) + " |", "|---|" + "---|" * len(arms)]
    for s in seeds:
        cells = [f"![{a}-{s}]({figures[f'grid:{a}-{s}']})" if f"grid:{a}-{s}" in figures else "-" for a in arms]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines += ["", "## Samples over training (the same grid noise at each epoch)", ""]
    lines += [f"![epochs {a}-{s}]({figures[f'epochs:{a}-{s}']})" for a, s in runs if f"epochs:{a}-{s}" in figures]
    lines += ["", "## Loss curves", "", "| run | D and G loss per step |", "|---|---|"]
    lines += [f"| {a}-{s} | ![losses {a}-{s}]({figures[f'losses:{a}-{s}']}) |" for a, s in runs
              if f"losses:{a}-{s}" in figures]
    return lines


def write_report(path: Path, result: dict, manifest: dict, noise_stats: dict, entropy_tests: dict,
                 classifier: dict, runs: list[tuple[str, int]], figures: dict[str, str]) -> str:
    """Markdown report; ``figures`` maps a name to a path relative to the report."""
    arms = list(dict.fromkeys(a for a, _ in runs))
    seeds = sorted({s for _, s in runs})
    lines = [
        "# qgan report: quantum vs pseudo-random latent noise",
        "",
        "## Entropy provenance",
        "",
        f"- sources: {', '.join(manifest.get('sources', [])) or 'none'}; "
        f"quantum: **{'yes' if manifest.get('quantum') else 'no'}**"
        + ("; served by `qgan emulate` (emulated)" if manifest.get("emulated") else ""),
        health_line(manifest.get("health")),
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
        "## Metrics",
        "",
        f"All metrics use the features (and class probabilities) of a small CNN trained on the training split "
        f"({result['extractor']['name']}, weights sha256 `{result['extractor']['sha256'][:16]}`; test accuracy "
        f"{classifier['test_accuracy']:.4f}; {numerics_text(classifier.get('numerics'))}): FID-LeNet is not comparable "
        f"to Inception FID. N = {result['n_samples']:,} generated images per run vs {result['n_test']:,} real test "
        f"images; FID is biased in N, so compare only at equal N. The floor is each metric for "
        f"{result['reference']['n_real']:,} real training images. ↓ lower is better, ↑ higher is better. "
        "Verdicts follow the paired t-test and TOST at `evaluate.alpha`; with few seeds the bootstrap "
        "interval is coarse (3 seeds give only 10 distinct resamples), so read it as descriptive.",
        "",
        *metrics_table(result, arms),
        "",
        f"![metrics per seed]({figures['metrics']})" if "metrics" in figures else "",
        "",
        "## Verdicts",
        "",
    ]
    lines += verdict_lines(result, len(seeds))
    lines += ["", "## Controls", "", *controls_lines(result)]
    lines += ["", "## Noise accounting", "", *accounting_lines(result)]
    lines += figure_lines(runs, seeds, figures)
    text = "\n".join(lines) + "\n"
    write_text_atomic(path, text)
    return text
