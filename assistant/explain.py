"""Explanations: per-item reasons from the score breakdown, the model's explanation prompt, the grounding check,
and the deterministic fallback.

The check is deliberately strict: an explanation that names an item outside the bundle, states a number that
is not a catalog fact (or an order count the facts do not give), promises anything (discounts, free shipping),
or has a sentence that no fact supports (a pleasantry, a claim about nothing in the bundle), repeats itself or
rambles is replaced by the deterministic one.

>>> from retrieval.types import Item, ScoredItem
>>> s = ScoredItem(Item("k", "CAKE STAND", price=8.0), 1.0, {"relevance": 0.2, "complement": 0.4},
...                {"complement_of": "t", "complement_association": 0.3})
>>> item_reason(s, "tea party", {"t": "WHITE TEAPOT"}.get)
'often bought together with the WHITE TEAPOT'
>>> facts = Facts(titles=["CAKE STAND"], prices=[8.0], total=8.0, budget=10.0, currency="GBP")
>>> check_explanation("The cake stand costs £8.00, well under £10.", facts)
[]
>>> check_explanation("The cake stand is 20% off with free shipping!", facts)
['a promise or discount: 20%', 'a promise or discount: free shipping', 'a number not in the catalog facts: 20', \
'words no fact supports: free, shipping']
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from assistant.prompting import format_price
from assistant.text import STOPWORDS, WORD_NUMBERS, content_stems, stem, tokens, word_hit
from assistant.types import Constraints
from retrieval.types import Item, ScoredItem

_PROMISE_RE = re.compile(
    r"\d+(?:\.\d+)?\s?%|\bper ?cent\b|\bfree (?:shipping|delivery|postage|gift|returns?)\b|\bdiscount\w*|"
    r"\bon sale\b|\bsale\b|\bcoupon|\bpromo\w*|\bvoucher|\bcashback\b|\bbogo\b|\bbuy one,? get\b|"
    r"\bwarrant(?:y|ies)\b|\bguarantee\w*|\blimited[- ]time\b|\bclearance\b|\bsave (?:£|\$|€|\d)|\brefund\w*|"
    r"\bnext[- ]day\b|\bsame[- ]day\b|\boff (?:the )?(?:price|total)\b", re.I)
_NUMBER_RE = re.compile(r"(?<![\w.])[£$€]?\s?(\d+(?:[.,]\d+)?)")
_CAPS_RUN_RE = re.compile(r"\b[A-Z][A-Z'&-]{2,}(?:\s+[A-Z0-9][A-Z0-9'&,-]*){1,}")
_COUNT_RE = re.compile(r"\b(" + "|".join(w for w in WORD_NUMBERS if " " not in w and w not in ("a", "an",
                       "single", "few", "several", "couple", "dozen")) + r")\s+(?:\w+\s+)?(?:items|things|gifts|"
                       r"pieces|products|picks)\b", re.I)


@dataclass
class Facts:
    """Everything the explanation may state: the bundle's titles and prices, totals, and allowed context."""

    titles: list[str]
    prices: list[float | None]
    total: float | None
    budget: float | None = None
    currency: str | None = None
    context: list[str] = field(default_factory=list)
    """Other text the prompt showed (history titles and dates, the request): may be mentioned."""
    others: list[str] = field(default_factory=list)
    """Titles of catalog items NOT in the bundle (the other candidates): must not be mentioned."""
    numbers: list[float] = field(default_factory=list)
    """Further allowed numbers (people, budget minimum, size, what the budget leaves)."""
    kinds: list[str] = field(default_factory=list)
    """The kinds the bundle covers (``retrieval/kinds.py``): a sentence naming one is about the bundle."""
    counts: list[int] = field(default_factory=list)
    """Order counts the facts state (bought together in N orders): "N orders" must be one of them."""
    statements: list[str] = field(default_factory=list)
    """The prompt's facts block (``assistant.facts.explain_facts``), one fact a line."""
    request: str = ""
    """The request's words (query, occasion, recipient): a sentence about them is on topic."""
    budget_min: float | None = None
    """The lower end of a stated budget range ("between £20 and £40")."""
    line_totals: list[float] = field(default_factory=list)
    """Price × quantity of each line bought more than once."""
    item_kinds: list[str | None] = field(default_factory=list)
    """The kind of each title, in order (None where the shop has none)."""
    evidence: Any = None
    """The ``assistant.facts.Evidence`` these facts were stated from (pairs, history, the top item)."""


