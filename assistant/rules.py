"""The rules every bundle keeps, however it is assembled (greedily or as one optimisation): item kinds, near-
duplicates, accessories that wait for a main item, and quantities with their cost.

>>> from retrieval.types import Item
>>> is_substitute(Item("a", "TEAPOT RED RETROSPOT"), Item("b", "TEAPOT BLUE POLKADOT"))
True
>>> head_noun("TEAPOT RED RETROSPOT")
'teapot'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.quantities import EACH, pack_of, per_person_kinds, quantity
from assistant.text import content_stems, jaccard, matches_term, stem, stems, term_stems, tokens, word_hit
from retrieval.types import Item, ScoredItem

# Words that describe a variant, not a kind of product: "TEAPOT RED RETROSPOT" is a teapot.
_VARIANT_WORDS_TEXT = (
    "red blue pink green white black ivory cream gold silver yellow orange purple grey gray brown "
    "natural retrospot polkadot spotty spot dot vintage regency rose floral flower design assorted "
    "colour colours style new classic heart hearts paisley gingham stripe stripes tin tiny jumbo single "
    "double "
)
VARIANT_WORDS = frozenset(_VARIANT_WORDS_TEXT.split())
DIVERSITY_PENALTY = 0.15
"""Score a candidate loses for each bundle item of its category."""
EPS = 1e-9

KindOf = Callable[[Item], "tuple[str, str] | None"]
"""An item's (kind, role), role "main" or "accessory"; None where the shop has no kinds."""


@dataclass
class ShopFacts:
    """What assembly reads about the shop besides the candidates (``ShopRetriever`` gives each of them)."""

    kind_of: KindOf | None = None
    kinds: Any = None
    """The shop's fitted ``retrieval.kinds.Kinds``: pack sizes, per-person kinds, kinds bought together."""
    associations: Callable[[Sequence[str]], Any] | None = None
    """Item ids -> (n, n) co-purchase association in [0, 1] (``ShopRetriever.associations``)."""


def head_noun(title: str) -> str | None:
    """The kind of product: the last content word that is not a colour/pattern. 'TEAPOT RED RETROSPOT' -> teapot."""
    words = [w for w in _ordered_stems(title) if w not in VARIANT_WORDS and w.isalpha() and len(w) > 2]
    return words[-1] if words else None


def _ordered_stems(title: str) -> list[str]:
    from assistant.text import STOPWORDS, stem, tokens

    return [stem(t) for t in tokens(title) if t not in STOPWORDS]


def is_substitute(a: Item, b: Item) -> bool:
    """Near-duplicates: mostly the same words once colours/patterns are set aside ('TEAPOT RED RETROSPOT' and
    'TEAPOT BLUE POLKADOT': four teapots are not a bundle). The reranker's embedding signal
    (evidence ``substitute_of``) is used on top of this, in ``assemble``."""
    sa, sb = content_stems(a.title) - VARIANT_WORDS, content_stems(b.title) - VARIANT_WORDS
    return jaccard(sa, sb) >= 0.5 or (bool(sa) and sa == sb)


def kind_group(kind: str) -> str:
    """What a bundle holds one of: the kind's head word. A "photo frame" and a "frame", a "lunch bag" and a
    "gift bag", a "paper cup" and a "cup" are two of one thing to a shopper, though the shop's kinds
    (retrieval/kinds.py) keep them apart for their categories and roles.

    >>> kind_group("photo frame"), kind_group("frames"), kind_group("t-light holder")
    ('frame', 'frame', 'holder')
    """
    words = kind.split()
    return stem(words[-1]) if words else kind


def modifies(term: str, kind: str) -> bool:
    """Whether ``term``'s head word is in ``kind`` only as a modifier ("napkin" in "napkin charm"): an item of
    that kind is a thing for it, not one of it.

    >>> modifies("napkin", "napkin charm"), modifies("napkins", "paper napkin"), modifies("teacup", "saucer")
    (True, False, False)
    """
    head = kind_group(term)
    return kind_group(kind) != head and any(stem(w) == head for w in kind.split()[:-1])


_AND_RE = re.compile(r"([a-z]+)\s*(?:&|\band\b)\s*([a-z]+)", re.I)


