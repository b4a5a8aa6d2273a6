"""A present named only by who it is for: what such a present usually is, searched in the shop's own words.

"a present for my dad" gives the search nothing to match: the words are the recipient's, and neither the
embedder (its nearest kinds to "for dad" are case, home and christmas) nor the shop's baskets (no invoice
says who a thing was for) know what dads are given. The bundle then falls to the best sellers: bunting,
ribbons, children's cutlery. What people give a dad, a gran or a teacher is common knowledge that no shop's
data holds, so it is written down here once, as the kinds of thing a present for each recipient usually is.

``ideas_for`` applies only when the request says nothing else about the present (an occasion may be named:
"a birthday present for my sister" has nothing else to search either), and keeps the ideas the shop's
catalog has words for (``known``), at most ``MAX_IDEAS`` in the table's order: a shop without mugs is not
searched for mugs, and a request that names an interest ("who loves cats") is searched for that instead.

>>> from assistant.parse import parse_request
>>> ideas_for(parse_request("a present for my dad under £15"), lambda term: term != "wallet")
['mug', 'garden', 'torch', 'hip flask']
>>> ideas_for(parse_request("a present for my dad who loves cats"), lambda term: True)
[]
>>> ideas_for(parse_request("my son's 21st birthday present"), lambda term: True)  # an age is not the present
['mug', 'wallet', 'garden', 'torch']
"""

from __future__ import annotations

import re
from collections.abc import Callable

from assistant.parse import RECIPIENTS
from assistant.text import content_stems
from assistant.types import Constraints

_HOME = ("candle", "cushion", "vase", "photo frame", "tea towel", "mug", "plant pot")
_HIM = ("mug", "wallet", "garden", "torch", "hip flask", "game", "tool", "bottle opener")
_HER = ("candle", "necklace", "bag", "cushion", "mirror", "vase", "scarf", "photo frame")
_CHILD = ("toy", "game", "jigsaw", "colouring", "soft toy", "lunch box", "book", "craft kit")
IDEAS: dict[str, tuple[str, ...]] = {
    "mum": ("candle", "vase", "cushion", "mug", "necklace", "teapot", "photo frame", "scarf"),
    "dad": ("mug", "wallet", "garden", "torch", "hip flask", "game", "tool", "bottle opener"),
    "grandma": ("teapot", "tea cosy", "cushion", "sewing kit", "garden", "candle", "photo frame", "biscuit tin"),
    "grandad": ("mug", "garden", "jigsaw", "photo frame", "hip flask", "torch", "game", "biscuit tin"),
    "wife": _HER, "girlfriend": _HER, "sister": _HER, "her": _HER, "aunt": _HER,
    "husband": _HIM, "boyfriend": _HIM, "brother": _HIM, "him": _HIM, "uncle": _HIM,
    "partner": ("candle", "mug", "photo frame", "cushion", "game", "wallet", "necklace", "vase"),
    "friend": ("candle", "mug", "photo frame", "notebook", "cushion", "plant pot", "necklace", "game"),
    "boss": ("mug", "notebook", "pen", "candle", "plant pot", "photo frame"),
    "colleague": ("mug", "notebook", "pen", "candle", "plant pot", "lunch box"),
    "teacher": ("mug", "notebook", "pen", "candle", "tote bag", "pencil case"),
    "son": _CHILD, "daughter": _CHILD, "kids": _CHILD, "niece": _CHILD, "nephew": _CHILD, "godchild": _CHILD,
    "grandchild": _CHILD,
    "baby": ("soft toy", "bib", "teddy", "blanket", "rattle", "baby"),
    "neighbour": _HOME, "host": _HOME, "parents": _HOME, "in-laws": _HOME,
}
"""Recipient (``parse.RECIPIENTS``' canonical names) -> the kinds of present it usually gets, likeliest first."""
MAX_IDEAS = 4
_PRESENT = content_stems("gift gifts present presents something for my our the a")
_CHILDREN = frozenset({"son", "daughter", "kids", "niece", "nephew", "godchild", "grandchild", "baby"})
_OF_A_CHILD = "baby babies boy boys girl girls little newborn young toddler first"
"""Words that say who a child is, not what their present is: "a newborn baby girl", "baby's first Christmas"."""
_SAID_AS = {canon: content_stems(" ".join([canon, *(r for r, c in RECIPIENTS.items() if c == canon),
                                           _OF_A_CHILD if canon in _CHILDREN else ""]))
            for canon in set(RECIPIENTS.values())}
"""Recipient -> the stems of every way the parser reads it ("gran", "nan", "granny" ... for grandma)."""
_ORDINAL_RE = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.I)
"""A 70th birthday says how old, not what the present is."""
_AGE_WORDS = content_stems("year old")
"""What remains of the "for a 7 year old" ``parse`` keeps in a search (``Constraints.age``): how old, not what."""
GIFT_OCCASIONS = frozenset({
    "birthday", "christmas", "xmas", "wedding", "housewarming", "valentine", "mother's day", "father's day",
    "anniversary", "thank you", "retirement", "new baby", "graduation", "new home", "secret santa", "get well",
    "get well soon", "stocking filler", "baby shower", "bridal shower", "easter"})
"""Occasions (``parse.OCCASIONS``) whose bundle is a present; a picnic or a dinner party "for my friends" is
for the gathering, and is searched as one."""
_GIFT_OCCASIONS = {o.replace("'", "") for o in GIFT_OCCASIONS}  # as written: "mothers day"
ADULT_AGE = 16
ADULT_OCCASIONS = frozenset({
    "wedding", "housewarming", "new home", "retirement", "graduation", "anniversary", "dinner party",
    "hen party", "bridal shower", "mother's day", "father's day", "office",
})
"""Occasions (``parse.OCCASIONS``) that are grown-ups' whoever the present is for."""
GROWN_UP = {"son": _HIM, "nephew": _HIM, "daughter": _HER, "niece": _HER, "grandchild": IDEAS["friend"]}
"""A son's 18th or 21st is a grown-up's present, not a toy."""


def stated_age(query: str, age: int | None = None) -> int:
    """The age a request gives: the parser's (``Constraints.age``: "my 18 year old son"), else an ordinal
    ("my nephew's 18th" -> 18); 0 without one."""
    return age or max((int(m.group(1)) for m in _ORDINAL_RE.finditer(query)), default=0)


def grown_up(c: Constraints) -> bool:
    """Whether the present's recipient is a grown-up by what the request says of their age: an age of at
    least ``ADULT_AGE``, or none and a grown-up's occasion ("a graduation present for my grandson")."""
    age = stated_age(c.query, c.age)
    return age >= ADULT_AGE or (not age and (c.occasion or "").lower() in ADULT_OCCASIONS)


def ideas_for(c: Constraints, known: Callable[[str], bool]) -> list[str]:
    """What to search for a present that names only its recipient (and perhaps an occasion); [] otherwise."""
    ideas = IDEAS.get(c.recipient or "")
    if not ideas or c.must_have or (c.occasion and c.occasion.lower().replace("'", "") not in _GIFT_OCCASIONS):
        return []
    if grown_up(c):
        ideas = GROWN_UP.get(c.recipient or "", ideas)
    said = content_stems(_ORDINAL_RE.sub(" ", c.query)) - _PRESENT - content_stems(c.occasion or "") \
        - _SAID_AS.get(c.recipient or "", set()) - (_AGE_WORDS if c.age else set())
    if said:
        return []  # the request says what the present is, or what they like: that is the search
    return [idea for idea in ideas if known(idea)][:MAX_IDEAS]

