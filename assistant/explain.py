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
['a promise or discount: 20%', 'a promise or discount: free shipping', 'a number not in the catalog facts: 20']
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.prompting import format_price
from assistant.text import STOPWORDS, WORD_NUMBERS, content_stems, stem, tokens
from assistant.types import Constraints
from retrieval.types import Event, Item, ScoredItem

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


def item_reason(s: ScoredItem, query: str, title_of: Callable[[str], str | None]) -> str:
    """One line from the biggest evidenced term of the breakdown."""
    bd, ev = s.breakdown, s.evidence
    options: list[tuple[float, str]] = []
    if ev.get("history_title") and ev.get("history_similarity", 0) >= 0.5:
        when = month(ev.get("history_ts"))
        options.append((bd.get("affinity", 0.0), f"pairs with the {ev['history_title']} you bought"
                                                 + (f" in {when}" if when else "")))
    if ev.get("complement_of"):
        other = title_of(str(ev["complement_of"])) or ""
        if other:
            options.append((bd.get("complement", 0.0) + 0.01, f"often bought together with the {other}"))
    if "llm" in bd:
        options.append((bd["llm"] * 0.5, "the assistant's top pick"))
    if bd.get("popularity", 0.0) > bd.get("relevance", 0.0):
        options.append((bd["popularity"], "a popular choice in this shop"))
    words = topic(query, [s.item.title, *s.item.category])
    options.append((bd.get("relevance", 0.0), f"matches '{words}'" if words else "a close match for the request"))
    return max(options, key=lambda o: o[0])[1]


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


def explain_messages(request: str, lines: Sequence[Any], total: float | None, c: Constraints,
                     history: Sequence[tuple[Item, Event]] = (), facts: Sequence[str] = ()) -> list[dict[str, str]]:
    """The shared 'explain' prompt with only the chosen items, their catalog facts, the relevant history and
    the facts block (``Facts.statements`` from ``assistant.facts.explain_facts``)."""
    from assistant.prompting import format_bundle, format_history, format_reasons, render

    currency = lines[0].currency if lines else c.currency
    items = [Item(ln.id, ln.title, price=ln.price, currency=ln.currency,
                  category=tuple(ln.category.split(" > ")) if ln.category else ()) for ln in lines]
    return render("explain", request=request, bundle=format_bundle(items, currency),
                  total=format_price(total, currency),
                  history=format_history(history), reasons=format_reasons((ln.title, ln.reason) for ln in lines),
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
    from the facts, a history item, the request's topic), be no pleasantry, and say something new; at most
    ``MAX_SENTENCES``. Each sentence is judged on its own and against the ones before it, so a prefix of
    whole sentences never has a problem the whole text lacks."""
    problems: list[str] = []
    seen: list[frozenset[str]] = []
    for n, s in enumerate(parts):
        words = content_stems(s)
        anchored = _anchored(s, words, facts)
        if not anchored and not (words & content_stems(facts.request) and not _FILLER_RE.search(s)):
            problems.append(f"a sentence no fact supports: {s[:60]!r}")
        if any(len(words & w) >= SAME * len(words | w) for w in seen if words and w):
            problems.append(f"says the same again: {s[:60]!r}")
        if len(s.split()) > MAX_WORDS:
            problems.append(f"a sentence of over {MAX_WORDS} words")
        if n == MAX_SENTENCES:
            problems.append(f"more than {MAX_SENTENCES} sentences")
        seen.append(words)
    return problems


def history_titles(facts: Facts) -> list[str]:
    """The titles of the prompt's history lines ("- Teapot red (bought 2011-05-03)", ``context[1]``)."""
    lines = facts.context[1].splitlines() if len(facts.context) > 1 else []
    return [t for ln in lines if (t := re.sub(r"\s*\([^()]*\)\s*$", "", ln.lstrip("- ")).strip())
            and t != "(none)"]


def _anchored(sentence: str, words: frozenset[str], facts: Facts) -> bool:
    """Does the sentence name a bundle item, one of its kinds, a history item, or a money amount / order
    count of the facts (every number was already checked against them)?"""
    asked = content_stems(facts.request)  # "tea party" in a title is the request's topic, not an item named
    for title in facts.titles + history_titles(facts):
        own = content_stems(title) - asked
        head = _kind(title)
        if (head and head in words) or len(own & words) >= min(2, len(own)) > 0:
            return True
    if any(content_stems(k) and content_stems(k) <= words for k in facts.kinds):
        return True
    return bool(re.search(r"[£$€]\s?\d", sentence) or _ORDERS_RE.search(sentence))


_SENTENCE_END_RE = re.compile(r"[.!?][\"')\]]*\s")
_ORDERS_RE = re.compile(r"\b(\d+)\s+(?:\w+\s+)?(?:orders|baskets|invoices|times)\b", re.I)
_FILLER_RE = re.compile(r"\b(?:hope|enjoy|let me know|feel free|happy shopping|any questions|don't hesitate|"
                        r"thank you|thanks|have a (?:great|lovely|nice)|perfect choice|great choice)\b", re.I)
MAX_SENTENCES = 4
SAME = 0.8
"""Two sentences whose content words overlap this much (Jaccard) say the same thing."""
MAX_WORDS = 40
TOO_SHORT = "empty or too short"
UNFINISHED = "an unfinished sentence"


class SentenceGate:
    """Lets a streamed explanation out one whole sentence at a time, and only while everything so far passes
    ``check_explanation``: a shopper never sees model text that the check would reject. Every check is
    monotone (a prefix has a subset of the whole text's problems), so the released text is the longest
    checked prefix that ends a sentence.

    >>> gate = SentenceGate(Facts(titles=["TEA CUP"], prices=[2.0], total=2.0, currency="GBP"))
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
