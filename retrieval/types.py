"""Plain data types shared by every stage: catalog items, shopper events, baskets, scored candidates.

>>> it = Item(id="22423", title="REGENCY CAKESTAND 3 TIER", price=10.95, currency="GBP",
...           category=("home", "kitchen"))
>>> it.embedding_text()
'REGENCY CAKESTAND 3 TIER. Category: home > kitchen'
>>> Item.from_metadata(it.id, it.to_metadata()) == it
True
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

EVENT_KINDS = ("purchase", "cart", "view")
"""What a data set's events and a shopper's history hold."""
HISTORY_KINDS = ("purchase", "cart")
"""The live events that become history: what a shopper bought or put in the cart (a view or a like does not
say they have the item, so it never reads as "you bought it before")."""
REACTION_KINDS = ("like", "dislike", "remove")
"""A shopper's own verdict on a shown item: read by their next turn (``Taste``), never history."""
LIVE_EVENT_KINDS = ("purchase", "cart", "view", *REACTION_KINDS)
"""Every kind ``/api/v1/events`` takes; all are kept in the shop's feedback log (``retrieval/feedback.py``)."""
MIN_TIMESTAMP, MAX_TIMESTAMP = 0.0, 4102444800.0
"""The timestamps an event may carry: POSIX seconds from 1970 to 2100 (every data set and every live event
falls inside; anything else would break date arithmetic for that shopper on every later turn)."""


def valid_timestamp(ts: object) -> bool:
    """True for a finite number of POSIX seconds in [MIN_TIMESTAMP, MAX_TIMESTAMP].

    >>> valid_timestamp(1291795200.0), valid_timestamp(float("nan")), valid_timestamp(1e308), valid_timestamp(-1e12)
    (True, False, False, False)
    """
    return (isinstance(ts, int | float) and not isinstance(ts, bool) and math.isfinite(ts)
            and MIN_TIMESTAMP <= ts <= MAX_TIMESTAMP)


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    description: str = ""
    category: tuple[str, ...] = ()
    price: float | None = None
    currency: str | None = None
    in_stock: bool = True
    brand: str | None = None
    image_url: str | None = None
    attributes: dict[str, str] = field(default_factory=dict, hash=False, compare=True)
    popularity: int = 0
    """How many train baskets hold this item (a prior for ranking; 0 for a new item)."""

    def embedding_text(self) -> str:
        """The text whose embedding represents the item (title, category, a bounded description)."""
        parts = [self.title]
        if self.category:
            parts.append("Category: " + " > ".join(self.category))
        if self.brand:
            parts.append("Brand: " + self.brand)
        if self.description:
            parts.append(self.description[:300])
        return ". ".join(parts)

    def content_hash(self) -> str:
        """Hash of what the embedding depends on: unchanged hash = no re-embedding."""
        return hashlib.sha1(self.embedding_text().encode("utf-8")).hexdigest()

    @property
    def category_path(self) -> str:
        return " > ".join(self.category)

    def to_metadata(self) -> dict[str, Any]:
        """Flat metadata for the vector store (Chroma accepts str/int/float/bool, no None)."""
        meta: dict[str, Any] = {
            "title": self.title,
            "category": json.dumps(list(self.category)),
            "cat0": self.category[0] if self.category else "",
            "cat1": self.category[1] if len(self.category) > 1 else "",
            "in_stock": self.in_stock,
            "has_price": self.price is not None,
            "price": float(self.price) if self.price is not None else -1.0,
            "currency": self.currency or "",
            "popularity": int(self.popularity),
            "content_hash": self.content_hash(),
        }
        if self.description:
            meta["description"] = self.description
        if self.brand:
            meta["brand"] = self.brand
        if self.image_url:
            meta["image_url"] = self.image_url
        if self.attributes:
            meta["attributes"] = json.dumps(self.attributes, sort_keys=True)
        return meta

    @classmethod
    def from_metadata(cls, item_id: str, meta: dict[str, Any]) -> Item:
        return cls(
            id=item_id,
            title=meta["title"],
            description=meta.get("description", ""),
            category=tuple(json.loads(meta.get("category", "[]"))),
            price=meta["price"] if meta.get("has_price") else None,
            currency=meta.get("currency") or None,
            in_stock=bool(meta.get("in_stock", True)),
            brand=meta.get("brand"),
            image_url=meta.get("image_url"),
            attributes=json.loads(meta["attributes"]) if meta.get("attributes") else {},
            popularity=int(meta.get("popularity", 0)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "description": self.description,
            "category": list(self.category), "price": self.price, "currency": self.currency,
            "in_stock": self.in_stock, "brand": self.brand, "image_url": self.image_url,
            "attributes": dict(self.attributes), "popularity": self.popularity,
        }


@dataclass(frozen=True)
class Event:
    """One thing a shopper did with an item. ``timestamp`` is POSIX seconds (relative data: synthetic days)."""

    shopper_id: str
    item_id: str
    timestamp: float
    kind: str = "purchase"
    quantity: int = 1
    basket_id: str | None = None
    count: int = 1
    """How many baskets this aggregates (a history entry's ``count``; 1 for one event)."""


@dataclass(frozen=True)
class Basket:
    """Items bought together (an invoice, an order, a BundleRec session/bundle)."""

    id: str
    item_ids: tuple[str, ...]
    shopper_id: str | None = None
    timestamp: float | None = None
    intent: str | None = None
    """A natural-language intent (BundleRec bundles) or None."""
    quantities: tuple[int, ...] | None = None


@dataclass
class SourceData:
    """What an importer produces from one data set, split exactly as shared/data/README.md says.

    ``events`` and ``train_baskets`` hold train data only: they feed history and co-purchase statistics.
    ``dev`` and ``test`` hold the held-out baskets/bundles for evaluation and tuning; they never feed history.
    """

    name: str
    items: list[Item]
    events: list[Event]
    train_baskets: list[Basket]
    dev: list[Basket] = field(default_factory=list)
    test: list[Basket] = field(default_factory=list)
    currency: str | None = None


@dataclass
class ScoredItem:
    """A candidate with its total score and the per-term breakdown that explanations are built from.

    ``evidence`` names the facts behind the terms, e.g. ``{"complement_of": "22423",
    "history_item": "84029E", "history_ts": 1291795200.0}``.
    """

    item: Item
    score: float
    breakdown: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Taste:
    """What one shopper's own feedback says, as a turn reads it (``retrieval.feedback.taste_of``).

    ``disliked`` items never come back (a hard exclusion); ``items`` and ``kinds`` hold values in [-1, 1]
    (liked > 0, disliked or removed < 0) that the reranker adds, weighted, to a candidate's score.

    >>> t = Taste(frozenset({"a"}), {"b": 0.5}, {"teapot": -1.0})
    >>> t.value("b", "mug"), t.value("c", "teapot"), t.value("b", "teapot"), bool(Taste())
    (0.5, -1.0, -0.5, False)
    """

    disliked: frozenset[str] = frozenset()
    items: dict[str, float] = field(default_factory=dict, hash=False)
    kinds: dict[str, float] = field(default_factory=dict, hash=False)

    def value(self, item_id: str, kind: str | None) -> float:
        """The item's own value plus its kind's, clipped to [-1, 1]."""
        v = self.items.get(item_id, 0.0) + (self.kinds.get(kind, 0.0) if kind else 0.0)
        return max(-1.0, min(1.0, v))

    def __bool__(self) -> bool:
        return bool(self.disliked or self.items or self.kinds)
