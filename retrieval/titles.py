"""Title analysis for item kinds: word segments, pack sizes, and a title's head word from catalog statistics.

``segments(title)`` lower-cases a title, removes "set of 6"-style quantity phrases (``pack_size`` reads
them) and "bag of"-style containers, and cuts it at commas, brackets, dashes and "with / in / for", since the
product phrase comes first ("Dole Mandarin in 100% Fruit Juice, 4-Ounce Cups (Pack of 24)"). Inside a segment,
numbers, a small list of English function words and measure / size words become breaks (``None``), and so
does the word a number measures, unless the number opens the title ("Regency Cakestand 3 Tier", "4-Ounce
Cups"; but "6 Ribbons"). A style word ("design", "style", "finish", "print") and the word before it are
breaks too: "Pantry Design" and "Italian Style" say how an item looks, never what it is.

``WordStats.fit`` counts, over the catalog, how many titles hold each (singular) word and in which categories,
how often a word opens its titles, and, in a first pass of the rule below, how often it is the head. A word's
score for one title is the product of

- typicality: how well the word predicts the item's category, ``(n(w, c) + ALPHA * p(c)) / (n(w) + ALPHA)``
  averaged over the category levels that do not hold most of the catalog, mixed (``PURITY_WEIGHT``) with the
  word's purity, the same figure for a random title holding it. A kind word ("doormat", "yogurt") predicts
  its category; a colour, a material, a design name ("retrospot") or "organic" is spread over many and gets
  about the base rate; a word seen in one or two titles gets little weight either way;
- headness: the share of the word's titles it headed in the first pass (smoothed towards the catalog's mean),
  to the power ``HEADNESS_POWER``: "christmas" and "hanging" are mostly modifiers, "doormat" a head;
- ``SEGMENT_DECAY`` per segment after the first. A one-word first segment that opens nearly all its titles
  (a brand: "Dreamfields, Pasta Spaghetti") counts as the second segment.

The head is the RIGHTMOST word of the best-scoring segment whose score is at least ``TAU`` times that
segment's best: English heads come last ("Paper Cups"), and a trailing design name is skipped because it is
neither typical nor a head ("Wrap Red Apples" -> wrap, "Doormat Union Flag" -> doormat). Plurals become the
singular the catalog itself uses ("cases" -> "case", "cookies" -> "cookie"). The constants were chosen on 50
hand-labelled random titles per data set (tests/retrieval/data/kinds_heads.csv); 30 more per data set, drawn
afterwards, get 87-97 % right.

>>> segments("Set/6 Red Spotty Paper Cups"), pack_size("Set/6 Red Spotty Paper Cups")
([['red', 'spotty', 'paper', 'cups']], 6)
>>> segments("Heinz Ketchup Organic, 14 Ounce (Pack of 6)"), pack_size("Heinz Ketchup Organic, 14 Ounce (Pack of 6)")
([['heinz', 'ketchup', 'organic']], 6)
>>> segments("REGENCY CAKESTAND 3 TIER"), pack_size("75 Green Fairy Cake Cases")
([['regency', 'cakestand']], 75)
>>> segments("SET OF 3 CAKE TINS PANTRY DESIGN"), segments("Italian Style Meatballs")
([['cake', 'tins']], [['meatballs']])
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

Segments = list[list[str | None]]
CategoryKey = str
"""``"<level>\\t<name>"``: one level of a category path."""



def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


ALPHA = 5.0
"""Smoothing of a word's category counts: a word seen in a handful of titles says little about them."""
TAU = 0.4
"""A word later in the title is the head when it is at least this share as typical as the best word."""
SEGMENT_DECAY = 0.6
"""Typicality factor per segment after the first (flavours, sizes and pack notes come later)."""
MAX_ROOT_SHARE = 0.5
"""A category level holding more than this share of the catalog (BundleRec's root) predicts nothing."""
MAX_LEVELS = 6
PURITY_WEIGHT = 0.5
"""Share of a word's catalog-wide purity in its typicality: OR's derived categories can misfile an item."""
HEADNESS_POWER = 0.75
BRAND_LEAD_SHARE = 0.8
"""A word opening at least this share of its titles (and 3 of them) is brand-like."""

