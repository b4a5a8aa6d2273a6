"""A shop's live feedback log: every event ``/api/v1/events`` (and the Gradio UI) records, as it came.

Why a log beside the history table and not in it: history is one aggregate row per (shopper, item) that
the reranker reads as "they have it" (affinity, ``times_bought``, "you bought it before"); a view, a like or
a dislike says no such thing. So only purchases and cart additions become history (``HISTORY_KINDS``), and
every live event, those two included, is appended here: one row each, with its scope (an item's own
button, or a button for the whole bundle) and the request the bundle answered, which is what a later ranker
fit needs to use a like or a dislike as a label (``events()`` reads them back).

A turn reads the shopper's reactions through ``taste_of`` (``Retriever.taste``):

- the item's latest verdict wins (a like after a dislike undoes it; so does a later cart or purchase);
- an item whose latest verdict is ``dislike`` is excluded from every later bundle (``Taste.disliked``);
- an item's own value: liked +0.5, removed -0.5; a verdict on the whole bundle counts for each of its
  items only where the item has no verdict of its own (+0.25 / -0.25), and says nothing about kinds;
- a kind's value (``Retriever.kind``): -1 for each disliked item of that kind, +0.25 for each liked one,
  clipped to [-1, 1]: one disliked teapot is reason enough to offer other things, one liked mug is not a
  reason to fill the bundle with mugs.

Where: ``<store path>/bundlebot_feedback/<shop>.sqlite`` (WAL, one transaction per write, like the
history table). ``ShopStore.delete_shopper`` deletes a shopper's rows here too.

>>> log = FeedbackLog(None)   # in memory
>>> log.add([LiveEvent("s1", "pot", "dislike", 10.0), LiveEvent("s1", "mug", "like", 11.0),
...          LiveEvent("s1", "cup", "dislike", 12.0, scope="bundle")])
>>> t = taste_of(log.events("s1"), {"pot": "teapot", "mug": "mug", "cup": "cup"}.get)
>>> sorted(t.disliked), t.items, t.kinds
(['pot'], {'cup': -0.25, 'mug': 0.5}, {'teapot': -1.0, 'mug': 0.25})
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bundlebot.errors import NotFoundError, RequestError, StoreError
from bundlebot.paths import disk_error, disk_refused
from retrieval.types import (
    HISTORY_KINDS,
    LIVE_EVENT_KINDS,
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    REACTION_KINDS,
    Event,
    Taste,
    valid_timestamp,
)

log = logging.getLogger(__name__)

FOLDER = "bundlebot_feedback"
SCOPES = ("item", "bundle")
COLUMNS = ("shopper", "item_id", "kind", "ts", "qty", "scope", "request")
SCHEMA = ("CREATE TABLE IF NOT EXISTS events (shopper TEXT NOT NULL, item_id TEXT NOT NULL, kind TEXT NOT NULL, "
          "ts REAL NOT NULL, qty INTEGER NOT NULL, scope TEXT NOT NULL, request TEXT NOT NULL)")
INDEX = "CREATE INDEX IF NOT EXISTS events_by_shopper ON events (shopper, ts)"
READ_LAST = 1000
"""A turn reads at most this many of a shopper's latest events (a bound on its cost, whatever they did)."""
ITEM_VALUE = {"like": 0.5, "remove": -0.5, "dislike": 0.0}
BUNDLE_VALUE = {"like": 0.25, "dislike": -0.25}
KIND_VALUE = {"like": 0.25, "dislike": -1.0}


@dataclass(frozen=True)
class LiveEvent:
    """One event as a shop or a shopper sent it (kinds: ``LIVE_EVENT_KINDS``)."""

    shopper_id: str
    item_id: str
    kind: str
    timestamp: float
    quantity: int = 1
    scope: str = "item"
    """``item``: the item's own button; ``bundle``: a verdict on the whole bundle the item was in."""
    request: str = ""
    """The shopper's request the bundle answered, when the client sent it (a label's context)."""

    def row(self) -> tuple:
        return (str(self.shopper_id), str(self.item_id), self.kind, float(self.timestamp), int(self.quantity),
                self.scope, self.request)


def check_live_events(events: Sequence[LiveEvent]) -> None:
    """Refuse what the log must not hold (RequestError names the first bad event)."""
    for e in events:
        if e.kind not in LIVE_EVENT_KINDS or e.scope not in SCOPES:
            raise RequestError(f"event of item {e.item_id!r} should have a kind in {LIVE_EVENT_KINDS} and a "
                               f"scope in {SCOPES}, got {e.kind!r} / {e.scope!r}")
        if e.scope == "bundle" and e.kind not in BUNDLE_VALUE:
            raise RequestError(f"a bundle-wide event is a like or a dislike, got {e.kind!r}")
        if not valid_timestamp(e.timestamp) or not isinstance(e.quantity, int) or e.quantity < 1:
            raise RequestError(f"event of item {e.item_id!r} should have a timestamp in [{MIN_TIMESTAMP:.0f}, "
                               f"{MAX_TIMESTAMP:.0f}] and a positive quantity, got {e.timestamp!r} x {e.quantity!r}")


