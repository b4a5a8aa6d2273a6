"""Understanding a shopper's request: deterministic rules for budget, size, people, exclusions, must-haves,
occasion and recipient. The model is never needed for these; ``Constraints.uncertain`` lists what the rules
could not settle.

>>> c = parse_request("hosting a tea party for six, budget £25, no candles")
>>> c.budget, c.currency, c.people, c.size, c.exclude, c.occasion, c.query
(25.0, 'GBP', 6, None, ['candles'], 'tea party', 'hosting a tea party')
>>> parse_request("3 things for my mum under $40").recipient
'mum'

Edits of the current bundle live in :mod:`assistant.edits`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.text import NUMBER_WORD_RE, STOPWORDS, tokens, words_to_int
from assistant.types import Constraints
from bundlebot.errors import RequestError

MAX_CHARS = 1000
MAX_BUDGET = 1_000_000.0
MIN_BUDGET = 0.01
"""The smallest usable budget: one penny (or cent). Below it ("£1e-9", "£0.001") no item can fit."""

CURRENCIES = {
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP", "quid": "GBP", "quids": "GBP",
    "livre": "GBP", "livres": "GBP",  # French shoppers ("moins de 20 livres"): the shop's pounds
    "$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "bucks": "USD", "buck": "USD",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
}
_CUR_SYM = r"(?P<sym>[£$€])"
# Every currency WORD, longest first: the amount pattern and each "a number here is money, not a count" guard
# read this one list, so a new currency word ("livres") is known everywhere at once.
_CUR_WORDS = "|".join(sorted((w for w in CURRENCIES if w.isalpha()), key=len, reverse=True))
_CUR_WORD = rf"(?P<cw>{_CUR_WORDS})\b"
# scientific notation is read whole, never as its first digit: "£1e9" is a billion (dropped as impossible), not £1.
# A comma before exactly three digits groups thousands ("£1,000", "£1,250.50"); before one or two it is a
# decimal comma ("£5,99" is 5.99, as written in much of Europe). Any other comma ("£1,0000") is no amount at all,
# never the part before it.
_NUM = r"(?P<n>\d+(?:\.\d+)?[eE][+-]?\d+|\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d|,\d)|\d+(?:\.\d+|,\d{1,2}(?!\d))?(?!,\d))"
_THOUSANDS_RE = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_AMOUNT = rf"{_CUR_SYM}?\s?{_NUM}(?:\s?{_CUR_WORD})?"


def _amount(prefix: str) -> str:
    """Amount regex with uniquely named groups (re forbids reusing names)."""
    return (_AMOUNT.replace("?P<sym>", f"?P<{prefix}sym>").replace("?P<n>", f"?P<{prefix}n>")
            .replace("?P<cw>", f"?P<{prefix}cw>"))


# "between 20 and 40", "£20-£40", "from 20 to 40 pounds"
_RANGE_RE = re.compile(rf"(?:\b(?:between|from)\s*)?{_amount('a')}\s*(?:-|–|to|and)\s*{_amount('b')}", re.I)
_UPPER_WORDS = (r"(?:nothing|none|not) (?:over|above|more than)|"
                r"under|below|less than|moins de|no more than|not more than|max(?:imum)?|at most|up to|within|"
                r"cheaper than|tops|a maximum of|no higher than|limit(?: of)?|budget(?: of| is| around| about)?"
                r"|spend(?:ing)?(?: about| around)?|around|about|approx(?:imately)?|roughly|~|for|only")
_UPPER_RE = re.compile(rf"(?P<kw>\b(?:{_UPPER_WORDS})\b|~)\s*:?\s*{_amount('')}", re.I)
# "£25", "25 quid", "$50 max", "£30 budget": an amount with a currency and no keyword
_BARE_RE = re.compile(_AMOUNT, re.I)  # only counts with a currency symbol or word
_TRAIL_RE = re.compile(r"^\s*(?:max(?:imum)?|tops|budget|or less|total|in total|limit)\b", re.I)
# "nothing over £5 each", "£3 a piece": what one item may cost, not the bundle's total
_EACH_RE = re.compile(rf"(?:(?P<kw>\b(?:{_UPPER_WORDS})\b)\s*:?\s*)?{_amount('')}\s*"
                      r"(?:each|apiece|a piece|per (?:item|piece|thing|gift|present))\b", re.I)

_GENERIC_NOUNS = (r"things|items|gifts|presents|pieces|products|ideas|bits|picks|suggestions|options|fillers|"
                  r"treats|favours|favors|goodies|thing|item|gift|present|piece|product|filler|treat")
_COUNT = rf"(?P<c>\d{{1,3}}|{NUMBER_WORD_RE})"
# "4 little thank-you gifts": a count, a word of size or charm, a word saying what kind of gift, the noun
_SIZE_RE = re.compile(rf"\b{_COUNT}\s+(?:(?:different|nice|little|small|cute|great)\s+)?(?:(?:thank-you|"
                      rf"thank\s+you|stocking|birthday|christmas|party|secret\s+santa)\s+)?(?:{_GENERIC_NOUNS})\b",
                      re.I)
_SIZE_VERB_RE = re.compile(rf"\b(?:give me|show me|pick|suggest|recommend|find me|bundle of|set of)\s+"
                           rf"(?P<c>\d{{1,2}}|{NUMBER_WORD_RE})\b"
                           rf"(?!\s*(?:[£$€%]|people|guests|(?:{_CUR_WORDS})\b))", re.I)
_PEOPLE_WORDS = (r"people|persons|guests|friends|kids|children|adults|of us|ladies|girls|boys|colleagues|nieces|"
                 r"nephews|grandchildren|grandkids|cousins|teenagers|teens|toddlers|students|pupils|neighbours")
_PEOPLE_RE = re.compile(
    rf"\b(?:for|serves|serving|feeds|feeding|party of|table of|group of)\s+{_COUNT}"
    rf"(?:\s+(?:{_PEOPLE_WORDS}))?\b(?!\s*[£$€])(?!\s*(?:{_CUR_WORDS}|{_GENERIC_NOUNS})\b)"
    rf"|\b{_COUNT.replace('?P<c>', '?P<c2>')}\s+(?:{_PEOPLE_WORDS})\b", re.I)
# "Lunch bags, 4 of them": a count of the product just named
_SIZE_OF_RE = re.compile(rf"\b{_COUNT}\s+of\s+(?:them|those|these)\b", re.I)
# "make it 2", "cut it down to 3 items": a follow-up resizing the bundle; money and people were parsed before
_SIZE_MAKE_RE = re.compile(
    rf"\b(?:make|cut|trim|reduce|bring|drop|bump|take)\s+(?:it|that|this|them|the bundle)\s+(?:down\s+|up\s+)?"
    rf"(?:to\s+)?(?:just\s+|only\s+)?{_COUNT}(?P<noun>\s+(?:{_GENERIC_NOUNS}))?\b"
    rf"(?!\s*(?:[£$€%]|[.,]\d|more\b|extra\b|less\b|fewer\b|(?:{_CUR_WORDS})\b))",
    re.I)
MAX_BARE_SIZE = 12
"""A bare "make it N" above this is more likely money than a count: it stays unsettled."""
# "6 mugs", "three candles": a count of one concrete product means similar items are fine
_PLURAL_SIZE_RE = re.compile(rf"\b{_COUNT}\s+(?P<noun>[a-z][a-z-]{{2,}}s)\b", re.I)

_STOP_CLAUSE = (r"(?=\s*(?:[,.;!?]|\bbut\b|\bplease\b|\bunder\b|\bbelow\b|\bfor\b|\bwith\b|\bwithin\b|\bup to\b"
                r"|\bbudget\b|\bmax\b|\bbetween\b|\babout\b|\baround\b|\bmust\b|\bi\b|[£$€]|$))")
_EXCL_RE = re.compile(
    rf"\b(?:no|nothing with|nothing containing|nothing made of|nothing(?!\s+(?:but|else|more|less|at all)\b)|"
    rf"without|not|avoid|avoiding|excluding|except|"
    rf"exclude|minus|don'?t want|do not want|don'?t include|no more)\s+(?:any\s+|a\s+|an\s+|the\s+)?"
    rf"(?P<x>[a-z][a-z' -]*?){_STOP_CLAUSE}", re.I)
_FREE_RE = re.compile(r"\b(?P<x>[a-z]+)-free\b", re.I)
_EXCL_IGNORE = {"more", "less", "idea", "rush", "problem", "need", "budget", "limit", "too", "higher",
                "later", "sure", "worries", "longer", "matter", "one", "fuss", "big deal", "expensive",
                "too expensive", "pricey", "too pricey", "much", "over", "above", "than", "cheap", "fancy",
                "special", "else", "big"}
# trailing words that name no product: "no christmas stuff" excludes christmas, not the word "stuff"
_VAGUE_TAIL_RE = re.compile(r"(?:[\s-]+(?:stuff|things?|items?|products?|bits|ones?|related|themed|anything))+$")
# the article is a word of its own: "with anything" has none (it is not "with a" + "nything")
_MUST_RE = re.compile(
    rf"\b(?:must (?:include|have|contain)|must-have|has to (?:include|have)|including|include|make sure "
    rf"(?:there'?s|it has|to include)|plus|with)\s+(?P<art>(?:a|an|some|the)\b)?\s*"
    rf"(?P<x>[a-z][a-z' -]*?){_STOP_CLAUSE}",
    re.I)
OCCASIONS = (
    "tea party", "birthday party", "birthday", "christmas", "xmas", "wedding", "baby shower", "housewarming",
    "picnic", "dinner party", "garden party", "halloween", "valentine", "easter", "mother's day",
    "father's day", "anniversary", "bbq", "barbecue", "baking", "thank you", "retirement", "new baby",
    "graduation", "kids party", "breakfast", "afternoon tea", "hen party", "party", "new home", "secret santa",
    "get well soon", "get well", "bridal shower", "camping", "school", "office", "gardening", "stocking filler",
)
_OCC_RE = re.compile(r"\b(?:" + "|".join(re.escape(o).replace("'", "'?") for o in OCCASIONS) + r")s?\b", re.I)
RECIPIENTS = {
    "mum": "mum", "mom": "mum", "mother": "mum", "mummy": "mum", "dad": "dad", "father": "dad",
    "daddy": "dad", "sister": "sister", "brother": "brother", "wife": "wife", "husband": "husband",
    "partner": "partner", "friend": "friend", "best friend": "friend", "boss": "boss", "colleague": "colleague",
    "coworker": "colleague", "teacher": "teacher", "grandma": "grandma", "granny": "grandma",
    "grandmother": "grandma", "nan": "grandma", "nana": "grandma", "nanna": "grandma", "gran": "grandma",
    "grandad": "grandad", "granddad": "grandad", "grandpa": "grandad", "gramps": "grandad",
    "grandfather": "grandad", "son": "son", "daughter": "daughter", "kids": "kids", "children": "kids",
    "niece": "niece", "nephew": "nephew", "neighbour": "neighbour", "neighbor": "neighbour",
    "girlfriend": "girlfriend", "boyfriend": "boyfriend", "aunt": "aunt", "auntie": "aunt", "uncle": "uncle",
    "baby": "baby", "host": "host", "hostess": "host", "him": "him", "her": "her", "toddler": "kids",
    "parents": "parents", "in-laws": "in-laws", "godson": "godchild", "goddaughter": "godchild",
    "grandson": "grandchild", "granddaughter": "grandchild", "grandchild": "grandchild",
    "grandchildren": "grandchild", "grandkid": "grandchild", "newborn": "baby",
}
# "a 2 year old", "my 7-year-old son": how old who it is for is
_AGE = rf"(?P<age>\d{{1,2}}|{NUMBER_WORD_RE})[\s-]*(?:years?|yrs?)[\s-]*olds?"
CHILD_AGE = 13
"""Who is younger than this, named by their age alone ("a present for a 2 year old"), is a child."""
_RCP_RE = re.compile(
    # "for my son's teacher": the teacher is who it is for; "for my 7 year old son", "for a newborn baby"
    r"\b(?:for|to)\s+(?:my|our|a|an|the|his|her)?\s*(?:[a-z]+'s\s+)?(?:" + _AGE + r"\s+)?"
    r"(?:(?:little|new|newborn|best|old|young|baby|teenage|eldest|youngest)\s+)*"
    # "for the neighbours", "for my nieces": several recipients are given what one would be
    r"(?P<r>" + "|".join(sorted((re.escape(r) for r in RECIPIENTS), key=len, reverse=True)) + r")(?:'s|s)?\b"
    r"(?!\s+shower)"
    r"|\bmy\s+(?P<r2>" + "|".join(sorted((re.escape(r) for r in RECIPIENTS), key=len, reverse=True)) + r")'s\b",
    re.I)
# "two boys aged 7 and 9", "a girl aged 5": the first age given
_AGED_RE = re.compile(rf"\baged\s+(?P<age>\d{{1,2}}|{NUMBER_WORD_RE})\b"
                      rf"(?:\s*(?:and|&|to|-|or)\s*(?:\d{{1,2}}|{NUMBER_WORD_RE})\b)?", re.I)
_AGE_ONLY_RE = re.compile(rf"\b(?:for\s+)?(?:(?:a|an|my|our|the|his|her)\s+)?{_AGE}\b(?:\s+(?:boy|girl)s?\b)?", re.I)
# "a gift for a keen gardener": the word "gift" finds gift wrap; a gift bag, set, card or box is a product
_GIFT_RE = re.compile(r"\b(?:gifts?|presents?)\b(?!\s+(?:wrap\w*|bags?|box(?:es)?|sets?|tags?|cards?|sacks?|"
                      r"baskets?|hampers?|vouchers?|tissue|ribbons?|paper|tape|boxes))", re.I)
# "different flavours of pancake", "assorted chocolates", "a selection of teas": several of one thing are wanted
_VARIETY_RE = re.compile(r"\b(?:(?:various|assorted|mixed)\s+\w|different\s+\w+s\b|"
                         r"(?:variety|varieties|selection|range|assortment|choice|types|kinds|sorts)\s+of\b)", re.I)
# what keeps a request from being a bare name of one thing: an article ("a teapot" is one), a list, a link
_NOT_BARE_RE = re.compile(r"\b(?:a|an|one|single|another|and|or|with|plus)\b|[,&+/]", re.I)
MAX_BARE_WORDS = 4
"""A request of at most this many words that is nothing but a name ("maple syrup", "Christopher Bean
coffee", "chewing gum") asks for that thing: its variants are the choice, not one of it beside others."""
_FILLER_RE = re.compile(
    r"^\s*(?:hi|hello|hey)?[,!\s]*(?:(?:i'?m|i am|we'?re|we are)\s+(?:looking for|after|searching for)|"
    r"i\s+(?:need|want|would like)|we\s+(?:need|want)|can you|could you|please|find me|show me|get me|"
    r"help me (?:find|choose|pick)|looking for)\s*", re.I)


@dataclass
class _Scan:
    """The text being parsed; spans that were understood are blanked so the rest becomes the query."""

    text: str
    excluded: list[tuple[int, int]] = field(default_factory=list)
    """Spans that state exclusions: an occasion inside one ("nothing christmas") is not the occasion."""

    def blank(self, m: re.Match[str], group: int | str = 0) -> None:
        s, e = m.span(group)
        self.text = self.text[:s] + " " * (e - s) + self.text[e:]


def clean_message(text: object, *, any_script: bool = False) -> str:
    """Validate one shopper message: a non-empty string of at most MAX_CHARS with some letters (a-z, or of
    any script with ``any_script``: what ``assistant.languages`` reads first)."""
    if not isinstance(text, str):
        raise RequestError(f"the message should be text, got {type(text).__name__}",
                           hint="send the request as a string")
    text = " ".join(text.replace("\x00", " ").split())
    if not text:
        raise RequestError("the message is empty", hint="describe what you are shopping for")
    if len(text) > MAX_CHARS:
        raise RequestError(f"the message is {len(text)} characters, at most {MAX_CHARS} are accepted",
                           hint="shorten the request")
    if any_script and re.search(r"[^\W\d_]", text):
        return text
    if not re.search(r"[A-Za-z]", text) and re.search(r"[^\W\d_]", text):
        raise RequestError("the message is in a language bundlebot cannot read yet (it reads English, French "
                           "and Chinese)", hint="write the request in English, French or Chinese")
    if not re.search(r"[A-Za-z]", text):
        # the text is not quoted back: an error reaches the shopper, and this one is often an instruction
        raise RequestError("the message should describe what you want in words (letters a-z), but has none",
                           hint="describe what you are shopping for, e.g. 'a tea party for six under £25'")
    return text


def parse_request(text: str, *, default_size: int | None = None) -> Constraints:
    """Parse a free-text shopping request into Constraints (deterministic, no model)."""
    text = clean_message(text)
    scan = _Scan(text)
    c = Constraints()
    _parse_each(scan, c)
    _parse_budget(scan, c)
    if c.budget is not None and budget_problem(text):  # "-£5": the parser saw "£5"
        c.budget, c.budget_min = None, None
        c.uncertain.append("budget")
    company = _parse_people(scan, c)
    _parse_size(scan, c)
    _settle_budget(scan, c)
    c.exclude = _parse_exclusions(scan)
    c.must_have = _parse_must(scan)
    c.occasion = _parse_occasion(text, scan.excluded)
    c.recipient = _parse_recipient(scan, c) or company
    c.query = _query(scan.text, c)
    c.similar_ok = c.similar_ok or wants_variants(text, c)
    if c.size is None and default_size is not None:
        c.size = default_size
    if not c.query:
        c.uncertain.append("query")
    return c


def wants_variants(text: str, c: Constraints) -> bool:
    """Whether the request asks for several of one thing: in words ("different flavours of tea", "assorted
    chocolates"), or by naming nothing but that thing ("maple syrup", "marmalade": no article, no list, no
    occasion, recipient, head count or number of things). Similar items may then share the bundle.

    >>> [wants_variants(t, parse_request(t)) for t in ("maple syrup", "Different flavors of pancake")]
    [True, True]
    >>> [wants_variants(t, parse_request(t)) for t in ("a teapot", "teapot and cups", "tea party", "gift for mum")]
    [False, False, False, False]
    """
    if _VARIETY_RE.search(text):
        return True
    words = tokens(c.query)
    return (c.occasion is None and c.recipient is None and c.people is None and c.size is None
            and not c.must_have and 0 < len(words) <= MAX_BARE_WORDS and not _NOT_BARE_RE.search(text)
            and not _GIFT_RE.search(text))


def _parse_occasion(text: str, excluded: list[tuple[int, int]]) -> str | None:
    """The first occasion named outside an exclusion ("party supplies but nothing christmas" -> party)."""
    for m in _OCC_RE.finditer(text):
        if any(s <= m.start() < e for s, e in excluded):
            continue
        occ = m.group(0).lower()
        return occ.rstrip("s").replace("xma", "christma") if occ.endswith("s") and not occ.endswith("mas") else occ
    return None


def _to_float(s: str) -> float:
    """An amount as ``_NUM`` reads it.

    >>> _to_float("1,000"), _to_float("1,250.50"), _to_float("5,99"), _to_float("1e-9")
    (1000.0, 1250.5, 5.99, 1e-09)
    """
    return float(s.replace(",", "") if _THOUSANDS_RE.fullmatch(s) else s.replace(",", "."))


def _currency(m: re.Match[str], prefix: str = "") -> str | None:
    sym = m.groupdict().get(prefix + "sym")
    word = m.groupdict().get(prefix + "cw")
    key = (sym or word or "").lower()
    return CURRENCIES.get(key)


def _parse_each(scan: _Scan, c: Constraints) -> None:
    """A price cap per item ("nothing over £5 each"), read before the total so "£3 a piece, £20 in total"
    has both."""
    m = _EACH_RE.search(scan.text)
    # money needs a currency or a keyword: "6 mugs, 2 each" is a count
    if m and (m.group("sym") or m.group("cw") or m.group("kw")):
        value = _to_float(m.group("n"))
        if MIN_BUDGET <= value <= MAX_BUDGET:
            c.max_each, c.currency = value, _currency(m)
        else:
            c.uncertain.append("budget")
        scan.blank(m)


def _parse_budget(scan: _Scan, c: Constraints) -> None:
    m = _RANGE_RE.search(scan.text)
    if m and (m.group("asym") or m.group("bsym") or m.group("acw") or m.group("bcw")
              or re.search(r"\b(?:between|from|budget|spend)\b", m.group(0), re.I)):
        lo, hi = _to_float(m.group("an")), _to_float(m.group("bn"))
        c.budget_min, c.budget = min(lo, hi), max(lo, hi)
        c.currency = _currency(m, "a") or _currency(m, "b") or c.currency
        scan.blank(m)
    else:
        for m in _UPPER_RE.finditer(scan.text):
            kw = m.group("kw").lower()
            has_cur = bool(m.group("sym") or m.group("cw"))
            rest = scan.text[m.end():]
            # "for six" is people, "for £25" is a budget: weak keywords need a currency
            if kw in ("for", "only", "about", "around", "~", "approx", "approximately", "roughly") \
                    and not has_cur and not _TRAIL_RE.match(rest):
                continue
            if re.match(rf"\s*(?:{_GENERIC_NOUNS}|{_PEOPLE_WORDS}|%)", rest, re.I):
                continue
            c.budget, c.currency = _to_float(m.group("n")), _currency(m) or c.currency
            if re.search(r"about|around|approx|roughly|~", kw):
                c.budget_min = round(ABOUT_SHARE * c.budget, 2)  # "about £25": near £25, not £5
            scan.blank(m)
            break
        else:
            m = next((b for b in _BARE_RE.finditer(scan.text) if b.group("sym") or b.group("cw")), None)
            if m:
                c.budget, c.currency = _to_float(m.group("n")), _currency(m) or c.currency
                scan.blank(m)
    if c.budget is not None:
        t = _TRAIL_RE.match(scan.text[m.end():]) if m else None  # type: ignore[union-attr]
        if t and m:
            scan.text = scan.text[:m.end()] + " " * t.end() + scan.text[m.end() + t.end():]
        scan.text = re.sub(r"\b(?:my |a |the |with a |on a )?budget(?: is| of)?\b", lambda b: " " * len(b.group(0)),
                           scan.text, flags=re.I)  # same length: spans stay aligned with the message
        if not MIN_BUDGET <= c.budget <= MAX_BUDGET:
            c.budget, c.budget_min = None, None
            c.uncertain.append("budget")
    elif c.max_each is None and (re.search(r"\b(?:cheap|budget|affordable|inexpensive)\b", scan.text, re.I)
                                 or re.search(r"\b\d+(?:\.\d+)?\b", scan.text)):
        c.uncertain.append("budget")


# what follows a currency symbol, up to its last digit: "£1,0000" is not an amount _NUM reads whole
_SYM_DIGITS_RE = re.compile(r"[£$€]\s?(\d(?:[\d,.]*\d)?)")
_SIGNED_RE = re.compile(rf"(?:-\s?{_CUR_SYM}|(?P<sym2>[£$€])\s?-)\s?(?P<n>\d+(?:[.,]\d+)?)")


ABOUT_SHARE = 0.8
"""An "about / around £X" budget asks for a total in [0.8 X, X] (``Constraints.budget_min``, soft)."""


def budget_problem(text: str) -> str | None:
    """A sentence for the shopper when an amount of money they wrote cannot be a budget (negative, below
    MIN_BUDGET, a penny, or beyond MAX_BUDGET, a million); None when every stated amount is usable. The parser
    drops such a budget, and a shopper must not be left thinking it was applied.

    >>> budget_problem("mugs under £-5")
    'The budget you gave cannot be used (it has to be between a penny or cent and a million), so none was applied.'
    >>> budget_problem("mugs under £25") is None, budget_problem("mugs under £1e-9") is None
    (True, False)
    """
    text = _RANGE_RE.sub(" ", text)  # "£20-£40" is a range, not a negative amount
    amounts = [("-" + (m.group("sym") or m.group("sym2")) + m.group("n")) for m in _SIGNED_RE.finditer(text)]
    for m in _BARE_RE.finditer(text):
        if (m.group("sym") or m.group("cw")) and not MIN_BUDGET <= _to_float(m.group("n")) <= MAX_BUDGET:
            amounts.append(m.group(0).strip())
    amounts += [m.group(0) for m in _SYM_DIGITS_RE.finditer(text) if not re.fullmatch(_NUM, m.group(1))]
    if not amounts:
        return None
    # no numeral at all: a shopper's number said back, or "0.01", reads as a price the shop agreed to
    return ("The budget you gave cannot be used (it has to be between a penny or cent and a million), "
            "so none was applied.")


def _settle_budget(scan: _Scan, c: Constraints) -> None:
    """A bare number that turned out to be the count ("make it 2") leaves no doubt about the budget."""
    if c.size is not None and c.budget is None and "budget" in c.uncertain and not re.search(
            r"\b(?:\d|cheap|budget|affordable|inexpensive)", scan.text, re.I):
        c.uncertain.remove("budget")


def _parse_recipient(scan: _Scan, c: Constraints) -> str | None:
    """Who the request is for, and their age when it gives one (``c.age``); someone named by their age alone
    is a child under ``CHILD_AGE`` ("a 2 year old"), else no one the rules know."""
    if (m := _AGED_RE.search(scan.text)) and (age := _age(m.group("age"))):
        scan.blank(m)
        c.age = age
    m = _RCP_RE.search(scan.text)
    if m:
        scan.blank(m)  # "for my mum" is who, not what
        c.age = _age(m.group("age")) or c.age
        return RECIPIENTS[(m.group("r") or m.group("r2")).lower()]
    if not c.age and (m := _AGE_ONLY_RE.search(scan.text)) and (age := _age(m.group("age"))):
        scan.blank(m)
        c.age = age
    return "kids" if c.age and c.age < CHILD_AGE else None


def _age(said: str | None) -> int | None:
    n = words_to_int(said) if said else None
    return n if n and 0 < n < 120 else None


def _parse_people(scan: _Scan, c: Constraints) -> str | None:
    """The head count; returns who the people are when they are a recipient ("for 8 friends" is for friends,
    as "for my friends" is), else None."""
    m = _PEOPLE_RE.search(scan.text)
    if not m:
        return None
    n = words_to_int(m.group("c") or m.group("c2"))
    if not (n and 1 <= n <= 500):
        return None
    c.people = n
    scan.blank(m)
    who = m.group(0).lower().split()[-1]
    return RECIPIENTS.get(who) or RECIPIENTS.get(who.removesuffix("s"))


def _parse_size(scan: _Scan, c: Constraints) -> None:
    for rx in (_SIZE_MAKE_RE, _SIZE_RE, _SIZE_VERB_RE, _SIZE_OF_RE):
        m = rx.search(scan.text)
        if not m:
            continue
        n = words_to_int(m.group("c"))
        if rx is _SIZE_MAKE_RE and n and n > MAX_BARE_SIZE and not m.group("noun"):
            continue  # "make it 20": pounds or items? leave it unsettled
        if rx is _SIZE_OF_RE and n == 1:
            continue  # "one of them" points at an item, it is not a count
        if n:
            c.size = n
            c.similar_ok = c.similar_ok or rx is _SIZE_OF_RE  # "mugs, 6 of them": six mugs are wanted
            scan.blank(m)
            _check_size(c)
            return
    m = _PLURAL_SIZE_RE.search(scan.text)
    noun = m.group("noun").lower() if m else ""
    if m and noun not in CURRENCIES and noun not in ("years", "days", "weeks", "months", "hours", "minutes", "tiers"):
        n = words_to_int(m.group("c"))
        if n and n > 1:
            c.size, c.similar_ok = n, True
            scan.blank(m, "c")  # keep the noun: it is what the shopper wants
    _check_size(c)


def _check_size(c: Constraints) -> None:
    if c.size is not None and not 1 <= c.size <= 50:
        c.uncertain.append("size")
        c.size = None


def _terms(raw: str) -> list[str]:
    out = []
    for part in re.split(r",|/|\bor\b|\band\b|\bnor\b", raw, flags=re.I):
        part = re.sub(r"^\s*(?:no|not|without|nothing with|nor|neither)\s+", "", part, flags=re.I)
        words = [w for w in part.strip(" '-").lower().split() if w not in ("any", "a", "an", "the", "some")]
        term = _VAGUE_TAIL_RE.sub("", " ".join(words)).strip(" '-")
        first = term.split()[0] if term else ""
        if term and term not in _EXCL_IGNORE and first not in ("too", "so", "very", "that", "much", "more",
                                                                 "less", "sure", "idea") and not term.isdigit():
            out.append(term)
    return out


def _parse_exclusions(scan: _Scan) -> list[str]:
    out: list[str] = []
    for m in list(_EXCL_RE.finditer(scan.text)):
        terms = _terms(m.group("x"))
        if terms:
            out.extend(t for t in terms if t not in out)
            scan.blank(m)
            scan.excluded.append(m.span())
    for m in list(_FREE_RE.finditer(scan.text)):
        term = m.group("x").lower()
        if term not in ("gluten", "sugar", "dairy", "plastic", "nut", "alcohol", "caffeine", "lactose", "meat",
                        "palm", "fragrance", "scent", "bpa"):
            continue
        term = {"nut": "nuts", "scent": "scented"}.get(term, term)
        if term not in out:
            out.append(term)
        scan.blank(m)
    return out


def _parse_must(scan: _Scan) -> list[str]:
    out: list[str] = []
    for m in list(_MUST_RE.finditer(scan.text)):
        word = m.group(0).split()[0].lower()
        # "with" only counts with an article: "with a card" is a must-have, "with friends" is not
        if word in ("with", "plus") and not m.group("art"):
            continue
        terms = [t for t in _terms(m.group("x")) if len(t.split()) <= 3]
        if word in ("with", "plus"):
            terms = terms[:1]
        if terms:
            out.extend(t for t in terms if t not in out)
            scan.blank(m)
    return out


_INTEREST_RE = re.compile(r"\bwho(?:'s| is)?\s+(?:really\s+|just\s+)?(?:loves?|likes?|enjoys?|adores?|collects?|"
                          r"into|mad about|crazy about|obsessed with)\s+(?P<what>.+)$", re.I)


def _query(rest: str, c: Constraints) -> str:
    """What to search: the request without what the rules understood; for "someone who loves cats",
    the interest alone.

    >>> parse_request("a present for a friend who loves cats, under £15").query
    'cats'
    """
    rest = _FILLER_RE.sub(" ", rest)
    rest = re.sub(r"\b(?:budget|please|thanks|thank you|cheap|ideas?|some|suggestions?|something|anything|"
                  r"give me|show me|find me|max|maximum|tops|(?:not|nothing) too (?:expensive|pricey)|nothing fancy|"
                  r"a few|a little|bits and bobs|odds and ends|stuff|things|bits|goodies|"
                  r"nothing (?:over|above|more than|dearer than))\b",
                  " ", rest, flags=re.I)  # "stuff for a sleepover": the words that name nothing in a title
    rest = re.sub(r"(?:^|(?<=\s))['’](?=\s|$)", " ", rest)  # "for a kids' sleepover" once "for a kids" was read
    rest = _tidy(rest)
    if (m := _INTEREST_RE.search(rest)) and _content(interest := _tidy(m.group("what"))):
        return interest  # what they love is what to search; "a friend" would find "Flower Friends"
    stated = " ".join(filter(None, [c.occasion or "", *c.must_have]))
    what = _tidy(_GIFT_RE.sub(" ", rest))
    if what != rest:  # a present: search what it is and who it is for, never the word "gift" itself
        what = what if _content(what) else stated
        rest = " ".join(filter(None, [what, f"for {c.recipient}" if c.recipient else ""])) or rest
    elif c.age:  # "back to school bits for my 7 year old": the child's age still says what fits
        rest = f"{rest} for a {c.age} year old"
    if not _content(rest):
        rest = stated
        if not rest and c.recipient:
            rest = f"gift for {c.recipient}"
    return rest.strip()


def _content(text: str) -> bool:
    return any(t not in STOPWORDS for t in tokens(text))


def _tidy(rest: str) -> str:
    """Spaces, punctuation and connecting words left dangling at either end once words were removed."""
    rest = re.sub(r"\s+([,.;!?])", r"\1", " ".join(rest.split()))
    rest = re.sub(r"^[\s,.;:!?'-]+|[\s,.;:!?'-]+$", "", rest)
    rest = re.sub(r"\b(?:and|or|but|with|for|under|a|an|the|of|in|to|my|our)$", "", rest, flags=re.I).strip(" ,.;")
    return re.sub(r"^(?:and|or|but|with|for|a|an|the|of|in|to)\b", "", rest, flags=re.I).strip(" ,.;")
