"""Does the adapter help the LLM choose? Base vs LoRA on the SAME prompts of the evaluation suites' cases.

For each case of a generated suite (``bundle-intent``, ``personal-aisle``, ``budget``; dev or test split,
built by ``evaluation.build``) the live candidate list is computed once (parsed request -> Retriever ->
top ``k``, exactly as the service and the training data do), rendered with the shared ``choose`` prompt,
and scored by ``Generator.choice_scores`` of the base model and of base + adapter. Reported per suite:

- ``coverage``: share of cases with a gold item among the k candidates (the LLM cannot do better);
- ``hit@1`` / ``recall@3``: the LLM's top letter / top 3 letters hold a gold item (over covered cases);
- ``rerank_hit@1``: the reranker's own first candidate is gold (the order the LLM re-sorts);
- ``<model>_fused_hit@1`` / ``_fused_recall@3``: the service's fused order (``assistant.fusion.fuse`` itself,
  at ``assistant.fusion_weight`` or ``--fusion-weight``, over every usable candidate as the service ranks
  them), i.e. what the model changes in the bundle's ranking;
- the paired differences LoRA - base with 95% bootstrap intervals (resampling cases);
- ``fusion_sweep``: fused hit@1 / recall@3 of each model at weights 0, 0.1 .. 1 from the kept letter
  probabilities (``--out`` keeps every case's row, and ``--rescore`` judges a saved report at another weight
  without loading a model): a weight is chosen on dev, then applied to test.

Also ``--grounding N``: the explanation grounding pass rate of base vs base + adapter on the SAME N bundles
(demo shop, requests of the committed constraints / multi-turn suites, fusion off so the bundle is fixed).

Example (the command EVALUATION.md records)::

    .venv/bin/python -m finetune.measure --split dev --limit 80 --out /tmp/measure-dev.json
    # retrieval once (e.g. while training), scoring later from the cached prompts:
    .venv/bin/python -m finetune.measure --split dev --limit 80 --cache /tmp/prompts --prompts-only
    .venv/bin/python -m finetune.measure --rescore /tmp/measure-test.json --fusion-weight 0.5
    .venv/bin/python -m finetune.measure --grounding 20 --out /tmp/grounding.json
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
SUITES = ("bundle-intent", "personal-aisle", "budget")


def suite_cases(src: Any, suite: str, split: str, limit: int, seed: int) -> list[Any]:
    """A seeded sample of the suite's cases from its loaded source ``src`` (personal-aisle: at most one case
    per basket, for variety)."""
    from evaluation.build import BUILDERS, SOURCES

    cases = BUILDERS[suite](src, split)
    if suite == "personal-aisle":
        seen: set[str] = set()
        cases = [c for c in cases if not (c.meta["basket"] in seen or seen.add(c.meta["basket"]))]
    for c in cases:
        c.shop = SOURCES[suite][1]
    return random.Random(seed).sample(cases, min(limit, len(cases)))


def case_prompt(app: Any, retriever: Any, case: Any, k: int) -> tuple[list[dict], list[str], list[list]]:
    """(choose messages, the k candidate ids, [id, reranker score] of EVERY usable candidate) the live
    assistant would score for the case's first turn: the service's searches, its relevant history, and the
    whole usable list ``assistant.fusion.fuse`` ranks."""
    from assistant.fusion import choose_messages
    from assistant.service import HISTORY_N
    from finetune.data import live_history, live_query, live_search, usable

    c, query = live_query(case.turns[0])
    searched = live_search(retriever, c, query, case.shopper)
    every = usable(searched, c)
    recent = list(retriever.history(case.shopper, HISTORY_N)) if case.shopper else []
    history = live_history(retriever, case.shopper, searched, recent)
    cands = every[:k]
    return choose_messages(query, cands, history), [s.item.id for s in cands], [[s.item.id, s.score] for s in every]


def judge_prompts(messages: list[dict]) -> list[list[dict]]:
    """A case's cached ``choose`` prompt re-rendered as the pointwise ``judge`` prompts of the same request,
    history and candidates (one per candidate, in letter order), exactly what ``assistant.fusion.
    judge_messages`` renders live. The choose prompt is re-rendered from the parsed parts and must come out
    identical, so a parse that lost anything fails loudly instead of scoring other text."""
    import re

    from assistant.prompting import render, unrender

    parts = unrender("choose", messages)
    lines = parts["candidates"].split("\n")
    if render("choose", **parts) != [dict(m) for m in messages] or not all(re.match(r"[A-Z]\. ", x) for x in lines):
        raise ValueError("a cached choose prompt does not re-render identically; rebuild the --cache prompts")
    return [render("judge", request=parts["request"], history=parts["history"], item=line[3:]) for line in lines]


def fused_ids(scored: list[list], probs: list[float] | None, weight: float) -> list[str]:
    """The service's fused order (``assistant.fusion.fuse`` itself) of every usable candidate."""
    from assistant.fusion import fuse
    from retrieval.types import Item, ScoredItem

    return [s.item.id for s in fuse([ScoredItem(Item(i, ""), float(x)) for i, x in scored], probs, weight=weight)]


