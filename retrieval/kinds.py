"""Item kinds: what each catalog item is (teapot, doormat, gift wrap, milk), whether a kind is a main item or an
accessory, each item's pack size, and which kinds are bought together. ``Kinds.fit(items, train_baskets)``.

Kinds come from titles and categories only, with statistics of the catalog itself (retrieval/titles.py):

1. Per item, the head word of its title and the word right before it (titles.WordStats.head).
2. A head with that modifier is a two-word kind ("gift bag", "cake case", "cat food") when at least
   ``MIN_ITEMS`` items share the pair and the categories of those items overlap less than ``MAX_OVERLAP``
   with those of the head's other items (histogram intersection, averaged over category levels): a "gift bag"
   (gift wrap) is not a "bag" (bags & purses), while a "paper napkin" is a "napkin". A pair that the catalog
   also writes as one word joins it ("cake stand" = "cakestand"); the more used spelling names the kind.
3. A kind with fewer than ``MIN_ITEMS`` items joins the biggest kind with the same head word, if that one has
   ``MIN_ITEMS`` and their categories overlap at least ``MAX_OVERLAP``; when that biggest kind is another
   pair, it becomes the head word alone ("kneeling pad" -> "pad", not "filler pad"). When most items of a one-word kind
   (and at least ``MIN_ITEMS``) share one modifier, those items are a kind named by that phrase ("holder" ->
   "t-light holder"); the others keep the one word (a "popcorn holder" is a holder, not a t-light holder).
4. A title with no usable word gets its finest category as kind.

Roles are a pure function of (items, train baskets). For kind K, take the train baskets holding K and at
least one other priced kind (a kind's price in a basket: the mean price of its items there):

- ``rel_price``: median over those baskets of K's price / the median price of the basket's other kinds;
- ``top_ratio``: how often K is the dearest kind of the basket, over how often it would be by chance
  (the mean of 1 / number of priced kinds in the basket);
- ``partner_lift``: the highest lift of K with a kind that shares at least ``PARTNER_SUPPORT`` of K's
  baskets; a low one says K goes with anything rather than with something in particular.

K is an ``accessory`` when it has ``MIN_ROLE_BASKETS`` such baskets, ``rel_price <= ACCESSORY_MAX_PRICE``,
``top_ratio <= ACCESSORY_MAX_TOP`` and ``partner_lift <= ACCESSORY_MAX_LIFT``: cheap next to what it is
bought with, hardly ever the dearest thing bought, and bought with anything (wrap, cards, tissue). Baskets
alone cannot tell a gift accessory from any other cheap add-on: on Online Retail pencil tubes and card wallets
come out accessories too, while ribbons (x0.76 of what they are bought with) and gift bags (bought with
Christmas crackers, lift 9) fail the price or the lift test. So a second rule reads the catalog's aisles: a
kind whose items are mostly in an aisle where at least ``AISLE_ACCESSORY_SHARE`` of the items are of
accessory kinds is an accessory too when it is no dearer than what it is bought with (``rel_price <= 1``)
and rarely the dearest (``top_ratio <= ACCESSORY_MAX_TOP``), with ``MIN_ROLE_BASKETS``: ribbons, ribbon
reels, gift tags and gift bags beside the wrap and the cards. Every other kind is ``main``, and so is every
kind of a catalog without prices.

``together(kind, n)``: the kinds in at least ``TOGETHER_SUPPORT`` of K's train baskets (and
``MIN_PAIR_BASKETS``), by lift normalized into [0, 1) as ``1 - 1 / lift`` (lift 2 -> 0.5, lift 10 -> 0.9;
only lift > 1). The support floor keeps pairs seen a few times by chance off the list: for a teapot it gives
tongs, milk jugs, tea strainers, saucers, a tea cosy.

>>> items = [Item(id=str(n), title=t, category=("c",), price=p) for n, (t, p) in enumerate([
...     ("Red Spotty Teapot", 9.0), ("Blue Teapot", 8.5), ("Set/6 Paper Cups", 1.0), ("Floral Paper Cups", 1.2)])]
>>> kinds = Kinds.fit(items, [Basket(id="b", item_ids=("0", "2"))])
>>> kinds.kind_of("1"), kinds.kind_of("2"), kinds.pack_size("2"), kinds.kind_of_title("GREEN TEAPOT")
('teapot', 'cup', 6, 'teapot')
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from bundlebot.errors import DataError
from retrieval.titles import WordStats, category_keys, pack_size, segments
from retrieval.types import Basket, Item

log = logging.getLogger(__name__)

MAIN, ACCESSORY = "main", "accessory"
FORMAT, VERSION = "bundlebot-kinds", 1

MIN_ITEMS = 3
"""A two-word kind needs this many items; a kind with fewer joins a bigger one with its head word."""
MAX_OVERLAP = 0.5
"""A modifier makes its own kind when its items' categories overlap less than this with the head's others."""
MIN_ROLE_BASKETS = 100
"""Baskets (with another priced kind) a kind needs before it can be an accessory; with fewer it is main."""
ACCESSORY_MAX_PRICE = 0.5
ACCESSORY_MAX_TOP = 0.25
ACCESSORY_MAX_LIFT = 5.0
AISLE_ACCESSORY_SHARE = 0.5
"""An aisle (finest category) this much of whose items are of accessory kinds is an accessories' aisle."""
PARTNER_SUPPORT = 0.1
MIN_PAIR_BASKETS = 3
TOGETHER_SUPPORT = 0.05
"""A kind is listed as bought with K when it is in at least this share of K's baskets (and MIN_PAIR_BASKETS):
rarer pairs have a high lift by chance."""
TOGETHER_TOP = 30
"""Partners kept per kind for ``together``."""
NAMEABLE_SHARE = 0.3
"""A one-word kind is named in prose only when at least this share of the titles holding its word are of it
(``Kinds.nameable``). Read from the lists of the three catalogs, not tuned on a metric: below it are the
modifiers the head rule sometimes takes ("vintage" 1 item of 194 titles, "christmas" 3 of 131, "ceramic",
"organic" 1 of 5,026, "flavor"), and a few real kinds that are also modifiers ("heart" 32 of 243, "milk")."""


