"""Conversation state: validating a state that comes back from a client, and applying an edit to it.

The state is plain JSON (``ConversationState.to_dict``) so the HTTP API stays stateless. A state from a client
is never trusted: ids are re-checked against this shop's catalog on every turn.

>>> from assistant.edits import Edit
>>> s = ConversationState(shop="demo", constraints=Constraints(budget=30, size=3), bundle=["a", "b", "c"])
>>> new, plan = apply_edit(s, Edit("remove", targets=["b"]), prices={"a": 5, "b": 6, "c": 7})
>>> new.rejected, plan.pinned, plan.size
(['b'], ['a', 'c'], 2)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from assistant.edits import Edit
from assistant.languages import SUPPORTED
from assistant.parse import MAX_BUDGET
from assistant.text import echoable, matches_term
from assistant.types import Constraints, ConversationState
from bundlebot.errors import RequestError
from retrieval.types import Item

MAX_IDS = 200
MAX_TURNS = 12
MAX_TERMS = 30


GROW_SLOTS = 2
"""A bundle of the default size may grow by this many items to use a stated budget (``TurnPlan.grow``)."""


@dataclass
class TurnPlan:
    """What this turn must do: the effective constraints, what to search for, what to keep and avoid."""

    kind: str
    constraints: Constraints
    query: str
    size: int
    grow: int = 0
    """Items the bundle may hold beyond ``size`` to reach the budget's lower end: the size is the default,
    not the shopper's, so "a street party for 30, about £35" is not four cheap things (``optimize``)."""
    pinned: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    prefer: list[str] = field(default_factory=list)
    """Items of the previous bundle: kept when they still fit (a constraint edit is not a new bundle)."""
    extra_query: str = ""
    """A second search for the replacement / the addition / 'more like' (merged into the candidates)."""
    slot_max_price: float | None = None
    """A cheaper swap: the replacement must cost less than this."""
    slot_min_price: float | None = None
    """A nicer swap: the replacement must cost more than this."""
    replacing: list[str] = field(default_factory=list)
    """A swap's targets: their kind is searched, and a replacement of their kind comes first ("swap the cups"
    for a teacup and saucer gives another cup and saucer before an egg cup)."""
    slots: list[str] = field(default_factory=list)
    """The previous bundle order; a replacement takes the place of the item it replaces."""
    note: str = ""
    """A plain statement for the shopper about this turn (e.g. an edit that found no target)."""
    plan_kinds: bool = False
    """Search the kinds bought with the request's anchor kind (``assistant.companion_bonus`` > 0)."""
    anchor: str | None = None
    """The request's anchor kind and the kinds bought with it, set by the searches (``assistant.companions``)."""
    companions: dict[str, float] = field(default_factory=dict)
    ideas: list[str] = field(default_factory=list)
    """What a present named only by its recipient usually is (``assistant.gifts``), or what a gathering named
    by its occasion is laid with (``assistant.gatherings``), each searched too."""
    ideas_are_kinds: bool = False
    """The ideas are a gathering's needs: kinds of thing, so a "napkin charm" is no napkin (a present's ideas
    are kinds or themes: a "garden thermometer" is a garden present)."""
    lang: str = "en"
    """The language of this turn's message (answers follow it)."""
    foreign: str = ""
    """Words of a non-English request no word of the shop translates: searched in the multilingual set."""
    note_keys: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """What ``note`` says, as keys of ``assistant.languages.messages`` with their values: how it is said in
    the shopper's language."""


