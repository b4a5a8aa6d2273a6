"""Understanding a follow-up message as an edit of the current bundle.

Targets are resolved against the current bundle: ordinals ("the second one", "#2", "the last one") or item
names ("the candle" -> the bundle line whose title matches "candle").

>>> titles = {"a": "WHITE TEAPOT", "b": "SCENTED CANDLE", "c": "CAKE STAND"}
>>> e = parse_edit("swap the second one for something cheaper", ["a", "b", "c"], titles)
>>> e.kind, e.targets, e.cheaper
('replace', ['b'], True)
>>> parse_edit("remove the candle", ["a", "b", "c"], titles).targets
['b']
>>> parse_edit("a picnic for four", ["a", "b", "c"], titles).kind
'new'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.parse import clean_message, parse_request
from assistant.text import STOPWORDS, content_stems, matches_term, tokens
from assistant.types import Constraints

ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3,
            "fifth": 4, "5th": 4, "sixth": 5, "6th": 5, "seventh": 6, "7th": 6, "eighth": 7, "8th": 7,
            "ninth": 8, "9th": 8, "tenth": 9, "10th": 9, "last": -1}
_ORD_RE = re.compile(r"\b(?P<o>" + "|".join(ORDINALS) + r")\b(?:\s+(?:one|item|thing|product))?"
                     r"|(?:#|\bnumber\s+|\bitem\s+|\bno\.?\s*)(?P<n>\d{1,2})\b", re.I)
_RESTART_RE = re.compile(r"^\s*(?:let'?s\s+)?(?:start (?:over|again|afresh)|reset|restart|new bundle|clear"
                         r"(?: it| all| everything)?|forget (?:it|that|everything)|scrap (?:it|that|this))\b", re.I)
_REMOVE_RE = re.compile(r"\b(?:remove|drop|delete|take out|take away|get rid of|lose|ditch|skip|cut|"
                        r"i don'?t (?:want|like|need))\b\s*(?P<t>.*)", re.I)
_REPLACE_RE = re.compile(r"\b(?:swap|replace|change|switch|exchange|substitute|instead of)\b\s*(?P<t>.*?)"
                         r"(?:\s+(?:for|with|to|by|into)\s+(?P<w>.*))?$", re.I)
_CHEAPER_RE = re.compile(r"\b(?:cheaper|less expensive|lower price|more affordable|budget)\b", re.I)
# "swap the cheapest for something nicer": the replacement costs more than what it replaces
_NICER_RE = re.compile(r"\b(?:nicer|better|fancier|posher|classier|dearer|pricier|more expensive|"
                       r"higher quality|upgrade)\b", re.I)
_ADD_RE = re.compile(r"^\s*(?:(?:can|could) you\s+|please\s+)?(?:add|also|plus|throw in|include|and)\s+"
                     r"(?:in\s+)?(?:(?:a|an|some|one more|another|the)\s+)?(?P<t>[^,.!?]*)", re.I)
_ANOTHER_RE = re.compile(r"\b(?:another|more|extra|second|other)\b", re.I)
_MORE_LIKE_RE = re.compile(r"\b(?:more like|similar to|something like|like the|others like)\s+(?P<t>.*)", re.I)
_KEEP_RE = re.compile(r"\b(?:keep|i like|i love|pin|hold on to)\s+(?P<t>.*)", re.I)
# "remove anything with lights", "drop all the candles": a kind of item, which must not come back either
_REMOVE_KIND_RE = re.compile(
    r"\b(?:remove|drop|delete|take out|take away|get rid of|lose|ditch|cut)\s+(?:"
    r"(?:anything|everything|any(?:\s+(?:items?|things?|ones?))?|all(?:\s+(?:the\s+)?(?:items?|things?|ones?))?|"
    r"every(?:\s+(?:item|thing|one))?|the\s+(?:items?|things?|ones?))\s+(?:that\s+(?:has|have|contains?|is|are)\s+|"
    r"with|containing|made\s+(?:of|from|with)|featuring|including)\s+(?P<x>[^,.!?;]+)"
    r"|all(?:\s+of)?(?:\s+the)?\s+(?P<y>[^,.!?;]+))", re.I)
_EXTREME_RE = re.compile(r"\b(?P<x>cheapest|least expensive|dearest|priciest|most expensive)\b", re.I)
_SIZE_EDIT_RE = re.compile(r"\b(?:one|1) (?:more|extra)\b|\banother (?:one|item|thing)\b", re.I)


@dataclass
class Edit:
    """What a follow-up message asks for. ``kind`` is one of: new, restart, remove, replace, add,
    constraints, more_like, keep, noop (an edit whose target is not in the bundle: nothing changes)."""

    kind: str
    targets: list[str] = field(default_factory=list)
    """Ids of the bundle items the edit is about."""
    query: str = ""
    """What to search for (the replacement, the addition, or the new request)."""
    named: str = ""
    """The kind a replacement's targets were named by ("swap the cups"): the swap keeps it."""
    cheaper: bool = False
    nicer: bool = False
    """A replacement asked to be nicer, better or dearer: it must cost more than the item it replaces."""
    another: bool = False
    """An addition asked as one more of something ("another mug", "more napkins"), not only as something."""
    constraints: Constraints = field(default_factory=Constraints)
    """Constraints stated in the message itself (budget, size, exclusions...)."""


