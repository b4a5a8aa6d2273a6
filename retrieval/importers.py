"""Importers for the shared data sets, split exactly as ../shared/data/README.md says.

``load_source(spec, data_dir)`` returns a ``SourceData``: the catalog, TRAIN-only events and baskets (they
feed history and co-purchase statistics) and the held-out dev/test baskets (evaluation only, never history).

Specs: ``online-retail``, ``instacart``, ``bundlerec-food`` (= ``bundlerec:<data_dir>/bundlerec_food``),
``bundlerec:PATH`` (any BundleRec-format directory) and a catalog file ``*.csv|*.jsonl|*.parquet``.

Example (needs the shared data)::

    >>> src = load_source("online-retail", default_data_dir())            # doctest: +SKIP
    >>> len(src.items), len(src.test), src.currency                         # doctest: +SKIP
    (3659, 2829, 'GBP')
"""

from __future__ import annotations

import html
import logging
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from bundlebot.errors import DataError
from bundlebot.paths import default_data_dir
from retrieval.ingest import SUFFIXES, read_catalog
from retrieval.types import Basket, Event, Item, SourceData

log = logging.getLogger(__name__)

__all__ = ["SPECS", "load_source", "default_data_dir", "retail_category"]

SPECS = ("online-retail", "instacart", "bundlerec-food", "bundlerec:PATH", "FILE.csv|.jsonl|.parquet")

# Online Retail stock codes that are fees, postage or manual adjustments, not products (README + inspection:
# 'm' is a lower-case manual adjustment). Rows of guests (CustomerID 0) and with UnitPrice <= 0 (free
# samples, 'check'/'found' stock corrections) are dropped too; together this gives the README's 3,659 items,
# 4,334 shoppers and 2,829 shoppers with >= 2 invoices.
RETAIL_FEE_CODES = frozenset({"POST", "DOT", "M", "m", "C2", "BANK CHARGES", "AMAZONFEE", "PADS", "CRUK",
                              "D", "S", "B"})