def _is_one(title: str, term: str, kind: str) -> bool:
    """Whether a title names a thing as what it is, not as its material, design or part: each word of
    ``term`` is the title's head word (its kind's), or a word joined to the head by "and" / "&" ("Teacup And
    Saucer", "Cup & Saucer"), or the end of one of those ("teacup" is a cup, "cupcake" no cup, "strawberry"
    no straw). "Victorian Glass Hanging T-light" is a t-light, not a glass.

    >>> _is_one("Green Regency Teacup And Saucer", "cup", "saucer"), _is_one("Strawberry Lunch Box", "straw", "box")
    (True, False)
    >>> _is_one("Victorian Glass Hanging T-light", "glass", "t-light"), _is_one("Black Wine Glass", "glass", "glass")
    (False, True)
    """
    if modifies(term, kind):
        return False
    head = kind_group(kind)
    words = stems(title)
    heads = {w for w in words if word_hit(w, head)}
    heads |= {stem(a) for a, b in _AND_RE.findall(title) if word_hit(stem(b), head)}
    return all(any(w == tw or (w.endswith(tw) and len(w) - len(tw) >= 3) for w in heads) for tw in term_stems(term))


def _up_to_head(words: list[str], kind: str) -> list[str]:
    """A title's stems up to and with the first that is its kind's head word (all of them when none is): what
    a gift shop's title says the item is, before the design it names after it."""
    head = kind_group(kind)
    at = next((i for i, w in enumerate(words) if word_hit(w, head)), len(words) - 1)
    return words[: at + 1]


def _same_word(kind_word: str, asked: str) -> bool:
    """One word starts the other ("wrapping" - "wrap"), both at least three letters long."""
    return min(len(kind_word), len(asked)) >= 3 and (asked.startswith(kind_word) or kind_word.startswith(asked))


