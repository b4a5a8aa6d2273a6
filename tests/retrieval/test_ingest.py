"""Catalog and event ingest: bad rows are rejected one by one with file, line and reason; good rows stay."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bundlebot.errors import DataError
from retrieval.ingest import parse_category, plain_id, read_catalog, read_events

DATA = Path(__file__).parent / "data"
MAPPING = {"id": "sku", "title": "name", "price": "cost", "in_stock": "stock", "category": "cat"}


def _rejections(report) -> list[tuple[int, str]]:
    return [(r.line, r.reason) for r in report.rejected]


def test_csv_rejects_row_by_row_with_line_and_reason() -> None:
    rep = read_catalog(DATA / "catalog_bad.csv", MAPPING, currency="GBP")
    # Line numbers count the header as line 1; the quoted 2-line title starts on line 5, so later rows shift.
    assert _rejections(rep) == [(3, "missing title"), (4, "negative price"), (5, "unparsable price"),
                                (7, "unparsable in_stock"), (8, "duplicate id"), (9, "missing id"),
                                (11, "malformed row")]
    assert all(r.file.endswith("catalog_bad.csv") for r in rep.rejected)
    assert [it.id for it in rep.items] == ["17850", "A6", "A8"]
    teapot, napkins, spoon = rep.items
    assert (teapot.title, teapot.price, teapot.currency, teapot.category) == (
        "Blue Teapot", 12.5, "GBP", ("Kitchen", "Tea"))
    assert teapot.attributes == {"colour": "blue"}  # unmapped column -> attribute
    assert (napkins.price, napkins.in_stock, napkins.category, napkins.attributes) == (
        1.5, False, ("party", "paper"), {})
    assert (spoon.price, spoon.currency, spoon.in_stock) == (None, None, True)
    assert rep.summary() == ("3 valid, 7 rejected: 1 missing title, 1 negative price, 1 unparsable price, "
                             "1 unparsable in_stock, 1 duplicate id, 1 missing id, 1 malformed row")
    dup = next(r for r in rep.rejected if r.reason == "duplicate id")
    assert "line 2" in dup.detail


def test_jsonl_rejects_row_by_row() -> None:
    rep = read_catalog(DATA / "catalog_bad.jsonl", MAPPING)
    assert _rejections(rep) == [(2, "missing title"), (3, "negative price"), (4, "invalid JSON"),
                                (5, "not an object"), (7, "unparsable in_stock"), (8, "duplicate id"),
                                (9, "missing id")]
    assert [it.id for it in rep.items] == ["17850", "A6"]
    assert rep.items[0].category == ("Kitchen", "Tea")  # a JSON list is a path
    assert rep.items[1].attributes == {"tags": '["a", "b"]'}
    assert (rep.items[1].price, rep.items[1].in_stock) == (1.5, False)


def test_parquet_float_ids_become_plain_strings() -> None:
    rep = read_catalog(DATA / "catalog_bad.parquet", {"id": "sku", "title": "name", "price": "cost",
                                                      "category": "cat"})
    assert [it.id for it in rep.items] == ["17850", "22423"]
    assert rep.items[1].category == ("Kitchen", "Cake")
    assert rep.items[0].attributes == {"colour": "blue"}
    assert rep.items[1].attributes == {}
    assert _rejections(rep) == [(3, "missing id"), (4, "negative price"), (5, "duplicate id"),
                                (6, "missing title")]


@pytest.mark.parametrize("name", ["catalog_bad.csv", "catalog_bad.jsonl", "catalog_bad.parquet"])
def test_every_row_is_kept_or_rejected(name: str) -> None:
    rep = read_catalog(DATA / name, MAPPING | {"in_stock": "stock"})
    lines = [r.line for r in rep.rejected]
    assert len(set(lines)) == len(lines)
    assert len({it.id for it in rep.items}) == len(rep.items)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("shop.xlsx", "x", "expected a .csv, .jsonl, .parquet file"),
    ("shop.parquet", "not parquet at all", "cannot read Parquet"),
    ("shop.csv", "sku,label\n1,a\n", "expected column(s) 'name' (for title)"),
])
def test_unreadable_files_raise_data_error(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        read_catalog(path, {"id": "sku", "title": "name"})
    assert info.value.hint


def test_missing_file_and_bad_mapping(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_catalog(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="mapping keys"):
        read_catalog(DATA / "catalog_bad.csv", {"sku": "id"})


def test_not_utf8_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,title\n1,Caf\xe9 cup\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_catalog(path)


def test_events_rejected_row_by_row() -> None:
    mapping = {"shopper_id": "customer", "item_id": "sku", "timestamp": "when", "kind": "what",
               "quantity": "qty"}
    rep = read_events(DATA / "events_bad.csv", mapping)
    assert _rejections(rep) == [(4, "unknown kind"), (5, "missing timestamp"), (6, "missing shopper_id"),
                                (7, "unparsable quantity"), (8, "missing item_id"),
                                (9, "unparsable timestamp")]
    e1, e2, e3 = rep.events
    assert (e1.shopper_id, e1.item_id, e1.timestamp, e1.kind, e1.quantity) == (
        "17850", "85123A", 1291191960.0, "purchase", 6)
    assert (e2.shopper_id, e2.timestamp, e2.kind, e2.quantity) == ("17850", 1291191960.0, "cart", 1)
    assert (e3.timestamp, e3.kind) == (1291191960.0, "view")  # milliseconds recognised
    assert rep.summary().startswith("3 valid, 6 rejected")


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=10**12))
def test_integer_ids_never_get_a_decimal_point(n: int) -> None:
    assert plain_id(float(n)) == plain_id(str(float(n))) == plain_id(n) == str(n)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="abc &,-", min_size=1, max_size=8).map(str.strip).filter(bool),
                min_size=1, max_size=4))
def test_category_path_round_trips(parts: list[str]) -> None:
    assert parse_category(" > ".join(parts)) == tuple(parts)
    assert parse_category(parts) == tuple(parts)


rows = st.lists(st.tuples(st.sampled_from(["1", "2", "3", "", "4.0"]), st.sampled_from(["Cup", "", "Pot"]),
                          st.sampled_from(["1.5", "-2", "x", "", "0"])), max_size=12)


@settings(max_examples=30, deadline=None)
@given(rows)
def test_each_row_is_either_an_item_or_a_rejection(tmp_path_factory, data: list[tuple[str, ...]]) -> None:
    path = tmp_path_factory.mktemp("prop") / "c.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "title", "price"])
        writer.writerows(data)
    rep = read_catalog(path)
    non_blank = [r for r in data if any(r)]
    assert len(rep.items) + len(rep.rejected) == len(non_blank)
    assert all(it.price is None or it.price >= 0 for it in rep.items)
    assert all(it.id and it.title and not it.id.endswith(".0") for it in rep.items)
