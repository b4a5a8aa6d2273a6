"""Shopper history: one row per (shopper, item) in a SQLite table per shop, next to the vector store.

Why not a Chroma collection (where it lived until issue #19): a history row needs no vector of its own,
its vector IS its item's vector, which the catalog collection already holds; and Chroma's ``add`` of rows
with a vector and seven metadata fields ran at 570-1,000 rows/s on the 2-core machine (an HNSW insert and
one metadata row per field, for vectors nothing ever searches), so writing the demo shop's 200,393 rows
took four of its six indexing minutes. Chroma's largest batch or a one-dimensional placeholder vector
(measured: ~2.5x) do not reach the 10x the issue asks for: the metadata rows are most of the cost. Here the
rows are one ``executemany`` per batch, and the whole history phase (fold, compare, write) ran at 78x raw
Chroma ``add`` of the same rows in the same run (``benchmarks/bench_ingest.py``; BENCHMARKS.md). Every
question history answers is about one shopper (their rows, their items' vectors, recent / frequent,
forget them), a range of the primary key here; ``ShopStore.history_query`` scores those rows with the
catalog's vectors of their items (23x faster than Chroma's filtered ``get`` in the same run).

Where: ``<store path>/bundlebot_history/<shop>.sqlite``. With an embedded store that is inside the Chroma
folder, so the store is still one folder; with a Chroma server it is on the serving machine, like the shop's
co-purchase statistics, kinds and ranker. Processes share it: WAL journal, a busy timeout, and a write
takes the lock before it reads (``BEGIN IMMEDIATE``), so two processes adding events to one entry both
count. Every write is one transaction: a full disk or a killed process leaves the rows as they were.

>>> import tempfile
>>> table = HistoryTable(Path(tempfile.mkdtemp()) / "demo.sqlite")
>>> table.add([Event("s1", "teapot", 100.0), Event("s1", "teapot", 200.0, quantity=2)])
>>> [(e.item_id, e.count, e.quantity, e.first_ts, e.last_ts) for e in table.entries("s1")]
[('teapot', 2, 3, 100.0, 200.0)]
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bundlebot.errors import RequestError, StoreError
from bundlebot.paths import disk_error, disk_refused
from retrieval.types import EVENT_KINDS, MAX_TIMESTAMP, MIN_TIMESTAMP, Event, valid_timestamp

log = logging.getLogger(__name__)

FOLDER = "bundlebot_history"
COLUMNS = ("shopper", "item_id", "count", "qty", "first_ts", "ts", "kind")
SCHEMA = ("CREATE TABLE IF NOT EXISTS history (shopper TEXT NOT NULL, item_id TEXT NOT NULL, count INTEGER, "
          "qty INTEGER, first_ts REAL, ts REAL, kind TEXT, PRIMARY KEY (shopper, item_id)) WITHOUT ROWID")
SELECT = f"SELECT {', '.join(COLUMNS)} FROM history"
UPSERT = f"INSERT OR REPLACE INTO history ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
KEYS = 400
"""Keys per ``IN`` / ``DELETE`` statement (SQLite's bound-variable limit is 999 on old builds)."""

Row = tuple[str, str, int, int, float, float, str]


@dataclass(frozen=True)
class HistoryEntry:
    """What a shopper did with one item, aggregated over events."""

    shopper_id: str
    item_id: str
    count: int
    quantity: int
    first_ts: float
    last_ts: float
    kind: str

    def to_event(self) -> Event:
        return Event(self.shopper_id, self.item_id, self.last_ts, self.kind, self.quantity, count=self.count)

    def to_metadata(self) -> dict[str, Any]:
        return {"shopper": self.shopper_id, "item_id": self.item_id, "count": self.count,
                "qty": self.quantity, "first_ts": self.first_ts, "ts": self.last_ts, "kind": self.kind}

    @classmethod
    def from_metadata(cls, m: dict[str, Any]) -> HistoryEntry:
        return cls(m["shopper"], m["item_id"], int(m["count"]), int(m["qty"]), float(m["first_ts"]),
                   float(m["ts"]), m["kind"])

    def row(self) -> Row:
        """The entry as stored (plain Python types: numpy integers do not bind)."""
        return (str(self.shopper_id), str(self.item_id), int(self.count), int(self.quantity),
                float(self.first_ts), float(self.last_ts), str(self.kind))

    @classmethod
    def of_row(cls, r: Sequence[Any]) -> HistoryEntry:
        if r[6] is None:
            raise TypeError("no kind")
        return cls(r[0], r[1], int(r[2]), int(r[3]), float(r[4]), float(r[5]), r[6])


def read_entry(m: dict[str, Any] | None) -> HistoryEntry | None:
    """The entry of one stored row, or None (logged) when it cannot be read: one damaged row, e.g. a
    timestamp written before timestamps were checked, must not break every later turn of that shopper."""
    try:
        e = HistoryEntry.from_metadata(m or {})
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("skipping an unreadable history entry %r: %s", m, exc)
        return None
    if not (valid_timestamp(e.first_ts) and valid_timestamp(e.last_ts)):
        log.warning("skipping a history entry with an impossible timestamp: %r", m)
        return None
    return e


def read_entries(metadatas: Sequence[dict[str, Any] | None]) -> list[HistoryEntry]:
    """Every readable entry of stored rows (``read_entry``)."""
    return [e for m in metadatas if (e := read_entry(m)) is not None]


def check_events(events: Sequence[Event]) -> None:
    """Refuse events that would damage a shopper's stored history (RequestError names the first one)."""
    for e in events:
        if not valid_timestamp(e.timestamp):
            raise RequestError(f"event timestamp should be POSIX seconds in [{MIN_TIMESTAMP:.0f}, "
                               f"{MAX_TIMESTAMP:.0f}], got {e.timestamp!r} (item {e.item_id!r})",
                               hint="send seconds since 1970, or omit the timestamp to mean now")
        if e.kind not in EVENT_KINDS or not isinstance(e.quantity, int) or e.quantity < 1:
            raise RequestError(f"event of item {e.item_id!r} should have a kind in {EVENT_KINDS} and a "
                               f"positive integer quantity, got {e.kind!r} x {e.quantity!r}")


def merge(old: HistoryEntry, new: HistoryEntry) -> HistoryEntry:
    """Two aggregates of one (shopper, item); the kind is the latest one's (``new``'s on a tie)."""
    return HistoryEntry(new.shopper_id, new.item_id, old.count + new.count, old.quantity + new.quantity,
                        min(old.first_ts, new.first_ts), max(old.last_ts, new.last_ts),
                        new.kind if new.last_ts >= old.last_ts else old.kind)


def aggregate_events(events: Sequence[Event]) -> dict[tuple[str, str], HistoryEntry]:
    """Fold events into one entry per (shopper, item), in order (a later event wins a timestamp tie)."""
    out: dict[tuple[str, str], HistoryEntry] = {}
    for e in events:
        key = (e.shopper_id, e.item_id)
        one = HistoryEntry(e.shopper_id, e.item_id, 1, e.quantity, e.timestamp, e.timestamp, e.kind)
        old = out.get(key)
        out[key] = one if old is None else merge(old, one)
    return out


def aggregate_rows(events: Sequence[Event]) -> list[Row]:
    """``aggregate_events`` as stored rows, in columns (pandas) rather than one Python step per event: the
    bulk path of indexing (285k demo events: ~10x faster). The same rule: count, summed quantity, first and
    last time, and the kind of the last event, in input order, at the latest time.

    >>> aggregate_rows([Event("s", "a", 5.0, "view"), Event("s", "a", 5.0, "cart", 2), Event("s", "a", 3.0)])
    [('s', 'a', 3, 4, 3.0, 5.0, 'cart')]
    """
    import pandas as pd

    if not events:
        return []
    df = pd.DataFrame({"s": [str(e.shopper_id) for e in events], "i": [str(e.item_id) for e in events],
                       "t": np.fromiter((e.timestamp for e in events), np.float64, len(events)),
                       "q": np.fromiter((e.quantity for e in events), np.int64, len(events)),
                       "k": [e.kind for e in events]})
    groups = df.groupby(["s", "i"], sort=False)
    out = groups.agg(count=("t", "size"), qty=("q", "sum"), first=("t", "min"), last=("t", "max"))
    latest = df[df["t"].to_numpy() == groups["t"].transform("max").to_numpy()]
    kind = latest.groupby(["s", "i"], sort=False)["k"].last().reindex(out.index)
    shoppers, items = (out.index.get_level_values(n).tolist() for n in ("s", "i"))
    return list(zip(shoppers, items, out["count"].tolist(), out["qty"].tolist(), out["first"].tolist(),
                    out["last"].tolist(), kind.tolist(), strict=True))


def history_path(store_path: Path, shop: str) -> Path:
    return Path(store_path) / FOLDER / f"{shop}.sqlite"


class HistoryTable:
    """One shop's history rows. Thread-safe (one connection, one lock); readers skip damaged rows."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        with self._sql("open"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0,
                                       isolation_level=None)  # transactions are explicit (_write)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a killed process loses no commit
            self._db.execute(SCHEMA)
            self._db.execute("CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT)")

    @contextmanager
    def _sql(self, what: str) -> Iterator[None]:
        """A refused write is a DiskError (SQLite rolled it back: the rows are as they were), any other
        SQLite failure a StoreError."""
        try:
            yield
        except (OSError, sqlite3.Error) as exc:
            if disk_refused(exc):
                raise disk_error(exc, f"the shopper history ({what})", self.path.parent) from exc
            if not isinstance(exc, sqlite3.Error):
                raise
            raise StoreError(f"shopper history failed to {what}: {type(exc).__name__}: {exc}",
                             hint=f"another process may hold {self.path} for long; retry, or delete the "
                                  "file and run `bundlebot index` to rebuild the history") from exc

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One transaction that holds the write lock from its first statement."""
        with self._lock, self._sql(what):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already (a full disk)
                    self._db.execute("ROLLBACK")
                raise

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._lock, self._sql("read"):
            return self._db.execute(sql, args).fetchall()

    # ---- reading ----------------------------------------------------------------------------------------
    def rows(self) -> list[tuple]:
        """Every stored row as it is (what indexing compares against; damaged rows included)."""
        return self._read(SELECT)

    def entries(self, shopper: str | None = None, before: float | None = None) -> list[HistoryEntry]:
        """Readable entries, of one shopper if given (with ``before``: first bought before that time)."""
        where, args = [], []
        if shopper is not None:
            where.append("shopper = ?")
            args.append(str(shopper))
        if before is not None:
            where.append("first_ts < ?")
            args.append(float(before))
        sql = SELECT + (" WHERE " + " AND ".join(where) if where else "")
        return self._readable(self._read(sql, args))

    def count(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM history")[0][0])

    def _readable(self, rows: Sequence[tuple]) -> list[HistoryEntry]:
        out = []
        for r in rows:
            try:
                e = HistoryEntry.of_row(r)
            except (TypeError, ValueError) as exc:
                log.warning("skipping an unreadable history entry %r: %s", r, exc)
                continue
            if valid_timestamp(e.first_ts) and valid_timestamp(e.last_ts):
                out.append(e)
            else:
                log.warning("skipping a history entry with an impossible timestamp: %r", r)
        return out

    # ---- writing ----------------------------------------------------------------------------------------
    def put(self, rows: Sequence[Row], *, keep_existing: bool = False) -> None:
        """Write rows as they are, in one transaction; ``keep_existing``: rows already there win."""
        sql = UPSERT.replace("OR REPLACE", "OR IGNORE") if keep_existing else UPSERT
        with self._write(f"write {len(rows):,} rows") as db:
            db.executemany(sql, rows)

    def add(self, events: Sequence[Event]) -> None:
        """Merge live events into their entries (a damaged stored entry is replaced), in one transaction.
        Every event is checked first: nothing is written when one is invalid."""
        check_events(events)
        new = aggregate_events(events)
        with self._write(f"add {len(events):,} events") as db:
            old: dict[tuple[str, str], HistoryEntry] = {}
            by_shopper: dict[str, list[str]] = {}
            for shopper, item in new:
                by_shopper.setdefault(shopper, []).append(item)
            for shopper, items in by_shopper.items():
                for chunk in range(0, len(items), KEYS):
                    part = items[chunk:chunk + KEYS]
                    rows = db.execute(f"{SELECT} WHERE shopper = ? AND item_id IN ({','.join('?' * len(part))})",
                                      [shopper, *part]).fetchall()
                    old.update(((e.shopper_id, e.item_id), e) for e in self._readable(rows))
            db.executemany(UPSERT, [(merge(old[k], e) if k in old else e).row() for k, e in new.items()])

    def delete(self, keys: Sequence[tuple[str, str]]) -> None:
        with self._write(f"delete {len(keys):,} rows") as db:
            db.executemany("DELETE FROM history WHERE shopper = ? AND item_id = ?", keys)

    def delete_shopper(self, shopper: str) -> None:
        with self._write("delete a shopper") as db:
            db.execute("DELETE FROM history WHERE shopper = ?", (str(shopper),))

    def info(self, key: str) -> str | None:
        found = self._read("SELECT value FROM info WHERE key = ?", (key,))
        return found[0][0] if found else None

    def set_info(self, key: str, value: str) -> None:
        with self._write("write its info") as db:
            db.execute("INSERT OR REPLACE INTO info (key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        with self._lock:
            self._db.close()