# A coarse product-type taxonomy for Online Retail, which has no categories. First matching rule wins, so
# specific phrases come before generic words; words match whole (CANDLE does not match CANDLESTICK unless
# listed). Built from the most common description words; ~85% of items match a rule, the rest are "other".
# A word the shop also uses as a design or an occasion names a rule only as the product's own word: "DOILY"
# in the singular is always a design ("LUNCH BAG VINTAGE DOILY", "WRAP RED VINTAGE DOILY"; doilies are
# sold as "DOILIES"), and "PARTY" says what a thing is for, so it decides only when no product word does
# ("TEA PARTY WRAPPING PAPER" is wrap, "PARTY INVITES WOODLAND" party supplies). Item kinds read these
# categories (retrieval/kinds.py), so a design word that decided the category became the item's kind.
RETAIL_TAXONOMY: tuple[tuple[tuple[str, str], tuple[str, ...]], ...] = (
    (("kitchen", "cake stands & baking"), ("CAKESTAND", "CAKE STAND", "CAKE CASES", "BAKING", "CAKE TIN",
                                           "CAKE TINS", "CUPCAKE", "CAKE MOULD", "ICING", "COOKIE CUTTER",
                                           "PASTRY", "BAKING CASES", "JELLY MOULD", "ROLLING PIN")),
    (("tableware", "teapots & tea sets"), ("TEAPOT", "TEA POT", "TEA SET", "TEA COSY", "TEA INFUSER",
                                           "TEA STRAINER", "MILK JUG", "SUGAR BOWL", "CREAMER")),
    (("party", "party supplies"), ("NAPKINS", "NAPKIN CHARMS", "PAPER CUPS", "PAPER PLATES", "BALLOONS",
                                   "STRAWS", "PARTY BAG", "PARTY BAGS", "DOILIES", "PLACEMATS", "COASTER",
                                   "COASTERS")),
    (("tableware", "cups & mugs"), ("MUG", "MUGS", "CUP", "CUPS", "TEACUP", "TEACUPS", "SAUCER", "BEAKER",
                                    "TUMBLER", "GLASSES", "DRINKING", "GOBLET")),
    (("tableware", "plates & bowls"), ("PLATE", "PLATES", "BOWL", "BOWLS", "DISH", "PLATTER", "TRAY",
                                       "SNACK BOXES", "CAKE PLATE", "SERVING")),
    (("tableware", "cutlery"), ("CUTLERY", "SPOON", "SPOONS", "FORK", "FORKS", "KNIFE", "TEASPOONS")),
    (("kitchen", "kitchen textiles"), ("APRON", "TEA TOWEL", "TEA TOWELS", "OVEN GLOVE", "DISHCLOTH",
                                       "JAM JAR", "JAM MAKING")),
    (("kitchen", "storage & utensils"), ("TIN", "TINS", "JAR", "JARS", "CANISTER", "LUNCH BOX", "PANTRY",
                                         "KITCHEN", "SCALES", "CHOPPING BOARD", "BREAD BIN", "EGG CUP",
                                         "WATER BOTTLE", "BOTTLE", "FLASK", "MOULD", "RECIPE", "TIMER",
                                         "GRINDER", "FUNNEL", "COLANDER", "DRAWER LINERS", "CONTAINER",
                                         "STORAGE JAR")),
    (("decor", "candles & holders"), ("CANDLE", "CANDLES", "T-LIGHT", "T-LIGHTS", "TLIGHT", "TEALIGHT",
                                      "CANDLESTICK", "LANTERN", "INCENSE", "OIL BURNER", "FRAGRANCE",
                                      "VOTIVE", "CANDLEHOLDER", "DIFFUSER")),
    (("decor", "lights"), ("LIGHTS", "LIGHT", "LAMP", "LAMPSHADE", "NIGHT LIGHT", "FAIRY LIGHTS")),
    (("stationery", "gift wrap & cards"), ("WRAP", "WRAPPING", "GIFT TAPE", "RIBBON", "RIBBONS", "TISSUE",
                                           "CARD", "CARDS", "GREETING", "ENVELOPE", "ENVELOPES", "GIFT BAG",
                                           "GIFT BOX", "TAG", "TAGS", "BOW")),
    (("stationery", "paper & pens"), ("NOTEBOOK", "NOTEBOOKS", "PEN", "PENS", "PENCIL", "PENCILS",
                                      "ERASER", "RUBBER", "STICKERS", "STICKER", "TAPE", "CALENDAR",
                                      "DIARY", "NOTEPAD", "PAD", "JOURNAL", "BOOKMARK", "CRAYONS",
                                      "CHALK", "STAMP", "STAMPS", "SHARPENER", "RULER", "PAPER CHAIN",
                                      "ORGANISER", "ADDRESS BOOK", "WRITING SET")),
    (("jewellery", "jewellery & accessories"), ("NECKLACE", "NECKLACE.", "BRACELET", "EARRINGS", "RING",
                                                "CHARM", "BROOCH", "HAIR", "HAIRCLIP", "HAIR CLIP",
                                                "HAIRBAND", "BEADS", "BEAD", "BANGLE", "PENDANT",
                                                "DIAMANTE", "SCARF", "SUNGLASSES", "COMB")),
    (("bags", "bags & purses"), ("BAG", "BAGS", "PURSE", "HANDBAG", "WALLET", "SHOPPER", "TOTE",
                                 "LUNCH BAG", "BACKPACK", "RUCKSACK", "WASHBAG", "CASE", "COSMETIC")),
    (("toys", "toys & games"), ("TOY", "TOYS", "JIGSAW", "GAME", "GAMES", "DOLL", "DOLLY", "PUZZLE",
                                "SKIPPING ROPE", "BALL", "KIT", "SPINNING TOP", "DOMINOES", "DOMINOE",
                                "PLAYING CARDS", "SOLDIER", "SOLDIERS", "TEDDY", "PUPPET", "MARBLES",
                                "COLOURING", "PAINTING SET", "FELTCRAFT", "KNITTING", "SEWING", "CRAFT",
                                "BINGO", "SNAKES", "LADDERS", "SCISSOR", "PARACHUTE", "HELICOPTER",
                                "ROCKET", "BUBBLES")),
    (("garden", "garden & outdoor"), ("GARDEN", "PLANT", "PLANTER", "WATERING", "FLOWER POT", "POT",
                                      "POTS", "BIRD FEEDER", "BIRDHOUSE", "BIRD HOUSE", "PICNIC", "PARASOL",
                                      "UMBRELLA", "SEED", "SEEDS", "HERB", "GREENHOUSE", "GARDENERS",
                                      "THERMOMETER", "WINDMILL", "WIND CHIME", "CHIME")),
    (("bath", "bathroom & personal"), ("SOAP", "BATHROOM", "TOWEL", "HOT WATER BOTTLE", "TISSUES",
                                       "SPONGE", "TOOTHBRUSH", "BATH", "LIP GLOSS", "NAIL", "MIRROR",
                                       "HAND WARMER", "PLASTERS", "SHOWER")),
    (("decor", "christmas decorations"), ("CHRISTMAS", "XMAS", "BAUBLE", "BAUBLES", "ADVENT", "SANTA",
                                          "REINDEER", "SNOWFLAKE", "NATIVITY", "STOCKING")),
    (("decor", "hanging decorations"), ("HANGING", "DECORATION", "DECORATIONS", "GARLAND", "WREATH",
                                        "BUNTING", "MOBILE", "ORNAMENT", "ORNAMENTS", "CHANDELIER")),
    (("decor", "wall art & clocks"), ("SIGN", "PLAQUE", "WALL ART", "PICTURE", "FRAME", "PHOTO", "CLOCK",
                                      "ALARM", "POSTER", "PRINT", "TILE", "BLACKBOARD", "BOARD", "MAGNET",
                                      "MAGNETS", "LETTER", "LETTERS")),
    (("home", "storage & baskets"), ("BOX", "BOXES", "DRAWER", "CABINET", "BASKET", "BASKETS", "HAMPER",
                                     "TRINKET", "CHEST", "CRATE", "STORAGE", "RACK", "SHELF",
                                     "MONEY BANK", "MONEY BOX", "HOLDER", "STAND")),
    (("home", "home textiles & furnishings"), ("CUSHION", "CUSHIONS", "DOORMAT", "DOORSTOP", "THROW",
                                               "BLANKET", "CURTAIN", "RUG", "HOOK", "HOOKS", "KNOB",
                                               "KNOBS", "HANGER", "HANGERS", "VASE", "QUILT", "CHAIR",
                                               "STOOL", "TABLE", "BELL", "BELLS", "DOOR", "KEY")),
    (("party", "party supplies"), ("PARTY",)),
)
_TAXONOMY_RES = [(cat, re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b"))
                 for cat, words in RETAIL_TAXONOMY]


def retail_category(description: str) -> tuple[str, ...]:
    """A coarse (top, sub) product type for an Online Retail description; ``("other",)`` if none matches.

    >>> retail_category("REGENCY CAKESTAND 3 TIER"), retail_category("WHITE HANGING HEART T-LIGHT HOLDER")
    (('kitchen', 'cake stands & baking'), ('decor', 'candles & holders'))
    >>> retail_category("ASSORTED COLOUR BIRD ORNAMENT"), retail_category("ZZZ")
    (('decor', 'hanging decorations'), ('other',))
    """
    text = description.upper()
    for cat, rx in _TAXONOMY_RES:
        if rx.search(text):
            return cat
    return ("other",)


def readable_title(description: str) -> str:
    """``'REGENCY CAKESTAND 3 TIER'`` -> ``'Regency Cakestand 3 Tier'`` (str.title would give ``Pink'S``)."""
    return " ".join(w[:1].upper() + w[1:].lower() for w in description.split())


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataError(f"expected {what} at {path}, found nothing",
                        hint="set BUNDLEBOT_DATA to the folder holding the shared data sets "
                             "(online_retail/, instacart/, bundlerec_food/)")
    return path


def basket_counts(baskets: list[Basket]) -> dict[str, int]:
    """Item id -> number of baskets holding it: ``Item.popularity`` (from TRAIN baskets only)."""
    return dict(Counter(i for b in baskets for i in set(b.item_ids)))


def _py(series: pd.Series) -> list:
    """Plain Python values; iterating an Arrow-backed string column directly is ~10x slower."""
    return series.to_numpy(dtype=object).tolist()


def _mode_per_key(df: pd.DataFrame, key: str, col: str) -> pd.Series:
    """The most frequent ``col`` value per ``key`` (ties: the smallest value, so it is deterministic)."""
    counts = df.groupby([key, col], observed=True).size().reset_index(name="_n")
    counts = counts.sort_values([key, "_n", col], ascending=[True, False, True], kind="mergesort")
    return counts.drop_duplicates(key).set_index(key)[col]


def _epoch_seconds(values: pd.Series) -> np.ndarray:
    dt = pd.to_datetime(values, utc=True)
    return ((dt - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)


def _split_last(frame: pd.DataFrame, group: str, order: list[str]) -> np.ndarray:
    """Per ``group``: the last row by ``order`` is test (groups of >= 2), the one before dev (groups of >= 3).

    >>> f = pd.DataFrame({"u": [1, 1, 1, 2, 2, 3], "t": [1, 2, 3, 5, 4, 9]})
    >>> _split_last(f, "u", ["t"]).tolist()
    ['train', 'dev', 'test', 'test', 'train', 'train']
    """
    ordered = frame.sort_values([group, *order], kind="mergesort")
    from_end = ordered.groupby(group, sort=False).cumcount(ascending=False)
    size = ordered.groupby(group, sort=False)[group].transform("size")
    split = np.where((from_end == 0) & (size >= 2), "test",
                     np.where((from_end == 1) & (size >= 3), "dev", "train"))
    return pd.Series(split, index=ordered.index).reindex(frame.index).to_numpy()


def _baskets_from_lines(lines: pd.DataFrame, meta: pd.DataFrame) -> list[Basket]:
    """``lines`` (basket, item, qty) in basket order, ``meta`` indexed by basket with shopper, ts."""
    baskets = []
    ids = lines["basket"].to_numpy(dtype=object)
    items = _py(lines["item"])
    qty = lines["qty"].to_numpy(dtype=np.int64).tolist()
    bounds = (np.flatnonzero(ids[1:] != ids[:-1]) + 1).tolist()
    keys = _py(meta.index.to_series())
    shopper = dict(zip(keys, _py(meta["shopper"]), strict=True))
    stamps = dict(zip(keys, meta["ts"].astype(float).tolist(), strict=True))
    for start, stop in zip([0, *bounds], [*bounds, len(ids)], strict=True):
        bid = ids[start]
        baskets.append(Basket(id=bid, item_ids=tuple(items[start:stop]), shopper_id=shopper[bid],
                              timestamp=stamps[bid], quantities=tuple(qty[start:stop])))
    return baskets


def _events_from_lines(lines: pd.DataFrame, meta: pd.DataFrame) -> list[Event]:
    frame = lines.join(meta, on="basket")
    columns = (_py(frame["shopper"]), _py(frame["item"]), frame["ts"].astype(float).tolist(),
               frame["qty"].astype(np.int64).tolist(), _py(frame["basket"]))
    return [Event(shopper_id=s, item_id=i, timestamp=t, kind="purchase", quantity=q, basket_id=b)
            for s, i, t, q, b in zip(*columns, strict=True)]


def _split_source(name: str, make_items: Callable[[dict[str, int]], list[Item]], lines: pd.DataFrame,
                  meta: pd.DataFrame, currency: str | None) -> SourceData:
    """Build baskets per split from order lines; events and popularity come from train only."""
    parts = {}
    for split in ("train", "dev", "test"):
        keep = meta.index[meta["split"] == split]
        sub = lines[lines["basket"].isin(keep)]
        parts[split] = (sub, _baskets_from_lines(sub, meta))
    train_lines, train = parts["train"]
    return SourceData(name=name, items=make_items(basket_counts(train)),
                      events=_events_from_lines(train_lines, meta), train_baskets=train,
                      dev=parts["dev"][1], test=parts["test"][1], currency=currency)


def load_online_retail(data_dir: Path) -> SourceData:
    """UCI Online Retail: items = non-fee stock codes bought by shoppers, baskets = invoices."""
    path = _need(data_dir / "online_retail" / "online_retail_2010_2011.parquet", "the Online Retail parquet")
    df = pd.read_parquet(path, columns=["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                                        "UnitPrice", "CustomerID"])
    df = df[(df["CustomerID"] != 0) & ~df["StockCode"].isin(RETAIL_FEE_CODES) & (df["UnitPrice"] > 0)]
    df = df.assign(basket=df["InvoiceNo"].astype(str), item=df["StockCode"].astype(str),
                   shopper=df["CustomerID"].astype(np.int64).astype(str),
                   ts=_epoch_seconds(df["InvoiceDate"]))
    price = _mode_per_key(df, "item", "UnitPrice")
    desc = _mode_per_key(df, "item", "Description")

    def make_items(pop: dict[str, int]) -> list[Item]:
        return [Item(id=code, title=readable_title(d), category=retail_category(d), price=float(price[code]),
                     currency="GBP", attributes={"description_original": d, "stock_code": code},
                     popularity=pop.get(code, 0)) for code, d in zip(_py(desc.index.to_series()), _py(desc),
                                                                       strict=True)]

    # An invoice can carry two timestamps a minute apart: it is one basket, dated by its first line.
    meta = df.groupby("basket", sort=False).agg(shopper=("shopper", "first"), ts=("ts", "min"),
                                                 no=("InvoiceNo", "first"))
    meta["split"] = _split_last(meta, "shopper", ["ts", "no"])
    lines = (df.groupby(["basket", "item"], sort=False)["Quantity"].sum().reset_index(name="qty")
             .sort_values("basket", kind="mergesort"))
    return _split_source("online-retail", make_items, lines, meta, "GBP")


def parse_bundlerec_category(raw: object) -> tuple[str, ...]:
    """First path of a BundleRec category list. Names may hold ", " (``Coffee, Tea & Cocoa``) while the
    separators are bare commas, so split on a comma NOT followed by a space. The root (e.g. ``Grocery &
    Gourmet Food``) is kept: other BundleRec domains and a few food items have other roots.

    >>> parse_bundlerec_category("[[Grocery & Gourmet Food,Beverages,Coffee, Tea & Cocoa,Tea]]")
    ('Grocery & Gourmet Food', 'Beverages', 'Coffee, Tea & Cocoa', 'Tea')
    >>> parse_bundlerec_category("[[]]"), parse_bundlerec_category("[[A,B],[C]]")
    ((), ('A', 'B'))
    """
    if not isinstance(raw, str):
        return ()
    first = raw.strip().removeprefix("[[").removesuffix("]]").split("],[")[0]
    return tuple(html.unescape(p).strip() for p in re.split(r",(?! )", first) if p.strip())


def _read_bundlerec(root: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(_need(root / name, f"BundleRec file {name}"), dtype=str, keep_default_na=False)


def load_bundlerec(root: Path) -> SourceData:
    """A BundleRec-format directory. Split by session: ``session ID % 5`` == 0 test, == 1 dev, else train.

    - dev/test: one Basket per bundle of a held-out session, with its intent and the session's shopper.
    - train_baskets: every train session's items (id ``session:<id>``) and every train bundle
      (``bundle:<id>``).
    - events: the ``user_item`` rows that belong to one of that user's TRAIN sessions, matched on (user,
      item, timestamp) against ``user_session`` x ``session_item``. A row that matches no train session
      (e.g. a test session's item) is dropped, so held-out bundles never reach history.
    """
    titles = _read_bundlerec(root, "item_titles.csv").set_axis(["item", "title"], axis=1)
    cats = _read_bundlerec(root, "item_categories.csv").set_axis(["item", "cat"], axis=1)
    cat_of = dict(zip(cats["item"], cats["cat"], strict=True))
    sess = _read_bundlerec(root, "user_session.csv").set_axis(["user", "session", "ts"], axis=1)
    sess["split"] = _session_split(sess["session"])
    sess_items = _read_bundlerec(root, "session_item.csv").set_axis(["session", "item"], axis=1)
    bundles = _bundlerec_bundles(root, sess)
    train_items = sess_items.merge(sess[sess["split"] == "train"], on="session", sort=False)
    grouped = train_items.groupby(["session", "user", "ts"], sort=False)["item"].agg(list)
    train = [Basket(id=f"session:{sid}", item_ids=tuple(dict.fromkeys(ids)), shopper_id=user,
                    timestamp=float(ts)) for (sid, user, ts), ids in grouped.items()]
    train += bundles["train"]
    pop = basket_counts(train)
    items = [Item(id=i, title=html.unescape(t).strip(), category=parse_bundlerec_category(cat_of.get(i)),
                  popularity=pop.get(i, 0))
             for i, t in zip(titles["item"], titles["title"], strict=True) if t.strip()]
    events = _bundlerec_events(root, sess, sess_items)
    return SourceData(name=f"bundlerec:{root.name}", items=items, events=events, train_baskets=train,
                      dev=bundles["dev"], test=bundles["test"], currency=None)


def _session_split(session_ids: pd.Series) -> np.ndarray:
    mod = session_ids.astype(int) % 5
    return np.select([mod == 0, mod == 1], ["test", "dev"], "train")


def _bundlerec_bundles(root: Path, sess: pd.DataFrame) -> dict[str, list[Basket]]:
    """Bundles per split (the split of their session), with intent, shopper and session time."""
    bundle_sess = _read_bundlerec(root, "session_bundle.csv").set_axis(["session", "bundle"], axis=1)
    bundle_items = _read_bundlerec(root, "bundle_item.csv").set_axis(["bundle", "item"], axis=1)
    intents = _read_bundlerec(root, "bundle_intent.csv").set_axis(["bundle", "intent"], axis=1)
    # Some intents span lines ("\nTRADITIONAL SNACKS\n"): collapse whitespace; an empty intent is None.
    intent_of = {b: " ".join(t.split()) or None
                 for b, t in zip(intents["bundle"], intents["intent"], strict=True)}
    items_of = bundle_items.groupby("bundle", sort=False)["item"].agg(list).to_dict()
    frame = bundle_sess.merge(sess.drop(columns="split"), on="session", how="left", sort=False)
    frame["split"] = _session_split(frame["session"])  # also for a session missing from user_session
    out: dict[str, list[Basket]] = {"train": [], "dev": [], "test": []}
    for bid, user, ts, split in zip(frame["bundle"], frame["user"], frame["ts"], frame["split"], strict=True):
        known = isinstance(user, str)
        out[split].append(Basket(id=f"bundle:{bid}", item_ids=tuple(dict.fromkeys(items_of.get(bid, ()))),
                                 shopper_id=user if known else None, timestamp=float(ts) if known else None,
                                 intent=intent_of.get(bid)))
    return out


def _bundlerec_events(root: Path, sess: pd.DataFrame, sess_items: pd.DataFrame) -> list[Event]:
    ui = _read_bundlerec(root, "user_item.csv").set_axis(["user", "item", "ts"], axis=1).drop_duplicates()
    located = sess_items.merge(sess, on="session")
    matched = ui.merge(located, on=["user", "item", "ts"], how="left")
    matched["is_train"] = matched["split"].eq("train")
    # A row is history only if every session it matches is a train session (and it matches at least one).
    per_row = matched.groupby(["user", "item", "ts"], sort=False).agg(ok=("is_train", "all"),
                                                                       session=("session", "first"))
    keep = per_row[per_row["ok"]]
    return [Event(shopper_id=u, item_id=i, timestamp=float(t), kind="purchase", quantity=1,
                  basket_id=f"session:{sid}") for (u, i, t), sid in keep["session"].items()]


def load_file(path: Path) -> SourceData:
    """A catalog file: items only (no history, no baskets)."""
    report = read_catalog(path)
    for rej in report.rejected[:20]:
        log.warning("rejected %s", rej)
    currencies = {it.currency for it in report.items if it.currency}
    return SourceData(name=path.stem, items=report.items, events=[], train_baskets=[],
                      currency=currencies.pop() if len(currencies) == 1 else None)


def load_source(spec: str, data_dir: Path | None = None) -> SourceData:
    """Load one data source by spec (see module docstring). ``data_dir`` defaults to ``BUNDLEBOT_DATA`` /
    ``../shared/data``."""
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    spec = spec.strip()
    if spec in ("online-retail", "instacart", "bundlerec-food") and not data_dir.is_dir():
        raise DataError(f"expected the shared data folder at {data_dir}, found nothing",
                        hint="set BUNDLEBOT_DATA to the folder holding online_retail/, instacart/, "
                             "bundlerec_food/")
    if spec == "online-retail":
        return load_online_retail(data_dir)
    if spec == "instacart":
        return load_instacart(data_dir)
    if spec == "bundlerec-food":
        return load_bundlerec(data_dir / "bundlerec_food")
    if spec.startswith("bundlerec:"):
        root = Path(spec.removeprefix("bundlerec:")).expanduser()
        if not root.is_dir() and (data_dir / root).is_dir():
            root = data_dir / root
        if not root.is_dir():
            raise DataError(f"expected a BundleRec directory for {spec!r}, found nothing at {root}",
                            hint="give the folder holding item_titles.csv, bundle_item.csv, ...")
        return load_bundlerec(root)
    if Path(spec).suffix.lower() in SUFFIXES:
        return load_file(Path(spec).expanduser())
    raise DataError(f"unknown source {spec!r}; expected one of {', '.join(SPECS)}",
                    hint="e.g. --source online-retail or --source bundlerec:/path/to/bundlerec_food")


INSTACART_EPOCH = 1483228800  # 2017-01-01 UTC: the data set's year; timestamps are synthetic, see below


def _instacart_times(orders: pd.DataFrame) -> np.ndarray:
    """Synthetic POSIX time per order: Instacart only gives relative time.

    Per user, day = cumulative ``days_since_prior_order`` (first order = day 0) and the time is 2017-01-01 +
    day + ``order_hour_of_day`` hours. Two orders on the same day may have decreasing hours, so the result is
    then made strictly increasing in ``order_number`` (each order at least a minute after the one before:
    s_i = max_{j<=i}(r_j - 60 j) + 60 i). ``orders`` must be sorted by user and order_number.

    >>> f = pd.DataFrame({"user_id": [1, 1, 1], "order_number": [1, 2, 3],
    ...                   "days_since_prior_order": [None, 0.0, 2.0], "order_hour_of_day": [10, 9, 0]})
    >>> (_instacart_times(f) - INSTACART_EPOCH).tolist()
    [36000, 36060, 172800]
    """
    days = orders["days_since_prior_order"].fillna(0.0).groupby(orders["user_id"]).cumsum()
    raw = INSTACART_EPOCH + (days * 86400 + orders["order_hour_of_day"] * 3600).astype(np.int64)
    step = orders["order_number"].astype(np.int64) * 60
    return ((raw - step).groupby(orders["user_id"]).cummax() + step).to_numpy(dtype=np.int64)


def load_instacart(data_dir: Path) -> SourceData:
    """Instacart sample: all products (category = (department, aisle), no price); per user the last order
    is test, the one before dev, earlier orders train."""
    folder = data_dir / "instacart"
    products = pd.read_csv(_need(folder / "products.csv.gz", "the Instacart products file"))
    lines = pd.read_csv(_need(folder / "orders_sample.csv.gz", "the Instacart orders sample"))
    columns = [products[c].astype(str).to_numpy(dtype=object).tolist()
               for c in ("product_id", "product_name", "aisle", "department", "aisle_id", "department_id")]

    def make_items(pop: dict[str, int]) -> list[Item]:
        return [Item(id=pid, title=name.strip(), category=(dep, aisle), popularity=pop.get(pid, 0),
                     attributes={"aisle_id": aid, "department_id": did})
                for pid, name, aisle, dep, aid, did in zip(*columns, strict=True)]
    orders = (lines.drop_duplicates("order_id")
              .sort_values(["user_id", "order_number"], kind="mergesort").reset_index(drop=True))
    orders["ts"] = _instacart_times(orders)
    orders["shopper"] = orders["user_id"].astype(str)
    orders["split"] = _split_last(orders, "user_id", ["order_number"])
    meta = orders.set_index(orders["order_id"].astype(str))[["shopper", "ts", "split"]]
    lines = lines.sort_values(["order_id", "add_to_cart_order"], kind="mergesort")
    lines = pd.DataFrame({"basket": lines["order_id"].astype(str), "item": lines["product_id"].astype(str),
                          "qty": 1})
    return _split_source("instacart", make_items, lines, meta, None)
