"""Importers on the REAL shared data: counts and splits as ../shared/data/README.md states, no test leakage.

Expectations are recomputed here from the raw files with plain pandas (not via the importer's helpers),
then compared with what the importers produce.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd
import pytest

from bundlebot.errors import DataError
from bundlebot.paths import default_data_dir
from retrieval.importers import RETAIL_FEE_CODES, load_source, parse_bundlerec_category
from retrieval.types import SourceData

DATA = default_data_dir()


@pytest.fixture(scope="module")
def retail() -> SourceData:
    return load_source("online-retail", DATA)


@pytest.fixture(scope="module")
def retail_raw() -> pd.DataFrame:
    df = pd.read_parquet(DATA / "online_retail" / "online_retail_2010_2011.parquet")
    return df[(df.CustomerID != 0) & ~df.StockCode.isin(RETAIL_FEE_CODES) & (df.UnitPrice > 0)]


@pytest.fixture(scope="module")
def instacart() -> SourceData:
    return load_source("instacart", DATA)


@pytest.fixture(scope="module")
def food() -> SourceData:
    return load_source("bundlerec-food", DATA)


def _ids(baskets) -> set[str]:
    return {b.id for b in baskets}


# --- Online Retail --------------------------------------------------------------------------------------

def test_retail_catalog(retail: SourceData, retail_raw: pd.DataFrame) -> None:
    assert len(retail.items) == 3659 and retail.currency == "GBP"
    ids = {it.id for it in retail.items}
    assert not ids & {"POST", "DOT", "M", "C2", "BANK CHARGES", "AMAZONFEE", "PADS", "CRUK", "D", "S", "B"}
    by_id = {it.id: it for it in retail.items}
    for code in ("22423", "85123A", "84029E"):  # price = the most frequent unit price of that code
        assert by_id[code].price == Counter(retail_raw.loc[retail_raw.StockCode == code, "UnitPrice"]
                                            ).most_common(1)[0][0]
    cake = by_id["22423"]
    assert cake.title == "Regency Cakestand 3 Tier" and cake.attributes["description_original"].isupper()
    assert cake.category == ("kitchen", "cake stands & baking")
    other = sum(it.category == ("other",) for it in retail.items) / len(retail.items)
    assert other < 0.2  # the keyword taxonomy places most products


def test_retail_splits(retail: SourceData, retail_raw: pd.DataFrame) -> None:
    invoices = retail_raw.groupby("CustomerID").InvoiceNo.nunique()
    assert len(retail.test) == (invoices >= 2).sum() == 2829  # README: 2,829 shoppers with >= 2 invoices
    assert len(retail.dev) == (invoices >= 3).sum()
    shoppers = {b.shopper_id for b in retail.train_baskets + retail.dev + retail.test}
    assert len(shoppers) == len(invoices) == 4334 and "0" not in shoppers
    assert all(s.isdigit() for s in shoppers)  # 17850, not 17850.0
    assert len(retail.train_baskets) + len(retail.dev) + len(retail.test) == retail_raw.InvoiceNo.nunique()
    last_train: dict[str, float] = defaultdict(float)
    for b in retail.train_baskets + retail.dev:
        last_train[b.shopper_id] = max(last_train[b.shopper_id], b.timestamp)
    assert all(b.timestamp >= last_train[b.shopper_id] for b in retail.test)
    assert len({b.shopper_id for b in retail.test}) == len(retail.test)


def test_retail_history_is_train_only(retail: SourceData) -> None:
    train = _ids(retail.train_baskets)
    assert {e.basket_id for e in retail.events} == train
    assert not {e.basket_id for e in retail.events} & (_ids(retail.test) | _ids(retail.dev))
    assert sum(len(b.item_ids) for b in retail.train_baskets) == len(retail.events)
    counts = Counter(i for b in retail.train_baskets for i in set(b.item_ids))
    assert all(it.popularity == counts.get(it.id, 0) for it in retail.items)
    b = retail.train_baskets[0]
    assert b.quantities and len(b.quantities) == len(b.item_ids) and b.timestamp > 1.29e9


# --- Instacart ------------------------------------------------------------------------------------------

def test_instacart_splits(instacart: SourceData) -> None:
    raw = pd.read_csv(DATA / "instacart" / "orders_sample.csv.gz")
    last = raw.groupby("user_id").order_number.transform("max")
    test_orders = set(raw.loc[raw.order_number == last, "order_id"].astype(str))
    dev_orders = set(raw.loc[raw.order_number == last - 1, "order_id"].astype(str))
    assert len(instacart.test) == 593 and _ids(instacart.test) == test_orders
    assert _ids(instacart.dev) == dev_orders
    assert len(instacart.items) == 49688 and instacart.currency is None
    assert all(it.price is None and len(it.category) == 2 for it in instacart.items[:100])
    assert {e.basket_id for e in instacart.events} == _ids(instacart.train_baskets)
    assert not _ids(instacart.train_baskets) & (test_orders | dev_orders)


def test_instacart_timestamps_are_monotone_per_user(instacart: SourceData) -> None:
    dev_ts = {b.shopper_id: b.timestamp for b in instacart.dev}
    test_ts = {b.shopper_id: b.timestamp for b in instacart.test}
    train_max: dict[str, float] = defaultdict(float)
    for b in instacart.train_baskets:
        train_max[b.shopper_id] = max(train_max[b.shopper_id], b.timestamp)
    assert all(train_max[u] < dev_ts[u] < test_ts[u] for u in test_ts)


# --- BundleRec ------------------------------------------------------------------------------------------

def test_bundlerec_splits(food: SourceData) -> None:
    root = DATA / "bundlerec_food"
    sb = pd.read_csv(root / "session_bundle.csv")
    assert len(food.test) == 346 and all(b.intent for b in food.test)
    assert _ids(food.test) == {f"bundle:{b}" for b in sb.loc[sb["session ID"] % 5 == 0, "bundle ID"]}
    assert _ids(food.dev) == {f"bundle:{b}" for b in sb.loc[sb["session ID"] % 5 == 1, "bundle ID"]}
    train_bundles = {f"bundle:{b}" for b in sb.loc[sb["session ID"] % 5 >= 2, "bundle ID"]}
    assert train_bundles <= _ids(food.train_baskets)
    bi = pd.read_csv(root / "bundle_item.csv", dtype=str)
    first = food.test[0]
    assert set(first.item_ids) == set(bi.loc[bi["bundle ID"] == first.id.split(":")[1], "item ID"])
    assert first.shopper_id is not None and first.timestamp


def test_bundlerec_no_test_session_leaks_into_history(food: SourceData) -> None:
    root = DATA / "bundlerec_food"
    us = pd.read_csv(root / "user_session.csv", dtype=str)
    si = pd.read_csv(root / "session_item.csv", dtype=str)
    held = us[us["session ID"].astype(int) % 5 <= 1]
    cols = ["user ID", "item ID", "timestamp"]
    held_rows = set(si.merge(held, on="session ID")[cols].itertuples(index=False, name=None))
    train_sessions = us[us["session ID"].astype(int) % 5 >= 2]
    train_rows = set(si.merge(train_sessions, on="session ID")[cols].itertuples(index=False, name=None))
    events = {(e.shopper_id, e.item_id, str(int(e.timestamp))) for e in food.events}
    # The rule: a user_item row is history iff it is an item of one of that user's TRAIN sessions.
    assert events and events <= train_rows and not events & held_rows
    held_sessions = {f"session:{s}" for s in held["session ID"]}
    assert not {e.basket_id for e in food.events} & held_sessions
    assert not _ids(food.train_baskets) & (held_sessions | _ids(food.test) | _ids(food.dev))


def test_bundlerec_items(food: SourceData) -> None:
    assert len(food.items) == 3767
    assert not any("&amp;" in it.title or "&quot;" in it.title for it in food.items)
    assert any("Coffee, Tea & Cocoa" in it.category for it in food.items)
    assert parse_bundlerec_category("[[Grocery & Gourmet Food,Beverages,Coffee, Tea & Cocoa,Tea]]")[2] == (
        "Coffee, Tea & Cocoa")


def test_bundlerec_any_directory_spec(tmp_path: Path) -> None:
    src = load_source(f"bundlerec:{DATA / 'bundlerec_food'}", tmp_path)
    assert len(src.test) == 346
    with pytest.raises(DataError, match="BundleRec directory"):
        load_source(f"bundlerec:{tmp_path / 'nothing'}", tmp_path)


# --- specs ----------------------------------------------------------------------------------------------

def test_file_spec_loads_a_catalog(tmp_path: Path) -> None:
    path = tmp_path / "shop.jsonl"
    path.write_text('{"id": 1.0, "title": "Teapot", "price": 9.5, "currency": "EUR"}\n{"id": 2}\n')
    src = load_source(str(path), DATA)
    assert [(it.id, it.price) for it in src.items] == [("1", 9.5)] and src.currency == "EUR"
    assert src.events == [] and src.train_baskets == [] and src.test == []


def test_unknown_spec_lists_valid_ones() -> None:
    with pytest.raises(DataError, match="online-retail, instacart, bundlerec-food"):
        load_source("amazon", DATA)


def test_missing_data_dir_hints_at_env(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_source("online-retail", tmp_path / "missing")
    assert "BUNDLEBOT_DATA" in info.value.hint
