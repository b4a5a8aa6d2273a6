"""Does the adapter help the LLM choose? ``bundlebot eval llm``: base vs base + LoRA on the SAME inputs.

Each case's input (``evaluation.llm_cases``: the live candidates, reranker scores and history lines of its
first turn) is rendered as the shared ``choose`` prompt (scoring "choice": one letter distribution) or as one
``judge`` prompt per shown candidate (scoring "judge": P(yes) each), and scored by the base model and by
base + adapter, both loaded through ``assistant.llm``. Reported per suite:

- ``coverage``: share of cases with a gold item among the k candidates (the LLM cannot do better);
- ``hit@1`` / ``recall@3``: the model's top candidate / top 3 hold a gold item (over covered cases);
- ``rerank_hit@1`` / ``rerank_recall@3``: the reranker's own order of every usable candidate;
- ``<model>_fused_hit@1`` / ``_fused_recall@3``: the service's fused order (``assistant.fusion.fuse`` itself,
  over every usable candidate, at the weight the service uses for the case: ``assistant.fusion_weight``, or
  ``fusion_weight_no_history`` when its prompt has no history lines), i.e. what the model changes;
- ``lora-base_*``: the paired differences with 95% bootstrap intervals (``evaluation.metrics``);
- ``fusion_sweep``: fused hit@1 / recall@3 at weights 0, 0.1 .. 1 from the kept probabilities; every case's
  row is kept, so ``rescore`` judges a saved report at other weights without a model (choose on dev, apply
  to test).

``grounding``: the explanation pass rates of the base model vs the explanation adapter on the SAME bundles
(dev-split budget requests of the demo shop, each with its shopper, or the committed demo suites).

>>> row = {"history": False, "ids": ["a", "b"], "gold": ["b"], "scored": [["a", 1.0], ["b", 0.5]],
...        "base_probs": [0.2, 0.8]}
>>> _judge_row(row, "base", (0.5, 0.8)); row["base_hit1"], row["base_fused_hit1"]
(True, True)
>>> _judge_row(row, "base", (0.5, 0.2)); row["base_fused_hit1"]   # no history lines: the weight 0.2 counts
False
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from evaluation.llm_cases import SUITES, CaseInput, Lookup, choose_prompt, has_history, judge_prompts, suite_cases
from evaluation.metrics import paired_bootstrap

Weights = tuple[float, float | None]
"""(fusion weight, weight for cases without history lines; None = the first): ``fusion_weight_for``'s pair."""
SWEEP = tuple(i / 10 for i in range(11))
DIFFS = ("hit1", "rec3", "fused_hit1", "fused_rec3")


def weights(app: Any, weight: float | None = None, no_history: float | None = None) -> Weights:
    """The fusion weights to judge at: the given ones, else the config's (what the service uses)."""
    cfg = app.assistant
    return (cfg.fusion_weight if weight is None else weight,
            cfg.fusion_weight_no_history if no_history is None else no_history)


def scoring_for(app: Any, adapter: Path | None, scoring: str | None = None) -> str:
    """"choice" or "judge" for both models: the given one, else ``assistant.llm_scoring``, whose "auto"
    follows what the adapter was trained for (as the service does)."""
    from assistant.modelfiles import adapter_task

    scoring = scoring or app.assistant.llm_scoring
    return adapter_task(adapter) if scoring == "auto" else scoring


def fused_ids(scored: Sequence[Sequence[Any]], probs: Sequence[float] | None, weight: float) -> list[str]:
    """The service's fused order (``assistant.fusion.fuse`` itself) of every usable candidate."""
    from assistant.fusion import fuse
    from retrieval.types import Item, ScoredItem

    return [s.item.id for s in fuse([ScoredItem(Item(i, ""), float(x)) for i, x in scored], probs, weight=weight)]


def _hits(ranked: Sequence[str], gold: set[str]) -> tuple[bool, bool]:
    """(hit@1, recall@3) of a ranking: its first id / one of its first three ids is gold."""
    return bool(ranked) and ranked[0] in gold, bool(set(ranked[:3]) & gold)