def _compact(phrase: str) -> str:
    return "".join(ch for ch in phrase if ch.isalpha())


def _overlap(a: Counter[str], b: Counter[str]) -> float:
    """Mean over category levels of the histogram intersection of two groups' category counts (1 when one
    group has no categories: nothing says they differ)."""
    by_level: dict[str, tuple[Counter[str], Counter[str]]] = defaultdict(lambda: (Counter(), Counter()))
    for side, counts in enumerate((a, b)):
        for key, n in counts.items():
            by_level[key.split("\t", 1)[0]][side][key] += n
    out = []
    for ca, cb in by_level.values():
        na, nb = sum(ca.values()), sum(cb.values())
        if na and nb:
            out.append(sum(min(ca[k] / na, cb[k] / nb) for k in ca.keys() & cb.keys()))
    return sum(out) / len(out) if out else 1.0


def _category_kind(category: Sequence[str], words: WordStats) -> str:
    parts = category[-1].lower().split() if category else []
    return " ".join([*parts[:-1], words.singular(parts[-1])]) if parts else "item"


def _pair_names(heads: dict[str, tuple[str, str | None, bool] | None],
                keys: dict[str, list[str]]) -> dict[tuple[str, str], str]:
    """Step 2: which (modifier, head) pairs name a kind of their own."""
    by_head: dict[str, list[str]] = defaultdict(list)
    for iid, h in heads.items():
        if h:
            by_head[h[0]].append(iid)
    names: dict[tuple[str, str], str] = {}
    for head, ids in by_head.items():
        groups: dict[str, list[str]] = defaultdict(list)
        for iid in ids:
            if mod := heads[iid][1]:  # type: ignore[index]
                groups[mod].append(iid)
        total = Counter(k for iid in ids for k in keys[iid])
        for mod, members in groups.items():
            if _compact(mod + head) in by_head:
                names[(mod, head)] = f"{mod} {head}"
                continue
            if len(members) < MIN_ITEMS:
                continue
            mine = Counter(k for iid in members for k in keys[iid])
            if len(ids) - len(members) < MIN_ITEMS or _overlap(mine, total - mine) < MAX_OVERLAP:
                names[(mod, head)] = f"{mod} {head}"
    return names


def _final_names(first: dict[str, str], keys: dict[str, list[str]]) -> dict[str, str]:
    """Step 3 over the first names of all items: one spelling per compact form, rare kinds joined to their
    head's biggest kind when their categories overlap. Returns first name -> final name."""
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    for name in first.values():
        forms[_compact(name)][name] += 1
    spelled = {c: max(f, key=lambda k: (f[k], k)) for c, f in forms.items()}
    step = {name: spelled[_compact(name)] for name in set(first.values())}
    cats: dict[str, Counter[str]] = defaultdict(Counter)
    for iid, name in first.items():
        cats[step[name]].update(keys[iid])
    size = Counter(step[name] for name in first.values())
    biggest: dict[str, str] = {}
    for kind, _ in sorted(size.items(), key=lambda kv: (-kv[1], kv[0])):
        biggest.setdefault(kind.rsplit(" ", 1)[-1], kind)
    for name, kind in step.items():
        head = kind.rsplit(" ", 1)[-1]
        target = biggest[head]
        if (size[kind] < MIN_ITEMS <= size[target] and target != kind
                and _overlap(cats[kind], cats[target]) >= MAX_OVERLAP):
            # into the head word's own kind, never another pair's: a kneeling pad is no "filler pad"
            step[name] = target if " " not in target else head
    return step