def parse_edit(text: str, bundle: list[str], titles: dict[str, str],
               prices: dict[str, float | None] | None = None) -> Edit:
    """Parse ``text`` as an edit of ``bundle`` (ids, in display order; ``titles`` maps id -> title, ``prices``
    id -> price: "the cheapest one")."""
    text = clean_message(text)
    stated = parse_request(text)
    if not bundle:
        return Edit("new", query=stated.query, constraints=stated)
    m = _RESTART_RE.search(text)
    if m:  # "start over: a picnic for four" restarts with a new request
        rest = text[m.end():].strip(" ,.;:!-")
        fresh = parse_request(rest) if re.search(r"[A-Za-z]{3}", rest) else Constraints()
        return Edit("restart", query=fresh.query, constraints=fresh)
    kind_edit = _remove_kind(text, bundle, titles, stated)
    if kind_edit:
        return kind_edit
    for kind, rx in (("keep", _KEEP_RE), ("more_like", _MORE_LIKE_RE), ("replace", _REPLACE_RE),
                     ("remove", _REMOVE_RE)):
        m = rx.search(text)
        if not m:
            continue
        targets = resolve_targets(m.group("t"), bundle, titles, prices)
        if not targets and kind in ("replace", "remove") and _concrete(m.group("t")):
            return Edit("noop", query=_strip_articles(m.group("t")), constraints=stated)
        if targets:
            with_ = (m.groupdict().get("w") or "") if kind == "replace" else ""
            query = "" if not _concrete(with_) else with_
            cheaper = bool(_CHEAPER_RE.search(text))
            said = _strip_articles(m.group("t"))
            named = said if kind == "replace" and _concrete(said) and all(
                matches_term(titles.get(t, ""), said) for t in targets) else ""
            return Edit(kind, targets=targets, query=_strip_articles(query), named=named, cheaper=cheaper,
                        nicer=not cheaper and bool(_NICER_RE.search(text)), constraints=stated)
    m = re.search(r"\bcheaper\s+(?P<t>.+)", text, re.I)
    if m:
        targets = resolve_targets(m.group("t"), bundle, titles, prices)
        if targets:
            return Edit("replace", targets=targets, cheaper=True, constraints=stated)
    if _only_constraints(stated) and not _SIZE_EDIT_RE.search(text):
        # "and make it 3 items", "and no candles": a leading "and" does not make it an addition
        return Edit("constraints", cheaper=bool(_CHEAPER_RE.search(text)) and stated.budget is None,
                    constraints=stated)
    m = _ADD_RE.search(text)
    if m and (_concrete(m.group("t")) or _SIZE_EDIT_RE.search(text)):
        return Edit("add", query=_addition(m.group("t"), stated), constraints=stated,
                    another=bool(_ANOTHER_RE.search(text)))
    if _SIZE_EDIT_RE.search(text):
        return Edit("add", constraints=stated)
    if _only_constraints(stated) or _CHEAPER_RE.search(text):
        return Edit("constraints", cheaper=bool(_CHEAPER_RE.search(text)) and stated.budget is None,
                    constraints=stated)
    return Edit("new", query=stated.query, constraints=stated)


