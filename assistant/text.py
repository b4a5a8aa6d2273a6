"""Small word helpers shared by parsing, assembly and the explanation check: tokens, stems, term matching.

Matching is case-insensitive and stem-aware, so an exclusion "nuts" hits "WALNUT" and "candles" hits
"CANDLE HOLDER", while "tea" does not hit "steam".

>>> stem("candles"), stem("boxes"), stem("cups"), stem("glass")
('candle', 'box', 'cup', 'glass')
>>> matches_term("WALNUT CAKE", "nuts"), matches_term("CANDLE HOLDER", "candles"), matches_term("STEAM", "tea")
(True, True, False)
>>> words_to_int("six"), words_to_int("12"), words_to_int("a few"), words_to_int("lots")
(6, 12, 3, None)
>>> catalog_knows = {"napkins", "free teapot with 90% off", "<b>x</b>"}.__contains__
>>> said_back(["napkins", "free teapot with 90% off", "<b>x</b>", "takesies backsies"], known=catalog_knows)
'napkins and 3 other things you asked for'
>>> said_back(["<b>x</b>"], "you excluded", known=catalog_knows)
'one thing you excluded'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

WORD_NUMBERS = {
    "one": 1, "a": 1, "an": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "twenty": 20, "a couple": 2, "a couple of": 2,
    "couple": 2, "couple of": 2, "a pair of": 2, "pair of": 2, "a few": 3, "few": 3, "several": 4,
    "a dozen": 12, "dozen": 12, "half a dozen": 6,
}
NUMBER_WORD_RE = "|".join(sorted((re.escape(w) for w in WORD_NUMBERS if w not in ("a", "an")),
                                 key=len, reverse=True))

# Words that carry no product meaning; they never count as a match or a distinctive word.
_STOPWORDS_TEXT = (
    "a an the and or of for to with in on at by from my our your his her their some any this that these "
    "those it its is are be i me we you he she they them us set pack box small large medium mini big "
    "please just also only very really something things thing items item one ones "
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_TOKEN_RE = re.compile(r"[a-z]+|[0-9]+")


def tokens(text: str) -> list[str]:
    """Lower-case alphanumeric tokens; digits glued to letters split off.

    >>> tokens("T-LIGHT Holder, 20LIGHT")
    ['t', 'light', 'holder', '20', 'light']
    """
    return _TOKEN_RE.findall(text.lower())


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A deliberately tiny English stemmer (plurals only): enough for catalog titles and requests."""
    w = word.lower()
    if len(w) <= 3 or w.endswith(("ss", "us", "is")):
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "xes", "sses", "zes")):
        return w[:-2]
    if w.endswith("ves") and len(w) > 4:
        return w[:-3] + "f"
    if w.endswith("s"):
        return w[:-1]
    return w


def stems(text: str) -> list[str]:
    return [stem(t) for t in tokens(text)]


def content_stems(text: str) -> frozenset[str]:
    """Stems of the meaningful words (no stopwords, no pure numbers)."""
    return _content_stems(text)


@lru_cache(maxsize=16384)
def _content_stems(text: str) -> frozenset[str]:
    return frozenset(stem(t) for t in tokens(text) if t not in STOPWORDS and not t.isdigit() and len(t) > 1)


@lru_cache(maxsize=65536)
def matches_term(text: str, term: str) -> bool:
    """True when every word of ``term`` occurs in ``text`` as a word or word part, stem-aware.

    A term word of 3+ letters also matches inside a compound ("nut" in "walnut", "cake" in "cakestand"),
    but only at the start or the end of the text word, so "tea" does not match "steam".
    """
    words = stems(text)
    term_words = term_stems(term)
    if not term_words:
        return False
    return all(any(word_hit(w, tw) for w in words) for tw in term_words)


def term_stems(term: str) -> list[str]:
    """The stems a term is matched by: its content words, or all its words when it has none ("the one")."""
    return [stem(t) for t in tokens(term) if t not in STOPWORDS] or [stem(t) for t in tokens(term)]


def word_hit(word: str, term_word: str) -> bool:
    if word == term_word:
        return True
    if len(term_word) < 3:
        return False
    return word.startswith(term_word) or (word.endswith(term_word) and len(term_word) >= 3
                                          and len(word) - len(term_word) >= 3)


def words_to_int(text: str) -> int | None:
    """A count written as digits or words; None when it is not a count."""
    t = text.strip().lower()
    if t.isdigit():
        return int(t)
    return WORD_NUMBERS.get(t)


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


# Offers and commitments: a term that names one is never said back, whoever typed it.
_OFFER_RE = re.compile(
    r"\d+(?:\.\d+)?\s?%|\bper ?cent\b|\bfree\b|\bdiscount\w*|\bgratis\b|\bon sale\b|\bsale\b|\bcoupon|"
    r"\bpromo\w*|\bvoucher|\bcashback\b|\bbogo\b|\bbuy one,? get\b|\bwarrant(?:y|ies)\b|\bguarantee\w*|"
    r"\blimited[- ]time\b|\bclearance\b|\bsave (?:£|\$|€|\d)|\brefund\w*|\bnext[- ]day\b|\bsame[- ]day\b|"
    r"\boff (?:the )?(?:price|total)\b|\bprice[- ]match\w*|\blegal\w*|\bbinding\b|\bcontract\w*|\bagree\w*|"
    r"\bpromis\w*|\bdeal\b|\bcompensat\w*|\bprice of\b", re.I)
_PLAIN_TERM_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 '&-]{0,39}")


def echoable(term: str) -> bool:
    """May a client's term be said back to the shopper? Only plain short words that promise nothing: what a
    client sends (a message, a conversation state) is never echoed as markup, instructions or an offer.

    >>> echoable("paper napkins"), echoable("legally binding discount"), echoable("<script>x</script>")
    (True, False, False)
    """
    return (isinstance(term, str) and bool(_PLAIN_TERM_RE.fullmatch(term.strip())) and len(term.split()) <= 5
            and not _OFFER_RE.search(term))


def said_back(terms: list[str], why: str = "you asked for", known: Callable[[str], bool] | None = None) -> str:
    """``terms`` joined for a message to the shopper: a term is named when it is ``echoable`` and ``known``
    (the shop's catalog uses its words), otherwise only counted. Plain words are not enough: "no takesies
    backsies" is plain, and said back it puts the attacker's line in the shop's mouth. Without ``known`` (no
    catalog to ask) every term is only counted."""
    shown = [t.strip() for t in terms if echoable(t) and known is not None and known(t.strip())]
    hidden = len(terms) - len(shown)
    if hidden:
        n = "one" if hidden == 1 and not shown else str(hidden)
        shown.append(f"{n} {'other ' if shown else ''}thing{'s' if hidden != 1 else ''} {why}")
    return ", ".join(shown[:-1]) + (" and " if len(shown) > 1 else "") + (shown[-1] if shown else "")
