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
"""

from __future__ import annotations

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
    "baby": ("soft toy", "bib", "teddy", "blanket", "rattle", "baby"),
    "neighbour": _HOME, "host": _HOME, "parents": _HOME, "in-laws": _HOME,
}
"""Recipient (``parse.RECIPIENTS``' canonical names) -> the kinds of present it usually gets, likeliest first."""
MAX_IDEAS = 4
_PRESENT = content_stems("gift gifts present presents something for my our the a")
_SAID_AS = {canon: content_stems(" ".join([canon, *(r for r, c in RECIPIENTS.items() if c == canon)]))
            for canon in set(RECIPIENTS.values())}
"""Recipient -> the stems of every way the parser reads it ("gran", "nan", "granny" ... for grandma)."""


def ideas_for(c: Constraints, known: Callable[[str], bool]) -> list[str]:
    """What to search for a present that names only its recipient (and perhaps an occasion); [] otherwise."""
    ideas = IDEAS.get(c.recipient or "")
    if not ideas or c.must_have:
        return []
    said = content_stems(c.query) - _PRESENT - content_stems(c.occasion or "") - _SAID_AS.get(c.recipient or "", set())
    if said:
        return []  # the request says what the present is, or what they like: that is the search
    return [idea for idea in ideas if known(idea)][:MAX_IDEAS]

