"""A lexical match term for the reranker: BM25 of the request's words against an item's title and category.

Sentence embeddings blur short, concrete requests ("Seaweed", "pasta sides"): an item whose title names the
thing asked for should rank above a merely related one. Document frequencies come from the shop's own
catalog; the score is divided by the sum of the request words' IDF (a text of average length that holds every
request word once scores 1; capped at 1), so it means the same in every pool and in every shop.

>>> lex = Lexicon.fit(["Nori Seaweed Snack", "Roasted Seaweed, Wasabi", "Green Tea", "Pasta Sides"])
>>> [round(s, 3) for s in lex.scores("seaweed snacks", ["Nori Seaweed Snack", "Green Tea"])]
[0.924, 0.0]
>>> lex.matched("seaweed snacks", "Nori Seaweed Snack")
['seaweed', 'snack']
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from retrieval.types import Item

_STOPWORDS_TEXT = (
    "a an and or of the for with to in on at by from my our your some any few different types type kind kinds "
    "items item things thing products product stuff set oz ounce ounces pack count lb lbs"
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
K1 = 1.2
B = 0.75
_WORD = re.compile(r"[a-z]+")


def terms(text: str) -> list[str]:
    """Lower-case content words with a crude plural fold ('snacks' -> 'snack'); stopwords dropped.

    >>> terms("Knorr Pasta Sides, 4.3-Ounce Packages")
    ['knorr', 'pasta', 'side', 'package']
    """
    out = []
    for w in _WORD.findall(text.lower()):
        if len(w) < 2 or w in STOPWORDS:
            continue
        out.append(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return out


def item_text(item: Item) -> str:
    """What the lexical term reads of an item: its title and the two deepest category names."""
    return " ".join([item.title, *item.category[-2:]])


class Lexicon:
    """Document frequencies of one catalog. Build with ``Lexicon.fit(texts)``."""

    def __init__(self, df: Counter[str], n_docs: int, avg_len: float) -> None:
        self.df, self.n_docs, self.avg_len = df, max(n_docs, 1), max(avg_len, 1.0)

    @classmethod
    def fit(cls, texts: Iterable[str]) -> Lexicon:
        df: Counter[str] = Counter()
        n, total = 0, 0
        for text in texts:
            words = terms(text)
            df.update(set(words))
            n, total = n + 1, total + len(words)
        return cls(df, n, total / max(n, 1))

    def idf(self, word: str) -> float:
        d = self.df.get(word, 0)
        return math.log(1.0 + (self.n_docs - d + 0.5) / (d + 0.5))

    def scores(self, query: str, texts: Sequence[str]) -> list[float]:
        """BM25 of ``query`` against each text over the sum of the query words' IDF, capped at 1."""
        q = [w for w in dict.fromkeys(terms(query)) if w in self.df]
        if not q:
            return [0.0] * len(texts)
        weights = {w: self.idf(w) for w in q}
        ceiling = sum(weights.values())
        out = []
        for text in texts:
            words = terms(text)
            tf = Counter(words)
            norm = K1 * (1.0 - B + B * len(words) / self.avg_len)
            s = sum(weights[w] * tf[w] * (K1 + 1.0) / (tf[w] + norm) for w in q if tf[w])
            out.append(min(1.0, s / ceiling))
        return out

    def knows(self, text: str) -> bool:
        """True when ``text`` has content words and the catalog uses every one of them: a term a reply may
        name back to the shopper, since the shop's own titles say it too.

        >>> lex = Lexicon.fit(["Nori Seaweed Snack", "Green Tea"])
        >>> lex.knows("seaweed snacks"), lex.knows("takesies backsies"), lex.knows("green lasers"), lex.knows("the")
        (True, False, False, False)
        """
        words = terms(text)
        return bool(words) and all(w in self.df for w in words)

    def matched(self, query: str, text: str) -> list[str]:
        """The request's words that the text contains (the evidence behind a lexical score)."""
        have = set(terms(text))
        return [w for w in dict.fromkeys(terms(query)) if w in have]
