"""Sentences that state a bundle's facts (``assistant.facts.Evidence``) in varied wording.

The service shows them when the model's explanation fails the check, and the explanation adapter is trained
to write them (``finetune.explain_data``): what the shopper reads from either source is a fact of the bundle,
said the way these templates say it. Every template names the thing its number belongs to ("leaving £3.20 of
your £25.00 budget", "X and Y were bought together in 312 orders"), which is what the check binds.

>>> from assistant.facts import Evidence
>>> ev = Evidence(3, ["teapot", "mug", "cake stand"], 23.4, 25.0, 1.6, "GBP",
...               pairs=[("White teapot", "Rose mug", 312)], history=[("Pink teapot", "May 2011", False)])
>>> print(write_target(ev, random.Random(1)))
You get a teapot, a mug and a cake stand. White teapot and Rose mug were bought together in 312 orders. \
The total is £23.40, within your £25.00 budget.
>>> print(write_target(Evidence(1, ["mug"], 2.5, 2.5, 0.0, "GBP"), random.Random(1)))
You get a mug. It comes to £2.50, all of your £2.50 budget.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence

from assistant.facts import Evidence
from assistant.prompting import format_price

OPENINGS = ("This bundle covers {k} kinds: {kinds}.", "You get {a_kinds}.", "Here {are} {items}, with {a_kinds}.",
            "It brings together {a_kinds}.")
OPENINGS_FOR = ("For {occasion}: {a_kinds}.", "Here {are} {items} for {occasion}, with {a_kinds}.")
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
BUDGET_ALL = ("It comes to {total}, all of your {budget} budget.", "The total is {total}, within your {budget} budget.")
TOTAL = ("All {n} items come to {total}.", "Together they cost {total}.")
TOTAL_ONE = ("It costs {total}.",)
TEMPLATES = (*OPENINGS, *OPENINGS_FOR, *PAIR, *HISTORY, *AGAIN, *TOP, *BUDGET, *BUDGET_ALL, *TOTAL, *TOTAL_ONE)
"""Every sentence the service writes: their words are words the check allows (``explain.plain_words``)."""
SHOWN_KINDS = 3
"""A list of every kind is no sentence: the first ones, then "more"."""


def write_target(ev: Evidence, rng: random.Random) -> str:
    """2-3 sentences: what the bundle covers, its strongest evidence (a pair bought together, the shopper's
    own purchase, a shop favourite), and how it uses the budget."""
    price = lambda x: format_price(x, ev.currency)  # noqa: E731
    names = ev.kinds if ev.named is None else ev.named  # a kind no title is called by is left to "more"
    shown = SHOWN_KINDS + (len(names) == len(ev.kinds) == SHOWN_KINDS + 1)  # "and more" is never one kind
    kinds = names[:shown]
    more = len(ev.kinds) > len(kinds)
    fill = {"k": len(ev.kinds), "kinds": _and(kinds + ["more"] * more), "occasion": ev.occasion,
            "are": "is" if ev.n == 1 else "are", "items": f"{ev.n} item{'s' * (ev.n != 1)}",
            "a_kinds": _and([_article(k) for k in kinds] + ["more"] * more)}
    options = [o for o in OPENINGS if (len(ev.kinds) >= 2 or "{k}" not in o) and (ev.n > 1 or "{items}" not in o)]
    options += [o for o in OPENINGS_FOR * bool(ev.occasion) if ev.n > 1 or "{items}" not in o]
    out = [rng.choice(options).format(**fill)] if kinds else []
    evidence = [rng.choice(PAIR).format(a=a, b=b, count=n) for a, b, n in ev.pairs[:1]]
    evidence += [rng.choice(AGAIN if again else HISTORY).format(title=t, when=when)
                 for t, when, again in ev.history[:1] if when]
    if ev.top:
        evidence.append(rng.choice(TOP).format(title=ev.top[0], count=ev.top[1]))
    out += rng.sample(evidence, min(len(evidence), 3 - len(out) - (ev.total is not None)))
    if ev.total is not None:
        if ev.budget is None:
            pick = TOTAL if ev.n > 1 else TOTAL_ONE
        else:
            pick = BUDGET if ev.left is not None and ev.left >= 0.01 else BUDGET_ALL
        out.append(rng.choice(pick).format(total=price(ev.total), left=price(ev.left), budget=price(ev.budget),
                                           n=ev.n))
    return " ".join(out)


def summary(ev: Evidence, ids: Sequence[str]) -> str:
    """The bundle's facts as the shopper reads them when the model's text is not shown: the same bundle always
    gets the same wording (seeded by its items), different bundles different wordings."""
    return write_target(ev, random.Random(zlib.crc32("|".join(ids).encode())))


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _article(kind: str) -> str:
    return ("an " if kind[:1] in "aeiou" else "a ") + kind
