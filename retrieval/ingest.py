"""Read a shop's catalog or event log from CSV, JSONL or Parquet, row by row, keeping what is valid.

A bad row never sinks the file: it is rejected with its file, line and reason, and every valid row is kept.
Only a file that cannot be read at all (unknown suffix, missing, not UTF-8, broken Parquet, a mapped
column that does not exist) raises ``DataError``.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "shop.csv"
>>> _ = p.write_text("sku,name,cost,colour\\n17850.0,Teapot,12.5,blue\\n2,,3,red\\n3,Cup,-1,red\\n")
>>> rep = read_catalog(p, {"id": "sku", "title": "name", "price": "cost"}, currency="GBP")
>>> [(it.id, it.title, it.price, it.attributes) for it in rep.items]
[('17850', 'Teapot', 12.5, {'colour': 'blue'})]
>>> [(r.line, r.reason) for r in rep.rejected]
[(3, 'missing title'), (4, 'negative price')]
>>> rep.summary()
'1 valid, 2 rejected: 1 missing title, 1 negative price'
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bundlebot.errors import DataError
from retrieval.types import EVENT_KINDS, Event, Item

log = logging.getLogger(__name__)

ITEM_FIELDS = ("id", "title", "description", "category", "price", "currency", "in_stock", "brand",
               "image_url")
EVENT_FIELDS = ("shopper_id", "item_id", "timestamp", "kind", "quantity", "basket_id")
SUFFIXES = (".csv", ".jsonl", ".parquet")
_TRUE = {"true", "yes", "y", "1", "t", "in stock", "instock", "available"}
_FALSE = {"false", "no", "n", "0", "f", "out of stock", "outofstock", "unavailable"}
_INT_FLOAT = re.compile(r"^-?\d+\.0+$")


class RowError(ValueError):
    """A row-level problem: ``reason`` is the short kind counted in summaries, ``detail`` the specifics."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Rejection:
    """One rejected row. ``line`` is 1-based: the file line for CSV (header = line 1) and JSONL, the row
    number for Parquet."""

    file: str
    line: int
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.file}:{self.line}: {self.reason}{extra}"


def _summary(n_valid: int, rejected: list[Rejection]) -> str:
    head = f"{n_valid:,} valid, {len(rejected):,} rejected"
    if not rejected:
        return head
    counts = Counter(r.reason for r in rejected).most_common()
    return head + ": " + ", ".join(f"{n:,} {reason}" for reason, n in counts)


@dataclass
class IngestReport:
    items: list[Item]
    rejected: list[Rejection] = field(default_factory=list)
    source: str = ""

    def summary(self) -> str:
        """``'3,659 valid, 4 rejected: 2 missing title, 1 negative price, 1 duplicate id'``."""
        return _summary(len(self.items), self.rejected)


@dataclass
class EventReport:
    events: list[Event]
    rejected: list[Rejection] = field(default_factory=list)
    source: str = ""

    def summary(self) -> str:
        return _summary(len(self.events), self.rejected)


# --- raw rows -------------------------------------------------------------------------------------------

