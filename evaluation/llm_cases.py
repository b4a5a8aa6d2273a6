"""The retrieval half of ``bundlebot eval llm``: each case's input, kept as data, and its prompts rendered from it.

For each case of a generated suite (``bundle-intent``, ``personal-aisle``, ``budget``; dev or test split,
built by ``evaluation.build``) the first turn runs through the stages a served turn runs
(``assistant.turn.first_plan`` -> ``gather`` -> ``Pool.usable``), and the case keeps what the LLM and the
fusion read: the request, the top-k candidate ids, the reranker score of every usable candidate and the
history lines. The ``choose`` / ``judge`` prompts are rendered from that data when the case is scored, with
the functions the service calls (``assistant.fusion.choose_messages`` / ``judge_messages``), so a cached case
scores the very prompt the service would render, in either scoring mode. A cached case (``--cache``)::

    {"id": "bu-536365", "query": "lanterns and hearts", "shopper": "17850", "ids": ["21733", "84029G"],
     "gold": ["21733"], "scored": [["21733", 0.91], ["84029G", 0.88], ["22633", 0.52]],
     "history": [["85123A", 1291191960.0, "purchase"]]}

>>> from retrieval.types import Item
>>> shop = {"a": Item("a", "TEAPOT", price=5.0, currency="GBP"), "b": Item("b", "Cups", price=2.0, currency="GBP")}
>>> case = {"query": "tea", "ids": ["a", "b"], "scored": [["a", 0.9], ["b", 0.8]], "history": []}
>>> choose_prompt(case, shop.get)[1]["content"].split("<catalog>\\n")[1].splitlines()[:2]
['A. Teapot — £5.00', 'B. Cups — £2.00']
>>> judge_prompts(case, shop.get)[1][1]["content"].split("<catalog>\\n")[1].splitlines()[0]
'Cups — £2.00'
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bundlebot.errors import DataError
from evaluation.suites import GENERATED, Case
from retrieval.types import Event, Item, ScoredItem, SourceData

SUITES = GENERATED
CACHE_VERSION = "v4"
"""In the cache file names: a cache of another format (v2 kept rendered prompts) is never read."""
CaseInput = dict[str, Any]
Lookup = Callable[[str], Item | None]


def suite_cases(src: SourceData, suite: str, split: str, limit: int, seed: int) -> list[Case]:
    """A seeded sample of the suite's cases from its loaded source ``src`` (personal-aisle: at most one case
    per basket, for variety: a basket's cases share a shopper and a history)."""
    from evaluation.build import BUILDERS, SOURCES

    cases = BUILDERS[suite](src, split)
    if suite == "personal-aisle":
        seen: set[str] = set()
        cases = [c for c in cases if not (c.meta["basket"] in seen or seen.add(c.meta["basket"]))]
    for c in cases:
        c.shop = SOURCES[suite][1]
    return random.Random(seed).sample(cases, min(limit, len(cases)))


def case_input(app: Any, retriever: Any, case: Case, k: int) -> CaseInput:
    """What the live assistant would score for the case's first turn, as data: its searches and history
    lines (``assistant.turn.gather``), and the whole usable list ``assistant.fusion.fuse`` ranks."""
    from assistant import turn

    plan = turn.first_plan(case.turns[0], app.assistant, known=retriever.lexicon.knows)
    pool = turn.gather(retriever, plan, case.shopper)
    every = turn.relevant_first(pool.usable(plan.constraints), app.assistant.relevance_margin)  # as turn.score
    return {"id": case.id, "query": plan.extra_query or plan.query, "shopper": case.shopper,
            "ids": [s.item.id for s in every[:k]], "gold": list(case.gold_items),
            "scored": [[s.item.id, s.score] for s in every],
            "history": [[it.id, ev.timestamp, ev.kind] for it, ev in pool.history]}


def cache_path(cache: Path, suite: str, split: str, limit: int, seed: int, k: int) -> Path:
    """The cache file of one suite's sample: every argument that changes the cases is in its name."""
    return cache / f"{suite}-{split}-n{limit}-seed{seed}-k{k}-{CACHE_VERSION}.json"


def suite_inputs(app: Any, suite: str, split: str, limit: int, seed: int, k: int,
                 cache: Path | None = None) -> list[CaseInput]:
    """Every sampled case's input; read from / written to ``cache`` (a folder) when given, so the retrieval
    half of a run can be done once (e.g. while an adapter trains) and scored later."""
    from tqdm.auto import tqdm

    from evaluation.build import SOURCES
    from evaluation.shops import ensure_indexed
    from retrieval.importers import load_source
    from retrieval.search import Retriever

    path = cache_path(cache, suite, split, limit, seed, k) if cache else None
    if path is not None and path.is_file():
        return list(json.loads(path.read_text()))
    src = load_source(SOURCES[suite][0], app.data_path)  # once: the cases and the index check both need it
    cases = suite_cases(src, suite, split, limit, seed)
    ensure_indexed(app, SOURCES[suite][1], len(src.items))
    retriever = Retriever.open(app, SOURCES[suite][1])
    out = [case_input(app, retriever, c, k) for c in tqdm(cases, desc=f"inputs {suite} ({split})", unit="case")]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out))
    return out


def has_history(case: CaseInput) -> bool:
    """Does the case's prompt show history lines (the service then fuses at ``fusion_weight``, else at
    ``fusion_weight_no_history``)? The service's own rule: ``bool(pool.history)``."""
    return bool(case["history"])


def prompt_parts(case: CaseInput, item: Lookup) -> tuple[str, list[ScoredItem], list[tuple[Item, Event]]]:
    """(request, the shown candidates, the history lines) of a case, its items looked up in the shop
    (``Retriever.item``): the arguments the service passes to the prompt functions."""
    score = dict((i, float(s)) for i, s in case["scored"])
    cands = [ScoredItem(_known(item, i, case), score.get(i, 0.0)) for i in case["ids"]]
    history = [(_known(item, i, case), Event(case.get("shopper") or "", i, float(ts), kind))
               for i, ts, kind in case["history"]]
    return case["query"], cands, history


def _known(item: Lookup, item_id: str, case: CaseInput) -> Item:
    found = item(item_id)
    if found is None:  # the shop was re-indexed since the cache was written
        raise DataError(f"case {case.get('id')!r} names item {item_id!r}, which the shop's index lacks",
                        hint="delete the --cache files of this suite to compute the cases again")
    return found


def choose_prompt(case: CaseInput, item: Lookup) -> list[dict[str, str]]:
    """The case's lettered ``choose`` prompt, exactly as the service renders it."""
    from assistant.fusion import choose_messages

    return choose_messages(*prompt_parts(case, item))


def judge_prompts(case: CaseInput, item: Lookup) -> list[list[dict[str, str]]]:
    """The case's pointwise ``judge`` prompts (one per shown candidate, in order), as the service renders them."""
    from assistant.fusion import judge_messages

    return judge_messages(*prompt_parts(case, item))