def validate_state(raw: Any, shop: str, lookup: Callable[[str], Item | None], *,
                   max_size: int = 10) -> ConversationState:
    """A client's state -> a checked ConversationState (RequestError on anything malformed or unknown)."""
    if raw is None:
        return ConversationState(shop=shop)
    if isinstance(raw, ConversationState):
        raw = raw.to_dict()
    if not isinstance(raw, dict):
        raise RequestError(f"the conversation state should be a JSON object, got {type(raw).__name__}",
                           hint="send back the 'state' object of the previous answer, or none")
    try:
        state = ConversationState.from_dict(raw)
    except (TypeError, ValueError, AttributeError) as exc:
        raise RequestError(f"the conversation state is malformed: {exc}",
                           hint="send back the 'state' object of the previous answer unchanged") from exc
    if state.shop != shop:
        raise RequestError(f"the conversation state belongs to shop {state.shop!r}, not {shop!r}",
                           hint="start a new conversation for this shop")
    if state.shopper is not None and (not isinstance(state.shopper, str) or len(state.shopper) > 100):
        raise RequestError(f"state.shopper should be a shopper id of at most 100 characters, got "
                           f"{state.shopper!r:.80}", hint="send back the 'state' object of the previous answer")
    for name in ("bundle", "pinned", "rejected"):
        ids = getattr(state, name)
        if not isinstance(ids, list) or len(ids) > MAX_IDS or not all(isinstance(i, str) for i in ids):
            raise RequestError(f"state.{name} should be a list of at most {MAX_IDS} item ids",
                               hint="send back the 'state' object of the previous answer unchanged")
    if len(state.bundle) > max_size or len(set(state.bundle)) != len(state.bundle):
        raise RequestError(f"state.bundle should hold at most {max_size} distinct ids, got {len(state.bundle)}",
                           hint="send back the 'state' object of the previous answer unchanged")
    _check_constraints(state.constraints, max_size)
    for item_id in dict.fromkeys(state.bundle + state.pinned):
        if lookup(item_id) is None:
            raise RequestError(f"item {item_id!r} in the conversation state is not in shop {shop!r}",
                               hint="start a new conversation; the catalog may have changed")
    if state.language not in SUPPORTED:
        raise RequestError(f"state.language should be one of {', '.join(SUPPORTED)}, got {state.language!r:.20}",
                           hint="send back the 'state' object of the previous answer unchanged")
    if not isinstance(state.turns, list):
        raise RequestError("state.turns should be a list", hint="send back the previous state unchanged")
    state.turns = [{"role": t["role"], "content": t["content"][:2000]} for t in state.turns
                   if isinstance(t, dict) and t.get("role") in ("user", "assistant")
                   and isinstance(t.get("content"), str)][-MAX_TURNS:]
    return state


def _check_constraints(c: Constraints, max_size: int) -> None:
    def bad(what: str) -> RequestError:
        return RequestError(f"state.constraints.{what}", hint="send back the previous state unchanged")

    for name in ("budget", "budget_min", "max_each"):
        v = getattr(c, name)
        if v is not None and (not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v <= MAX_BUDGET):
            raise bad(f"{name} should be a number in [0, {MAX_BUDGET:g}], got {v!r}")
    for name in ("size", "people", "age"):
        v = getattr(c, name)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 500
                              or (name == "size" and v > max_size)):
            raise bad(f"{name} should be an integer in 1..{max_size if name == 'size' else 500}, got {v!r}")
    for name in ("exclude", "must_have", "uncertain"):
        v = getattr(c, name)
        if not isinstance(v, list) or len(v) > MAX_TERMS or not all(isinstance(t, str) and len(t) <= 80
                                                                  for t in v):
            raise bad(f"{name} should be a list of at most {MAX_TERMS} short strings")
    if not isinstance(c.query, str) or len(c.query) > 1000:
        raise bad("query should be a string of at most 1000 characters")
    for name in ("occasion", "recipient"):
        v = getattr(c, name)
        if v is not None and (not isinstance(v, str) or len(v) > 80):
            raise bad(f"{name} should be a string of at most 80 characters or null, got {v!r:.80}")
    if c.currency is not None and (not isinstance(c.currency, str) or not re.fullmatch(r"[A-Z]{3}", c.currency)):
        raise bad(f"currency should be a three-letter code such as 'GBP' or null, got {c.currency!r:.80}")
    if not isinstance(c.similar_ok, bool):
        raise bad(f"similar_ok should be true or false, got {c.similar_ok!r:.80}")


def _holding(bundle: list[str], titles: dict[str, str], edit: Edit,
             names: Callable[[str, str], bool] | None) -> str | None:
    """The bundle item an addition names, when it asks for the thing and not for one more of it."""
    if not edit.query or edit.another:
        return None
    names = names or (lambda i, term: matches_term(titles[i], term))
    return next((i for i in bundle if i in titles and names(i, edit.query)), None)