REASONS = {
    "history": "pairs with the {title} you bought", "history_when": "pairs with the {title} you bought in {when}",
    "complement": "often bought together with the {other}", "llm": "the assistant's top pick",
    "popular": "a popular choice in this shop", "matches": "matches '{words}'",
    "close": "a close match for the request", "asked": "the {term} you asked for",
}
"""Each line's reason, by key (``reason_of``): ``assistant.languages.messages`` says the same in French and
Chinese."""


def item_reason(s: ScoredItem, query: str, title_of: Callable[[str], str | None]) -> str:
    """One line from the biggest evidenced term of the breakdown."""
    key, fill = reason_of(s, query, title_of)
    return REASONS[key].format(**fill)


def reason_of(s: ScoredItem, query: str, title_of: Callable[[str], str | None]) -> tuple[str, dict[str, str]]:
    """The key of ``REASONS`` the biggest evidenced term of the breakdown gives, and its values."""
    bd, ev = s.breakdown, s.evidence
    options: list[tuple[float, str, dict[str, str]]] = []
    if ev.get("history_title") and ev.get("history_similarity", 0) >= 0.5:
        when = month(ev.get("history_ts"))
        options.append((bd.get("affinity", 0.0), "history_when" if when else "history",
                        {"title": str(ev["history_title"]), "when": when}))
    if ev.get("complement_of"):
        other = title_of(str(ev["complement_of"])) or ""
        if other:
            options.append((bd.get("complement", 0.0) + 0.01, "complement", {"other": other}))
    if "llm" in bd:
        options.append((bd["llm"] * 0.5, "llm", {}))
    if bd.get("popularity", 0.0) > bd.get("relevance", 0.0):
        options.append((bd["popularity"], "popular", {}))
    words = topic(query, [s.item.title, *s.item.category])
    options.append((bd.get("relevance", 0.0), "matches" if words else "close", {"words": words}))
    best = max(options, key=lambda o: o[0])
    return best[1], best[2]


def topic(query: str, texts: Sequence[str]) -> str:
    """The request's words that the catalog texts also use, in request order: what a reply may quote back.

    Never the raw request: injected instructions, markup or other languages are not echoed to the shopper.

    >>> topic("<script>alert(1)</script> mugs for the office", ["HOME SWEET HOME MUG"])
    'mugs'
    >>> topic("Je cherche un cadeau", ["TEA CUP"])
    ''
    """
    known = set().union(*(content_stems(t) for t in texts))
    out = [w for w in dict.fromkeys(tokens(query)) if w not in STOPWORDS and stem(w) in known]
    return " ".join(out)


def month(ts: Any) -> str:
    """'May 2011' of a timestamp ('' when there is none a calendar can show)."""
    try:
        return dt.datetime.fromtimestamp(float(ts), dt.UTC).strftime("%B %Y") if ts else ""
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def explain_messages(request: str, lines: Sequence[Any], facts: Sequence[str] = (),
                     currency: str | None = None) -> list[dict[str, str]]:
    """The shared 'explain' prompt: the request, only the chosen items with their prices, and the facts block
    (``Facts.statements`` from ``assistant.facts.explain_facts``), which states the total, the budget and the
    shopper's history the text may name."""
    from assistant.prompting import format_bundle, render

    currency = (lines[0].currency if lines else None) or currency
    items = [Item(ln.id, ln.title, price=ln.price, currency=ln.currency) for ln in lines]
    return render("explain", request=request, bundle=format_bundle(items, currency),
                  facts="\n".join(facts) or "(none)")


