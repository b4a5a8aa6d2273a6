"""Fast in-memory stand-ins with the REAL interfaces of retrieval.search.Retriever and assistant.llm.Generator.

They exist only for speed (the real ones are exercised by the integration tests): the fake retriever scores by
word overlap and honours Filters exactly like the real one (``Filters.accepts``); the fake generator returns
fixed letter probabilities and streams a given text word by word.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from assistant.text import content_stems
from retrieval.kinds import Kinds
from retrieval.lexical import Lexicon, item_text
from retrieval.types import Event, Item, ScoredItem, Taste

CATALOG = [
    Item("22423", "REGENCY CAKESTAND 3 TIER", price=10.95, currency="GBP", popularity=50),
    Item("22720", "SET OF 3 CAKE TINS PANTRY DESIGN", price=4.95, currency="GBP", popularity=30),
    Item("T1", "TEAPOT RED RETROSPOT", price=7.95, currency="GBP", popularity=10),
    Item("T2", "TEAPOT BLUE POLKADOT", price=6.95, currency="GBP", popularity=8),
    Item("C1", "SET OF 6 TEA CUPS AND SAUCERS", price=9.95, currency="GBP", popularity=20),
    Item("N1", "PAPER TEA PARTY NAPKINS", price=0.85, currency="GBP", popularity=40),
    Item("K1", "SCENTED TEA LIGHT CANDLES", price=2.10, currency="GBP", popularity=25),
    Item("K2", "CANDLE HOLDER TEA PARTY", price=3.75, currency="GBP", popularity=5),
    Item("W1", "WALNUT TEA CAKE", price=3.50, currency="GBP", popularity=4),
    Item("G1", "BIRTHDAY GREETING CARD TEA", price=0.42, currency="GBP", popularity=60),
    Item("S1", "TEA SPOONS VINTAGE", price=2.55, currency="GBP", popularity=12),
    Item("X1", "OUT OF STOCK TEA TRAY", price=5.00, currency="GBP", in_stock=False),
    Item("P1", "PLASTIC PICNIC PLATES TEA", price=1.25, currency="GBP", popularity=9),
    Item("M1", "MUG HOME SWEET HOME", price=1.25, currency="GBP", popularity=15),
    Item("M2", "MUG VINTAGE ROSE", price=1.65, currency="GBP", popularity=11),
]


class FakeStore:
    """The store calls the HTTP routes make (items with vectors, events, erasure), in memory."""

    def __init__(self, items: dict[str, Item]) -> None:
        from retrieval.feedback import FeedbackLog

        self.items, self.events = items, []
        self.feedback = FeedbackLog(None)  # the real log, in memory

    def get_items(self, ids: list[str], with_vectors: bool = False) -> list:
        found = [self.items[i] for i in ids if i in self.items]
        return [(it, np.ones(4, dtype=np.float32)) for it in found] if with_vectors else found

    def add_events(self, events: list[Event], vectors: np.ndarray) -> None:
        assert len(vectors) == len(events)
        self.events.extend(events)

    def delete_shopper(self, shopper: str) -> None:
        self.events = [e for e in self.events if e.shopper_id != shopper]
        self.feedback.delete_shopper(shopper)

    def warm(self) -> None:
        pass


@dataclass
class FakePool:
    """``retrieval.protocol.Pool``: the request, the accepted items and the shopper's history."""

    query: str
    items: list[Item]
    history: list[tuple[Item, Any, Event]] = field(default_factory=list)
    chosen: list[Any] = field(default_factory=list)

    def similarities(self) -> list[tuple[Item, float]]:
        """Word overlap with the request, as the fake ranks."""
        words = content_stems(self.query)
        return [(it, len(words & content_stems(it.title)) / max(len(words), 1)) for it in self.items]

    def merged(self, others: Sequence[FakePool]) -> FakePool:
        seen = {it.id: it for it in self.items}
        for p in others:
            for it in p.items:
                seen.setdefault(it.id, it)
        return replace(self, items=list(seen.values()))