def apply_edit(state: ConversationState, edit: Edit, *, prices: dict[str, float | None],
               titles: dict[str, str] | None = None, default_size: int = 4, max_size: int = 10,
               known: Callable[[str], bool] | None = None,
               names: Callable[[str, str], bool] | None = None) -> tuple[ConversationState, TurnPlan]:
    """Apply ``edit`` to ``state``: a new state (bundle still to be filled) and the plan for this turn.
    ``known`` (``Lexicon.knows``) says which client terms a note may name back (``text.said_back``).
    ``names(item_id, term)``: whether a bundle item is one of what the term names, as assembly reads a
    must-have (``rules.Kinding.names``); without it, whether its title holds the term."""
    titles = titles or {}
    old, stated, bundle = state.constraints, edit.constraints, list(state.bundle)
    if edit.kind in ("new", "restart"):
        c = replace(stated, uncertain=list(stated.uncertain))
        if c.size:  # "12 items" with max_size 10: the state holds what is shown, or the next turn is refused
            c.size = min(c.size, max_size)
        new = ConversationState(shop=state.shop, shopper=state.shopper, constraints=c, turns=list(state.turns))
        size = min(c.size or default_size, max_size)
        grow = 0 if c.size or c.budget is None else max(0, min(GROW_SLOTS, max_size - size))
        return new, TurnPlan(edit.kind, c, c.query, size, grow)
    c = _merge(old, stated)
    rejected = list(dict.fromkeys(state.rejected + (edit.targets if edit.kind in ("remove", "replace") else [])))
    keep = [i for i in bundle if i not in edit.targets]
    pinned = [i for i in state.pinned if i not in rejected]
    plan = TurnPlan(edit.kind, c, c.query, len(bundle), rejected=rejected, slots=bundle)
    if edit.kind == "remove":
        plan.pinned, plan.size = keep, max(len(keep), 0)
    elif edit.kind == "replace":
        plan.pinned, plan.replacing = keep, list(edit.targets)
        # "swap the cups": another of the kind the shopper named; "swap the teapot for a jug": the jug
        plan.extra_query = edit.query or edit.named or " ".join(titles.get(t, "") for t in edit.targets).strip()
        known = [p for t in edit.targets if (p := prices.get(t)) is not None]
        if edit.cheaper and known:
            plan.slot_max_price = min(known)
        if edit.nicer and known:
            plan.slot_min_price = max(known)
        if edit.query or edit.named:
            c.must_have = list(dict.fromkeys(c.must_have + [edit.query or edit.named]))
    elif edit.kind == "add" and (held := _holding(bundle, titles, edit, names)):
        # "add some napkins" to a bundle with napkins: say so, rather than add something else beside them
        plan.kind, plan.pinned, plan.prefer = "noop", bundle, bundle
        plan.note = f"The bundle already has {titles[held]}, so nothing was added."
        plan.note_keys.append(("already", {"title": titles[held]}))
    elif edit.kind == "add":
        plan.pinned, plan.size = bundle, min(len(bundle) + 1, max_size)
        if edit.query:
            plan.extra_query = edit.query
            c.must_have = list(dict.fromkeys(c.must_have + [edit.query]))
    elif edit.kind == "more_like":
        plan.pinned = list(dict.fromkeys(pinned + edit.targets))
        plan.extra_query = " ".join(titles.get(t, "") for t in edit.targets).strip()
        plan.query = plan.extra_query or c.query
    elif edit.kind == "noop":
        plan.pinned, plan.prefer = bundle, bundle
        named = echoable(edit.query) and known is not None and known(edit.query.strip())
        what = edit.query.strip() if named else "such item"
        plan.note = f"There is no {what} in the bundle, so nothing was changed."
        plan.note_keys.append(("no_target", {}))
    elif edit.kind == "keep":
        plan.pinned, plan.prefer = list(dict.fromkeys(pinned + edit.targets)), bundle
    else:  # constraints
        if edit.cheaper and stated.budget is None:
            total = sum(p for i in bundle if (p := prices.get(i)) is not None)
            if total > 0:  # "something cheaper": a fifth less than the current total
                c.budget = round(min(c.budget or total, total * 0.8), 2)
                if c.budget_min is not None and c.budget_min > c.budget:  # "about £25" no longer holds
                    c.budget_min = None
        plan.pinned, plan.prefer = pinned, bundle
        plan.size = min(stated.size or old.size or len(bundle) or default_size, max_size)
    if c.max_each is not None:  # a cap per item holds for what is kept, too
        cap = c.max_each
        fits = lambda i: (p := prices.get(i)) is None or p <= cap  # noqa: E731
        plan.pinned, plan.prefer, pinned = ([i for i in ids if fits(i)] for ids in (plan.pinned, plan.prefer, pinned))
    plan.constraints = c
    if plan.kind in ("remove", "replace", "add", "keep", "noop"):
        c.size = plan.size
    if c.size:
        c.size = min(c.size, max_size)
    new = ConversationState(shop=state.shop, shopper=state.shopper, constraints=c, pinned=plan.pinned
                            if edit.kind in ("keep", "more_like") else pinned, rejected=rejected,
                            turns=list(state.turns))
    return new, plan


def _merge(old: Constraints, stated: Constraints) -> Constraints:
    """Constraints stated now override the old ones; exclusions and must-haves accumulate."""
    c = replace(old, exclude=list(old.exclude), must_have=list(old.must_have), uncertain=[])
    for name in ("budget", "budget_min", "max_each", "currency", "size", "people", "age", "occasion",
                 "recipient"):
        v = getattr(stated, name)
        if v is not None:
            setattr(c, name, v)
    if stated.budget is not None and stated.budget_min is None:
        c.budget_min = None
    c.exclude = list(dict.fromkeys(c.exclude + stated.exclude))
    c.must_have = [m for m in dict.fromkeys(c.must_have + stated.must_have) if m not in c.exclude]
    return c
