"""A gathering named by its occasion: what such a gathering is laid with, searched in the shop's own words.

"hosting a tea party for six" says what the party is, never what it needs: the embedder's nearest titles to
"tea party" are the ones that hold its words (bunting "Tea Time Party", a kneeling pad "Cup Of Tea", tea
wrapping paper), and the shop's invoices, a wholesaler's, buy bunting with bunting. That a tea party is laid
with a teapot, cups and a cake stand, and a barbecue with paper plates and napkins, is common knowledge no
shop's data holds, so ``NEEDS`` writes it down once per occasion of the parser (``parse.OCCASIONS``), as
``gifts.IDEAS`` does for the recipients of a present.

``needs_for`` applies to a request whose occasion is a gathering in the table and that names no must-have
(the shopper's own list is the plan then). It keeps the needs the shop's catalog has words for (``known``),
at most ``MAX_NEEDS`` in the table's order. They are searched like a present's ideas (``turn.search_pools``):
optional, each search's candidates the items whose titles name the need, in the request's context; the
request's own search then keeps its 20 best, and assembly chooses among them all as among any candidates.

>>> from assistant.parse import parse_request
>>> needs_for(parse_request("hosting a tea party for six, about £25"), lambda term: term != "cup")
['teapot', 'cake stand', 'plate', 'napkin']
>>> needs_for(parse_request("a tea party for six, must have napkins"), lambda term: True)
[]
>>> needs_for(parse_request("a birthday present for my dad"), lambda term: True)  # a present, not a gathering
[]
"""

from __future__ import annotations

from collections.abc import Callable

from assistant.types import Constraints

_TEA = ("teapot", "cup", "cake stand", "plate", "napkin", "milk jug")
_PARTY = ("paper plate", "paper cup", "napkin", "bunting", "party bag", "balloon")
NEEDS: dict[str, tuple[str, ...]] = {
    "tea party": _TEA,
    "afternoon tea": _TEA,
    "birthday party": _PARTY,
    "kids party": ("party bag", "paper plate", "paper cup", "balloon", "napkin", "party candle"),
    "party": _PARTY,
    "garden party": ("bunting", "paper plate", "paper cup", "napkin", "lantern", "parasol"),
    "dinner party": ("candle", "napkin", "placemat", "glass", "tablecloth", "candle holder"),
    "hen party": ("glass", "straw", "bunting", "balloon", "paper cup", "napkin"),
    "picnic": ("picnic basket", "cutlery", "napkin", "snack box", "cup", "blanket"),
    "barbecue": ("paper plate", "paper cup", "napkin", "cutlery", "bunting", "lantern"),
    "bbq": ("paper plate", "paper cup", "napkin", "cutlery", "bunting", "lantern"),
    "breakfast": ("tray", "egg cup", "mug", "teapot", "toast rack"),
    "baking": ("cake tin", "cake case", "cookie cutter", "apron", "rolling pin", "baking mould"),
    "camping": ("torch", "lantern", "mug", "blanket", "cutlery", "water bottle"),
    "halloween": ("pumpkin", "skull", "witch", "ghost", "bat", "spider"),
}
"""Occasion (``parse.OCCASIONS``, as parsed) -> the kinds of thing such a gathering is laid with, likeliest
first. Presents (a birthday, a wedding, Christmas) are not here: what they are is the recipient's
(``gifts.IDEAS``)."""
MAX_NEEDS = 4


def needs_for(c: Constraints, known: Callable[[str], bool]) -> list[str]:
    """What to search for a gathering named by its occasion; [] for any other request."""
    needs = NEEDS.get((c.occasion or "").lower())
    if not needs or c.must_have:
        return []
    return [need for need in needs if known(need)][:MAX_NEEDS]
