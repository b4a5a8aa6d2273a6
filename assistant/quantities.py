"""How many of an item a bundle holds: "a tea party for six" needs cups for six, not one cup.

A kind is **per-person** when the shop's catalog sells it by the unit count: at least ``PER_PERSON_SHARE`` of
its items (and ``MIN_PACKED`` of them) state a pack of at least ``SERVING_PACK`` in their titles ("SET/6 PAPER
CUPS", "PACK OF 20 NAPKINS", "Paper Plates, 50 Count"; ``retrieval.kinds.Kinds.pack_size``). On Online Retail
that gives paper cups and plates, napkins, straws, cake cases, snack boxes, placemats and party candles, and not
teapots, cake stands, bunting or doormats; it needs no invoices, so an Instacart or BundleRec catalog gets its own
per-person kinds from its titles alone. (The Online Retail invoices' own quantities were looked at as the
signal first: they are a wholesaler's, a median line of 6 mugs and 2 teapots but also 25 rolls of wrap, 12
ornaments and 4 bunting, so they do not tell a kind used by each guest from one bought for resale.)

With a head count (``Constraints.people``), a pack of a per-person kind comes ``ceil(people / pack)``
times: "Pack Of 20" napkins cover six once, "Set/6 Paper Cups" for eight come twice. An item of such a kind
that states no pack comes once: in a kind the catalog sells in packs it is most often a title whose count
the parser missed ("SET/6" glued to a word) or an item the kinds put there by a shared head word ("LUNCH
BAG VINTAGE DOILY" among the doilies), and eight lunch bags for eight kids would be the wrong guess. An
accessory, or any item of another kind, comes once. An item whose pack covers the party is preferred
(``set_bonus``): a "Set Of 6" of cups for six over one cup.

What each guest has one of is common knowledge, not the catalog's: a cup, a mug, a glass, a plate, a napkin
(``EACH``). A gift shop sells its teacups one by one, so the pack rule never finds them, and one teacup for a
tea party for six is not a tea party's cups. An item that is one of these (its title names it at or before its
kind's head word, ``rules.Kinding.each``) comes once per person, or in packs enough for all.

>>> quantity(people=6, pack=20, per_person=True), quantity(people=8, pack=6, per_person=True)
(1, 2)
>>> quantity(people=8, pack=1, per_person=True), quantity(people=8, pack=6, per_person=False)
(1, 1)
>>> quantity(people=6, pack=1, per_person=True, each=True), quantity(people=6, pack=4, per_person=True, each=True)
(6, 2)
"""

from __future__ import annotations

import math
import weakref
from collections import Counter
from typing import Any

PER_PERSON_SHARE = 0.5
MIN_PACKED = 2
SERVING_PACK = 4
"""A pack of at least this many is servings ("Set/6 Paper Cups"); a set of 2 tea towels or 3 cake tins is one
present, and a kind sold so is not bought per guest."""
MAX_QUANTITY = 100
"""Units of one item at most, whatever the head count."""
EACH = ("cup", "teacup", "mug", "glass", "tumbler", "beaker", "plate", "bowl", "napkin", "straw", "placemat")
"""What each person at a gathering has one of (``quantity``'s ``each``). Not a party bag: a children's party
gives one to each child, a garden party for ten neighbours none, and a pack of them is a per-person kind by the
pack rule already."""
SET_BONUS = 0.2
"""Score for an item whose pack covers the whole party (a share of it for a pack covering part)."""

_cache: weakref.WeakKeyDictionary[Any, frozenset[str]] = weakref.WeakKeyDictionary()


def per_person_kinds(kinds: Any) -> frozenset[str]:
    """The kinds of a fitted ``Kinds`` that its catalog sells in packs (read once per ``Kinds``)."""
    if kinds is None:
        return frozenset()
    if kinds not in _cache:
        items: Counter[str] = Counter(kinds.item_kind.values())
        packed: Counter[str] = Counter(k for i, k in kinds.item_kind.items() if kinds.pack_size(i) >= SERVING_PACK)
        _cache[kinds] = frozenset(k for k, n in packed.items()
                                  if n >= MIN_PACKED and n >= PER_PERSON_SHARE * items[k])
    return _cache[kinds]


def per_person_items(kinds: Any) -> tuple[str, ...]:
    """The ids of the catalog items of the per-person kinds, sorted (the ``only_ids`` of a search among them)."""
    return kinds.items_of(per_person_kinds(kinds)) if kinds is not None else ()


def pack_of(kinds: Any, item_id: str, title: str) -> int:
    """Units in one item: the fitted pack size, or the title's for an item the fit never saw."""
    if kinds is not None and item_id in kinds.item_pack:
        return int(kinds.pack_size(item_id))
    from retrieval.titles import pack_size

    return pack_size(title, head_plural=False)


def quantity(*, people: int | None, pack: int, per_person: bool, each: bool = False) -> int:
    """Units of one item for ``people`` (1 without a head count or for a kind that is not per person).
    ``each``: the item is one of what each person has (``EACH``), so one that states no pack comes per person."""
    if not people or not per_person:
        return 1
    if pack < 2:
        return max(1, min(MAX_QUANTITY, people)) if each else 1
    return max(1, min(MAX_QUANTITY, math.ceil(people / max(pack, 1))))


def set_bonus(*, people: int | None, pack: int) -> float:
    """The preference for a set that covers the party: ``SET_BONUS`` x the share of the people it covers."""
    if not people or people < 2 or pack < 2:
        return 0.0
    return SET_BONUS * min(pack, people) / people
