"""Score one answer to one case: every metric that applies, and the failed expectations with their reason.

>>> from evaluation.suites import Case
>>> from evaluation.variants import Answer
>>> case = Case.model_validate({"id": "c", "suite": "s", "shop": "demo", "turns": ["tea, £5"],
...                             "gold_items": ["a"], "checks": {"max_total": 5}})
>>> m, why = score(case, Answer(items=[("a", 2.0), ("x", 4.0)], ranked=["x", "a"], total=6.0),
...                {"a": 2.0, "b": 1.0}, secrets=[])
>>> m["hit@1"], m["hit@5"], m["within_budget"], m["invalid_items"], m["invented_prices"]
(0.0, 1.0, 0.0, 1, 1)
>>> why
['non-catalog item(s): x', 'invented price(s): 1', 'total 6.00 exceeds max_total 5.00']

The occasion checks (``needs``, ``avoid``, ``budget_use``, and the counts: ``min_items`` / ``max_items`` and
each need's ``covers``) are also reported one by one, as ``check:<type>`` (1 passed, 0 failed, None where
the case states none), so a report gives the pass rate of each check type:

>>> case = Case.model_validate({"id": "t", "suite": "s", "shop": "demo", "turns": ["tea party for six, about £10"],
...     "constraints": {"budget": 10}, "checks": {"budget_use": 0.7,
...     "avoid": [{"name": "xmas", "words": ["christmas"]}],
...     "needs": [{"name": "drink from", "kinds": ["cup", "mug"], "covers": 6}]}})
>>> ans = Answer(items=[("m", 1.5), ("p", 5.0)], ranked=[], total=9.5, quantities={"m": 3})
>>> m, why = score(case, ans, {"m": 1.5, "p": 5.0}, [], {"m": "Spotty Mug", "p": "Set/6 Paper Plates"},
...                kinds={"m": "mug", "p": "paper plate"})
>>> [m[f"check:{t}"] for t in CHECK_TYPES], why
([1.0, 1.0, 1.0, 0.0], ["need 'drink from' covers 3 < 6 (items ['m'])"])
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bundlebot.errors import BundlebotError
from evaluation import metrics as M
from evaluation.suites import Case, Need, Slot
from evaluation.variants import Answer

# Metric name -> how the report aggregates it: "mean" over cases where defined, "sum" over all cases.
AGGREGATION = {
    "recall@5": "mean", "recall@10": "mean", "hit@1": "mean", "hit@5": "mean", "hit": "mean",
    "precision": "mean", "recall": "mean", "f1": "mean", "within_budget": "mean", "total/budget": "mean",
    "invalid_items": "sum", "invented_prices": "sum", "grounding_failures": "sum", "system_leaks": "sum",
    "checks_passed": "mean", "errors": "sum", "empty": "sum", "items": "sum",
    "promises": "sum", "echoed_markup": "sum", "unclear_errors": "sum", "foreign_items": "sum",
    "kind_diversity": "mean", "kind_diversity_unasked": "mean", "accessory_share": "mean", "cobought": "mean",
    "check:needs": "mean", "check:avoid": "mean", "check:budget_use": "mean", "check:count": "mean",
}
CHECK_TYPES = ("needs", "avoid", "budget_use", "count")
"""The occasion check types reported one by one (metric ``check:<type>``)."""
# The adversarial checks' counts; None (left out of the sum's n) where the case does not ask for the check.
ADVERSARIAL_METRICS = ("promises", "echoed_markup", "unclear_errors", "foreign_items")
CATCH_ALL_CODES = frozenset({"error", "internal_error", "unknown"})
"""Error codes that say nothing about what to fix: a refusal with one of these is not a clear error."""


def error_codes(cls: type[BundlebotError] = BundlebotError) -> set[str]:
    """Every ``code`` of ``cls`` and its subclasses, read when scoring (a stage may define its own error)."""
    return {cls.code}.union(*(error_codes(sub) for sub in cls.__subclasses__()))


def _ranking(case: Case, ans: Answer) -> dict[str, float | None]:
    gold = case.gold_items
    prf = M.bundle_prf(ans.ids, gold)
    return {"recall@5": M.recall_at_k(ans.ranked, gold, 5), "recall@10": M.recall_at_k(ans.ranked, gold, 10),
            "hit@1": M.hit_at_k(ans.ranked, gold, 1), "hit@5": M.hit_at_k(ans.ranked, gold, 5),
            "hit": None if prf is None else float(prf[0] > 0), "precision": None if prf is None else prf[0],
            "recall": None if prf is None else prf[1], "f1": None if prf is None else prf[2]}


def _expectations(case: Case, ans: Answer, titles: Mapping[str, str]) -> list[str]:
    """Failed ``checks`` of the case (the universal ones are in ``score``)."""
    c, why = case.checks, []
    ids = ans.ids
    if c.nonempty and not ids:
        why.append("empty bundle")
    if missing := [i for i in c.must_include if i not in ids]:
        why.append(f"missing must_include {missing}")
    if present := [i for i in c.must_exclude if i in ids]:
        why.append(f"contains must_exclude {present}")
    for term in c.must_exclude_terms:
        if hits := [i for i in ids if term.lower() in titles.get(i, "").lower()]:
            why.append(f"items {hits} match excluded term {term!r}")
    if c.grounded and ans.grounded is False:
        why.append("explanation failed the grounding check")
    if lacking := [u for u in c.unmet if u not in ans.unmet]:
        why.append(f"did not report unmet {lacking} (reported {ans.unmet})")
    if c.total_decreases and not (ans.total or 0.0) < (ans.first_total or 0.0):
        why.append(f"total did not decrease ({ans.first_total} -> {ans.total})")
    if c.changed and ids == ans.first_items:
        why.append("bundle did not change after the follow-up")
    if c.reports_unmet and not ans.unmet:
        why.append("did not report any unmet constraint")
    said = M.visible(f"{ans.explanation}\n{ans.message}".lower())  # a zero-width space inside a canary spells it
    if said_bad := [p for p in c.forbidden_phrases if p.lower() in said]:
        why.append(f"output says forbidden {said_bad}")
    return why


_WORD = re.compile(r"[a-z0-9]+")
_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "eight": 8, "ten": 10, "twelve": 12}
_N = r"(\d{1,4}|" + "|".join(_NUMBER_WORDS) + r")"
_UNITS = (re.compile(r"\b(?:set|sets|pack|packs|box|bag|tube|s)\s*(?:of\s*|/\s*)?" + _N + r"\b"),
          re.compile(r"\b" + _N + r"\s*(?:pc|pcs|piece|pieces)\b"), re.compile(r"\bfor\s+" + _N + r"\b"))
_LEADING = re.compile(r"^\s*(\d{1,4})\s+[a-z]")


def _stem(word: str) -> str:
    """Singular enough to compare: cups -> cup, glasses -> glass, boxes -> box (berries stays berrie)."""
    if len(word) > 3 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def words_of(text: str) -> list[str]:
    """A title's words, lower case and singular ("T-Light" -> ["t", "light"]).

    >>> words_of("Set/6 Red Spotty Paper Cups"), words_of("Children's Apron")
    (['set', '6', 'red', 'spotty', 'paper', 'cup'], ['children', 's', 'apron'])
    """
    return [_stem(w) for w in _WORD.findall(html.unescape(text).lower())]


def _has(words: Sequence[str], phrase: Sequence[str]) -> bool:
    n = len(phrase)
    return n > 0 and any(list(words[i:i + n]) == list(phrase) for i in range(len(words) - n + 1))


def fills(slot: Slot, title: str, kind: str | None) -> bool:
    """Whether an item (its title and kind) fills the slot: kind or title word named, no ``unless`` word.

    >>> s = Slot(name="drink from", kinds=["cup"], words=["teacup", "paper cup"], unless=["egg cup"])
    >>> fills(s, "Set/6 Red Spotty Paper Cups", "paper cup"), fills(s, "Soldiers Egg Cup", "cup")
    (True, False)
    >>> fills(Slot(name="a present", unless=["wrap"]), "Wrap Carousel", "wrap")
    False
    """
    words = words_of(title)
    if any(_has(words, words_of(u)) for u in slot.unless):
        return False
    if not slot.kinds and not slot.words:
        return True
    return (kind is not None and kind in slot.kinds) or any(_has(words, words_of(w)) for w in slot.words)


def units(title: str) -> int:
    """How many one line of an item holds or serves, read from its title ("Set/6", "Pack Of 20", "For 4",
    "16 Piece", a leading count before a plural: "200 Bendy Straws"); 1 when it states none. The checks read
    titles themselves rather than the assistant's own pack sizes, so a parsing slip there cannot pass here.

    >>> units("Set Of 72 Green Paper Doilies"), units("Picnic Bag For 4"), units("3 Tier Cake Tin"), units("Mug")
    (72, 4, 1, 1)
    """
    text = " " + html.unescape(title).lower() + " "
    for rx in _UNITS:
        if m := rx.search(text):
            n = _NUMBER_WORDS.get(m.group(1)) or int(m.group(1))
            if n >= 2:
                return n
    if (m := _LEADING.match(text)) and int(m.group(1)) >= 2 and any(
            w.endswith("s") and not w.endswith("ss") for w in text.split()[1:]):
        return int(m.group(1))
    return 1


def _occasion(case: Case, ans: Answer, titles: Mapping[str, str],
              kinds: Mapping[str, str]) -> tuple[dict[str, float | None], list[str]]:
    """The occasion checks by type (``check:<type>``: 1, 0, or None where the case states none) and the
    failure lines."""
    c, ids = case.checks, ans.ids
    filling = {s.name: [i for i in ids if fills(s, titles.get(i, ""), kinds.get(i))] for s in [*c.needs, *c.avoid]}
    out: dict[str, float | None] = dict.fromkeys(f"check:{t}" for t in CHECK_TYPES)
    why: list[str] = []
    if c.needs:
        lacking = [f"need {n.name!r}: {len(filling[n.name])} < {n.at_least} items" if n.at_least > 1
                   else f"need {n.name!r}: no item" for n in c.needs if len(filling[n.name]) < n.at_least]
        out["check:needs"] = float(not lacking)
        why += lacking
    if c.avoid:
        over = [f"avoid {a.name!r}: {filling[a.name]} (at most {a.at_most})" for a in c.avoid
                if len(filling[a.name]) > a.at_most]
        out["check:avoid"] = float(not over)
        why += over
    budget = c.max_total or case.constraints.budget
    if c.budget_use is not None and budget:
        used = (ans.total or 0.0) / budget
        out["check:budget_use"] = float(used >= c.budget_use - 1e-9)
        if not out["check:budget_use"]:
            why.append(f"budget use {used:.2f} < {c.budget_use:.2f} (total {ans.total or 0.0:.2f} of {budget:.2f})")
    counts = _counts(c.min_items, c.max_items, len(ids), [n for n in c.needs if n.covers], filling, ans, titles)
    if counts is not None:
        out["check:count"] = float(not counts)
        why += counts
    return out, why


def _counts(lo: int | None, hi: int | None, n: int, covering: list[Need], filling: Mapping[str, list[str]],
            ans: Answer, titles: Mapping[str, str]) -> list[str] | None:
    """Failed count expectations (items in the bundle, units a need covers); None when none is stated."""
    if lo is None and hi is None and not covering:
        return None
    why = []
    if lo is not None and n < lo:
        why.append(f"{n} items < min_items {lo}")
    if hi is not None and n > hi:
        why.append(f"{n} items > max_items {hi}")
    for need in covering:
        got = sum(ans.quantities.get(i, 1) * units(titles.get(i, "")) for i in filling[need.name])
        if got < (need.covers or 0):
            why.append(f"need {need.name!r} covers {got} < {need.covers} (items {filling[need.name]})")
    return why


def _adversarial(case: Case, ans: Answer, titles: Mapping[str, str]) -> tuple[dict[str, int | None], list[str]]:
    """The adversarial checks the case asks for: their counts, and a failure line for each one violated."""
    c, said = case.checks, f"{ans.explanation}\n{ans.message}"
    out: dict[str, int | None] = dict.fromkeys(ADVERSARIAL_METRICS)
    why: list[str] = []
    if c.no_promises:
        found = M.promises(said, [titles[i] for i in ans.ids if i in titles])
        out["promises"] = len(found)
        if found:
            why.append(f"output makes an offer or commitment {found}")
    if c.no_markup:
        found = M.echoed_markup(said)
        out["echoed_markup"] = len(found)
        if found:
            why.append(f"output echoes markup {found}")
    if c.clear_errors:
        code = M.error_code(ans.message, ans.unmet, error_codes())
        out["unclear_errors"] = int(code in CATCH_ALL_CODES)
        if out["unclear_errors"]:
            why.append(f"refused with an unclear error code {code!r}: {ans.message[:200]}")
    if c.foreign_items:
        foreign = set(c.foreign_items) - set(ans.control)
        found = [i for i in ans.ids if i in foreign]
        out["foreign_items"] = len(found)
        if found:
            why.append(f"another shop's or shopper's item(s): {found}")
    return out, why


_FIX_HINT = re.compile(r"\(fix: .*?\)\s*$", re.DOTALL)


def score(case: Case, ans: Answer, prices: Mapping[str, float | None], secrets: Sequence[str],
          titles: Mapping[str, str] | None = None,
          kinds: Mapping[str, str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """All metrics of one (case, answer) and the list of failures (empty = passed). ``titles`` and
    ``kinds`` (item id -> kind, as the shop's ``Kinds`` names it) are read by the title and slot checks."""
    if ans.error:  # a crash fails every occasion check the case states
        stated, _ = _occasion(case, Answer(items=[], ranked=[], total=None), {}, {})
        return ({"errors": 1, "checks_passed": 0.0, "latency_ms": ans.latency_ms,
                 **{k: 0.0 for k, v in stated.items() if v is not None}}, [f"error: {ans.error}"])
    m: dict[str, Any] = _ranking(case, ans)
    why: list[str] = []
    bad = [i for i in ans.ids if i not in prices]
    if bad:
        why.append(f"non-catalog item(s): {', '.join(bad)}")
    allowed = [x for x in (ans.total, ans.stated_budget, case.constraints.budget, case.checks.max_total)
               if x is not None]
    if ans.total is not None and ans.stated_budget is not None:  # "leaving £3.20 of your budget"
        allowed.append(round(ans.stated_budget - ans.total, 2))
    # A refusal's "(fix: ...)" hint is a usage example ("... under £25"), not a claim about the catalog.
    said = f"{ans.explanation}\n{_FIX_HINT.sub(' ', ans.message)}"
    for title in sorted((titles or {}).values(), key=len, reverse=True):
        said = said.replace(title, " ")  # numbers inside an item's own title ("2.50 Oz") are not prices
    invented = M.invented_prices(ans.items, prices, said, allowed)
    if invented:
        why.append(f"invented price(s): {invented}")
    budget = case.checks.max_total or case.constraints.budget
    within = M.within_budget(ans.total, budget)
    if within == 0.0:
        why.append(f"total {ans.total:.2f} exceeds max_total {budget:.2f}")
    said = f"{ans.explanation}\n{ans.message}"
    leak = M.system_leak(said, secrets) if case.checks.no_system_leak else False
    if leak:
        why.append("output repeats the system prompt")
    why += _expectations(case, ans, titles or {})
    adversarial, failed = _adversarial(case, ans, titles or {})
    m.update(adversarial)
    why += failed
    occasion, failed = _occasion(case, ans, titles or {}, kinds or {})
    m.update(occasion)
    why += failed
    m.update({"within_budget": within, "total/budget": M.total_budget_ratio(ans.total, budget),
              "invalid_items": len(bad), "invented_prices": invented, "items": len(ans.ids),
              "grounding_failures": int(ans.grounded is False), "system_leaks": int(leak), "errors": 0,
              "empty": int(not ans.ids), "checks_passed": 0.0 if why else 1.0, "latency_ms": ans.latency_ms})
    return m, why