def _dominant_phrases(item_kind: dict[str, str], phrase_of: dict[str, str]) -> dict[str, str]:
    """One-word kind -> the phrase most of its items (and ``MIN_ITEMS``) are written with ("holder" ->
    "t-light holder"); only the items written with it take that name, the others keep the one word (a
    popcorn holder is no t-light holder)."""
    size = Counter(item_kind.values())
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for iid, kind in item_kind.items():
        if " " not in kind and iid in phrase_of:
            by_kind[kind][phrase_of[iid]] += 1
    out = {}
    for kind, c in by_kind.items():
        phrase, n = max(c.items(), key=lambda kv: (kv[1], kv[0]))
        if n >= MIN_ITEMS and n >= 0.5 * size[kind]:
            out[kind] = phrase
    return out


def _incidence(baskets: Sequence[Basket], kind_of: dict[str, str], index: dict[str, int]) -> sp.csr_matrix:
    rows, cols = [], []
    for col, b in enumerate(baskets):
        for k in {kind_of[i] for i in b.item_ids if i in kind_of}:
            rows.append(index[k])
            cols.append(col)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(index), len(baskets)))


def _price_stats(baskets: Sequence[Basket], kind_of: dict[str, str],
                 price: dict[str, float]) -> dict[str, tuple[float, float, int]]:
    """Kind -> (rel_price, top_ratio, baskets with another priced kind)."""
    rel: dict[str, list[float]] = defaultdict(list)
    top: Counter[str] = Counter()
    chance: Counter[str] = Counter()
    for b in baskets:
        paid: dict[str, list[float]] = defaultdict(list)
        for iid in b.item_ids:
            if iid in kind_of and iid in price:
                paid[kind_of[iid]].append(price[iid])
        if len(paid) < 2:
            continue
        means = {k: sum(p) / len(p) for k, p in paid.items()}
        dearest = max(means.values())
        for k, p in means.items():
            rel[k].append(p / statistics.median([q for k2, q in means.items() if k2 != k]))
            top[k] += p >= dearest
            chance[k] += 1 / len(means)
    return {k: (statistics.median(r), top[k] / chance[k], len(r)) for k, r in rel.items()}


def kind_statistics(items: Sequence[Item], baskets: Sequence[Basket],
                    kind_of: dict[str, str]) -> tuple[dict[str, dict[str, Any]], dict[str, list[list[Any]]]]:
    """Per kind: item count, baskets, the role evidence and the role; and each kind's ``together`` list."""
    kinds = sorted(set(kind_of.values()))
    index = {k: n for n, k in enumerate(kinds)}
    x = _incidence(baskets, kind_of, index)
    cooc = (x @ x.T).tocsr()
    count = np.asarray(x.sum(axis=1)).ravel()
    n_baskets = max(len(baskets), 1)
    price = {it.id: float(it.price) for it in items if it.price is not None and it.price > 0}
    paid = _price_stats(baskets, kind_of, price)
    n_items = Counter(kind_of.values())
    out: dict[str, dict[str, Any]] = {}
    together: dict[str, list[list[Any]]] = {}
    for kind, r in index.items():
        lo, hi = cooc.indptr[r], cooc.indptr[r + 1]
        cols, c_ab = cooc.indices[lo:hi], cooc.data[lo:hi]
        keep = cols != r
        cols, c_ab = cols[keep], c_ab[keep]
        lift = c_ab * n_baskets / (count[r] * count[cols]) if len(cols) else np.zeros(0)
        strong = c_ab >= PARTNER_SUPPORT * count[r]
        partner_lift = float(lift[strong].max()) if strong.any() else None
        rel_price, top_ratio, priced = paid.get(kind, (None, None, 0))
        accessory = (priced >= MIN_ROLE_BASKETS and partner_lift is not None
                     and rel_price <= ACCESSORY_MAX_PRICE and top_ratio <= ACCESSORY_MAX_TOP
                     and partner_lift <= ACCESSORY_MAX_LIFT)
        out[kind] = {"items": n_items[kind], "baskets": int(count[r]), "priced_baskets": priced,
                     "rel_price": rel_price, "top_ratio": top_ratio, "partner_lift": partner_lift,
                     "role": ACCESSORY if accessory else MAIN}
        seen = (c_ab >= max(MIN_PAIR_BASKETS, TOGETHER_SUPPORT * count[r])) & (lift > 1)
        score = 1 - 1 / lift[seen]
        order = np.lexsort((cols[seen], -score))
        together[kind] = [[kinds[cols[seen][i]], round(float(score[i]), 4)] for i in order[:TOGETHER_TOP]]
    _aisle_accessories(items, kind_of, out)
    return out, together