def _remove_kind(text: str, bundle: list[str], titles: dict[str, str], stated: Constraints) -> Edit | None:
    """"remove anything with lights": every bundle item whose title matches goes, and the term becomes an
    exclusion so that no later turn brings such an item back. None when the message is not of that form."""
    m = _REMOVE_KIND_RE.search(text)
    if not m:
        return None
    phrase = m.group("x") or m.group("y")
    terms = [t for t in parse_request(f"no {phrase}").exclude if _concrete(t)]
    if not terms:  # "remove all the ones", "drop everything with it": nothing to exclude
        return None
    stated.exclude = list(dict.fromkeys(stated.exclude + terms))
    targets = [i for i in bundle if any(matches_term(titles.get(i, ""), t) for t in terms)]
    # none in the bundle: still a constraint for what comes next, not a no-op
    return Edit("remove", targets=targets, constraints=stated) if targets else Edit("constraints",
                                                                                    constraints=stated)


def _addition(phrase: str, stated: Constraints) -> str:
    """What an "add ..." asks for, without its constraints: "a card under £5" -> "card"."""
    if stated.must_have:
        return stated.must_have[0]
    phrase = re.sub(r"\b(?:please|too|as well|thanks)\b", "", phrase, flags=re.I)
    what = _strip_articles(parse_request(phrase).query if re.search(r"[A-Za-z]", phrase) else "")
    return what if _concrete(what) else ""


def resolve_targets(phrase: str, bundle: list[str], titles: dict[str, str],
                    prices: dict[str, float | None] | None = None) -> list[str]:
    """Bundle ids a phrase points at: the cheapest or dearest item (with ``prices``), ordinals, then the best
    title match; [] when nothing fits.

    >>> resolve_targets("the cheapest thing", ["a", "b"], {"a": "TEAPOT", "b": "NAPKINS"}, {"a": 9.0, "b": 0.85})
    ['b']
    """
    if prices and (m := _EXTREME_RE.search(phrase)):
        priced = [i for i in bundle if prices.get(i) is not None]
        if priced:
            dear = m.group("x").lower() in ("dearest", "priciest", "most expensive")
            return [(max if dear else min)(priced, key=lambda i: float(prices[i] or 0.0))]
    out: list[str] = []
    for m in _ORD_RE.finditer(phrase):
        idx = ORDINALS[m.group("o").lower()] if m.group("o") else int(m.group("n")) - 1
        if -len(bundle) <= idx < len(bundle) and bundle[idx] not in out:
            out.append(bundle[idx])
    if out:
        return out
    if re.search(r"\b(?:all|everything|the lot)\b", phrase, re.I):
        return list(bundle)
    words = [t for t in tokens(phrase) if t not in STOPWORDS and t not in ("cheaper", "something", "else")
             and len(t) > 2]
    best, best_hits = [], 0
    for item_id in bundle:
        hits = sum(matches_term(titles.get(item_id, ""), w) for w in words)
        if hits > best_hits:
            best, best_hits = [item_id], hits
        elif hits == best_hits and hits:
            best.append(item_id)
    return best


_VAGUE = content_stems("cheaper else different more less expensive another nicer better fancier")
"""Words that say how a replacement differs, not what it is: "something nicer" searches nothing."""


def _concrete(phrase: str) -> bool:
    return bool(content_stems(phrase) - _VAGUE)


def _strip_articles(phrase: str) -> str:
    return re.sub(r"^(?:a|an|the|some|another)\s+", "", phrase.strip(" .,!?"), flags=re.I)


def _only_constraints(c: Constraints) -> bool:
    """The message only states constraints (budget, size, exclusions), no new thing to look for."""
    has = (c.budget is not None or c.max_each is not None or c.size is not None or bool(c.exclude)
           or c.people is not None)
    return has and not _concrete(c.query.replace("make it", "").replace("make", ""))