def deterministic_explanation(lines: Sequence[Any], total: float | None, c: Constraints, query: str,
                              message: str = "") -> str:
    """A plain explanation built only from catalog facts and the per-item reasons."""
    if not lines:
        return message or "Nothing in the catalog fits this request."
    currency = lines[0].currency or c.currency
    words = topic(query, [t for ln in lines for t in (ln.title, ln.category)])
    what = f" for {words}" if words else ""
    head = f"Here {'is' if len(lines) == 1 else 'are'} {len(lines)} item{'s' * (len(lines) != 1)}{what}"
    if total is not None:
        head += f", {format_price(total, currency)} in total"
        if c.budget is not None:
            head += f" (budget {format_price(c.budget, currency)})"
    parts = [head + ":"]
    parts += [f"{ln.title} ({format_price(ln.price, ln.currency)}): {ln.reason}." for ln in lines]
    if message:
        parts.append(message)
    return " ".join(parts)


def check_explanation(text: str, facts: Facts, *, generated: bool = True) -> list[str]:
    """Problems found in a generated explanation ([] = grounded). ``generated``: the text came from the model,
    so a loop (the same four words three times, how a small model degenerates) is a problem too; the
    deterministic text lists one reason per item and may repeat a reason on purpose."""
    problems: list[str] = []
    if len(text.strip()) < 15 or not re.search(r"[A-Za-z]{3}", text):
        return [TOO_SHORT]
    if generated and (loop := repeated_phrase(text)):
        problems.append(f"repeats itself: {loop!r}")
    problems += [f"a promise or discount: {m.group(0).strip()}" for m in _PROMISE_RE.finditer(text)]
    problems += [f"a number not in the catalog facts: {n}" for n in _bad_numbers(text, facts)]
    problems += [f"names something not in the bundle: {name}" for name in _foreign_names(text, facts)]
    for m in _COUNT_RE.finditer(text):
        if WORD_NUMBERS[m.group(1).lower()] != len(facts.titles):
            problems.append(f"a wrong count: {m.group(0)}")
    problems += [f"a wrong order count: {m.group(0)}" for m in _ORDERS_RE.finditer(text)
                 if int(m.group(1)) not in facts.counts]
    if generated:
        problems += sentence_problems(sentences(text), facts)
    return problems


def sentences(text: str) -> list[str]:
    """The text cut where ``SentenceGate`` cuts it (the last piece may be unfinished)."""
    cuts = [0] + [m.end() for m in _SENTENCE_END_RE.finditer(text)] + [len(text)]
    return [s for a, b in zip(cuts, cuts[1:], strict=False) if (s := text[a:b].strip())]


def sentence_problems(parts: Sequence[str], facts: Facts) -> list[str]:
    """Each sentence must state something the facts hold (a bundle item, one of its kinds, a price or count
    from the facts, a history item; after the first, the request's topic), be no pleasantry, and say
    something new, with every claim bound to its fact (``claim_problems``); at most
    ``MAX_SENTENCES``. Each sentence is judged on its own and against the ones before it, so a prefix of
    whole sentences never has a problem the whole text lacks."""
    problems: list[str] = []
    seen: list[frozenset[str]] = []
    for n, s in enumerate(parts):
        words = content_stems(s)
        anchored = _anchored(s, words, facts)
        on_topic = n > 0 and words & content_stems(facts.request) and not _FILLER_RE.search(s)
        if not anchored and not on_topic:  # the opening must state a fact: "it fits your request" says nothing
            problems.append(f"a sentence no fact supports: {s[:60]!r}")
        if any(len(words & w) >= SAME * len(words) for w in seen if words and w):  # nothing new in it
            problems.append(f"says the same again: {s[:60]!r}")
        if twice := listed_twice(s):
            problems.append(f"lists {twice!r} twice")
        if len(s.split()) > MAX_WORDS:
            problems.append(f"a sentence of over {MAX_WORDS} words")
        if n == MAX_SENTENCES:
            problems.append(f"more than {MAX_SENTENCES} sentences")
        problems += claim_problems(s, facts)
        seen.append(words)
    return problems


