"""Write a run's results: ``results.json`` (every case x variant x metric), ``report.md`` (a table per suite:
metric x variant, with the number of cases each figure is taken over), PNG plots, and per-case failures.

>>> fmt(0.123456), fmt(3), fmt(None), fmt(1234.5)
('0.123', '3', '–', '1234')
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from evaluation.checks import ADVERSARIAL_METRICS, AGGREGATION, CHECK_TYPES
from evaluation.runner import SuiteRun

log = logging.getLogger(__name__)

# Metrics shown per suite in report.md (all are in results.json); the first ones are each suite's headline.
SHOWN = {
    "bundle-intent": ("recall@5", "recall@10", "hit", "precision", "recall", "f1"),
    "personal-aisle": ("hit@1", "hit@5", "recall@10", "hit"),
    "budget": ("within_budget", "total/budget", "recall@10", "precision", "recall", "hit"),
    "adversarial": ADVERSARIAL_METRICS,
    "occasions": (*(f"check:{t}" for t in CHECK_TYPES), "total/budget", "within_budget"),
    "crosslingual-en": ("recall@10", "precision", "total/budget", "within_budget"),
    "crosslingual-zh": ("recall@10", "precision", "total/budget", "within_budget"),
}
COMMON = ("checks_passed", "kind_diversity", "kind_diversity_unasked", "accessory_share", "cobought", "invalid_items",
          "invented_prices", "grounding_failures", "system_leaks", "errors", "empty", "latency_p50_ms",
          "latency_p95_ms")
MAX_FAILURES_LISTED = 25


def fmt(v: float | int | None) -> str:
    if v is None:
        return "–"
    if isinstance(v, int) or float(v).is_integer() and abs(v) >= 1:
        return str(int(v))
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3f}"


def results_json(runs: list[SuiteRun], meta: dict[str, Any]) -> dict[str, Any]:
    return {"meta": meta, "suites": {
        r.name: {"n_cases": len(r.cases), "skipped": r.skipped, "seconds": r.seconds,
                 "summary": {v: r.summary(v) for v in r.results}, "cases": r.results} for r in runs}}


def _table(run: SuiteRun) -> list[str]:
    variants = list(run.results)
    if not variants:
        return ["_no variant ran_", ""]
    sums = {v: run.summary(v) for v in variants}
    rows = [f"| metric (n) | {' | '.join(variants)} |", "|---|" + "---|" * len(variants)]
    for m in SHOWN.get(run.name, ()) + COMMON:
        cells = [f"{fmt(sums[v][m]['value'])} ({sums[v][m]['n']})" for v in variants]
        rows.append(f"| {m} | {' | '.join(cells)} |")
    secs = " | ".join(f"{run.seconds[v]:.0f}" for v in variants)
    rows.append(f"| wall seconds | {secs} |")
    return rows + [""]


BASELINE_VARIANTS = ("popularity", "personal-popularity", "embedding")
PAIRED = {"bundle-intent": ("recall@10", "f1"), "personal-aisle": ("hit@5", "hit@1"),
          "budget": ("recall@10", "precision"), "crosslingual-en": ("recall@10",), "crosslingual-zh": ("recall@10",)}
"""The metrics each generated suite's paired intervals are computed for (the targets' metrics)."""


def _paired(run: SuiteRun) -> list[str]:
    """Each bundlebot variant minus the best baseline (and minus ``reranker``) on each headline metric: the
    mean difference over the cases both answered, with a paired bootstrap 95% interval."""
    from evaluation.metrics import paired_bootstrap

    ours = [v for v in run.results if v not in BASELINE_VARIANTS]
    bases = [v for v in run.results if v in BASELINE_VARIANTS]
    rows = []
    for m in PAIRED.get(run.name, ()):
        sums = {v: run.summary(v)[m]["value"] for v in run.results}
        best = max((b for b in bases if sums[b] is not None), key=lambda b: sums[b], default=None)
        for v in ours:
            for other in dict.fromkeys(x for x in (best, "reranker") if x and x != v and x in run.results):
                pairs = [(a["metrics"].get(m), b["metrics"].get(m))
                         for a, b in zip(run.results[other], run.results[v], strict=True)]
                pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
                if pairs:
                    d, lo, hi = paired_bootstrap([a for a, _ in pairs], [b for _, b in pairs])
                    sign = " **(excludes 0)**" if lo > 0 or hi < 0 else ""
                    rows.append(f"| {m} | {v} − {other} | {d:+.3f} [{lo:+.3f}, {hi:+.3f}]{sign} | {len(pairs)} |")
    if not rows:
        return []
    return ["### Paired differences (95% bootstrap interval)", "", "| metric | variants | difference | n |",
            "|---|---|---|---|", *rows, ""]


def _groups(run: SuiteRun, key: str) -> list[str]:
    """Per value of ``meta[key]`` (a hand-written suite's ``split``, a budget's ``wording``): cases, checks
    passed and each check type's pass rate, and the median total / budget, per variant. Empty unless the
    cases carry at least two values."""
    from evaluation.metrics import mean, percentile

    values = sorted({str(c.meta[key]) for c in run.cases if key in c.meta})
    if len(values) < 2 or not run.results:
        return []
    of = {c.id: str(c.meta.get(key, "")) for c in run.cases}
    names = ("checks_passed", *(f"check:{t}" for t in CHECK_TYPES))
    rows = [f"### By {key}", "", f"| {key} | variant | cases | {' | '.join(names)} | median total/budget |",
            "|---|---|---|" + "---|" * (len(names) + 1)]
    for value in values:
        for v, recs in run.results.items():
            mine = [r["metrics"] for r in recs if of[r["id"]] == value]
            cells = []
            for name in names:
                got, n = mean([m.get(name) for m in mine])
                cells.append(f"{fmt(got)} ({n})")
            med = percentile([m["total/budget"] for m in mine if m.get("total/budget") is not None], 50)
            rows.append(f"| {value} | {v} | {len(mine)} | {' | '.join(cells)} | {fmt(med)} |")
    return [*rows, ""]


def _crosslingual(runs: list[SuiteRun]) -> list[str]:
    """The Chinese versions of the same requests against their English originals (``meta.original``, same
    gold), per variant: recall@10 of each, their ratio, and the paired difference with its interval."""
    from evaluation.metrics import mean, paired_bootstrap

    by = {r.name: r for r in runs}
    en, zh = by.get("crosslingual-en"), by.get("crosslingual-zh")
    if en is None or zh is None:
        return []
    rows = []
    for v in zh.results:
        if v not in en.results:
            continue
        got = {r["id"]: r["metrics"].get("recall@10") for r in en.results[v]}
        original = {c.id: str(c.meta.get("original", c.id)) for c in zh.cases}
        pairs = [(got.get(original[r["id"]]), r["metrics"].get("recall@10")) for r in zh.results[v]]
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
        if not pairs:
            continue
        (a, _), (b, _) = mean([x for x, _ in pairs]), mean([y for _, y in pairs])
        d, lo, hi = paired_bootstrap([x for x, _ in pairs], [y for _, y in pairs])
        ratio = f"{b / a:.2f}" if a else "–"
        rows.append(f"| {v} | {fmt(a)} | {fmt(b)} | {ratio} | {d:+.3f} [{lo:+.3f}, {hi:+.3f}] | {len(pairs)} |")
    if not rows:
        return []
    return ["## Cross-lingual recall (crosslingual-zh against crosslingual-en)", "",
            "| variant | recall@10 en | recall@10 zh | zh / en | zh − en (95% interval) | n |",
            "|---|---|---|---|---|---|", *rows, ""]


def _failures(run: SuiteRun) -> list[str]:
    lines = []
    for v, recs in run.results.items():
        failed = [r for r in recs if r["failures"]]
        if not failed:
            continue
        lines.append(f"**{v}**: {len(failed)} of {len(recs)} cases failed a check")
        lines.append("")
        for r in failed[:MAX_FAILURES_LISTED]:
            lines.append(f"- `{r['id']}`: {'; '.join(r['failures'])} — items {r['answer']['items']}")
        if len(failed) > MAX_FAILURES_LISTED:
            lines.append(f"- … {len(failed) - MAX_FAILURES_LISTED} more in results.json")
        lines.append("")
    return lines


def _rankers(rankers: dict[str, dict[str, Any]]) -> list[str]:
    """Which shops ranked with a learned ranker, its dev figures and its five most important features."""
    if not rankers:
        return []
    out = ["## Rankers", "", "| shop | ranker | dev recall@10 learned / hand | top features (share of gain) |",
           "|---|---|---|---|"]
    for shop, m in sorted(rankers.items()):
        dev = m.get("dev") or {}
        imp = sorted((m.get("importance") or {}).items(), key=lambda kv: -kv[1])[:5]
        out.append(f"| {shop} | {m.get('status')}{' (' + m['reason'] + ')' if m.get('reason') else ''} | "
                   f"{fmt(dev.get('recall@10_learned'))} / {fmt(dev.get('recall@10_hand'))} | "
                   + ", ".join(f"{f} {v:.2f}" for f, v in imp) + " |")
    return [*out, ""]


def report_md(runs: list[SuiteRun], meta: dict[str, Any]) -> str:
    out = ["# bundlebot evaluation report", "", f"Command: `{meta.get('command', '')}`", "",
           f"Split: {meta.get('split')}; created {meta.get('created')}; machine: {meta.get('machine')}", ""]
    if meta.get("partial"):
        out += [f"**Partial report: {meta['partial']} done so far** (rewritten as each suite finishes).", ""]
    if meta.get("index_seconds"):
        out += ["Indexing (and fitting each indexed shop's ranker) done in this run (seconds): " + ", ".join(
            f"{k} {v:.0f}" for k, v in sorted(meta["index_seconds"].items())), ""]
    shown = dict.fromkeys([m for r in runs for m in SHOWN.get(r.name, ())] + list(COMMON))
    counts = ", ".join(m for m in shown if AGGREGATION.get(m) == "sum")
    out += ["Figures are means over the cases where the metric applies (n in brackets); counts "
            f"({counts}) are sums.", ""]
    out += _rankers(meta.get("rankers") or {})
    for run in runs:
        out += [f"## {run.name} ({len(run.cases)} cases)", ""]
        out += _table(run)
        out += _paired(run)
        out += _groups(run, "split") + _groups(run, "wording")
        for v, why in sorted(run.skipped.items()):
            out.append(f"- skipped `{v}`: {why}")
        if run.skipped:
            out.append("")
        fails = _failures(run)
        if fails:
            out += ["### Failures", ""] + fails
    out += _crosslingual(runs)
    return "\n".join(out) + "\n"


def plots(runs: list[SuiteRun], out_dir: Path) -> list[Path]:
    """metric-by-variant bars per suite and a latency histogram per suite (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for run in runs:
        variants = list(run.results)
        if not variants:
            continue
        # Means only: the axis runs from 0 to 1 (the adversarial suite's headline figures are counts).
        metrics = [m for m in SHOWN.get(run.name, ()) if AGGREGATION[m] == "mean"][:4] or ["checks_passed"]
        fig, ax = plt.subplots(figsize=(8, 4))
        width = 0.8 / len(variants)
        for j, v in enumerate(variants):
            s = run.summary(v)
            vals = [s[m]["value"] or 0.0 for m in metrics]
            ax.bar([i + j * width for i in range(len(metrics))], vals, width, label=v)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(metrics))], metrics)
        ax.set_ylim(0, 1)
        ax.set_title(f"{run.name}: metric by variant ({len(run.cases)} cases)")
        ax.legend(fontsize=7)
        paths.append(_save(fig, out_dir / f"{run.name}-metrics.png"))
        fig, ax = plt.subplots(figsize=(8, 4))
        for v in variants:
            ax.hist([r["metrics"]["latency_ms"] for r in run.results[v]], bins=30, alpha=0.5, label=v)
        ax.set_xlabel("latency per case (ms)")
        ax.set_yscale("log")
        ax.set_title(f"{run.name}: latency")
        ax.legend(fontsize=7)
        paths.append(_save(fig, out_dir / f"{run.name}-latency.png"))
    return paths


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write(runs: list[SuiteRun], meta: dict[str, Any], out_dir: Path, with_plots: bool = True) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = results_json(runs, meta)
    (out_dir / "results.json").write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    (out_dir / "report.md").write_text(report_md(runs, meta), encoding="utf-8")
    if with_plots:
        plots(runs, out_dir)
    return out_dir / "report.md"
