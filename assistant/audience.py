"""Children's things stay out of a grown-up's present: "Childs Breakfast Set" is no Mother's Day breakfast.

A present for a dad, a wife or a colleague is searched with words such as "breakfast", "coffee" or "baking",
and the shop's titles that hold those words include its children's lines ("Childs Breakfast Set Dolly Girl",
"Set Of 20 Kids Cookie Cutters", "Spaceboy Childrens Cup"). No cosine tells them apart: a child's cup IS a
cup. What does is plain, and written in the title: who it is made for.

A request is **for a grown-up** when its recipient is one (``ADULTS``; a son, daughter, niece or nephew only
with an age of at least ``gifts.ADULT_AGE``: "my nephew's 18th") or its occasion is one grown-ups have
(``ADULT_OCCASIONS``: a graduation, a retirement) or it is for a group of grown-ups (``GROUP_WORDS``: "a
barbecue for 8 friends"), and it says nothing of children (``REQUEST_WORDS``: "for
the kids", "a baby's first Christmas", a must-have "kids' cutlery"). Then ``for_grown_ups`` drops the
candidates whose title or category is marked for children (``ITEM_WORDS``), unless fewer than ``MIN_LEFT``
would remain: a toy shop still answers. The words are English catalog words, not one shop's: "baby" is not
among them, since a grocer's baby spinach is not for babies.

>>> from retrieval.types import Item
>>> from assistant.parse import parse_request
>>> cup, kids = Item("c", "Red Retrospot Cup"), Item("k", "Spaceboy Childrens Cup")
>>> [it.id for it in for_grown_ups([kids, cup], parse_request("a present for my dad"), min_left=1)]
['c']
>>> [it.id for it in for_grown_ups([kids, cup], parse_request("a present for my son"), min_left=1)]
['k', 'c']
>>> [it.id for it in for_grown_ups([kids, cup], parse_request("my nephew's 18th birthday"), min_left=1)]
['c']
>>> [it.id for it in for_grown_ups([kids, cup], parse_request("a present for my sister and her kids"), min_left=1)]
['k', 'c']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from assistant.gifts import ADULT_AGE, ADULT_OCCASIONS, grown_up, stated_age
from assistant.types import Constraints

ADULTS = frozenset({
    "mum", "dad", "sister", "brother", "wife", "husband", "partner", "friend", "boss", "colleague", "teacher",
    "grandma", "grandad", "neighbour", "girlfriend", "boyfriend", "aunt", "uncle", "host", "parents", "in-laws",
})
"""Recipients (``parse.RECIPIENTS``' canonical names) who are grown-ups whatever the request says."""
GROWN_WITH_AGE = frozenset({"son", "daughter", "niece", "nephew", "godchild", "grandchild"})
"""Recipients who are grown-ups when the request gives an age of at least ``ADULT_AGE``."""
ITEM_WORDS = ("child", "children", "childrens", "childs", "kid", "kids", "toddler", "toddlers")
"""What marks an item as made for children, in its title or category."""
GROUP_WORDS = ("friends", "adults", "grown-ups", "grownups", "colleagues", "coworkers", "co-workers",
               "workmates", "neighbours", "neighbors")
"""Who a gathering is for, when they are grown-ups: "a barbecue for 8 friends" (not with a child recipient:
"my son and his friends")."""
REQUEST_WORDS = ("child", "children", "childrens", "kid", "kids", "toddler", "toddlers", "baby", "babies",
                 "nursery", "little one", "little ones", "grandchildren", "grandkids")
"""What makes a request one that includes children."""
MIN_LEFT = 12
"""Candidates that must remain for the children's ones to be dropped (as ``seasons.MIN_LEFT``)."""

T = TypeVar("T")


def _pattern(words: Sequence[str]) -> re.Pattern[str]:
    alts = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
    return re.compile(rf"\b(?:{alts})(?:'s|s'|')?(?![\w])", re.I)


_ITEM = _pattern(ITEM_WORDS)
_REQUEST = _pattern(REQUEST_WORDS)
_GROUP = _pattern(GROUP_WORDS)


def for_children(item: object) -> bool:
    """Whether an item (anything with ``title`` and ``category``) is marked as made for children."""
    text = " ".join([str(getattr(item, "title", "")), " ".join(getattr(item, "category", ()) or ())])
    return bool(_ITEM.search(text))


def grown_up_request(c: Constraints) -> bool:
    """Whether the request is for a grown-up and says nothing of children."""
    said = " ".join([c.query, c.occasion or "", *c.must_have])
    if _REQUEST.search(said):
        return False
    recipient = c.recipient or ""
    if recipient in GROWN_WITH_AGE:
        return grown_up(c)  # "my nephew's 18th", "a graduation present for my grandson"
    if recipient in ("kids", "baby"):
        return stated_age(c.query, c.age) >= ADULT_AGE
    return recipient in ADULTS or (c.occasion or "").lower() in ADULT_OCCASIONS or bool(_GROUP.search(said))


def for_grown_ups(items: Sequence[T], c: Constraints, *, key: Callable[[T], object] = lambda x: x,
                  min_left: int = MIN_LEFT) -> list[T]:
    """``items`` without the children's ones when ``c`` is a grown-up's request (order kept); all of them
    otherwise, or when fewer than ``min_left`` would remain."""
    if not grown_up_request(c):
        return list(items)
    kept = [x for x in items if not for_children(key(x))]
    return kept if len(kept) >= min(min_left, len(items)) else list(items)