def claim_problems(sentence: str, facts: Facts) -> list[str]:
    """Each claim of one sentence bound to its own fact, not just to a number that occurs somewhere in the
    facts: an amount next to "budget" must be the budget, one next to "left"/"under" what the budget leaves,
    one next to "total"/"together" the total, one after an item the item's price; "N orders" must be the count
    of a pair the sentence names (or of the most ordered item it names); "N kinds" / "N items" the bundle's;
    "a set of N" a title's; and every descriptive word must come from the facts (a title, a kind, the request,
    the history, the facts block) or the plain words an explanation is made of."""
    problems = [f"{what}: {m.group(0).strip()}" for what, m in _misbound_amounts(sentence, facts)]
    problems += [f"an order count of something else: {m.group(0)}" for m in _misbound_orders(sentence, facts)]
    for m in _DIGIT_COUNT_RE.finditer(sentence):
        of_kinds = m.group(2).lower().startswith(("kind", "type"))
        if of_kinds and not facts.kinds:
            continue  # a shop without kinds: nothing to count them by
        if int(m.group(1)) != (len(facts.kinds) if of_kinds else len(facts.titles)):
            problems.append(f"a wrong count: {m.group(0)}")
    titles = " ".join(facts.titles).lower()
    problems += [f"a pack size no title states: {m.group(0)}" for m in _PACK_RE.finditer(sentence)
                 if not re.search(rf"\b{m.group(2)}\b", titles)]
    if unsupported := _unsupported_words(sentence, facts):
        problems.append(f"words no fact supports: {', '.join(unsupported)}")
    problems += [f"a name no one item has: {name!r}" for name in _blended_names(sentence, facts)]
    if facts.budget is None and re.search(r"\bbudget", sentence, re.I):
        problems.append("a budget the request did not state")
    problems += [f"a limit that is not the budget: {m.group(0)}" for m in _YOUR_LIMIT_RE.finditer(sentence)
                 if not re.match(r"(?:[£$€]\s?\d[\d.,]*\s+)?budget\b", m.group(1), re.I)]
    problems += [f"an amount called the shopper's that is not the budget: {m.group(0)}"
                 for m in _YOUR_MONEY_RE.finditer(sentence)]
    problems += [f"a count of buyers no fact holds: {m.group(0)}" for m in _BUYERS_RE.finditer(sentence)]
    return problems


def _blended_names(sentence: str, facts: Facts) -> list[str]:
    """Runs of title words that no single item (title + kind), history item or kind holds together:
    "a lunch basket vintage doily" blends "Lunch Bag Vintage Doily" with a basket. Every word of such a run
    is in some title, so the word check passes it, but it names an item the bundle does not have. A run ends
    at punctuation, a stopword or a word of no title; the request's words are the topic, not part of a name.
    """
    kind_of = dict(zip(facts.titles, facts.item_kinds, strict=False))
    units = [content_stems(t) | content_stems(kind_of.get(t) or "") for t in facts.titles]
    units += [content_stems(t) for t in [*history_titles(facts), *facts.kinds]]
    vocab = frozenset().union(*units) if units else frozenset()
    asked = content_stems(facts.request)
    found = []
    for chunk in re.split(r"[^\w\s'-]+", sentence):
        run: list[str] = []
        for word in [*chunk.split(), ""]:
            st = content_stems(word)
            if st and (st <= vocab or st <= asked):  # the request's words (the topic) join a run, never name one
                run.append(word)
            else:
                named = content_stems(" ".join(run)) - asked
                if len(named) >= 2 and not any(named <= u for u in units):
                    found.append(" ".join(run))
                run = []
    return found