STOP_WORDS = _wordset("""a an and the of for with in on to by from or at as our your my his her its this that
these those is are be it no not all any per each new de la le du des el y et w""")
"""Generic English function words (plus a few French / Spanish ones common in grocery names)."""
MEASURE_WORDS = _wordset("""oz ounce ounces lb lbs pound pounds g gr gram grams kg kilo ml cl dl ltr liter
liters litre litres fl gal gallon gallons qt quart pint count ct pack packs pk pkg pc pcs piece pieces unit
units inch inches cm mm ft size sz approx net wt weight dozen doz small medium med large lge lrg sml mini jumbo
big giant tiny xl xxl regular value family""")
"""Units, counts and sizes: never what an item is."""
NUMBER_WORDS = _wordset("one two three four five six seven eight nine ten eleven twelve twenty")
STYLE_WORDS = _wordset("design designs style styled finish print printed painted pattern motif")
"""Words that say the word before them is a look, not the item: "Cake Tins Pantry Design", "Italian Style
Meatballs", "Frame White Finish"."""

_UNIT_AFTER = r"(?!\s*(?:(?:oz|ounces?|g|gr|grams?|ml|lb|lbs|cm|mm|kg|inch|inches|x)\b|%))"
_PACK_RES = (
    # "set of 6", "pack/2", "s/12", "box of 20", "(pack of 24)"
    re.compile(r"\b(?:set|sets|pack|packs|box|bag|tube|case|bundle|tin|jar|carton|s|pk)\s*(?:of\s*|/\s*|-\s*)?"
               r"(\d{1,4})\b" + _UNIT_AFTER),
    # "24 pack", "12 pcs", "56 count", "6 per case", "240-count"
    re.compile(r"\b(\d{1,4})[\s-]*(?:pack|packs|pk|pcs|pc|pieces|piece|count|ct|per\s+case)\b"),
)
_CONTAINER_OF = re.compile(r"\b(?:bag|box|pack|packet|jar|bottle|can|tin|case|set|tube|carton|pouch|tub|sack|roll"
                           r"|bunch|bundle|bucket|bowl|cup|piece|pair|slice)s?\s+of\b")
"""A container or measure before "of" is not the item: "Bag of Organic Bananas", "Box Of Alphabet Blocks"."""
_LEADING_COUNT = re.compile(r"^\s*(\d{1,4})\s+[a-z]")
_SEGMENT_RE = re.compile(r"[,;:()\[\]|+]|\s[-–—]+\s|\s--|\s(?:with|in|for|w/|w|without|featuring|plus)\s")
_DIGIT = re.compile(r"\d")
_STRIP = "\"'`.,!?*®™©’‘“”#~^_=<>{}-"


def _text(title: str) -> str:
    return " " + html.unescape(title).lower() + " "


def pack_size(title: str, head_plural: bool = True) -> int:
    """How many units the item holds: "set of 6", "pack/2", "12 pcs", "(Pack of 24)"; a leading count
    ("75 Green Fairy Cake Cases") only when the head is plural (``head_plural``: "3 Tier Cake Tin" is one).

    >>> pack_size("PACK OF 72 RETROSPOT CAKE CASES"), pack_size("Diamante Hair Grip Pack/2 Crystal")
    (72, 2)
    >>> pack_size("Caza Trail Single Serve Cup, 56 Count"), pack_size("3 Tier Cake Tin", head_plural=False)
    (56, 1)
    >>> pack_size("Heinz Ketchup, 14 Ounce"), pack_size("Box of 6 Mini 50's Crackers")
    (1, 6)
    >>> pack_size("Set Of 72 Green Paper Doilies"), pack_size("Pack of 12 Grey Napkins")  # not 72 g, 12 gr
    (72, 12)
    """
    text = _text(title)
    for rx in _PACK_RES:
        if (m := rx.search(text)) and 2 <= int(m.group(1)) <= 1000:
            return int(m.group(1))
    if head_plural and (m := _LEADING_COUNT.match(text)) and 2 <= int(m.group(1)) <= 1000:
        return int(m.group(1))
    return 1


def _token(raw: str) -> str | None:
    """One word, ``"#"`` for a number, ``"~"`` for a unit or size, ``None`` for another break."""
    tok = raw.strip(_STRIP).replace("'", "").replace("’", "")
    if not tok:
        return None
    if "%" in tok:
        return None  # a share of something ("100% Fruit Juice"), not a measure of the next word
    if _DIGIT.search(tok) or tok in NUMBER_WORDS:
        return "#"
    if tok in MEASURE_WORDS:
        return "~"
    if len(tok) < 2 or not tok[0].isalpha() or tok in STOP_WORDS:
        return None
    return tok