def has_history(messages: list[dict]) -> bool:
    """Does a cached choose prompt show history lines (the service then fuses at ``fusion_weight``, else at
    ``fusion_weight_no_history``)?"""
    from assistant.prompting import unrender

    return unrender("choose", messages)["history"] != "(none)"


def score_case(gens: dict[str, Any], messages: list[dict], ids: list[str], gold: set[str],
               scored: list[list] | None = None, weight: float = 0.35, scoring: str = "choice",
               weight_no_history: float | None = None) -> dict[str, Any]:
    """Hit@1 / recall@3 of each model's letter ranking and, with ``scored`` (every usable candidate's
    reranker score), of the service's fused ranking at ``weight``. The letter probabilities are kept in the
    row, so other fusion weights can be judged later without the models (``fusion_sweep``). ``scoring =
    "judge"``: each candidate's P(yes) from its own ``judge`` prompt instead of the letter probabilities."""
    row: dict[str, Any] = {"n": len(ids), "covered": bool(gold & set(ids)), "history": has_history(messages),
                           "rerank_hit1": bool(ids) and ids[0] in gold, "ids": ids, "gold": sorted(gold)}
    if scored is not None:  # the service's reranker order sorts every search's candidates by score
        row["scored"] = scored
        row["rerank_hit1"], row["rerank_rec3"] = _hits(fused_ids(scored, None, weight), gold)
    judged = judge_prompts(messages) if scoring == "judge" and len(ids) >= 2 else None
    for name, gen in gens.items():
        if len(ids) < 2:
            probs = None
        else:
            probs = [float(p) for p in (gen.judge_scores(judged) if judged else gen.choice_scores(messages, len(ids)))]
        row[f"{name}_probs"] = [round(p, 6) for p in probs] if probs else None
        _judge(row, name, ids, gold, weight, weight_no_history)
    return row


def _judge(row: dict[str, Any], name: str, ids: list[str], gold: set[str], weight: float,
           weight_no_history: float | None = None) -> None:
    """The model's own hits and (with the row's ``scored``) its fused hits, at the weight the service uses
    for this case (``weight_no_history`` when its prompt has no history lines and that is set); without
    probabilities (fewer than 2 candidates) the model chose nothing and the service keeps the reranker's order."""
    from assistant.config import fusion_weight_for

    weight = fusion_weight_for(row.get("history", True), weight, weight_no_history)
    probs = row[f"{name}_probs"]
    order = sorted(range(len(ids)), key=lambda i: -probs[i]) if probs else []
    row[f"{name}_hit1"], row[f"{name}_rec3"] = _hits([ids[i] for i in order], gold)
    if "scored" in row:
        row[f"{name}_fused_hit1"], row[f"{name}_fused_rec3"] = _hits(fused_ids(row["scored"], probs, weight), gold)


def _hits(ranked: list[str], gold: set[str]) -> tuple[bool, bool]:
    """(hit@1, recall@3) of a ranking: its first id / one of its first three ids is gold."""
    return bool(ranked) and ranked[0] in gold, bool(set(ranked[:3]) & gold)


def fusion_sweep(rows: list[dict[str, Any]], names: list[str],
                 weights: tuple[float, ...] = tuple(i / 10 for i in range(11))) -> dict[str, dict[str, float]]:
    """Fused hit@1 / recall@3 (covered cases) of each model at each fusion weight, from the kept letter
    probabilities: how a weight would be chosen on dev."""
    covered = [r for r in rows if r["covered"] and "scored" in r]
    out: dict[str, dict[str, float]] = {}
    for w in weights:
        for name in names:
            hits = rec = 0
            for r in covered:
                hit1, rec3 = _hits(fused_ids(r["scored"], r[f"{name}_probs"], w), set(r["gold"]))
                hits, rec = hits + hit1, rec + rec3
            out.setdefault(f"{w:.1f}", {})[f"{name}_hit@1"] = round(hits / max(1, len(covered)), 3)
            out[f"{w:.1f}"][f"{name}_recall@3"] = round(rec / max(1, len(covered)), 3)
    return out