def _iter_csv(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header:
            return
        header = [h.strip() for h in header]
        prev = reader.line_num
        for values in reader:
            start, prev = prev + 1, reader.line_num  # a quoted field may span lines: report where it starts
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                yield start, RowError("malformed row", f"expected {len(header)} fields, got {len(values)}")
                continue
            yield start, dict(zip(header, values, strict=True))


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    with path.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, RowError("invalid JSON", exc.msg)
                continue
            yield lineno, obj if isinstance(obj, dict) else RowError("not an object", type(obj).__name__)


def _iter_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataError(f"cannot read Parquet file {path}: {exc}",
                        hint="check that the file is a complete Parquet file") from exc
    yield from enumerate(table.to_pylist(), start=1)


def _columns(path: Path) -> list[str] | None:
    """The file's column names where the format has a header (None for JSONL: keys vary per row)."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return [h.strip() for h in next(csv.reader(fh), [])]
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception as exc:
            raise DataError(f"cannot read Parquet file {path}: {exc}",
                            hint="check that the file is a complete Parquet file") from exc
    return None


def _open_rows(path: str | Path, mapping: dict[str, str], fields: tuple[str, ...],
               required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"expected a {', '.join(SUFFIXES)} file, got {path.name!r}",
                        hint="convert the file to CSV, JSONL or Parquet, or rename it with the right suffix")
    if not path.is_file():
        raise DataError(f"no such file: {path}", hint="check the path")
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise DataError(f"mapping keys should be among {', '.join(fields)}, got {unknown}",
                        hint="map bundlebot field names to your column names, e.g. {'id': 'sku'}")
    try:
        cols = _columns(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text: {exc}", hint="re-save the file as UTF-8") from exc
    if cols is not None:
        missing = [f"{mapping.get(f, f)!r} (for {f})" for f in required if mapping.get(f, f) not in cols]
        if missing:
            raise DataError(f"expected column(s) {', '.join(missing)} in {path.name}, found {cols}",
                            hint="pass a mapping from bundlebot fields to your column names")
    reader = {".csv": _iter_csv, ".jsonl": _iter_jsonl, ".parquet": _iter_parquet}[suffix]
    try:
        yield from reader(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text: {exc}", hint="re-save the file as UTF-8") from exc
    except csv.Error as exc:
        raise DataError(f"cannot parse CSV {path}: {exc}", hint="check quoting in the file") from exc


# --- value parsing --------------------------------------------------------------------------------------

def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def plain_id(value: Any) -> str:
    """An id as a plain string: ``17850.0`` -> ``'17850'``, ``' A1 '`` -> ``'A1'``.

    >>> plain_id(17850.0), plain_id("17850.0"), plain_id(42), plain_id("85123A")
    ('17850', '17850', '42', '85123A')
    """
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text.split(".")[0] if _INT_FLOAT.match(text) else text


def parse_price(value: Any) -> float | None:
    """``'£1,234.50'`` -> 1234.5; blank -> None; raises RowError for junk or a negative price."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise RowError("unparsable price", repr(value))
    if isinstance(value, int | float):
        price = float(value)
    else:
        text = re.sub(r"[£$€¥\s]|[A-Za-z]{3}$|^[A-Za-z]{3}", "", str(value).strip()).replace(",", "")
        try:
            price = float(text)
        except ValueError:
            raise RowError("unparsable price", repr(value)) from None
    if not math.isfinite(price):
        raise RowError("unparsable price", repr(value))
    if price < 0:
        raise RowError("negative price", repr(value))
    return price


def parse_bool(value: Any, what: str = "in_stock") -> bool:
    """Blank -> True (a catalog row is in stock unless it says otherwise)."""
    if _blank(value):
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RowError(f"unparsable {what}", repr(value))


def parse_category(value: Any) -> tuple[str, ...]:
    """A path ``'a > b > c'`` or ``'a/b/c'``, a JSON list string, or a list.

    >>> parse_category("Kitchen > Tea & Coffee"), parse_category("home/decor"), parse_category(["a", "b"])
    (('Kitchen', 'Tea & Coffee'), ('home', 'decor'), ('a', 'b'))
    """
    if _blank(value):
        return ()
    if isinstance(value, str) and value.strip().startswith("["):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    if isinstance(value, list | tuple):
        parts = [str(v) for v in value if not _blank(v)]
    else:
        text = str(value)
        parts = text.split(">") if ">" in text else text.split("/")
    return tuple(p.strip() for p in parts if p.strip())


def parse_timestamp(value: Any) -> float:
    """POSIX seconds from epoch seconds/milliseconds or an ISO date (naive = UTC).

    >>> parse_timestamp("2010-12-01T08:26:00"), parse_timestamp(1291191960), parse_timestamp("1291191960000")
    (1291191960.0, 1291191960.0, 1291191960.0)
    """
    if _blank(value):
        raise RowError("missing timestamp")
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            num = float(value)
        except (TypeError, ValueError):
            num = None
        if num is not None and math.isfinite(num):
            return num / 1000.0 if abs(num) > 1e11 else num  # > 1e11 s is year 5138: it is milliseconds
        try:
            dt = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise RowError("unparsable timestamp", repr(value)) from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def _text(value: Any) -> str:
    return "" if _blank(value) else str(value).strip()


def parse_quantity(value: Any) -> int:
    """Blank -> 1; a positive whole number otherwise."""
    if _blank(value):
        return 1
    try:
        qty = float(value)
    except (TypeError, ValueError):
        raise RowError("unparsable quantity", repr(value)) from None
    if not qty.is_integer() or qty <= 0:
        raise RowError("unparsable quantity", f"expected a positive whole number, got {value!r}")
    return int(qty)


# --- rows -> records ------------------------------------------------------------------------------------

def _item_from_row(row: dict[str, Any], mapping: dict[str, str], currency: str | None) -> Item:
    def get(name: str) -> Any:
        return row.get(mapping.get(name, name))

    if _blank(get("id")):
        raise RowError("missing id")
    title = _text(get("title"))
    if not title:
        raise RowError("missing title")
    used = {mapping.get(f, f) for f in ITEM_FIELDS}
    attributes = {str(k): _text(v) if not isinstance(v, list | dict) else json.dumps(v)
                  for k, v in row.items() if k not in used and not _blank(v)}
    price = parse_price(get("price"))
    return Item(
        id=plain_id(get("id")), title=title, description=_text(get("description")),
        category=parse_category(get("category")), price=price,
        currency=(_text(get("currency")) or currency) if price is not None else None,
        in_stock=parse_bool(get("in_stock")), brand=_text(get("brand")) or None,
        image_url=_text(get("image_url")) or None, attributes=attributes,
    )


def read_catalog(path: str | Path, mapping: dict[str, str] | None = None, *,
                 currency: str | None = None) -> IngestReport:
    """Read catalog items; ``mapping`` maps Item fields to column names (unmapped columns = identity).

    Columns that map to no Item field become string ``attributes``. A repeated id keeps the first row and
    rejects the later ones as ``duplicate id``. ``currency`` is the default for rows with a price and no
    currency column.
    """
    mapping = dict(mapping or {})
    items: list[Item] = []
    rejected: list[Rejection] = []
    seen: dict[str, int] = {}
    name = str(path)
    for line, row in _open_rows(path, mapping, ITEM_FIELDS, ("id", "title")):
        try:
            if isinstance(row, RowError):
                raise row
            item = _item_from_row(row, mapping, currency)
            if item.id in seen:
                raise RowError("duplicate id", f"id {item.id!r} first seen on line {seen[item.id]}")
        except RowError as err:
            rejected.append(Rejection(name, line, err.reason, err.detail))
            continue
        seen[item.id] = line
        items.append(item)
    report = IngestReport(items, rejected, name)
    log.info("catalog %s: %s", name, report.summary())
    return report


def _event_from_row(row: dict[str, Any], mapping: dict[str, str]) -> Event:
    def get(name: str) -> Any:
        return row.get(mapping.get(name, name))

    if _blank(get("shopper_id")):
        raise RowError("missing shopper_id")
    if _blank(get("item_id")):
        raise RowError("missing item_id")
    kind = _text(get("kind")).lower() or "purchase"
    if kind not in EVENT_KINDS:
        raise RowError("unknown kind", f"expected one of {EVENT_KINDS}, got {kind!r}")
    basket = get("basket_id")
    return Event(shopper_id=plain_id(get("shopper_id")), item_id=plain_id(get("item_id")),
                 timestamp=parse_timestamp(get("timestamp")), kind=kind,
                 quantity=parse_quantity(get("quantity")),
                 basket_id=None if _blank(basket) else plain_id(basket))


def read_events(path: str | Path, mapping: dict[str, str] | None = None) -> EventReport:
    """Read shopper events (shopper_id, item_id, timestamp, kind=purchase|cart|view, quantity, basket_id).

    ``kind`` defaults to purchase and ``quantity`` to 1; the timestamp may be ISO or epoch (s or ms).
    """
    mapping = dict(mapping or {})
    events: list[Event] = []
    rejected: list[Rejection] = []
    name = str(path)
    for line, row in _open_rows(path, mapping, EVENT_FIELDS, ("shopper_id", "item_id", "timestamp")):
        try:
            if isinstance(row, RowError):
                raise row
            events.append(_event_from_row(row, mapping))
        except RowError as err:
            rejected.append(Rejection(name, line, err.reason, err.detail))
    report = EventReport(events, rejected, name)
    log.info("events %s: %s", name, report.summary())
    return report