def segments(title: str) -> Segments:
    """The title's word segments, product phrase first; ``None`` marks a break between words."""
    text = _text(title)
    for rx in _PACK_RES:
        text = rx.sub(" | ", text)
    text = _CONTAINER_OF.sub(" ", text)
    out = [_trim([_token(raw) for raw in re.split(r"[\s/&]+", part)]) for part in _SEGMENT_RE.split(text)]
    out = [toks for toks in out if toks]
    for j, toks in enumerate(out):
        for i, tok in enumerate(toks):
            if tok != "#":
                continue
            toks[i] = None
            if (j, i) == (0, 0):
                continue  # a number opening the title counts things ("6 Ribbons")
            # elsewhere the word after the number (and its unit) is what it measures: "3 Tier", "4-Ounce Cups"
            k = i + 1
            while k < len(toks) and toks[k] == "~":
                k += 1
            if k < len(toks) and toks[k] not in (None, "#"):
                toks[k] = None
    for toks in out:
        for i in range(1, len(toks)):
            if toks[i] in STYLE_WORDS and toks[i - 1] not in (None, "#", "~"):
                toks[i - 1] = toks[i] = None  # "pantry design" describes the tins before it
    out = [[None if tok == "~" else tok for tok in toks] for toks in out]
    return [toks for toks in map(_trim, out) if toks]


def _trim(toks: list[str | None]) -> list[str | None]:
    while toks and toks[0] is None:
        toks = toks[1:]
    while toks and toks[-1] is None:
        toks = toks[:-1]
    return toks


def singular(word: str, vocab: Counter[str]) -> str:
    """A plural's singular, preferring a form the catalog uses ("cases" -> "case", "boxes" -> "box",
    "cookies" -> "cookie"); without evidence only the safe English rules apply ("christmas" stays).

    >>> v = Counter({"case": 3, "box": 2, "cookie": 1, "candl": 1, "candle": 9})
    >>> [singular(w, v) for w in ("cases", "boxes", "cookies", "candles", "berries", "christmas", "glass")]
    ['case', 'box', 'cookie', 'candle', 'berry', 'christmas', 'glass']
    """
    if len(word) <= 3 or not word.endswith("s") or word.endswith(("ss", "us", "is", "ous")):
        return word
    cands = []
    if word.endswith("ies"):
        cands += [word[:-3] + "y", word[:-1]]
    if word.endswith("ves"):
        cands += [word[:-3] + "f", word[:-3] + "fe"]
    if word.endswith("es"):
        cands.append(word[:-2])
    cands.append(word[:-1])
    known = [c for c in cands if vocab.get(c, 0) > 0]
    if known:
        return max(known, key=lambda c: vocab[c])  # most used: truncated titles hold "candl" once
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("xes", "ches", "shes", "zes", "oes")):
        return word[:-2]
    return word if word.endswith(("as", "sses")) else word[:-1]


def category_keys(path: Sequence[str]) -> list[CategoryKey]:
    """Every level of a category path as a key (the typicality and overlap statistics count them)."""
    return [f"{lvl}\t{name}" for lvl, name in enumerate(path[:MAX_LEVELS])]