def bootstrap_diff(a: list[bool], b: list[bool], n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of b - a and its 95% percentile interval over resampled cases (paired).

    >>> bootstrap_diff([False, False, True, True], [True, True, True, True], n=200)[0]
    0.5
    """
    rng = random.Random(seed)
    d = [int(y) - int(x) for x, y in zip(a, b, strict=True)]
    if not d:
        return 0.0, 0.0, 0.0
    means = sorted(sum(d[rng.randrange(len(d))] for _ in d) / len(d) for _ in range(n))
    return sum(d) / len(d), means[int(0.025 * n)], means[int(0.975 * n) - 1]


def summarize(rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    covered = [r for r in rows if r["covered"]]
    out: dict[str, Any] = {"cases": len(rows), "coverage": round(len(covered) / max(1, len(rows)), 3),
                           "rerank_hit@1": _rate(covered, "rerank_hit1")}
    fused = bool(rows) and "rerank_rec3" in rows[0]
    if fused:
        out["rerank_recall@3"] = _rate(covered, "rerank_rec3")
    for name in names:
        out[f"{name}_hit@1"] = _rate(covered, f"{name}_hit1")
        out[f"{name}_recall@3"] = _rate(covered, f"{name}_rec3")
        if fused:
            out[f"{name}_fused_hit@1"] = _rate(covered, f"{name}_fused_hit1")
            out[f"{name}_fused_recall@3"] = _rate(covered, f"{name}_fused_rec3")
    if fused and names and all(f"{n}_probs" in rows[0] for n in names):
        out["fusion_sweep"] = fusion_sweep(rows, names)
    if {"base", "lora"} <= set(names):
        for key in ("hit1", "rec3", "fused_hit1", "fused_rec3") if fused else ("hit1", "rec3"):
            mean, lo, hi = bootstrap_diff([r[f"base_{key}"] for r in covered], [r[f"lora_{key}"] for r in covered])
            label = key.replace("hit1", "hit@1").replace("rec3", "recall@3")
            out[f"lora-base_{label}"] = {"mean": round(mean, 3), "ci95": [round(lo, 3), round(hi, 3)]}
    return out


def _rate(rows: list[dict], key: str) -> float:
    return round(sum(bool(r[key]) for r in rows) / max(1, len(rows)), 3)


def generators(app: Any, adapter: Path | None, threads: int | None = None,
               base: bool = True) -> dict[str, Any]:
    """The base model and base + adapter, both through ``assistant.llm`` (the serving code path)."""
    from dataclasses import replace

    from assistant.llm import load_generator

    g = replace(app.assistant.generator, threads=threads or app.assistant.generator.threads)
    gens = {"base": load_generator(replace(g, adapter="none", dtype="float32"), app.home_path)} if base else {}
    if adapter is not None:
        gens["lora"] = load_generator(replace(g, adapter=str(adapter), dtype="float32"), app.home_path)
    return gens


def suite_prompts(app: Any, suite: str, split: str, limit: int, seed: int, k: int,
                  cache: Path | None = None) -> list[tuple[list[dict], list[str], list[str], list[list]]]:
    """(messages, candidate ids, gold ids, [id, reranker score] of every usable candidate) per case; read
    from / written to
    ``cache`` (a folder) when given, so the retrieval half of a run can be done once (e.g. while an adapter
    trains) and scored later."""
    from tqdm.auto import tqdm

    from evaluation.build import SOURCES
    from evaluation.shops import ensure_indexed
    from retrieval.importers import load_source
    from retrieval.search import Retriever

    path = cache / f"{suite}-{split}-n{limit}-seed{seed}-k{k}-v2.json" if cache else None
    if path is not None and path.is_file():
        return [tuple(r) for r in json.loads(path.read_text())]  # type: ignore[misc]
    src = load_source(SOURCES[suite][0], app.data_path)  # once: the cases and the index check both need it
    cases = suite_cases(src, suite, split, limit, seed)
    ensure_indexed(app, cases[0].shop, len(src.items))
    retriever = Retriever.open(app, cases[0].shop)
    out = []
    for case in tqdm(cases, desc=f"prompts {suite} ({split})", unit="case"):
        messages, ids, scored = case_prompt(app, retriever, case, k)
        out.append((messages, ids, list(case.gold_items), scored))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out))
    return out


def measure(app: Any, split: str, limit: int, adapter: Path | None, seed: int = 0,
            suites: tuple[str, ...] = SUITES, threads: int | None = None,
            cache: Path | None = None, weight: float | None = None, base: bool = True,
            scoring: str | None = None, weight_no_history: float | None = None) -> dict[str, Any]:
    """Base vs adapter on the suites' cases; ``scoring`` "choice" / "judge" (None: what the adapter was
    trained for, ``assistant.llm.adapter_task``) applies to both models."""
    from tqdm.auto import tqdm

    from assistant.llm import adapter_task

    k = app.assistant.llm_candidates
    weight = app.assistant.fusion_weight if weight is None else weight
    if weight_no_history is None:
        weight_no_history = app.assistant.fusion_weight_no_history
    prompts = {suite: suite_prompts(app, suite, split, limit, seed, k, cache) for suite in suites}
    gens = generators(app, adapter, threads, base)
    scoring = scoring or adapter_task(adapter)
    report: dict[str, Any] = {"split": split, "limit": limit, "k": k, "adapter": str(adapter),
                              "scoring": scoring, "fusion_weight": weight,
                              "fusion_weight_no_history": weight_no_history, "suites": {}}
    for suite in suites:
        rows, t0 = [], time.perf_counter()
        for messages, ids, gold, scored in tqdm(prompts[suite], desc=f"{suite} ({split})", unit="case"):
            rows.append(score_case(gens, messages, ids, set(gold), scored, weight, scoring, weight_no_history))
        report["suites"][suite] = {**summarize(rows, list(gens)), "seconds": round(time.perf_counter() - t0),
                                   "rows": rows}
    return report


def rescore(report: dict[str, Any], weight: float, weight_no_history: float | None = None) -> dict[str, Any]:
    """A saved report (``--out``) judged again at another fusion weight (and another weight for the cases
    without history lines), from its kept letter probabilities."""
    out = {**report, "fusion_weight": weight, "fusion_weight_no_history": weight_no_history, "suites": {}}
    for suite, summary in report["suites"].items():
        rows = summary["rows"]
        names = [k[: -len("_probs")] for k in rows[0] if k.endswith("_probs")] if rows else []
        if weight_no_history is not None and any("history" not in r for r in rows):
            raise ValueError(f"the {suite} rows of this report do not say which cases have history lines; "
                             "re-run finetune.measure (its reports keep that since session 5)")
        for row in rows:
            for name in names:
                _judge(row, name, row["ids"], set(row["gold"]), weight, weight_no_history)
        out["suites"][suite] = {**summarize(rows, names), "seconds": summary.get("seconds"), "rows": rows}
    return out


def grounding_requests(limit: int) -> list[str]:
    """First turns of the committed demo-shop suites (constraints, then multi-turn), at most ``limit``."""
    from evaluation.runner import load_cases
    from evaluation.suites import resolve_suite

    out: list[str] = []
    for name in ("constraints", "multi-turn"):
        out += [c.turns[0] for c in load_cases(resolve_suite(name, Path(".")), None, name) if c.shop == "demo"]
    return out[:limit]


def _explained(bot: Any, text: str) -> tuple[Any, str]:
    """One first turn: the final result and the text streamed to the shopper (only sentences that passed the
    check are streamed; ``result.problems`` says why the rest was held back)."""
    result, pieces = None, []
    for ev in bot.turn_stream(text, explain=True):
        if ev.type == "error":
            raise ev.exception  # type: ignore[attr-defined]
        if ev.type == "token":
            pieces.append(ev.data["text"])
        if ev.type == "done":
            result = ev.objects["result"]  # type: ignore[attr-defined]
    return result, "".join(pieces).strip()


def grounding(app: Any, adapter: Path | None, requests: list[str], shop: str = "demo") -> dict[str, Any]:
    """Explanation grounding pass rate of base vs base + adapter on the SAME bundles.

    Fusion is off, so the bundle does not depend on the model; each model then writes the explanation
    through the live service path and the live check (``assistant.explain.check_explanation``) judges it.
    The turn budget is lifted so that only the check (not a slow CPU) can fail a text.
    """
    from copy import deepcopy

    from tqdm.auto import tqdm

    from assistant.service import ShoppingAssistant

    cfg = deepcopy(app)
    cfg.assistant.fusion = False
    cfg.assistant.turn_time_budget_s = 3600.0
    gens = generators(cfg, adapter)
    bots = {name: ShoppingAssistant(cfg, shop, generator=gen) for name, gen in gens.items()}
    rows = []
    for text in tqdm(requests, desc="grounding", unit="request"):
        said = {name: _explained(bot, text) for name, bot in bots.items()}
        results = {name: r for name, (r, _) in said.items()}
        bundles = {name: [line.id for line in r.items] for name, r in results.items()}
        if len({tuple(b) for b in bundles.values()}) != 1:
            raise AssertionError(f"fusion is off, yet the bundles differ for {text!r}: {bundles}")
        if not bundles["base"]:
            continue
        rows.append({"request": text, **{f"{n}_grounded": r.explanation_source == "model" for n, r in results.items()},
                     **{f"{n}_problems": r.problems for n, r in results.items()},
                     **{f"{n}_text": r.explanation for n, r in results.items()},
                     **{f"{n}_model_text": streamed for n, (_, streamed) in said.items()}})
    out: dict[str, Any] = {"bundles": len(rows), "shop": shop}
    for name in gens:
        out[f"{name}_grounded"] = _rate(rows, f"{name}_grounded")
    if "lora" in gens:
        mean, lo, hi = bootstrap_diff([r["base_grounded"] for r in rows], [r["lora_grounded"] for r in rows])
        out["lora-base_grounded"] = {"mean": round(mean, 3), "ci95": [round(lo, 3), round(hi, 3)]}
    out["rows"] = rows
    return out


def main(argv: list[str] | None = None) -> None:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from bundlebot.config import load_config
    from finetune.adapter import DEFAULT_ADAPTER

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=("dev", "test"), default="dev")
    ap.add_argument("--limit", type=int, default=80, help="cases per suite (seeded sample)")
    ap.add_argument("--adapter", type=Path, default=DEFAULT_ADAPTER)
    ap.add_argument("--suites", default=",".join(SUITES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=None,
                    help="folder for the cases' prompts: reused when present (retrieval runs once)")
    ap.add_argument("--prompts-only", action="store_true", help="only build the --cache prompts; load no model")
    ap.add_argument("--fusion-weight", type=float, default=None,
                    help="judge the fused order at this weight (default: assistant.fusion_weight)")
    ap.add_argument("--no-base", action="store_true",
                    help="score the adapter only (e.g. a second adapter on prompts whose base scores exist)")
    ap.add_argument("--fusion-weight-no-history", type=float, default=None,
                    help="the weight for cases without history lines (default: assistant.fusion_weight_no_history)")
    ap.add_argument("--scoring", choices=("choice", "judge"), default=None,
                    help="how both models score candidates (default: what the adapter was trained for)")
    ap.add_argument("--rescore", type=Path, default=None, metavar="REPORT",
                    help="instead: judge a saved --out report again at --fusion-weight (no model is loaded)")
    ap.add_argument("--grounding", type=int, default=0, metavar="N",
                    help="instead: explanation grounding base vs adapter on N demo-shop bundles")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    suites = tuple(args.suites.split(","))
    if args.prompts_only:
        if args.cache is None:
            ap.error("--prompts-only needs --cache")
        app = load_config()
        for suite in suites:
            suite_prompts(app, suite, args.split, args.limit, args.seed, app.assistant.llm_candidates, args.cache)
        return
    if args.rescore:
        if args.fusion_weight is None:
            ap.error("--rescore needs --fusion-weight")
        report = rescore(json.loads(args.rescore.read_text()), args.fusion_weight, args.fusion_weight_no_history)
    elif args.grounding:
        report = grounding(load_config(), args.adapter, grounding_requests(args.grounding))
    else:
        report = measure(load_config(), args.split, args.limit, args.adapter, args.seed, suites, args.threads,
                         args.cache, args.fusion_weight, base=not args.no_base, scoring=args.scoring,
                         weight_no_history=args.fusion_weight_no_history)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps(brief(report), indent=2, default=str))


def brief(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its per-case rows (kept in ``--out``), which would drown the summary."""
    out = {k: v for k, v in report.items() if k != "rows"}
    if "suites" in out:
        out["suites"] = {s: {k: v for k, v in r.items() if k != "rows"} for s, r in out["suites"].items()}
    return out


if __name__ == "__main__":
    main()