def score_case(gens: dict[str, Any], case: CaseInput, item: Lookup, at: Weights, scoring: str) -> dict[str, Any]:
    """One case's row: each model's probabilities over the shown candidates (from ONE rendering of the case's
    prompt, so both models read the same text) and the hits they give alone and fused."""
    ids, gold = case["ids"], set(case["gold"])
    row: dict[str, Any] = {"id": case.get("id"), "n": len(ids), "covered": bool(gold & set(ids)),
                           "history": has_history(case), "ids": ids, "gold": sorted(gold), "scored": case["scored"]}
    row["rerank_hit1"], row["rerank_rec3"] = _hits(fused_ids(case["scored"], None, 0.0), gold)
    prompt: Any = None
    if gens and len(ids) >= 2:  # with one candidate there is nothing to choose: the service asks no model
        prompt = judge_prompts(case, item) if scoring == "judge" else choose_prompt(case, item)
    for name, gen in gens.items():
        probs = None
        if prompt is not None:
            probs = gen.judge_scores(prompt) if scoring == "judge" else gen.choice_scores(prompt, len(ids))
        row[f"{name}_probs"] = [round(float(p), 6) for p in probs] if probs is not None else None
        _judge_row(row, name, at)
    return row


def _judge_row(row: dict[str, Any], name: str, at: Weights) -> None:
    """The model's own hits and its fused hits at the weight the service uses for this case; without
    probabilities (fewer than 2 candidates) the service keeps the reranker's order."""
    from bundlebot.config.assistant import fusion_weight_for

    ids, gold, probs = row["ids"], set(row["gold"]), row[f"{name}_probs"]
    order = sorted(range(len(ids)), key=lambda i: -probs[i]) if probs else []
    row[f"{name}_hit1"], row[f"{name}_rec3"] = _hits([ids[i] for i in order], gold)
    weight = fusion_weight_for(row["history"], *at)
    row[f"{name}_fused_hit1"], row[f"{name}_fused_rec3"] = _hits(fused_ids(row["scored"], probs, weight), gold)


def fusion_sweep(rows: list[dict[str, Any]], names: list[str],
                 at: Sequence[float] = SWEEP) -> dict[str, dict[str, float]]:
    """Fused hit@1 / recall@3 (covered cases) of each model at each fusion weight, from the kept
    probabilities: how a weight is chosen on dev."""
    covered = [r for r in rows if r["covered"]]
    out: dict[str, dict[str, float]] = {}
    for w in at:
        for name in names:
            hits = [_hits(fused_ids(r["scored"], r[f"{name}_probs"], w), set(r["gold"])) for r in covered]
            out.setdefault(f"{w:.1f}", {})[f"{name}_hit@1"] = round(sum(h for h, _ in hits) / max(1, len(hits)), 3)
            out[f"{w:.1f}"][f"{name}_recall@3"] = round(sum(r for _, r in hits) / max(1, len(hits)), 3)
    return out