def _names(words: frozenset[str], title: str, asked: frozenset[str], facts: Facts | None = None) -> bool:
    """Does a sentence with these content stems name this item: its kind, its head word, two of its own words,
    or a word of 5+ letters that no other bundle title has ("cakestand")?"""
    own = content_stems(title) - asked
    head = _kind(title)
    if (head and head in words) or len(own & words) >= min(2, len(own)) > 0:
        return True
    if facts is None:
        return False
    kind = dict(zip(facts.titles, facts.item_kinds, strict=False)).get(title)
    if kind and content_stems(kind) and content_stems(kind) <= words:
        return True
    others = set().union(*(content_stems(t) for t in facts.titles if t != title))
    return any(len(w) >= 5 and w not in others for w in own & words)


def _misbound_amounts(sentence: str, facts: Facts) -> list[tuple[str, re.Match[str]]]:
    asked = content_stems(facts.request)
    left = round(facts.budget - facts.total, 2) if facts.budget is not None and facts.total is not None else None
    out, start = [], 0
    for m in _MONEY_RE.finditer(sentence):
        value, before = float(m.group(1).replace(",", ".")), sentence[start:m.start()].lower()
        after = sentence[m.end():m.end() + 24].lower()
        start = m.end()
        near = before[-40:]
        if _BUDGET_AFTER_RE.match(after) or _BUDGET_BEFORE_RE.search(near):
            want, what = [facts.budget, facts.budget_min], "an amount that is not the budget"
        elif _LEFT_AFTER_RE.match(after) or _LEFT_BEFORE_RE.search(near):
            want, what = [left], "an amount that is not what the budget leaves"
        elif _TOTAL_RE.search(near) or _TOTAL_AFTER_RE.match(after):
            want, what = [facts.total], "an amount that is not the total"
        else:
            named = [i for i, t in enumerate(facts.titles) if _names(content_stems(before), t, asked, facts)]
            if not named:
                continue  # a bare amount: ``_bad_numbers`` already holds it to the facts
            prices = [facts.prices[i] for i in named if facts.prices[i] is not None]
            want = [*prices, *facts.line_totals, facts.total if len(facts.titles) == 1 else None]
            want += [round(sum(prices), 2)] if len(named) > 1 else []
            what = "an amount that is not the price of the item named"
        if not any(w is not None and abs(value - w) < 0.006 for w in want):
            out.append((what, m))
    return out


def _misbound_orders(sentence: str, facts: Facts) -> list[re.Match[str]]:
    ev = facts.evidence
    if ev is None:
        return []
    words, asked = content_stems(sentence), content_stems(facts.request)
    names = lambda t: _names(words, t, asked, facts)  # noqa: E731
    names_any = any(names(t) for t in facts.titles)
    together = bool(_TOGETHER_RE.search(sentence))
    out = []
    for m in _ORDERS_RE.finditer(sentence):
        n = int(m.group(1))
        pair_ok = together and any(c == n and (names(a) or names(b) or (not names_any and len(facts.titles) == 2))
                                   for a, b, c in ev.pairs)
        top_ok = bool(ev.top and ev.top[1] == n and names(ev.top[0]))
        vague = _VAGUE_RE.search(sentence[max(0, m.start() - 14):m.start() + len(m.group(1))])
        if vague or not (pair_ok or top_ok):
            out.append(m)
    return out


def _unsupported_words(sentence: str, facts: Facts) -> list[str]:
    allowed = content_stems(" ".join([*facts.titles, *facts.context, *facts.statements, *facts.kinds,
                                      facts.request]))
    out = []
    for w in sorted(content_stems(sentence) - allowed - plain_words()):
        if not any(word_hit(a, w) or word_hit(w, a) for a in allowed):  # "cake stand" / "CAKESTAND"
            out.append(w)
    return out