def _aisle_accessories(items: Sequence[Item], kind_of: dict[str, str], stats: dict[str, dict[str, Any]]) -> None:
    """Make accessories of the cheap kinds that share an aisle with the accessories (the second role rule)."""
    aisle = {it.id: it.category[-1] for it in items if it.category and it.id in kind_of}
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    in_aisle, of_accessory = Counter[str](), Counter[str]()
    for iid, a in aisle.items():
        per_kind[kind_of[iid]][a] += 1
        in_aisle[a] += 1
        of_accessory[a] += stats[kind_of[iid]]["role"] == ACCESSORY
    for kind, s in stats.items():
        if s["role"] == ACCESSORY or not per_kind[kind] or s["priced_baskets"] < MIN_ROLE_BASKETS:
            continue
        a = max(per_kind[kind].items(), key=lambda kv: (kv[1], kv[0]))[0]
        if (of_accessory[a] >= AISLE_ACCESSORY_SHARE * in_aisle[a] and s["rel_price"] <= 1.0
                and s["top_ratio"] <= ACCESSORY_MAX_TOP):
            s["role"], s["aisle"] = ACCESSORY, a


def catalog_fingerprint(items: Sequence[Item], baskets: Sequence[Basket]) -> str:
    """sha256 of what a fit depends on: item ids, titles, categories, prices and the baskets' items."""
    h = hashlib.sha256()
    for it in items:
        h.update(json.dumps([it.id, it.title, list(it.category), it.price]).encode())
    for b in baskets:
        h.update(json.dumps(list(b.item_ids)).encode())
    return h.hexdigest()