@dataclass
class Kinding:
    """The kind rules of one assembly: which kinds are taken, which candidates wait as accessories."""

    kind_of: KindOf | None = None
    asked: str = ""
    kinds: Any = None
    """The shop's ``Kinds`` (pack sizes, per-person kinds), or None."""
    people: int | None = None
    occasion: str | None = None
    """The request's occasion: its words name the event, not a kind ("a tea party" asks for no tea, "a
    birthday party" for no "party" item)."""

    def __post_init__(self) -> None:
        event = content_stems(self.occasion or "")
        self._asked = content_stems(self.asked) - event
        # "mugs", "cards": several are wanted; "a teapot" is one teapot
        self._plural = {stem(t) for t in tokens(self.asked) if stem(t) != t.lower()} - event
        self._per_person = per_person_kinds(self.kinds)
        self._qty: dict[str, int] = {}
        self._each: dict[str, bool] = {}

    def of(self, item: Item) -> tuple[str, str] | None:
        return self.kind_of(item) if self.kind_of is not None else None

    def pack(self, item: Item) -> int:
        return pack_of(self.kinds, item.id, item.title)

    def per_person(self, item: Item) -> bool:
        """A main item bought per person: of a kind the catalog sells in packs, or one of what each has."""
        k = self.of(item)
        return k is not None and k[1] == "main" and (k[0] in self._per_person or self.each(item))

    def each(self, item: Item) -> bool:
        """One of what each person at a gathering has (``quantities.EACH``): a teacup, not a cup hook."""
        if not self.people:
            return False
        if item.id not in self._each:
            k = self.of(item)
            self._each[item.id] = k is not None and any(_is_one(item.title, t, k[0]) for t in EACH)
        return self._each[item.id]

    def quantity(self, item: Item) -> int:
        """Units of the item in this bundle (``assistant.quantities``)."""
        if item.id not in self._qty:
            self._qty[item.id] = quantity(people=self.people, pack=self.pack(item), per_person=self.per_person(item),
                                          each=self.each(item))
        return self._qty[item.id]

    def cost(self, item: Item) -> float:
        """Price x quantity (0 for an unpriced item: only allowed without a budget)."""
        return (item.price or 0.0) * self.quantity(item)

    def named(self, kind: str, plural: bool = False) -> bool:
        """Whether the request names the kind: a word of it starts the other's ("wrapping" - "wrap");
        ``plural``: and names it in the plural ("mugs")."""
        asked = self._plural if plural else self._asked
        return any(_same_word(w, a) for w in content_stems(kind) for a in asked)

    def names(self, item: Item, term: str) -> bool:
        """Whether the item is one of what ``term`` names (a must-have, a swap's kind): its title holds the
        term (``matches_term``), not only after the word its kind is named by. A gift shop writes a design
        after what the item is: "Gardeners Kneeling Pad Cup Of Tea" is a pad, "Doormat Union Flag" no flag.

        >>> k = Kinding(kind_of=lambda it: ("pad", "main") if "Pad" in it.title else ("saucer", "main"))
        >>> k.names(Item("p", "Gardeners Kneeling Pad Cup Of Tea"), "cups")
        False
        >>> k.names(Item("t", "Green Regency Teacup And Saucer"), "cups")
        True
        """
        if not matches_term(item.title, term):
            return False
        kind = self.of(item)
        if kind is None:
            return True
        return any(word_hit(w, tw) for w in _up_to_head(stems(item.title), kind[0]) for tw in term_stems(term))

    def is_a(self, item: Item, term: str) -> bool:
        """Whether the item is one of what ``term`` names as what it is, not a thing named after it: its kind's
        head word is the term's ("Sweetheart Cakestand 3 Tier" is a cake stand), or the term's head word is the
        title's head or joined to it ("Teacup And Saucer" is a teacup); a "Mini Cake Stand T-light Holder"
        is a holder.

        >>> k = Kinding(kind_of=lambda it: ("t-light holder", "main") if "Holder" in it.title else ("saucer", "main"))
        >>> k.is_a(Item("h", "Mini Cake Stand T-light Holder"), "cake stand")
        False
        >>> k.is_a(Item("t", "Green Regency Teacup And Saucer"), "teacup")
        True
        """
        if not self.names(item, term):
            return False
        kind = self.of(item)
        head = kind_group(term)
        return kind is None or kind_group(kind[0]) == head or _is_one(item.title, head, kind[0])

    def names_whole(self, kind: str) -> bool:
        """Every word of the kind is in the request ("a tea set" names "tea set"; "tea party" does not)."""
        words = content_stems(kind)
        return bool(words) and all(any(_same_word(w, a) for a in self._asked) for w in words)

    def said_within(self, kind: str, other: str) -> bool:
        """Whether every word of the request that names ``kind`` is a word of ``other``, a longer kind it also
        names: "tea towels" names a tea towel, not the tea or the teaspoon its first word spells; "a teapot and
        tea towels" still names the teapot.

        >>> [Kinding(asked="tea towels").said_within(kind, "tea towel") for kind in ("tea", "teaspoon")]
        [True, True]
        >>> Kinding(asked="a teapot and tea towels").said_within("teapot", "tea towel")
        False
        """
        mine, theirs = content_stems(kind), content_stems(other)
        said = {a for a in self._asked if any(_same_word(w, a) for w in mine)}
        return len(theirs) > len(mine) and bool(said) and said <= theirs

    def waits(self, item: Item) -> bool:
        """An accessory the request does not name: picked only after a main item."""
        k = self.of(item)
        return k is not None and k[1] == "accessory" and not self.named(k[0])

    def same(self, a: Item, b: Item) -> bool:
        """Two of one thing (``kind_group``)."""
        ka, kb = self.of(a), self.of(b)
        return ka is not None and kb is not None and kind_group(ka[0]) == kind_group(kb[0])

    def taken(self, item: Item, chosen: list[ScoredItem]) -> bool:
        """A kind (``kind_group``) already in the bundle, unless the request names it in the plural ("4
        ornaments")."""
        k = self.of(item)
        if k is None or self.named(k[0], plural=True):
            return False
        return any(self.same(item, s.item) for s in chosen)


def clashes(s: ScoredItem, others: Sequence[ScoredItem], c: Any, kinds: Kinding) -> bool:
    """A near-duplicate of one of ``others`` or of a kind they hold (never when similar items are wanted)."""
    return not c.similar_ok and (s.evidence.get("substitute_of") in {o.item.id for o in others}
                                 or any(is_substitute(s.item, o.item) for o in others) or kinds.taken(s.item, others))
