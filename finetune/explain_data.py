"""Explanation examples (``data.task = "explain"``): a served bundle and its facts -> 2-3 sentences stating them.

Each example is a TRAIN request replayed through the turn a shopper gets (``finetune.data.live_turn``: the
plan, the pool with the history from before the basket, then ``assistant.turn.score`` without the LLM and
``assistant.turn.build``), so the bundle is the one the service would show. Its facts come from
``assistant.facts.explain_facts`` (the service's own facts block: kinds, budget use, orders holding two of its
items, what the shopper bought before) and the prompt from ``assistant.explain.explain_messages``. The target
states only those facts, in wording drawn with a per-basket seed (``assistant.wording.write_target``, the
same sentences the service shows when the model's text fails the check), so the model learns to copy facts,
not one template; a target must pass the service's strict check (``check_explanation``) to be kept.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from assistant.wording import write_target

log = logging.getLogger(__name__)


def explain_example(t: Any, retriever: Any, app: Any, seed: int, no_budget: float = 0.0) -> tuple[dict | None, str]:
    """The served bundle of ``t``'s request, its facts prompt and a checked target; (None, why) when the turn
    has no bundle or the target fails the check. A ``no_budget`` share of requests (drawn per basket) is
    replayed without its budget sentence."""
    from assistant import turn
    from assistant.explain import check_explanation, explain_messages
    from assistant.facts import bundle_evidence, explain_facts, shop_lookups
    from finetune.data import live_turn
    from retrieval.tasks import without_budget

    if no_budget and random.Random(f"{seed}-no-budget-{t.basket.id}").random() < no_budget:
        t = replace(t, request=without_budget(t.request))
    plan, pool = live_turn(t, retriever)
    shopper = t.basket.shopper_id if t.source != "bundlerec-food" else None
    scores = turn.score(lambda: None, replace(app.assistant, fusion=False), plan, pool)
    result = turn.build(retriever, plan, pool, scores, shopper)
    if not result.items:
        return None, "no bundle"
    lookups = shop_lookups(retriever)
    chosen = {ln.id for ln in result.items}
    others = [it.title for i in result.ranked if i not in chosen and (it := retriever.item(i))]
    facts = explain_facts(result.items, result.total, plan.constraints, plan.query, pool.history, others, **lookups)
    ev = bundle_evidence(result.items, result.total, plan.constraints, pool.history, **lookups)
    target = write_target(ev, random.Random(f"{seed}-explain-{t.basket.id}"))
    if problems := check_explanation(target, facts):
        log.debug("target of %s dropped: %s", t.basket.id, problems)
        return None, "target failed the check"
    messages = explain_messages(plan.query, result.items, facts.statements, plan.constraints.currency)
    return {"kind": "explain", "source": t.source, "split": t.split, "basket_id": t.basket.id,
            "request": t.request, "bundle": [ln.id for ln in result.items], "target": target,
            "messages": messages}, ""


def explain_examples(source: str, src: Any, retriever: Any, cfg: Any, app: Any, rng: random.Random,
                     stats: Counter[str]) -> Iterator[dict]:
    """``data.explain_examples`` train examples (split evenly over the sources), then ``data.dev_examples``
    from the DEV baskets for the eval loss; requests are drawn in a seeded order."""
    from tqdm.auto import tqdm

    from finetune.data import TARGETS, check_splits

    d = cfg.data
    make = TARGETS[source]
    train, dev = make(src, src.train_baskets, "train", rng), make(src, src.dev, "dev", rng)
    check_splits(src, train + dev)
    rng.shuffle(train)
    rng.shuffle(dev)
    for split, targets, want in (("train", train, d.explain_examples // len(d.sources)),
                                 ("dev", dev, d.dev_examples // len(d.sources))):
        kept = 0
        bar = tqdm(total=min(want, len(targets)), desc=f"explanations {source} {split}", unit="ex")
        for t in targets:
            if kept >= want:
                break
            ex, why = explain_example(t, retriever, app, d.seed, d.explain_no_budget)
            if ex is None:
                stats[f"{source}/{split}: {why}"] += 1
                continue
            kept += 1
            bar.update()
            yield ex
        bar.close()
        if kept < want:
            log.warning("%s %s: only %d of %d explanation examples", source, split, kept, want)
