"""Seasonal stock: an item made for one holiday belongs in a bundle only when the request is for that holiday.

A gift shop's best sellers are its Christmas lines for a quarter of the year, so the ranker's popularity and
co-purchase terms carry "Jumbo Bag 50's Christmas" into a summer barn wedding and "Christmas Craft Little
Friends" into a present for a new puppy owner. A shopper never wants those, and no cosine threshold tells
them apart from the relevant items they sit among (a Christmas biscuit tin IS a tin). What does tell them
apart is plain: the item's title or category names a holiday the request does not.

An item's season is the first holiday whose ``ITEM_WORDS`` its title or category holds. A request names a
season when any of that season's ``REQUEST_WORDS`` is in it ("secret santa" and "stocking fillers" are
Christmas; "a spooky party" is Halloween). ``off_season`` drops the candidates of every season the request
does not name, unless that would leave fewer than ``MIN_LEFT`` candidates: a shop that sells little else
still answers.

>>> from retrieval.types import Item
>>> tin, xmas = Item("t", "Biscuit Tin Vintage Green"), Item("x", "Biscuit Tin 50's Christmas")
>>> season_of(xmas), season_of(tin), sorted(seasons_named("a secret santa present"))
('christmas', None, ['christmas'])
>>> [it.id for it in off_season([xmas, tin], "a tin anniversary gift", min_left=1)]
['t']
>>> [it.id for it in off_season([xmas, tin], "christmas biscuits", min_left=1)]
['x', 't']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

ITEM_WORDS = {
    "christmas": ("christmas", "xmas"),
    "easter": ("easter",),
    "halloween": ("halloween",),
    "valentine": ("valentine",),
}
"""What marks an item as made for the holiday: the holiday's own name, in its title or category."""
REQUEST_WORDS = {
    "christmas": ("christmas", "xmas", "santa", "advent", "stocking filler", "stocking", "festive", "noel", "yule",
                  "nativity", "winter", "december", "tree decoration"),
    "easter": ("easter", "egg hunt"),
    "halloween": ("halloween", "spooky", "trick or treat", "pumpkin"),
    "valentine": ("valentine",),
}
"""What makes a request one for the holiday: its name or an unmistakable part of it."""
MIN_LEFT = 12
"""Candidates that must remain for the off-season ones to be dropped (a bundle needs a pool to choose from)."""

T = TypeVar("T")


def _pattern(words: Iterable[str]) -> re.Pattern[str]:
    alts = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
    return re.compile(rf"\b(?:{alts})(?:'?s)?\b", re.I)


_ITEM = {s: _pattern(w) for s, w in ITEM_WORDS.items()}
_REQUEST = {s: _pattern(w) for s, w in REQUEST_WORDS.items()}


def season_of(item: object) -> str | None:
    """The holiday an item (anything with ``title`` and ``category``) is made for, or None."""
    text = " ".join([str(getattr(item, "title", "")), " ".join(getattr(item, "category", ()) or ())])
    return next((s for s, p in _ITEM.items() if p.search(text)), None)


def seasons_named(text: str) -> set[str]:
    """The holidays a request names."""
    return {s for s, p in _REQUEST.items() if p.search(text)}


def off_season(items: Sequence[T], request: str, *, key: Callable[[T], object] = lambda x: x,
               min_left: int = MIN_LEFT) -> list[T]:
    """``items`` without those made for a holiday ``request`` does not name (order kept); all of them when
    fewer than ``min_left`` would remain."""
    named = seasons_named(request)
    kept = [x for x in items if (s := season_of(key(x))) is None or s in named]
    return kept if len(kept) >= min(min_left, len(items)) else list(items)