@lru_cache(maxsize=1)
def plain_words() -> frozenset[str]:
    """The words an explanation may use about any bundle: English function words, the talk of bundles and
    budgets, and every word of the fact sentences the service itself writes (``assistant.wording``)."""
    from assistant.wording import TEMPLATES

    return content_stems(" ".join([PLAIN_TEXT, *TEMPLATES]).replace("{", " ").replace("}", " "))


def history_titles(facts: Facts) -> list[str]:
    """The titles of the prompt's history lines ("- Teapot red (bought 2011-05-03)", ``context[1]``)."""
    lines = facts.context[1].splitlines() if len(facts.context) > 1 else []
    return [t for ln in lines if (t := re.sub(r"\s*\([^()]*\)\s*$", "", ln.lstrip("- ")).strip())
            and t != "(none)"]


def _anchored(sentence: str, words: frozenset[str], facts: Facts) -> bool:
    """Does the sentence name a bundle item, one of its kinds, a history item, or a money amount / order
    count of the facts (every number was already checked against them)?"""
    asked = content_stems(facts.request)  # "tea party" in a title is the request's topic, not an item named
    if any(_names(words, title, asked) for title in facts.titles + history_titles(facts)):
        return True
    if any(content_stems(k) and content_stems(k) <= words for k in facts.kinds):
        return True
    return bool(re.search(r"[£$€]\s?\d", sentence) or _ORDERS_RE.search(sentence))


_YOUR_LIMIT_RE = re.compile(r"\b(?:within|under|below|inside|over)\s+your\s+((?:[£$€]\s?\d[\d.,]*\d)?[^.,;:!?]*)",
                            re.I)
""""within your £25.00 budget" states the budget; "within your neighbour" or "under your 4 kinds" is the
budget sentence copied onto a request that has none."""
_YOUR_MONEY_RE = re.compile(r"\byour\s+[£$€]\s?\d+(?:[.,]\d{1,2})?(?!\d|[.,]\d)"
                            r"(?!\s*(?:total\s+|overall\s+)?budget\b)", re.I)
""""your £25.00 budget" is the shopper's; "bought it with your £3.95" calls an item's price theirs."""
_BUYERS_RE = re.compile(r"\b\d+\s+(?:people|persons|shoppers|customers|buyers|guests)\b"
                        r"(?=[^.!?]*\b(?:bought|buy|buys|ordered|chose|picked)\b)", re.I)
"""The facts count orders, never people: "All 6 people bought it" turns the request's head count into buyers."""
_SENTENCE_END_RE = re.compile(r"[.!?][\"')\]]*\s")
_MONEY_RE = re.compile(r"[£$€]\s?(\d+(?:[.,]\d{1,2})?)")
_BUDGET_AFTER_RE = re.compile(r"\s*(?:total\s+|overall\s+|whole\s+)?budget\b")
_BUDGET_BEFORE_RE = re.compile(r"\bbudget(?:\s+(?:of|is|was|at|set at))?[\s:]*(?:up to\s+|of up to\s+)?$")
_LEFT_AFTER_RE = re.compile(r"\s*(?:left|to spare|spare|remaining|under|below|short|less than)\b")
_LEFT_BEFORE_RE = re.compile(r"\b(?:leaving|leaves|left with|saving|saves|still have|remaining|remains)"
                             r"(?:\s+\w+){0,2}\s*$")
_TOTAL_RE = re.compile(r"\b(?:total|totals|totalling|totaling|together|altogether|in all|comes? to|coming to|"
                       r"sum|all \w+ (?:items|things|of them)|they cost|bundle costs?|bundle is|whole)\b[^,;:()]*$")
_TOTAL_AFTER_RE = re.compile(r"\s*(?:in total|in all|altogether|total|for (?:the lot|everything|all))\b")
_VAGUE_RE = re.compile(r"\b(?:more than|over|nearly|almost|around|about|roughly|under|fewer than|less than|"
                       r"up to)\s+\d+$", re.I)