class WordStats:
    """Catalog word statistics: document frequencies, per-category counts and the vocabulary for plurals."""

    def __init__(self, n_items: int, vocab: Counter[str], df: Counter[str], lead: Counter[str],
                 cat_count: Counter[str], word_cat: dict[str, Counter[str]]) -> None:
        self.n_items = max(int(n_items), 1)
        self.vocab, self.df, self.lead, self.cat_count, self.word_cat = vocab, df, lead, cat_count, word_cat
        self.head_count: Counter[str] = Counter()
        self._head_prior: float | None = None
        self._singular: dict[str, str] = {}
        self._purity: dict[str, float] = {}

    @classmethod
    def fit(cls, titles: Iterable[tuple[Segments, Sequence[str]]]) -> WordStats:
        """``titles``: (``segments(title)``, category path) per catalog item."""
        rows = [(segs, category_keys(c)) for segs, c in titles]
        vocab = Counter(w for segs, _ in rows for seg in segs for w in seg if w)
        stats = cls(len(rows), vocab, Counter(), Counter(), Counter(k for _, keys in rows for k in keys), {})
        for segs, keys in rows:
            if opening := next((w for seg in segs for w in seg if w), None):
                stats.lead[stats.singular(opening)] += 1
            for w in stats.words(segs):
                stats.df[w] += 1
                counts = stats.word_cat.setdefault(w, Counter())
                for k in keys:
                    counts[k] += 1
        heads = Counter(h[0] for segs, keys in rows if (h := stats.head(segs, keys)))
        stats.head_count = heads
        return stats

    def singular(self, word: str) -> str:
        if word not in self._singular:
            self._singular[word] = singular(word, self.vocab)
        return self._singular[word]

    def normalise(self, segs: Segments) -> Segments:
        return [[self.singular(w) if w else None for w in seg] for seg in segs]

    def words(self, segs: Segments) -> set[str]:
        return {self.singular(w) for seg in segs for w in seg if w}

    def informative(self, keys: Sequence[CategoryKey]) -> list[CategoryKey]:
        """The keys whose category holds at most ``MAX_ROOT_SHARE`` of the catalog (and is known)."""
        return [k for k in keys if 0 < self.cat_count.get(k, 0) <= MAX_ROOT_SHARE * self.n_items]

    def typicality(self, word: str, keys: Sequence[CategoryKey]) -> float:
        """How well ``word`` predicts the categories ``keys`` (informative ones); for an item without a
        category, the word's mean typicality over the catalog (``purity``)."""
        if not keys:
            return self.purity(word)
        n_w, counts = self.df.get(word, 0), self.word_cat.get(word, {})
        here = sum((counts.get(k, 0) + ALPHA * self.cat_count[k] / self.n_items) / (n_w + ALPHA)
                   for k in keys) / len(keys)
        return (1 - PURITY_WEIGHT) * here + PURITY_WEIGHT * self.purity(word)

    def purity(self, word: str) -> float:
        """Σ_c p(c|w)² over the informative keys, smoothed: the typicality of ``word`` for a random title
        holding it."""
        if word not in self._purity:
            n_w, counts = self.df.get(word, 0), self.word_cat.get(word, {})
            levels: dict[str, float] = {}
            for k, n in counts.items():
                if self.cat_count[k] <= MAX_ROOT_SHARE * self.n_items:
                    lvl = k.split("\t", 1)[0]
                    levels[lvl] = levels.get(lvl, 0.0) + (n / (n_w + ALPHA)) * (n / max(n_w, 1))
            self._purity[word] = max(levels.values(), default=1.0 / (1.0 + ALPHA))
        return self._purity[word]

    def headness(self, word: str) -> float:
        """How often the word was the head of its titles in the first pass (1 before it; smoothed)."""
        if not self.head_count:
            return 1.0
        if self._head_prior is None:
            self._head_prior = sum(self.head_count.values()) / max(sum(self.df.values()), 1)
        rate = (self.head_count.get(word, 0) + 2 * self._head_prior) / (self.df.get(word, 0) + 2)
        return rate ** HEADNESS_POWER

    def lead_share(self, word: str) -> float:
        """The share of the titles holding ``word`` that open with it (brands: "Haribo", "Bob's")."""
        return self.lead.get(word, 0) / max(self.df.get(word, 0), 1)

    def brand_segment(self, segs: Segments) -> bool:
        """A one-word first segment that opens nearly all its titles, with more after it: "Dreamfields, Pasta
        Spaghetti", "[FFP] Lindt Excellence Dark Chocolate" (not "Jerky, Real Chicken": jerky is usually last)."""
        first = [w for w in segs[0] if w] if segs else []
        if len(segs) < 2 or len(first) != 1:
            return False
        word = self.singular(first[0])
        return self.df.get(word, 0) >= 3 and self.lead_share(word) >= BRAND_LEAD_SHARE

    def head(self, segs: Segments, keys: Sequence[CategoryKey]) -> tuple[str, str | None, bool] | None:
        """(head word, the word right before it or None, whether the head was written as a plural), or None
        when the title has no usable word. ``segs`` as ``segments`` gives them (not yet singular)."""
        keys = self.informative(keys)
        # a brand segment counts as if it came second, and what follows it as first
        order = [1, *range(len(segs) - 1)] if self.brand_segment(segs) else range(len(segs))
        scored: list[list[tuple[float, str, str | None, bool]]] = []
        for j, seg in zip(order, segs, strict=True):
            row = []
            for i in range(len(seg) - 1, -1, -1):
                if raw := seg[i]:
                    word = self.singular(raw)
                    prev = self.singular(seg[i - 1]) if i > 0 and seg[i - 1] else None
                    score = self.typicality(word, keys) * self.headness(word) * SEGMENT_DECAY ** j
                    row.append((score, word, prev, word != raw))
            scored.append(row)
        best = max((row for row in scored if row), key=lambda row: max(c[0] for c in row), default=None)
        if best is None:
            return None
        top = max(c[0] for c in best)
        _, word, prev, plural = next(c for c in best if c[0] >= TAU * top)
        return word, prev, plural

    def to_dict(self) -> dict[str, Any]:
        return {"n_items": self.n_items, "vocab": dict(self.vocab), "df": dict(self.df), "lead": dict(self.lead),
                "head_count": dict(self.head_count),
                "cat_count": dict(self.cat_count), "word_cat": {w: dict(c) for w, c in self.word_cat.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordStats:
        stats = cls(data["n_items"], Counter(data["vocab"]), Counter(data["df"]), Counter(data["lead"]),
                    Counter(data["cat_count"]), {w: Counter(c) for w, c in data["word_cat"].items()})
        stats.head_count = Counter(data["head_count"])
        return stats