class Kinds:
    """Fitted kinds of one catalog. Build with ``Kinds.fit``; ``save`` / ``load`` as one JSON file."""

    def __init__(self, words: WordStats, item_kind: dict[str, str], item_pack: dict[str, int],
                 names: dict[str, str], stats: dict[str, dict[str, Any]], together: dict[str, list[list[Any]]],
                 from_category: Sequence[str] = (), fingerprint: str = "") -> None:
        self.words = words
        self.item_kind, self.item_pack = item_kind, item_pack
        self.names = names
        """First name ("m h" pair, head word or category kind) -> kind: how a new title is named."""
        self.stats, self._together = stats, together
        self.from_category = set(from_category)
        """Items whose kind is their category (the title gave no usable word)."""
        self.fingerprint = fingerprint
        self._by_kind: dict[str, list[str]] | None = None

    @classmethod
    def fit(cls, items: Sequence[Item], baskets: Sequence[Basket] = ()) -> Kinds:
        """Kinds of ``items`` (titles, categories) and their roles and co-purchases from TRAIN ``baskets``."""
        segs = {it.id: segments(it.title) for it in items}
        words = WordStats.fit((segs[it.id], it.category) for it in items)
        heads = {it.id: words.head(segs[it.id], category_keys(it.category)) for it in items}
        keys = {it.id: words.informative(category_keys(it.category)) for it in items}
        pairs = _pair_names(heads, keys)
        first: dict[str, str] = {}
        for it in items:
            h = heads[it.id]
            if h is None:
                first[it.id] = _category_kind(it.category, words)
            else:
                first[it.id] = pairs.get((h[1], h[0]), h[0]) if h[1] else h[0]
        final = _final_names(first, keys)
        item_kind = {iid: final[name] for iid, name in first.items()}
        names = dict(final)
        names.update({f"{m} {h}": final.get(n, n) for (m, h), n in pairs.items()})
        written = {iid: f"{h[1]} {h[0]}" for iid, h in heads.items() if h and h[1] and " " not in first[iid]}
        dominant = _dominant_phrases(item_kind, written)
        for iid, kind in item_kind.items():
            if kind in dominant and written.get(iid) == dominant[kind]:
                item_kind[iid] = names[written[iid]] = dominant[kind]
        packs = {it.id: pack_size(it.title, head_plural=bool(heads[it.id] and heads[it.id][2])) for it in items}
        stats, together = kind_statistics(items, baskets, item_kind)
        log.info("kinds: %d items -> %d kinds (%d accessory) from %d baskets", len(items), len(stats),
                 sum(s["role"] == ACCESSORY for s in stats.values()), len(baskets))
        return cls(words, item_kind, packs, names, stats, together,
                   [iid for iid, h in heads.items() if h is None], catalog_fingerprint(items, baskets))

    # --- queries ----------------------------------------------------------------------------------------

    def kind_of(self, item_id: str) -> str:
        """The kind of a fitted catalog item (``kind_of_title`` names any other)."""
        try:
            return self.item_kind[item_id]
        except KeyError:
            raise KeyError(f"item {item_id!r} is not in the fitted catalog; use kind_of_title") from None

    def kind_of_title(self, title: str, category: Sequence[str] = ()) -> str:
        """The kind of any item from its title and category, named as the fitted catalog names it."""
        h = self.words.head(segments(title), category_keys(category))
        if h is None:
            first = _category_kind(category, self.words)
        else:
            first = f"{h[1]} {h[0]}" if h[1] and f"{h[1]} {h[0]}" in self.names else h[0]
        return self.names.get(first, first)

    def of(self, item: Item) -> tuple[str, str]:
        """(kind, role) of any item: a fitted one by its id, another by its title and category."""
        name = self.item_kind.get(item.id) or self.kind_of_title(item.title, item.category)
        return name, self.role_of(name)

    def nameable(self, kind: str) -> bool:
        """Whether a sentence may call an item of ``kind`` by it: a two-word kind, a category's name, or a word
        that at least ``NAMEABLE_SHARE`` of the titles holding it are a kind of. "Retrospot Tea Set Ceramic"
        is the one "ceramic" among 40 titles saying ceramic: "a ceramic" would tell the shopper nothing true.
        A kind the fit never saw is nameable (nothing says otherwise)."""
        if " " in kind or not self.words.df.get(kind):
            return True
        return self.counts_of(kind) >= NAMEABLE_SHARE * self.words.df[kind]

    def counts_of(self, kind: str) -> int:
        """Catalog items of ``kind`` (the fit's own count, ``stats[kind]["items"]``)."""
        return int(self.stats.get(kind, {}).get("items", 0))

    def role_of(self, kind: str) -> str:
        """``main`` or ``accessory`` (a kind the fit never saw is main)."""
        return self.stats.get(kind, {}).get("role", MAIN)

    def pack_size(self, item_id: str) -> int:
        """Units in one item: "Pack Of 72 ..." -> 72; 1 when the title states none (or the item is unknown)."""
        return self.item_pack.get(item_id, 1)

    def together(self, kind: str, n: int = 10) -> list[tuple[str, float]]:
        """The ``n`` kinds most bought with ``kind`` in train baskets: (kind, normalized PMI), best first."""
        return [(k, s) for k, s in self._together.get(kind, [])[:n]]

    def items_of(self, kinds: Iterable[str]) -> tuple[str, ...]:
        """The ids of the fitted items of these kinds, sorted."""
        if self._by_kind is None:  # built on first use: most turns never ask
            self._by_kind = defaultdict(list)
            for iid, k in self.item_kind.items():
                self._by_kind[k].append(iid)
        return tuple(sorted(i for k in set(kinds) for i in self._by_kind.get(k, ())))

    def counts(self) -> Counter[str]:
        """Kind -> number of catalog items."""
        return Counter(self.item_kind.values())

    def accessories(self) -> list[str]:
        return sorted(k for k, s in self.stats.items() if s["role"] == ACCESSORY)

    # --- persistence ------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write one JSON file (atomically: a temporary file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": FORMAT, "version": VERSION, "fingerprint": self.fingerprint,
                "words": self.words.to_dict(), "item_kind": self.item_kind, "item_pack": self.item_pack,
                "names": self.names, "stats": self.stats, "together": self._together,
                "from_category": sorted(self.from_category)}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Kinds:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or data.get("version") != VERSION:
                raise ValueError(f"expected {FORMAT} version {VERSION}, found {data.get('format')} "
                                 f"version {data.get('version')}")
            return cls(WordStats.from_dict(data["words"]), data["item_kind"], data["item_pack"], data["names"],
                       data["stats"], data["together"], data["from_category"], data["fingerprint"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"expected item kinds in {path}, could not read them: {exc}",
                            hint="fit them again with Kinds.fit(items, train_baskets).save(path)") from exc


def share_from_category(kinds: Kinds) -> float:
    """The share of catalog items whose kind is only their category."""
    return len(kinds.from_category) / max(len(kinds.item_kind), 1)