_DIGIT_COUNT_RE = re.compile(r"\b(\d+)\s+(?:different\s+|\w+\s+)?(kinds?|types?|items|things|pieces|products|"
                             r"gifts|picks)\b", re.I)
_TOGETHER_RE = re.compile(r"\b(?:together|with|both|alongside|pair|pairs|paired|and)\b", re.I)
_PACK_RE = re.compile(r"\b(set|pack|box|bag|tin)s? of (\d+)\b", re.I)
_ORDERS_RE = re.compile(r"\b(\d+)\s+(?:\w+\s+)?(?:orders|baskets|invoices|times)\b", re.I)
_FILLER_RE = re.compile(r"\b(?:hope|enjoy|let me know|feel free|happy shopping|any questions|don't hesitate|"
                        r"thank you|thanks|have a (?:great|lovely|nice)|perfect choice|great choice)\b", re.I)
MAX_SENTENCES = 4
PLAIN_TEXT = (
    # function words the stopword list leaves in
    "as so because since which who whom whose what when where while if then than but not no nor yet also "
    "too can could will would shall should may might must do does did done doing has have had having was were "
    "been being am get gets got make makes made making let lets there here how why all any each every both "
    "either neither many much more most less least few other others another such own same just even still "
    "into onto over under within without about above below after before during between through up down out "
    "off again once well only already ever never always often very quite rather lot lots "
    # talk of a bundle, its budget and its evidence
    "bundle bundles kind kinds type types sort sorts total totals budget budgets spend spending spent left "
    "leave leaving leaves remaining spare cost costs costing price prices priced pound pounds penny pence "
    "order orders ordered buy buys buying bought purchase purchased purchases shopper shoppers customer "
    "customers shop store favourite favourites favorite popular match matches matched matching fit fits fitted "
    "fitting suit suits suited suitable go goes going went pair pairs paired complete completes completed "
    "bring brings brought include includes included including cover covers covered covering add adds added "
    "choose chose chosen choice choices pick picks picked select selected selection option options request "
    "requested ask asked want wanted need needed needs keep keeps kept hold holds held back together "
    "alongside along plus piece pieces product products gift gifts present presents occasion "
    "great good nice lovely ideal perfect useful handy practical help helps like similar "
    "first second third last next new use used using come comes coming came nicely neatly"
)
SAME = 0.8
"""A sentence whose content words were this much (a share of its own) in one sentence before says nothing
new: "It is also a Christmas decoration, a Christmas bunting ..." after the sentence that listed them."""
MAX_WORDS = 40
TOO_SHORT = "empty or too short"
UNFINISHED = "an unfinished sentence"


class SentenceGate:
    """Lets a streamed explanation out one whole sentence at a time, and only while everything so far passes
    ``check_explanation``: a shopper never sees model text that the check would reject. Every check is
    monotone (a prefix has a subset of the whole text's problems), so the released text is the longest
    checked prefix that ends a sentence.

    >>> gate = SentenceGate(Facts(titles=["TEA CUP"], prices=[2.0], total=2.0, currency="GBP", request="party"))
    >>> [gate.feed(p) for p in ["The tea cup ", "suits a party. ", "Get 50% off now! ", "More."]]
    ['', 'The tea cup suits a party. ', '', '']
    >>> gate.problems[0], gate.checked
    ('a promise or discount: 50%', 'The tea cup suits a party.')
    """

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.text = ""
        self.released = 0
        self.problems: list[str] = []
        """Why the text after ``checked`` was held back (generation should stop once this is set)."""

    def feed(self, piece: str) -> str:
        """Add generated text; returns what may be shown now ('' while a sentence is open or was refused)."""
        self.text += piece
        if self.problems:
            return ""
        out = ""
        for m in list(_SENTENCE_END_RE.finditer(self.text, self.released)):
            out += self._release(m.end())
            if self.problems:
                break
        return out

    def finish(self) -> str:
        """Generation ended: the rest of the text if it ends a sentence and the whole passes the check (else
        ''): text cut off by the token limit is never shown."""
        if self.problems:
            return ""
        if (rest := self.text[self.released:].strip()) and not re.search(r"[.!?][\"')\]]*$", rest):
            self.problems = [UNFINISHED]
            return ""
        return self._release(len(self.text))

    @property
    def checked(self) -> str:
        return self.text[:self.released].strip()

    def _release(self, cut: int) -> str:
        problems = check_explanation(self.text[:cut], self.facts)
        if problems == [TOO_SHORT] and cut < len(self.text):
            return ""  # a short first sentence: wait for the next one
        if problems:
            self.problems = problems
            return ""
        out, self.released = self.text[self.released:cut], cut
        return out


