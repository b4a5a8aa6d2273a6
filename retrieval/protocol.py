"""What a turn needs from retrieval: the ``ShopRetriever`` protocol.

``retrieval.search.Retriever`` implements it over Chroma; the test fakes implement all of it too, so the
fast tests run the same turn code as production (``tests/assistant/test_protocol.py`` checks both).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from retrieval.lexical import Lexicon
from retrieval.types import Event, Item, ScoredItem, Taste

ChosenLike = Item | str


@runtime_checkable
class Pool(Protocol):
    """One request's gathered candidates, re-rankable without another read (``search.CandidatePool``)."""

    history: list[tuple[Item, Any, Event]]
    """The shopper's history items relevant to the request, as (Item, vector, Event)."""

    def merged(self, others: Sequence[Any]) -> Any:
        """This pool with the candidates of ``others`` added (one pool for every search of a turn)."""
        ...

    def similarities(self) -> list[tuple[Item, float]]:
        """Each candidate with its similarity to the request (cosine for the real pool)."""
        ...


@runtime_checkable
class ShopRetriever(Protocol):
    """Candidates, items and history of one shop."""

    currency: str | None
    store: Any
    """The shop's store (``retrieval.store.ShopStore``): events, erasure and item reads go through it."""
    lexicon: Lexicon
    """The catalog's words: a message names a shopper's term back only when ``lexicon.knows`` it."""

    def warm(self) -> None:
        """Read now what the first request would."""
        ...

    def item(self, item_id: str) -> Item | None: ...

    def kind(self, item: Item) -> tuple[str, str] | None:
        """(kind, role: "main" or "accessory") of an item (``retrieval/kinds.py``); None when unknown."""
        ...

    def shop_kinds(self) -> Any:
        """The shop's fitted ``retrieval.kinds.Kinds`` (pack sizes, kinds bought together); None without."""
        ...

    def associations(self, item_ids: Sequence[str]) -> Any:
        """(n, n) numpy array: the co-purchase association of each pair of the items in train baskets, in
        [0, 1], symmetric, 0 on the diagonal and for items the statistics do not know."""
        ...

    def history(self, shopper: str, n: int | None = None) -> list[tuple[Item, Event]]:
        """The shopper's history, most recent first."""
        ...

    def glossary(self) -> Any:
        """The shop's vocabulary in the multilingual encoder (``retrieval.multilingual.Glossary``), None when
        the shop has none: a foreign word then stays unplaced."""
        ...

    def taste(self, shopper: str | None) -> Taste:
        """What the shopper's own likes / dislikes say now (``retrieval/feedback.py``); empty for None."""
        ...

    def gather(self, query: str, *, shopper: str | None = None, filters: Any = None, k: int | None = None,
               chosen: Sequence[ChosenLike] = (), history_before: float | None = None, foreign: str = "") -> Pool:
        """Everything ranking ``query`` needs, read once (``history_before``: only history from before;
        ``foreign``: words of a non-English request searched in the multilingual set)."""
        ...

    def rank(self, pool: Any, k: int | None = None, *, chosen: Sequence[ChosenLike] = ()) -> list[ScoredItem]:
        """The pool's candidates reranked, best first, at most ``k``."""
        ...

    def candidates(self, query: str, *, shopper: str | None = None, filters: Any = None, k: int | None = None,
                   chosen: Sequence[ChosenLike] = (), history_before: float | None = None,
                   foreign: str = "") -> list[ScoredItem]:
        """``rank(gather(...), k)``."""
        ...

    def rescore(self, candidates: Sequence[ScoredItem | Item], query: str, *, shopper: str | None = None,
                chosen: Sequence[ChosenLike] = (), pool: Any = None) -> list[ScoredItem]:
        """Rerank ``candidates`` again knowing the items already chosen (from ``pool`` when given)."""
        ...