def summarize(rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """A suite's figures over its rows (rates over the covered cases) and the paired lora - base intervals."""
    covered = [r for r in rows if r["covered"]]
    out: dict[str, Any] = {"cases": len(rows), "coverage": round(len(covered) / max(1, len(rows)), 3),
                           "rerank_hit@1": _rate(covered, "rerank_hit1"),
                           "rerank_recall@3": _rate(covered, "rerank_rec3")}
    for name in names:
        for key in DIFFS:
            out[f"{name}_{_label(key)}"] = _rate(covered, f"{name}_{key}")
    if names:
        out["fusion_sweep"] = fusion_sweep(rows, names)
    if {"base", "lora"} <= set(names):
        for key in DIFFS:
            out[f"lora-base_{_label(key)}"] = _interval([r[f"base_{key}"] for r in covered],
                                                        [r[f"lora_{key}"] for r in covered])
    return out


def _label(key: str) -> str:
    return key.replace("hit1", "hit@1").replace("rec3", "recall@3")


def _interval(a: list[bool], b: list[bool]) -> dict[str, Any]:
    mean, lo, hi = paired_bootstrap(a, b)
    return {"mean": round(mean, 3), "ci95": [round(lo, 3), round(hi, 3)]}


def _rate(rows: list[dict[str, Any]], key: str) -> float:
    return round(sum(bool(r[key]) for r in rows) / max(1, len(rows)), 3)


def generators(app: Any, adapter: Path | None, threads: int | None = None, base: bool = True) -> dict[str, Any]:
    """The base model and base + adapter, both through ``assistant.llm`` (the serving code path), in float32
    so that both score at the same precision whatever the config's dtype."""
    from assistant.llm import load_generator

    g = replace(app.assistant.generator, threads=threads or app.assistant.generator.threads)
    gens = {"base": load_generator(replace(g, adapter="none", dtype="float32"), app.home_path)} if base else {}
    if adapter is not None:
        gens["lora"] = load_generator(replace(g, adapter=str(adapter), dtype="float32"), app.home_path)
    return gens


def measure(app: Any, split: str, limit: int, adapter: Path | None, *, seed: int = 0,
            suites: Sequence[str] = SUITES, threads: int | None = None, cache: Path | None = None,
            at: Weights | None = None, base: bool = True, scoring: str | None = None) -> dict[str, Any]:
    """Base (unless ``base=False``) vs adapter on the suites' cases; ``at`` defaults to the config's weights,
    ``scoring`` to ``scoring_for``. Every suite's inputs are computed before a model loads, so a retrieval
    problem shows at once."""
    from tqdm.auto import tqdm

    from evaluation.build import SOURCES
    from evaluation.llm_cases import suite_inputs
    from retrieval.search import Retriever

    k = app.assistant.llm_candidates
    at = at or weights(app)
    inputs = {suite: suite_inputs(app, suite, split, limit, seed, k, cache) for suite in suites}
    gens = generators(app, adapter, threads, base)
    scoring = scoring_for(app, adapter, scoring)
    report: dict[str, Any] = {"split": split, "limit": limit, "seed": seed, "k": k, "adapter": str(adapter),
                              "scoring": scoring, "fusion_weight": at[0], "fusion_weight_no_history": at[1],
                              "suites": {}}
    for suite in suites:
        item = Retriever.open(app, SOURCES[suite][1]).item
        t0 = time.perf_counter()
        rows = [score_case(gens, c, item, at, scoring) for c in tqdm(inputs[suite], desc=f"{suite} ({split})",
                                                                      unit="case")]
        report["suites"][suite] = {**summarize(rows, list(gens)), "seconds": round(time.perf_counter() - t0),
                                   "rows": rows}
    return report


def rescore(report: dict[str, Any], at: Weights) -> dict[str, Any]:
    """A saved report (its ``results.json``) judged again at other fusion weights, from its kept
    probabilities; no model is loaded."""
    from bundlebot.errors import DataError

    if "suites" not in report:
        raise DataError("this results.json holds no per-case rows to rescore (a grounding report?)",
                        hint="pass the results.json of a `bundlebot eval llm` run without --grounding")
    out = {**report, "fusion_weight": at[0], "fusion_weight_no_history": at[1], "suites": {}}
    for suite, summary in report["suites"].items():
        rows = summary["rows"]
        if any("history" not in r or "scored" not in r for r in rows):
            raise DataError(f"the {suite} rows of this report lack their history flag or reranker scores",
                            hint="measure again with `bundlebot eval llm`")
        names = [key[: -len("_probs")] for key in rows[0] if key.endswith("_probs")] if rows else []
        for row in rows:
            for name in names:
                _judge_row(row, name, at)
        out["suites"][suite] = {**summarize(rows, names), "seconds": summary.get("seconds"), "rows": rows}
    return out


Request = tuple[str, str | None]
"""(first message, shopper id or None)."""


def grounding_requests(limit: int, split: str | None = None, seed: int = 0, app: Any = None) -> list[Request]:
    """First turns to explain, at most ``limit``: with ``split`` (dev or test), a seeded sample of that split's
    ``budget`` cases (Online Retail invoices in the demo shop, each with its shopper, so the history lines and
    "you bought ..." facts are real); without, the committed demo-shop suites (constraints, then multi-turn)."""
    if split is not None:
        from retrieval.importers import load_source

        src = load_source("online-retail", app.data_path)
        return [(c.turns[0], c.shopper) for c in suite_cases(src, "budget", split, limit, seed)]
    from evaluation.runner import load_cases
    from evaluation.suites import SUITES_DIR, resolve_suite

    out: list[Request] = []
    for name in ("constraints", "multi-turn"):
        out += [(c.turns[0], c.shopper) for c in load_cases(resolve_suite(name, SUITES_DIR), None, name)
                if c.shop == "demo"]
    return out[:limit]


def _explained(bot: Any, text: str, shopper: str | None) -> tuple[Any, str]:
    """One first turn: the final result and the text streamed to the shopper (only sentences that passed the
    check are streamed; ``result.problems`` says why the rest was held back)."""
    result, pieces = None, []
    for ev in bot.turn_stream(text, shopper=shopper, explain=True):
        if ev.error is not None:
            raise ev.error
        if ev.type == "token":
            pieces.append(ev.data["text"])
        if ev.type == "done":
            result = ev.result
    return result, "".join(pieces).strip()


def writers(app: Any, adapter: Path | None, threads: int | None = None) -> dict[str, Any]:
    """The explanation writers compared: the base model, and ``adapter`` when it was trained to explain (its
    manifest's task), else the config's ``generator.explain_adapter`` if set; both loaded as the service
    loads its writer (``load_generator(..., task="explain")``), in float32."""
    from assistant.llm import load_generator
    from assistant.modelfiles import adapter_task

    g = replace(app.assistant.generator, threads=threads or app.assistant.generator.threads, dtype="float32")
    spec = str(adapter) if adapter is not None and adapter_task(adapter) == "explain" else g.explain_adapter
    out = {"base": load_generator(replace(g, explain_adapter=None), app.home_path, task="explain")}
    if spec not in (None, "", "none"):
        lora = load_generator(replace(g, explain_adapter=spec), app.home_path, task="explain")
        if lora.info.get("adapter"):  # a "default" that does not fit this base is the base model again
            out["lora"] = lora
    return out


def grounding(app: Any, adapter: Path | None, requests: Sequence[Request | str], shop: str = "demo",
              threads: int | None = None) -> dict[str, Any]:
    """Explanation pass rates of the base model vs the explanation adapter (``writers``) on the SAME bundles.

    Fusion is off, so the bundle does not depend on the model; each model then writes the explanation
    through the live service path and the live check (``assistant.explain.check_explanation``, sentence by
    sentence in ``SentenceGate``) judges it. ``<model>_passed``: the whole generated text passed;
    ``<model>_grounded``: at least one sentence passed and was shown (else the deterministic text was). The
    turn budget is lifted so that only the check (not a slow CPU) can fail a text.
    """
    from copy import deepcopy

    from tqdm.auto import tqdm

    from assistant.service import ShoppingAssistant

    cfg = deepcopy(app)
    cfg.assistant.fusion = False
    cfg.assistant.turn_time_budget_s = 3600.0
    gens = writers(cfg, adapter, threads)
    bots = {name: ShoppingAssistant(cfg, shop, writer=gen) for name, gen in gens.items()}
    rows = []
    for req in tqdm(requests, desc="grounding", unit="request"):
        text, shopper = (req, None) if isinstance(req, str) else req
        said = {name: _explained(bot, text, shopper) for name, bot in bots.items()}
        bundles = {name: [line.id for line in r.items] for name, (r, _) in said.items()}
        if len({tuple(b) for b in bundles.values()}) != 1:
            raise AssertionError(f"fusion is off, yet the bundles differ for {text!r}: {bundles}")
        if bundles["base"]:
            rows.append(_grounding_row(text, shopper, said))
    out: dict[str, Any] = {"bundles": len(rows), "shop": shop, "adapter": str(gens["lora"].info.get("adapter"))
                           if "lora" in gens else None}
    for name in gens:
        for key in ("passed", "grounded"):
            out[f"{name}_{key}"] = _rate(rows, f"{name}_{key}")
        out[f"{name}_problems"] = dict(Counter(p.split(":")[0] for r in rows for p in r[f"{name}_problems"])
                                       .most_common())
    if "lora" in gens:
        for key in ("passed", "grounded"):
            out[f"lora-base_{key}"] = _interval([r[f"base_{key}"] for r in rows], [r[f"lora_{key}"] for r in rows])
    return {"grounding": {**out, "rows": rows}}


def _grounding_row(text: str, shopper: str | None, said: dict[str, tuple[Any, str]]) -> dict[str, Any]:
    """What each model's turn showed: passed / grounded, the check's problems, the shown and the streamed text."""
    row: dict[str, Any] = {"request": text, "shopper": shopper}
    for n, (r, streamed) in said.items():
        row.update({f"{n}_grounded": r.explanation_source == "model",
                    f"{n}_passed": r.explanation_source == "model" and not r.problems, f"{n}_problems": r.problems,
                    f"{n}_text": r.explanation, f"{n}_model_text": streamed})
    return row


def report_md(report: dict[str, Any]) -> str:
    """``report.md``: per suite, a table of the figures of the reranker and each model, with the lora - base
    intervals, and the fusion sweep; or the grounding table."""
    from evaluation.report import fmt

    meta = report.get("meta", {})
    out = ["# bundlebot LLM choice report", "", f"Command: `{meta.get('command', '')}`", "",
           f"Created {meta.get('created')}; machine: {meta.get('machine')}; adapter: "
           f"`{report.get('adapter') or report.get('grounding', {}).get('adapter')}`", ""]
    if "grounding" in report:
        return "\n".join(out + _grounding_md(report["grounding"], fmt)) + "\n"
    out += [f"Split: {report['split']}; at most {report['limit']} cases per suite; the LLM scores the top "
            f"{report['k']} candidates ({report['scoring']}); fused at weight {report['fusion_weight']} "
            f"(cases without history lines: {report['fusion_weight_no_history']}).", "",
            "Rates are over the covered cases (a gold item among the shown candidates); lora − base is the "
            "paired mean difference with its 95% bootstrap interval.", ""]
    for suite, s in report["suites"].items():
        names = [n for n in ("base", "lora") if f"{n}_hit@1" in s]
        out += [f"## {suite} ({s['cases']} cases, coverage {fmt(s['coverage'])}, {s.get('seconds')} s)", "",
                "| metric | reranker | " + " | ".join(names) + " | lora − base (95% CI) |",
                "|---|---|" + "---|" * len(names) + "---|"]
        for key in DIFFS:
            label, rerank = _label(key), "rerank_" + _label(key).removeprefix("fused_")
            cells = [fmt(s[rerank])] + [fmt(s[f"{n}_{label}"]) for n in names]
            out.append(f"| {label.replace('_', ' ')} | {' | '.join(cells)} | {_ci(s.get(f'lora-base_{label}'))} |")
        out += [""] + _sweep_md(s.get("fusion_sweep", {}), names, fmt)
    return "\n".join(out) + "\n"


def _ci(d: dict[str, Any] | None) -> str:
    return "–" if d is None else f"{d['mean']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"


def _sweep_md(sweep: dict[str, dict[str, float]], names: list[str], fmt: Any) -> list[str]:
    if not sweep:
        return []
    cols = [f"{n}_{m}" for n in names for m in ("hit@1", "recall@3")]
    out = ["Fusion sweep (one weight for every case):", "", "| weight | " + " | ".join(cols) + " |",
           "|---|" + "---|" * len(cols)]
    out += [f"| {w} | " + " | ".join(fmt(v[c]) for c in cols) + " |" for w, v in sweep.items()]
    return out + [""]


def _grounding_md(g: dict[str, Any], fmt: Any) -> list[str]:
    names = [n for n in ("base", "lora") if f"{n}_grounded" in g]
    out = [f"## grounding ({g['bundles']} bundles, shop {g['shop']})", "",
           "| metric | " + " | ".join(names) + " | lora − base (95% CI) |", "|---|" + "---|" * len(names) + "---|"]
    for key in ("passed", "grounded"):
        if all(f"{n}_{key}" in g for n in names):
            out.append(f"| {key} | " + " | ".join(fmt(g[f"{n}_{key}"]) for n in names)
                       + f" | {_ci(g.get(f'lora-base_{key}'))} |")
    for n in names:
        if problems := g.get(f"{n}_problems"):
            out += ["", f"{n} problems: " + "; ".join(f"{k} ({v})" for k, v in problems.items())]
    return out + [""]


def write(report: dict[str, Any], out_dir: Path) -> Path:
    """``out_dir/results.json`` (the whole report, per-case rows included, so it can be rescored) and
    ``out_dir/report.md``; returns the path of the latter."""
    import json

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(report, indent=1, sort_keys=True, default=str) + "\n")
    (out_dir / "report.md").write_text(report_md(report), encoding="utf-8")
    return out_dir / "report.md"
