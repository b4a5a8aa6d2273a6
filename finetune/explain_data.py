"""Explanation examples (``data.task = "explain"``): a served bundle and its facts -> 2-3 sentences stating them.

Each example is a TRAIN request replayed through the turn a shopper gets (``finetune.data.live_turn``: the
plan, the pool with the history from before the basket, then ``assistant.turn.score`` without the LLM and
``assistant.turn.build``), so the bundle is the one the service would show. Its facts come from
``assistant.facts.explain_facts`` (the service's own facts block: kinds, budget use, orders holding two of its
items, what the shopper bought before) and the prompt from ``assistant.explain.explain_messages``. The target
states only those facts, in wording drawn with a per-basket seed from ``OPENINGS`` / ``PAIR`` / ``HISTORY`` /
``TOP`` / ``BUDGET`` (so the model learns to copy facts, not one template), and must pass the service's strict
check (``check_explanation``) before it is kept.

>>> from assistant.facts import Evidence
>>> ev = Evidence(3, ["teapot", "mug", "cake stand"], 23.4, 25.0, 1.6, "GBP",
...               pairs=[("White teapot", "Rose mug", 312)], history=[("Pink teapot", "May 2011", False)])
>>> print(write_target(ev, random.Random(1)))
You get a teapot, a mug and a cake stand. White teapot and Rose mug were bought together in 312 orders. \
The total is £23.40, within your £25.00 budget.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from assistant.facts import Evidence
from assistant.prompting import format_price

log = logging.getLogger(__name__)

OPENINGS = ("This bundle covers {k} kinds: {kinds}.", "You get {a_kinds}.", "Here are {n} items, with {a_kinds}.",
            "It brings together {a_kinds}.")
OPENINGS_FOR = ("For {occasion}: {a_kinds}.", "Here are {n} items for {occasion}, with {a_kinds}.")
PAIR = ("{a} and {b} were bought together in {count} orders.", "Shoppers bought {a} with {b} in {count} orders.",
        "In {count} orders, {a} and {b} were bought together.", "{a} goes with {b}: {count} orders held both.")
HISTORY = ("You bought the {title} in {when}, and the bundle has more of its kind.",
           "The bundle matches the {title} you bought in {when}.")
AGAIN = ("You bought the {title} before, in {when}, so it is here again.",
         "The {title} is back: you bought it in {when}.")
TOP = ("{title} is in {count} orders of this shop.", "{title} is a favourite here, in {count} orders.")
BUDGET = ("It comes to {total}, leaving {left} of your {budget} budget.",
          "The total is {total}, within your {budget} budget.",
          "At {total}, it stays {left} under your {budget} budget.")
SHOWN_KINDS = 3
TOTAL = ("All {n} items come to {total}.", "Together they cost {total}.")


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _article(kind: str) -> str:
    return ("an " if kind[:1] in "aeiou" else "a ") + kind


def write_target(ev: Evidence, rng: random.Random) -> str:
    """2-3 sentences: what the bundle covers, its strongest evidence (a pair bought together, the shopper's
    own purchase, a shop favourite), and how it uses the budget."""
    price = lambda x: format_price(x, ev.currency)  # noqa: E731
    kinds, more = ev.kinds[:SHOWN_KINDS], len(ev.kinds) > SHOWN_KINDS  # a list of every kind is no sentence
    fill = {"k": len(ev.kinds), "kinds": _and(kinds + ["more"] * more), "n": ev.n, "occasion": ev.occasion,
            "a_kinds": _and([_article(k) for k in kinds] + ["more"] * more)}
    options = [o for o in OPENINGS if len(ev.kinds) >= 2 or "{k}" not in o] + list(OPENINGS_FOR * bool(ev.occasion))
    out = [rng.choice(options).format(**fill)] if kinds else []
    evidence = [rng.choice(PAIR).format(a=a, b=b, count=n) for a, b, n in ev.pairs[:1]]
    evidence += [rng.choice(AGAIN if again else HISTORY).format(title=t, when=when)
                 for t, when, again in ev.history[:1] if when]
    if ev.top:
        evidence.append(rng.choice(TOP).format(title=ev.top[0], count=ev.top[1]))
    out += rng.sample(evidence, min(len(evidence), 3 - len(out) - (ev.total is not None)))
    if ev.total is not None:
        pick = BUDGET if ev.budget is not None else TOTAL
        out.append(rng.choice(pick).format(total=price(ev.total), left=price(ev.left), budget=price(ev.budget),
                                           n=ev.n))
    return " ".join(out)


def explain_example(t: Any, retriever: Any, app: Any, seed: int) -> tuple[dict | None, str]:
    """The served bundle of ``t``'s request, its facts prompt and a checked target; (None, why) when the turn
    has no bundle or the target fails the check."""
    from assistant import turn
    from assistant.explain import check_explanation, explain_messages
    from assistant.facts import bundle_evidence, explain_facts, shop_lookups
    from finetune.data import live_turn

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
    messages = explain_messages(plan.query, result.items, result.total, plan.constraints, pool.history,
                                facts.statements)
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
            ex, why = explain_example(t, retriever, app, d.seed)
            if ex is None:
                stats[f"{source}/{split}: {why}"] += 1
                continue
            kept += 1
            bar.update()
            yield ex
        bar.close()
        if kept < want:
            log.warning("%s %s: only %d of %d explanation examples", source, split, kept, want)