def listed_twice(sentence: str) -> str | None:
    """A thing a sentence's list names twice ("a candle, a candle and a mug"), else None: a list says each
    thing once. The last words before a comma or "and" are what is listed.

    >>> listed_twice("It brings together a candle, a candle, a candle.")
    'candle'
    >>> listed_twice("You get a teapot, a mug and a cake stand.") is None
    True
    """
    parts = re.split(r",|\band\b|;", sentence.lower())
    if len(parts) < 3:
        return None
    items = [" ".join(w for w in re.findall(r"[a-z0-9'-]+", p)[-2:] if w not in ("a", "an", "the")) for p in parts]
    seen: set[str] = set()
    for item in filter(None, items):
        if item in seen:
            return item
        seen.add(item)
    return None


def repeated_phrase(text: str, n: int = 4, times: int = 3) -> str | None:
    """The first run of ``n`` words that occurs ``times`` times or more (case-insensitive), else None.

    >>> repeated_phrase("It matches your request for balloons. It matches your request for balloons. "
    ...                 "It matches your request for balloons.")
    'it matches your request'
    >>> repeated_phrase("The teapot suits a tea party; the cups suit a tea party too.") is None
    True
    """
    words = re.findall(r"[a-z0-9']+", text.lower())
    seen: Counter[tuple[str, ...]] = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    for gram, count in seen.items():
        if count >= times:
            return " ".join(gram)
    return None


def _allowed_numbers(facts: Facts) -> set[float]:
    nums = {float(p) for p in facts.prices if p is not None} | set(facts.numbers)
    nums |= {float(x) for x in (facts.total, facts.budget) if x is not None}
    nums |= {float(i) for i in range(1, len(facts.titles) + 1)}
    for t in facts.titles + facts.context:
        nums |= {float(m.group(1).replace(",", ".")) for m in _NUMBER_RE.finditer(t)}
    return nums


def _bad_numbers(text: str, facts: Facts) -> list[str]:
    allowed = _allowed_numbers(facts)
    bad = []
    for m in _NUMBER_RE.finditer(text):
        raw = m.group(1).replace(",", ".")
        try:
            value = float(raw)
        except ValueError:
            continue
        if not any(abs(value - a) < 0.006 for a in allowed):
            bad.append(m.group(0).strip())
    return bad


def _foreign_names(text: str, facts: Facts) -> list[str]:
    """Product names in the text that are neither bundle items nor context (history, request)."""
    allowed_text = " ".join(facts.titles + facts.context).lower()
    allowed_stems = content_stems(" ".join(facts.titles + facts.context))
    found: list[str] = []
    for m in _CAPS_RUN_RE.finditer(text):  # titles are upper-case in many catalogs: a caps run is a name
        run = m.group(0).strip(" ,")
        if run.lower() not in allowed_text and not content_stems(run) <= allowed_stems:
            found.append(run)
    text_stems = {stem(t) for t in tokens(text) if t not in STOPWORDS}
    for other in facts.others:
        kind = _kind(other)
        if kind and kind in text_stems and kind not in allowed_stems and other not in found:
            found.append(other)
    return found


def _kind(title: str) -> str | None:
    from assistant.assemble import head_noun

    return head_noun(title)
