"""Shoppers who do not write English: which language a turn is in, and the request read into the English
the rules understand.

A turn in Chinese or French is *read*, not translated by a model: each language's rules (``zh.py``,
``fr.py``) rewrite what the English parser knows how to read — budgets, counts, people, exclusions, must-haves,
occasions, recipients and edits — into English phrases, and leave the rest (what the shopper wants: 茶壶,
bougies) as foreign *terms*. A term becomes English through the shop's own vocabulary: ``Glossary`` (built
at index time, ``retrieval/glossary.py``) finds the shop's kind or title word nearest to it in a
multilingual sentence encoder; a term it cannot place stays foreign and is searched cross-lingually against
the shop's second vector set. English turns never pass through here beyond ``detect``.

>>> detect("hosting a tea party for six, about £25"), detect("为六个人的茶话会准备东西"), detect("moins cher")
('en', 'zh', 'fr')
>>> r = read("为六个人的茶话会准备东西，预算25英镑", "zh")
>>> r.english, r.terms
('for 6 people tea party, budget £25', [])
>>> read("un cadeau pour ma mère, sans bougies, moins de 20 livres", "fr").english
'gift for my mum, no ⟦0!⟧, under £20'
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

SUPPORTED = ("en", "fr", "zh")
"""Languages whose requests are read and answered in that language; others are read as English."""
_CANDIDATES = ["en", "fr", "de", "es", "it", "nl", "pt"]
"""What the detector chooses among for Latin-script text: a few close neighbours keep it from calling a
French turn English just because English was the only other choice."""
SURE = 0.9
"""Below this normalised probability a Latin-script turn keeps the conversation's language (a short
follow-up like "pas de ballons" is too short to tell)."""
_CJK_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_KANA_RE = re.compile(r"[\u3040-\u30ff]")
_HANGUL_RE = re.compile(r"[\uac00-\ud7af]")
_LETTER_RE = re.compile(r"[^\W\d_]")
TERM_RE = re.compile(r"⟦(\d+)(s?)(!?)⟧")
"""A foreign term's place in the English reading: ``⟦n⟧`` is ``Reading.terms[n]``, ``⟦ns⟧`` the same term
counted ("six mugs": the English plural lets the parser read "6 mugs" as six of one thing), ``⟦n!⟧`` a term
the shopper excluded: it takes every word of the shop near its best one (马克杯 is "cup" 0.70 and "mug"
0.67): excluding one too many is safe, one too few is not."""

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _identifier():  # noqa: ANN202 - py3langid's class is untyped
    """py3langid's model ships inside its wheel (a 4.6 MB file read from site-packages, never downloaded)."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)
    ident.set_languages(_CANDIDATES)
    return ident


def detect(text: str, previous: str | None = None) -> str:
    """The language of one turn: ``zh`` when it has a Chinese word (two characters), else the detector's
    choice when it is sure, else its function words, else ``previous`` (the conversation's), else ``en``.
    Japanese and Korean are recognised by their scripts (and read as English: not supported)."""
    text = unicodedata.normalize("NFKC", text)
    letters = _LETTER_RE.findall(text)
    if not letters:
        return previous or "en"
    for code, rx in (("ja", _KANA_RE), ("ko", _HANGUL_RE)):
        if len(rx.findall(text)) >= len(letters) / 3:
            return code
    if len(_CJK_RE.findall(text)) >= 2:  # a Chinese word: English product names in it stay English
        return "zh"
    with _lock:  # the identifier keeps per-call state in numpy buffers
        lang, prob = _identifier().classify(text)
    if prob >= SURE:
        return str(lang)
    # unsure: the function words decide ("des sacs repas, 4 en tout"; "no balloons" after a French turn is
    # the shopper switching to English), then the conversation ("moins cher")
    words = re.findall(r"[^\W\d_]+", text.lower())
    fr, en = sum(w in _FRENCH for w in words), sum(w in _ENGLISH for w in words)
    if fr != en:
        return "fr" if fr > en else "en"
    return previous or "en"


# function words, for a turn the detector is unsure of
_FRENCH_TEXT = "de du des la le les un une et ou pour avec mon ma mes en au aux sans pas tout très"
_FRENCH = frozenset(_FRENCH_TEXT.split())
_ENGLISH_TEXT = ("the a an of for with my and or in to no some any under about please cheaper "
                 "remove swap add more less make it one this that but not without instead something")
_ENGLISH = frozenset(_ENGLISH_TEXT.split())


@dataclass
class Reading:
    """A turn read into English: ``english`` is what the English parser reads, with ``⟦n⟧`` where the
    foreign term ``terms[n]`` stands."""

    english: str
    terms: list[str] = field(default_factory=list)

    def resolved(self, translate: Callable[[str], str | None],
                 placed: dict[str, str] | None = None,
                 translate_all: Callable[[str], list[str]] | None = None) -> tuple[str, list[str]]:
        """The English text with each term replaced by ``translate(term)``, and the terms it could not
        place (they are searched as they are, cross-lingually). An unplaced term leaves nothing behind in
        the English text; ``placed`` collects term -> English for the others."""
        unplaced: list[str] = []

        def sub(m: re.Match[str]) -> str:
            term = self.terms[int(m.group(1))]
            if m.group(3) and translate_all is not None and (every := translate_all(term)):
                if placed is not None:
                    placed[term] = every[0]
                return " and ".join(every)
            english = translate(term)
            if english is None:
                unplaced.append(term)
                return ""
            if placed is not None:
                placed[term] = english
            return english + ("s" if m.group(2) and not english.endswith("s") else "")

        text = TERM_RE.sub(sub, self.english)
        return tidy(text), unplaced


def read(text: str, lang: str) -> Reading:
    """``text`` (one shopper message in ``lang``) read into English; English and unsupported languages come
    back as they are."""
    text = unicodedata.normalize("NFKC", text)
    if lang == "zh":
        from assistant.languages import zh

        english, terms = zh.rewrite(text)
    elif lang == "fr":
        from assistant.languages import fr

        english, terms = fr.rewrite(text)
    else:
        return Reading(text)
    return Reading(tidy(english), terms)


def tidy(text: str) -> str:
    """Spaces and punctuation a rewrite left doubled or dangling.

    >>> tidy(" ,  gift for my mum ,, no candle ,")
    'gift for my mum, no candle'
    """
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.;!?])", r"\1", text)
    text = re.sub(r"([,.;!?])(?:\s*[,.;!?])+", r"\1", text)
    return text.strip(" ,.;:")


_PEOPLE_COUNT = re.compile(r"\b(\d{1,3}) (?:people|kids|guests|friends|colleagues|adults)\b")


def one_each(english: str, each: bool) -> str:
    """"One each" for the people counted: as many things as people ("10个小朋友，每人一份"; "un par enfant").

    >>> one_each("gift for 10 kids", True), one_each("gift for 10 kids", False)
    ('gift for 10 kids, 10 things', 'gift for 10 kids')
    """
    m = _PEOPLE_COUNT.search(english) if each else None
    return f"{english.rstrip()}, {m.group(1)} things" if m else english


def placeholder(terms: list[str], term: str, negated: bool = False) -> str:
    """Record ``term`` and return its marker (an empty term marks nothing); ``negated``: an excluded term."""
    term = term.strip(" ,.;:!?'\"-")
    if not term:
        return " "
    terms.append(term)
    return f" ⟦{len(terms) - 1}{'!' if negated else ''}⟧ "
