"""The report in Markdown from an evaluation result, led by the verdict, the ladder and the A/A
check; then the metrics, provenance, randomness tests, noise accounting and figures
(:func:`result_to_markdown`; the report stage writes it: :mod:`qgan.pipeline.report`)."""
from __future__ import annotations

from qgan.core.formatting import num, table_num
from qgan.core.metric_registry import METRICS
from qgan.decision.verdict_text import interval_text, ladder_lines, verdicts_to_markdown


def secondary_table(result: dict) -> list[str]:
    """Every metric: the real-vs-real floor, each arm's mean +- sd over seeds, and each
    comparison's difference with its interval and verdict (secondary metrics at alpha/m,
    exploratory; the primary family's endpoints at their Holm levels)."""
    summary, verdicts = result["summary"], result["verdicts"]
    arms = list(summary)
    comps = verdicts["comparisons"] if verdicts else {}
    header = "| metric | floor (real) | " + " | ".join(arms) + "".join(
        f" | {c['arm']} − {c['baseline']} [interval] | verdict" for c in comps.values())
    lines = [header + " |", "|---|---|" + "---|" * (len(arms) + 2 * len(comps))]
    for metric, (label, lower) in METRICS.items():
        cells = [f"{label} {'↓' if lower else '↑'}", table_num(result["reference"][metric])]
        for arm in arms:
            s = summary[arm][metric]
            cells.append(table_num(s["mean"]) + (f" ± {table_num(s['sd'])}" if s["sd"] is not None else ""))
        for c in comps.values():
            family = {e["metric"]: e for e in (c["primary"], c.get("diversity")) if e}
            m = family.get(metric) or c["secondary"].get(metric)
            cells += [interval_text(m), f"**{m['verdict']}**"] if m and m["estimate"] is not None else ["-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
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


def result_to_markdown(result: dict, manifest: dict, noise_stats: dict, entropy_tests: dict, classifier: dict,
                       runs: list[tuple[str, int]], figures: dict[str, str]) -> str:
    """The Markdown report of an evaluation ``result`` (``metrics/evaluate.json``), led by the verdict,
    with the pool's manifest, the convert stage's test reports and the classifier's metrics;
    ``figures`` maps a name (``metrics``, ``noise``, ``verdicts``, ``grid:<arm>-<seed>``, ...) to a
    path relative to the report."""
    seeds = sorted({s for _, s in runs})
    verdicts = result["verdicts"]
    lines = ["# qgan report: quantum vs pseudo-random latent noise", "", "## Verdict", "",
             verdicts_to_markdown(result).rstrip(), ""]
    if verdicts:
        lines += [f"![verdicts]({figures['verdicts']})" if "verdicts" in figures else "", "",
                  "## Sensitivity ladder (positive controls of the GAN metrics)", "", *ladder_lines(verdicts), ""]
    lines += ["## Variance of the primary family: training or evaluation", ""]
    for variance in (result.get("variance") or {}).values():
        lines += [f"**{METRICS[variance['metric']][0]}**", "", *variance_lines(variance), ""]
    lines += [
        "## All metrics", "",
        f"All metrics use the features (and class probabilities) of a small CNN trained on the training split less "
        f"its last {classifier.get('n_holdout', 0):,} digits ({result['extractor']['name']}, weights sha256 "
        f"`{result['extractor']['sha256'][:16]}`; test accuracy {classifier['test_accuracy']:.4f}; features of "
        f"effective rank {num(classifier.get('effective_rank'))} of {classifier.get('feature_dim', '?')}; "
        f"{numerics_text(classifier.get('numerics'))}): FID-LeNet is not comparable "
        f"to Inception FID. N = {result['n_samples']:,} generated images per run vs {result['n_test']:,} real test "
        f"images; FID is biased in N, so compare only at equal N. The floor is each metric for "
        f"{result['reference']['n_real']:,} real training digits the extractor never saw. ↓ lower is better, "
        "↑ higher is better. Only the primary family carries the verdict; the others are **exploratory**, their "
        "intervals at "
        "alpha / m (Bonferroni over the m secondary metrics).", "",
        *secondary_table(result), "",
        f"![metrics per seed]({figures['metrics']})" if "metrics" in figures else "", "",
        "## Entropy provenance", "",
        f"- sources: {', '.join(manifest.get('sources', [])) or 'none'}; "
        f"quantum: **{'yes' if manifest.get('quantum') else 'no'}**"
        + ("; served by `qgan emulate` (emulated)" if manifest.get("emulated") else ""),
        health_line(manifest.get("health")),
        f"- pool: {manifest['total_bytes']:,} bytes in {len(manifest['chunks'])} chunks; "
        f"sha256 `{manifest['sha256']}`",
        noise_line(noise_stats), "",
        f"![noise]({figures['noise']})" if "noise" in figures else "", "",
        "## Randomness tests (convert stage)", "", *randomness_table(noise_stats, entropy_tests), "",
        "## Noise accounting", "", *accounting_lines(result),
        *figure_lines(runs, seeds, figures),
    ]
    return "\n".join(lines) + "\n"


def variance_lines(variance: dict | None) -> list[str]:
    """The primary metric's evaluation-sampling share of the spread (:mod:`qgan.scoring.variance`)."""
    if not variance or not variance["arms"]:
        return ["No arm with standard-normal latents was re-evaluated."]
    lines = [f"Each generator re-evaluated {variance['redraws']} times with fresh latent vectors (same N, same real "
             "test digits): *evaluation* variance is the spread between those, *training* variance the rest of the "
             "spread across seeds. For a pair, the last column is the variance of the difference when both arms are "
             "scored on the same fresh latents, averaged over the redraws (shared evaluation noise).", "",
             "| arm or pair | seeds | variance across seeds | evaluation | training | evaluation share | "
             "with shared latents |", "|---|---|---|---|---|---|---|"]
    for name, v in {**variance["arms"], **variance["paired"]}.items():
        share = "-" if v["eval_share"] is None else f"{100 * v['eval_share']:.0f}%"
        lines.append(f"| {name.replace('_vs_', ' − ')} | {v['seeds']} | {num(v['total_var'])} | "
                     f"{num(v['eval_var'])} | {num(v.get('train_var'))} | {share} | "
                     f"{num(v.get('shared_latents_var'))} |")
    return lines