class FakeRetriever:
    """Word-overlap retrieval with the whole ``retrieval.protocol.ShopRetriever`` interface."""

    def __init__(self, items: Sequence[Item] = tuple(CATALOG),
                 history: dict[str, list[tuple[Item, Event]]] | None = None, currency: str | None = "GBP",
                 kinds: Kinds | None = None) -> None:
        self.items = {it.id: it for it in items}
        self._history = history or {}
        self.currency = currency
        self.store = FakeStore(self.items)
        self.lexicon = Lexicon.fit(item_text(it) for it in items)
        self.kinds = kinds
        self.calls: list[str] = []
        self.foreign: list[str] = []
        self._glossary: Any = None

    def warm(self) -> None:
        self.store.warm()

    def item(self, item_id: str) -> Item | None:
        return self.items.get(item_id)

    def kind(self, item: Item) -> tuple[str, str] | None:
        # a dozen titles give Kinds.fit no statistics to tell a head word from a pattern ("TEAPOT RED
        # RETROSPOT" -> retrospot): the fake knows kinds only when a test gives them, as a shop without kinds
        return self.kinds.of(item) if self.kinds is not None else None

    def shop_kinds(self) -> Kinds | None:
        return self.kinds

    def glossary(self) -> Any:
        # the real Glossary of the fake's titles, in the hash encoder: an English word of the catalog is
        # itself, anything else stays unplaced (the hash encoder knows no language)
        from retrieval.multilingual import Glossary, multilingual_encoder, vocabulary

        if self._glossary is None:
            self._glossary = Glossary.fit(vocabulary([], (it.title for it in self.items.values())),
                                          multilingual_encoder("hash"))
        return self._glossary

    def associations(self, item_ids: Sequence[str]) -> np.ndarray:
        # as ``_score``'s complement (0.2 once weighted by assistant.optimize.COMPLEMENT): napkins and spoons go
        # with anything
        out = np.array([[0.4 if a != b and (a in ("N1", "S1") or b in ("N1", "S1")) else 0.0 for b in item_ids]
                        for a in item_ids]).reshape(len(item_ids), len(item_ids))
        return out

    def history(self, shopper: str, n: int | None = None) -> list[tuple[Item, Event]]:
        h = self._history.get(shopper, [])
        return h[:n] if n else list(h)

    def taste(self, shopper: str | None) -> Taste:
        # the real rule over the real log; the fake's ranking ignores the values, turn.gather's exclusion holds
        from retrieval.feedback import taste_of

        if not shopper:
            return Taste()
        return taste_of(self.store.feedback.events(shopper),
                        lambda i: (k[0] if (k := self.kind(self.items[i])) else None) if i in self.items else None)

    def _score(self, it: Item, query: str, chosen: Sequence[Any]) -> ScoredItem:
        q = content_stems(query)
        rel = len(q & content_stems(it.title)) / (len(q) or 1)
        pop = it.popularity / 100.0
        comp = 0.2 if chosen and it.id in ("N1", "S1") else 0.0  # napkins and spoons go with anything
        bd = {"relevance": rel, "affinity": 0.0, "complement": comp, "substitute": 0.0, "popularity": pop * 0.1}
        ev = {"complement_of": chosen[0] if isinstance(chosen[0], str) else chosen[0].id} if comp else {}
        return ScoredItem(it, round(sum(bd.values()), 6), bd, ev)

    def gather(self, query: str, *, shopper: str | None = None, filters: Any = None, k: int | None = None,
               chosen: Sequence[Any] = (), history_before: float | None = None, foreign: str = "") -> FakePool:
        from retrieval.search import Filters

        self.calls.append(query)
        if foreign:
            self.foreign.append(foreign)
        filters = filters or Filters()
        chosen_ids = {c if isinstance(c, str) else c.id for c in chosen}
        items = [it for it in self.items.values() if filters.accepts(it) and it.id not in chosen_ids]
        history = [(it, None, ev) for it, ev in self.history(shopper or "")
                   if history_before is None or ev.timestamp < history_before]
        return FakePool(query, items, history, list(chosen))

    def rank(self, pool: FakePool, k: int | None = None, *, chosen: Sequence[Any] = ()) -> list[ScoredItem]:
        return self._ranked(pool.items, pool.query, [*pool.chosen, *chosen])[: k or 60]

    def candidates(self, query: str, *, shopper: str | None = None, filters: Any = None, k: int | None = None,
                   chosen: Sequence[Any] = (), history_before: float | None = None,
                   foreign: str = "") -> list[ScoredItem]:
        return self.rank(self.gather(query, shopper=shopper, filters=filters, k=k, chosen=chosen,
                                     history_before=history_before, foreign=foreign), k)

    def rescore(self, candidates: Sequence[Any], query: str, *, shopper: str | None = None,
                chosen: Sequence[Any] = (), pool: FakePool | None = None) -> list[ScoredItem]:
        return self._ranked([c.item if isinstance(c, ScoredItem) else c for c in candidates], query, list(chosen))

    def _ranked(self, items: Sequence[Item], query: str, chosen: list[Any]) -> list[ScoredItem]:
        out = [self._score(it, query, chosen) for it in items]
        out.sort(key=lambda s: (-s.score, s.item.id))
        return out


class FakeGenerator:
    """The Generator interface: ``choice_scores`` returns ``probs`` (or a ramp favouring the LAST letter),
    ``judge_scores`` gives each prompt ``yes(prompt)`` (default: 0.9 when its item names "napkin",
    else 0.1), ``stream`` yields ``text`` word by word (a callable gets the messages). ``task``: what
    ``info["task"]`` says the loaded adapter was trained for."""

    def __init__(self, text: Any = "These items suit a tea party nicely.", probs: list[float] | None = None,
                 task: str = "choice", yes: Any = None) -> None:
        self.text = text
        self.probs = probs
        self.yes = yes or (lambda p: 0.9 if "napkin" in p[1]["content"].split("<catalog>")[-1].lower() else 0.1)
        self.scored: list[list[dict[str, str]]] = []
        self.judged: list[list[list[dict[str, str]]]] = []
        self.streamed: list[list[dict[str, str]]] = []
        self.info = {"base": "fake", "task": task}

    def judge_scores(self, prompts: list[list[dict[str, str]]]) -> list[float]:
        self.judged.append(prompts)
        return [float(self.yes(p)) for p in prompts]

    def choice_scores(self, messages: list[dict[str, str]], n_choices: int) -> list[float]:
        self.scored.append(messages)
        if self.probs is not None:
            return list(self.probs)[:n_choices]
        ramp = [float(i + 1) for i in range(n_choices)]
        return [r / sum(ramp) for r in ramp]

    def stream(self, messages: list[dict[str, str]], max_new_tokens: int = 80, **_: Any) -> Iterator[str]:
        self.streamed.append(messages)
        text = self.text(messages) if callable(self.text) else self.text
        words = text.split(" ")
        for i, w in enumerate(words[:max_new_tokens]):
            yield w if i == 0 else " " + w