def feedback_path(store_path: Path, shop: str) -> Path:
    return Path(store_path) / FOLDER / f"{shop}.sqlite"


class FeedbackLog:
    """One shop's feedback events, appended; ``path=None`` keeps them in memory (tests, the fakes)."""

    def __init__(self, path: Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        with self._sql("open"):
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path or ":memory:", check_same_thread=False, timeout=30.0,
                                       isolation_level=None)
            if self.path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(SCHEMA)
            self._db.execute(INDEX)

    @contextmanager
    def _sql(self, what: str) -> Iterator[None]:
        where = self.path.parent if self.path is not None else Path(".")
        try:
            yield
        except (OSError, sqlite3.Error) as exc:
            if disk_refused(exc):
                raise disk_error(exc, f"the feedback log ({what})", where) from exc
            if not isinstance(exc, sqlite3.Error):
                raise
            raise StoreError(f"feedback log failed to {what}: {type(exc).__name__}: {exc}",
                             hint=f"another process may hold {self.path} for long; retry") from exc

    def add(self, events: Sequence[LiveEvent]) -> None:
        """Append events in one transaction; every event is checked first (none is written if one is bad)."""
        check_live_events(events)
        with self._lock, self._sql(f"add {len(events):,} events"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES "
                                     f"({', '.join('?' * len(COLUMNS))})", [e.row() for e in events])
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def events(self, shopper: str | None = None, kinds: Sequence[str] = (),
               last: int | None = None) -> list[LiveEvent]:
        """Events oldest first: one shopper's (or every shopper's), of ``kinds`` if given, the ``last`` latest."""
        where, args = [], []
        if shopper is not None:
            where.append("shopper = ?")
            args.append(str(shopper))
        if kinds:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            args += list(kinds)
        sql = f"SELECT {', '.join(COLUMNS)} FROM events" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY ts DESC, rowid DESC" + (f" LIMIT {int(last)}" if last else "")
        with self._lock, self._sql("read"):
            rows = self._db.execute(sql, args).fetchall()
        return [LiveEvent(r[0], r[1], r[2], float(r[3]), int(r[4]), r[5], r[6]) for r in reversed(rows)]

    def count(self) -> int:
        with self._lock, self._sql("count"):
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def delete_shopper(self, shopper: str) -> None:
        with self._lock, self._sql("delete a shopper"):
            self._db.execute("DELETE FROM events WHERE shopper = ?", (str(shopper),))


def taste_of(events: Sequence[LiveEvent], kind_of: Callable[[str], str | None]) -> Taste:
    """A shopper's ``Taste`` from their events, oldest first (the rules are the module docstring's);
    ``kind_of(item_id)`` gives an item's kind (None: unknown, so it moves no kind)."""
    own: dict[str, str] = {}  # item -> its latest own verdict (a cart or purchase clears one)
    whole: dict[str, str] = {}  # item -> the latest verdict on a bundle it was in
    for e in events:
        if e.scope == "bundle":
            whole[e.item_id] = e.kind
        elif e.kind in REACTION_KINDS:
            own[e.item_id] = e.kind
        elif e.kind in ("cart", "purchase"):
            own.pop(e.item_id, None)
            whole.pop(e.item_id, None)
    items = {i: BUNDLE_VALUE[k] for i, k in whole.items() if i not in own}
    items.update((i, ITEM_VALUE[k]) for i, k in own.items() if ITEM_VALUE[k])
    kinds: dict[str, float] = {}
    for i, k in own.items():
        if k in KIND_VALUE and (kind := kind_of(i)):
            kinds[kind] = max(-1.0, min(1.0, kinds.get(kind, 0.0) + KIND_VALUE[k]))
    return Taste(frozenset(i for i, k in own.items() if k == "dislike"), items, kinds)


def record(store: Any, events: Sequence[LiveEvent]) -> int:
    """Record live events in a shop (``ShopStore`` or a fake with its interface): every item must be in the
    shop's catalog (NotFoundError otherwise, nothing written); purchases and cart additions join the
    shopper's history, and every event is appended to the feedback log. Returns how many were recorded."""
    check_live_events(events)
    vectors = {it.id: vec for it, vec in store.get_items(sorted({e.item_id for e in events}), with_vectors=True)}
    unknown = sorted({e.item_id for e in events} - set(vectors))
    if unknown:  # history and feedback only ever point at this shop's own catalog
        raise NotFoundError(f"item(s) {unknown[:5]} are not in this shop's catalog",
                            hint="send ids from this shop's catalog")
    bought = [Event(e.shopper_id, e.item_id, e.timestamp, e.kind, e.quantity) for e in events
              if e.kind in HISTORY_KINDS]
    if bought:
        store.add_events(bought, np.stack([vectors[e.item_id] for e in bought]))
    store.feedback.add(events)
    return len(events)
