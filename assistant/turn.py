"""The stages of one turn, in the one place they are written: plan -> pool -> scores -> bundle.

``ShoppingAssistant`` runs them for a shopper (and then streams the explanation); the training-data builder
(``finetune.data``) and the evaluation run the very same functions on requests built from the data splits,
so a model is trained and measured on exactly the candidates, history and prompts a shopper's turn gets.

- ``plan_turn(message, state, retriever, cfg) -> (ConversationState, TurnPlan)``: the request or edit
  understood; ``first_plan(message, cfg)`` is the plan of a first message (no state, no shop lookups).
- ``gather(retriever, plan, shopper) -> Pool``: every search of the turn reranked (``Pool.candidates``),
  the history lines of the prompts (``Pool.history``) and the merged candidate pool assembly re-ranks in.
- ``score(model, cfg, plan, pool) -> Scores``: the usable candidates fused with the LLM's scores.
- ``build(retriever, plan, pool, scores, shopper) -> BundleResult``: the bundle, explanation still empty.

>>> first_plan("a tea party for six, must have napkins").query
'tea party'
>>> searches(first_plan("a tea party for six, must have napkins"))
['napkins for tea party', 'tea party']
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from assistant.assemble import Assembly, ShopFacts, assemble, excluded_by
from assistant.audience import for_grown_ups
from assistant.companions import COMPANION_K, anchor_kind, companions, item_weights, with_companions
from assistant.edits import Edit, parse_edit
from assistant.explain import reason_of
from assistant.fusion import fuse, rank_scores, scoring_mode
from assistant.gatherings import needs_for
from assistant.gifts import ideas_for
from assistant.languages import SUPPORTED, detect, messages, read
from assistant.parse import budget_problem, clean_message, parse_request
from assistant.prompting import format_price
from assistant.quantities import per_person_items
from assistant.rules import Kinding, kind_group, modifies
from assistant.seasons import off_season
from assistant.state import TurnPlan, apply_edit
from assistant.text import content_stems, matches_term
from assistant.types import BundleLine, BundleResult, Constraints, ConversationState
from bundlebot.config.assistant import AssistantConfig
from retrieval.protocol import ShopRetriever
from retrieval.search import Filters
from retrieval.types import Event, Item, ScoredItem

DEFAULT_QUERY = "gift"
RANKED_N = 20
HISTORY_N = 5
REFERENCE_RANK = 5
"""``relevant_first`` measures relevance from the pool's 5th best cosine: one outlier does not set the bar."""
PER_PERSON_K = 10
"""Candidates kept from the search among the per-person kinds when the request counts people."""
MUST_HAVE_K = 20
"""Candidates kept per extra search (a must-have, a replacement, an addition); the main query keeps all."""


@dataclass
class Pool:
    """Stage 2: what the turn's searches found."""

    candidates: list[ScoredItem]
    """Every search's reranked candidates (each must-have's first, then the query's), first occurrence kept."""
    history: list[tuple[Item, Event]] = field(default_factory=list)
    """The history lines of the prompts (``relevant_history``)."""
    gathered: Any = None
    """The merged retrieval pool (``retrieval.protocol.Pool``): assembly re-ranks in it without reading."""
    companion: dict[str, float] = field(default_factory=dict)
    """Candidate id -> its kind's weight among the kinds bought with the request's anchor kind."""

    def usable(self, c: Constraints, k: int | None = None) -> list[ScoredItem]:
        """In stock, not excluded, not another holiday's stock (``assistant/seasons.py``) and, for a grown-up,
        not a children's thing (``assistant/audience.py``); the first ``k`` (None: all): what the LLM and
        assembly may pick."""
        ok = [s for s in self.candidates if s.item.in_stock and not excluded_by(s.item, c.exclude)
              and (c.max_each is None or s.item.price is None or s.item.price <= c.max_each)]
        ok = off_season(ok, " ".join([c.occasion or "", c.query, *c.must_have]), key=lambda s: s.item)
        return for_grown_ups(ok, c, key=lambda s: s.item)[:k]


@dataclass
class Scores:
    """Stage 3: the usable candidates in fused order, with what the LLM said about the top ones."""

    ranked: list[ScoredItem]
    llm: list[float] | None = None
    """The LLM's scores of the first ``len(llm)`` usable candidates (None: not asked, or it misbehaved)."""
    weight: float = 0.0


# ---- stage 1: plan --------------------------------------------------------------------------------------
def plan_turn(message: str, state: ConversationState, retriever: ShopRetriever,
              cfg: AssistantConfig) -> tuple[ConversationState, TurnPlan]:
    """The new state and this turn's plan: an edit of the current bundle, or a new request. A message in
    another language is first read into English (``read_turn``)."""
    lang, message, foreign, placed = read_turn(message, state, retriever)
    items = {i: retriever.item(i) for i in state.bundle}
    titles = {i: it.title for i, it in items.items() if it}
    prices = {i: it.price for i, it in items.items() if it}
    edit = parse_edit(message, state.bundle, titles, prices) if state.bundle else None
    if edit is None:
        edit = Edit("new", query=(stated := parse_request(message)).query, constraints=stated)
    naming = Kinding(kind_of=retriever.kind)
    new_state, plan = apply_edit(state, edit, prices=prices,
                                 titles=titles, default_size=cfg.default_size, max_size=cfg.max_size,
                                 known=lambda term: retriever.lexicon.knows(term),
                                 names=lambda i, term: (it := items.get(i)) is not None and naming.names(it, term))
    c = plan.constraints
    said = budget_note(message, edit.constraints, c, retriever.currency)
    plan.note = " ".join(filter(None, [plan.note, said]))
    if said:
        read_as = {"shop": retriever.currency, "budget": format_price(c.budget, retriever.currency)}
        plan.note_keys.append(("currency", read_as) if edit.constraints.budget is not None else ("bad_budget", {}))
    if retriever.currency and c.currency != retriever.currency:
        c.currency = retriever.currency  # the shop's currency: a "$" in a GBP shop still means its prices
    _default_query(plan)
    if plan.kind != "restart":
        set_ideas(plan, lambda term: retriever.lexicon.knows(term))
    plan.plan_kinds = cfg.companion_bonus > 0
    plan.lang = new_state.language = lang if lang in SUPPORTED else "en"
    if edit.kind in ("new", "restart"):  # the request's own words too, not only the shop's word for them
        query = content_stems(plan.query)
        plan.foreign = " ".join([*(t for t, e in placed.items() if content_stems(e) <= query), foreign]).strip()
    return new_state, plan


def read_turn(message: str, state: ConversationState,
              retriever: ShopRetriever) -> tuple[str, str, str, dict[str, str]]:
    """(the message's language, the message in English, the words of it the shop's vocabulary could not
    place, the others with their English). English and unsupported languages pass unchanged; a message whose
    every word stayed foreign reads as the default request and its words are searched in the multilingual
    set."""
    lang = detect(clean_message(message, any_script=True), state.language)
    if lang not in ("zh", "fr"):
        return lang, message, "", {}
    glossary, placed = retriever.glossary(), {}
    english, unplaced = read(message, lang).resolved(
        glossary.translate if glossary is not None else lambda term: None, placed,
        glossary.translate_all if glossary is not None else None)
    if not re.search(r"[A-Za-z]", english):  # "£0.50" and a word no one could place: keep the budget
        english = f"{DEFAULT_QUERY} {english}".strip()
    return lang, english, " ".join(unplaced), placed


def first_plan(message: str, cfg: AssistantConfig | None = None, known: Callable[[str], bool] | None = None
               ) -> TurnPlan:
    """The plan of a first message (what ``plan_turn`` gives with no state): the searches and constraints a
    training or evaluation request shares with a shopper's first turn. ``known`` (the shop's
    ``lexicon.knows``) adds a present's ideas or a gathering's needs, as a live turn does; without it the
    plan needs no shop."""
    cfg = cfg or AssistantConfig()
    stated = parse_request(message)
    _, plan = apply_edit(ConversationState(shop=""), Edit("new", query=stated.query, constraints=stated),
                         prices={}, default_size=cfg.default_size, max_size=cfg.max_size)
    _default_query(plan)
    if known is not None:
        set_ideas(plan, known)
    plan.plan_kinds = cfg.companion_bonus > 0
    return plan


def set_ideas(plan: TurnPlan, known: Callable[[str], bool]) -> None:
    """What the plan searches besides the request: a present's ideas (``gifts``), else a gathering's needs
    (``gatherings``), in the words the shop knows. The lexicon is fitted on first use: only a request that
    names nothing but its recipient or gathering pays for it."""
    plan.ideas = ideas_for(plan.constraints, known)
    if not plan.ideas:
        plan.ideas = needs_for(plan.constraints, known)
        plan.ideas_are_kinds = bool(plan.ideas)


def _default_query(plan: TurnPlan) -> None:
    c = plan.constraints
    if not plan.query and plan.kind != "restart":
        plan.query = " ".join(filter(None, [c.occasion, *c.must_have])) or DEFAULT_QUERY


def budget_note(message: str, stated: Constraints, c: Constraints, shop_currency: str | None) -> str:
    """What the shopper must be told about their budget: one that could not be used, or one read in the
    shop's currency although they wrote another (prices are never converted)."""
    if stated.budget is None:
        return budget_problem(message) or ""
    if shop_currency and stated.currency and stated.currency != shop_currency:
        return (f"Prices here are in {shop_currency} and are not converted: your budget was read as "
                f"{format_price(c.budget, shop_currency)}.")
    return ""


# ---- stage 2: pool --------------------------------------------------------------------------------------
def searches(plan: TurnPlan) -> list[str]:
    """The turn's searches: the replacement/addition, each must-have, what a present for the recipient
    usually is, then the request itself. A must-have or an idea is searched in the request's context: "card"
    for a tea party is a greeting card."""
    return [q for q, _ in _search_terms(plan)]


def _search_terms(plan: TurnPlan) -> list[tuple[str, str | None]]:
    """``searches`` with, for each, the idea it searches (None for the others)."""
    c = plan.constraints
    context = f" for {c.occasion}" if c.occasion else ""
    out: list[tuple[str, str | None]] = [(plan.extra_query + context, None)] if plan.extra_query else []
    out += [(m + context, None) for m in c.must_have if m != plan.extra_query]
    out += [(m + context, m) for m in plan.ideas if m != plan.extra_query and m not in c.must_have]
    return [*out, (plan.query, None)]


def gather(retriever: ShopRetriever, plan: TurnPlan, shopper: str | None, *, history_before: float | None = None,
           recent: Sequence[tuple[Item, Event]] | None = None) -> Pool:
    """Candidates of every search, the prompts' history lines and the merged pool. ``history_before``: a
    replayed train basket is not its own history; ``recent`` (default: the shopper's stored history) are the
    recent purchases the history lines end with. A live turn first drops the shopper's disliked items
    from the plan (``honour_dislikes``)."""
    if shopper and history_before is None:
        honour_dislikes(plan, retriever.taste(shopper).disliked)
    seen: dict[str, ScoredItem] = {}
    pools = []
    for found in search_pools(retriever, plan, shopper, history_before=history_before):
        pools.append(found.pool)
        for s in found.ranked(retriever):
            seen.setdefault(s.item.id, s)
    cands, merged = list(seen.values()), pools[-1].merged(pools[:-1])
    weights = item_weights(retriever.shop_kinds(), [s.item for s in cands], plan.companions)
    if not shopper:
        return Pool(cands, [], merged, weights)
    if recent is None:
        recent = retriever.history(shopper, HISTORY_N)
    known = {it.id: it for it, *_ in merged.history}  # the pool holds the matched history items already
    history = relevant_history(shopper, cands, list(recent), lambda i: known.get(i) or retriever.item(i))
    return Pool(cands, history, merged, weights)


def honour_dislikes(plan: TurnPlan, disliked: frozenset[str] | set[str]) -> None:
    """A disliked item never comes back: not kept from the current bundle, rejected like a removed one (the
    searches filter it out, assembly refuses it, the service's invariants check it).

    >>> p = first_plan("a tea party"); p.pinned = ["a", "b"]; honour_dislikes(p, {"b"}); p.pinned, p.rejected
    (['a'], ['b'])
    """
    if disliked:
        plan.pinned = [i for i in plan.pinned if i not in disliked]
        plan.rejected = list(dict.fromkeys([*plan.rejected, *sorted(disliked)]))


class Search(NamedTuple):
    """One search of the turn: the candidates it keeps (None: all) and its gathered pool."""

    k: int | None
    pool: Any
    idea: str | None = None
    """A present's idea or a gathering's need ("mug", "napkin"): only the items whose titles name it are its
    candidates. A search for mugs also finds cups, and a cup beside the mug is two of one present."""
    of_kind: bool = False
    """The idea is a kind: an item whose kind holds it only as a modifier is a thing for it ("napkin charm",
    "candle holder"), not one of it; and where the shop has such a kind, a title that names it only after
    its head word names a design ("Gardeners Kneeling Pad Cup Of Tea", ``Kinding.names``). A Halloween
    party's skulls and pumpkins are motifs, no shop's kinds: "Jumbo Bag Skulls" is one of them."""

    def ranked(self, retriever: ShopRetriever) -> list[ScoredItem]:
        if self.idea is None:
            return retriever.rank(self.pool, self.k)
        idea = self.idea
        hits = [s for s in retriever.rank(self.pool, None) if matches_term(s.item.title, idea)]
        shop = retriever.shop_kinds() if self.of_kind else None
        if shop is not None:
            kinds, strict = Kinding(retriever.kind), kind_group(idea) in _kind_heads(shop)
            hits = [s for s in hits if not ((k := kinds.of(s.item)) is not None and modifies(idea, k[0]))
                    and (not strict or kinds.names(s.item, idea))]
        return hits[: self.k]


@functools.lru_cache(maxsize=8)
def _kind_heads(shop: Any) -> frozenset[str]:
    """The head words of a shop's kinds (``kind_group``), once per fitted ``Kinds``: a need's search asks on
    every turn."""
    return frozenset(kind_group(k) for k in shop.stats)


def search_pools(retriever: ShopRetriever, plan: TurnPlan, shopper: str | None, *,
                 history_before: float | None = None) -> list[Search]:
    """Each of the turn's searches, the request's own last."""
    c = plan.constraints
    caps = [x for x in (c.budget, c.max_each) if x is not None]
    filters = Filters(max_price=min(caps) if caps else None, exclude_ids=tuple(plan.rejected))
    out = []
    for q, idea in _search_terms(plan):
        k = None if q == plan.query and not plan.ideas else MUST_HAVE_K  # ideas: the request says too little
        foreign = {"foreign": plan.foreign} if plan.foreign and q == plan.query else {}
        out.append(Search(k, retriever.gather(q, shopper=shopper, filters=filters, k=k, chosen=plan.pinned,
                                              history_before=history_before, **foreign),
                          idea, plan.ideas_are_kinds and idea is not None))
    kinds = retriever.shop_kinds()
    if plan.plan_kinds:
        plan.anchor = anchor_kind(kinds, out[-1].pool)
        plan.companions = companions(kinds, plan.anchor)
    if plan.companions:  # the kinds the shop's baskets buy with the request's anchor kind, for this request
        out.insert(-1, Search(COMPANION_K, retriever.gather(
            plan.query, shopper=shopper, k=COMPANION_K, chosen=plan.pinned, history_before=history_before,
            filters=replace(filters, only_ids=kinds.items_of(list(plan.companions))))))
    if plan.replacing and kinds is not None and (ids := _of_kinds(retriever, kinds, plan.replacing)):
        # "swap the cups": others of the swapped items' kinds join the pool, whatever else the words find
        out.insert(-1, Search(MUST_HAVE_K, retriever.gather(
            plan.extra_query or plan.query, shopper=shopper, k=MUST_HAVE_K, filters=replace(filters, only_ids=ids),
            chosen=plan.pinned, history_before=history_before)))
    if plan.constraints.people and (ids := per_person_items(kinds)):
        # "for six": the request's best cups, plates, napkins... join the pool, whatever else ranks first
        out.insert(-1, Search(PER_PERSON_K, retriever.gather(
            plan.query, shopper=shopper, k=PER_PERSON_K, filters=replace(filters, only_ids=ids),
            chosen=plan.pinned, history_before=history_before)))
    return out


def _of_kinds(retriever: ShopRetriever, kinds: Any, item_ids: Sequence[str]) -> tuple[str, ...]:
    """The catalog's items of the kinds of ``item_ids``."""
    return kinds.items_of({kinds.of(it)[0] for i in item_ids if (it := retriever.item(i)) is not None})


def relevant_history(shopper: str, cands: Sequence[ScoredItem], recent: Sequence[tuple[Item, Event]],
                     lookup: Callable[[str], Item | None], n: int = HISTORY_N) -> list[tuple[Item, Event]]:
    """The history lines of the prompts: items the reranker matched to the top 20 candidates (their
    ``history_item`` evidence), then the ``recent`` ones, at most ``n``."""
    out: dict[str, tuple[Item, Event]] = {}
    for s in cands[:20]:
        hid = s.evidence.get("history_item")
        if hid and str(hid) not in out and (it := lookup(str(hid))) is not None:
            out[str(hid)] = (it, Event(shopper, it.id, float(s.evidence.get("history_ts") or 0.0)))
    for it, ev in recent:
        out.setdefault(it.id, (it, ev))
    return list(out.values())[:n]


# ---- stage 3: scores ------------------------------------------------------------------------------------
def score(model: Callable[[], Any], cfg: AssistantConfig, plan: TurnPlan, pool: Pool) -> Scores:
    """The usable candidates fused with the LLM's scores of the top ``cfg.llm_candidates`` (the model is
    asked only when fusion is on with a positive weight; ``model()`` loads it on first use)."""
    usable = relevant_first(pool.usable(plan.constraints), cfg.relevance_margin)
    top = usable[: cfg.llm_candidates]
    weight = cfg.weight_for(bool(pool.history))
    probs = None
    if cfg.fusion and weight > 0 and len(top) >= 2:
        generator = model()
        probs = rank_scores(generator, scoring_mode(cfg.llm_scoring, generator), plan.extra_query or plan.query,
                            top, pool.history)
    ranked = with_taste(fuse(usable, probs, weight=weight), weight)
    floor = relevance_floor(usable, cfg.relevance_margin)
    ranked = with_companions(ranked, pool.companion, cfg.companion_bonus, floor=floor, margin=cfg.relevance_margin)
    return Scores(ranked, probs, weight)


def relevance_floor(cands: Sequence[ScoredItem], margin: float) -> float | None:
    """The cosine below which a candidate counts as less relevant: the ``REFERENCE_RANK``-th best minus
    ``margin`` (None when off or no candidate has one)."""
    rel = sorted((float(s.evidence["relevance"]) for s in cands if "relevance" in s.evidence), reverse=True)
    if margin <= 0 or not rel:
        return None
    return rel[min(REFERENCE_RANK, len(rel)) - 1] - margin


def relevant_first(cands: list[ScoredItem], margin: float) -> list[ScoredItem]:
    """Popularity breaks ties among relevant candidates, never outweighs relevance: a candidate whose cosine
    to the request (``evidence["relevance"]``) is more than ``margin`` below the pool's ``REFERENCE_RANK``-th
    best loses its popularity share of the score in proportion, all of it at ``2 x margin`` below. A ranker
    fitted on one kind of request (a wholesaler's invoices) otherwise lets a best seller of cosine 0.2 top a
    free-text request whose relevant items reach 0.5. The rest of the score (history, co-purchase, words
    matched) is kept: a complement or the shopper's own item is not relevance's to veto.

    >>> a = ScoredItem(Item("a", "wicker heart"), 1.0, {"popularity": 0.6}, {"relevance": 0.2})
    >>> pads = [ScoredItem(Item(f"p{i}", "kneeling pad"), 0.7, {"popularity": 0.1}, {"relevance": 0.5})
    ...         for i in range(5)]
    >>> [(s.item.id, s.score) for s in relevant_first([a, *pads], 0.1)][-2:]
    [('p4', 0.7), ('a', 0.4)]
    """
    floor = relevance_floor(cands, margin)
    if floor is None:
        return cands
    out = []
    for s in cands:
        short = min(max((floor - float(s.evidence.get("relevance", floor))) / margin, 0.0), 1.0)
        cut = short * max(s.breakdown.get("popularity", 0.0), 0.0)
        if cut <= 0:
            out.append(s)
            continue
        bd = {**s.breakdown, "popularity": round(s.breakdown["popularity"] - cut, 6)}
        out.append(ScoredItem(s.item, round(s.score - cut, 6), bd, s.evidence))
    return sorted(out, key=lambda s: -s.score)  # stable: ties keep the ranker's order


def with_taste(ranked: list[ScoredItem], weight: float) -> list[ScoredItem]:
    """The fused order with the shopper's own verdicts counted in the LLM's share too: the model judges
    the request, not what this shopper said about an item, so its vote must not undo a like or a dislike
    the reranker honoured. ``evidence["taste"]`` (in [-1, 1], set by the reranker) moves the fused score
    by ``weight`` times itself.

    >>> a, b = ScoredItem(Item("a", "mug"), 0.9), ScoredItem(Item("b", "cup"), 0.5, evidence={"taste": 0.75})
    >>> [(s.item.id, s.score) for s in with_taste([a, b], 0.8)]
    [('b', 1.1), ('a', 0.9)]
    """
    if not weight or not any(s.evidence.get("taste") for s in ranked):
        return ranked
    moved = [ScoredItem(s.item, round(s.score + weight * float(s.evidence.get("taste", 0.0)), 6), s.breakdown,
                        s.evidence) for s in ranked]
    order = sorted(range(len(moved)), key=lambda i: (-moved[i].score, i))
    return [moved[i] for i in order]


# ---- stage 4: bundle ------------------------------------------------------------------------------------
def build(retriever: ShopRetriever, plan: TurnPlan, pool: Pool, scores: Scores,
          shopper: str | None) -> BundleResult:
    """The bundle that satisfies the plan's constraints, best candidates first, re-ranked after each pick."""
    pinned = [ScoredItem(it, 1.0, {}, {}) for i in plan.pinned if (it := retriever.item(i))]
    asm = assemble(scores.ranked, plan.constraints, size=plan.size, grow=plan.grow, pinned=pinned,
                   needs=bundle_needs(plan),
                   rejected=plan.rejected, like=[it for i in plan.replacing if (it := retriever.item(i))],
                   prefer=plan.prefer, slot_max_price=plan.slot_max_price, slot_min_price=plan.slot_min_price,
                   rescore=_rescorer(retriever, plan, shopper, pool.gathered),
                   known=lambda term: retriever.lexicon.knows(term),  # fit on first use: only when a term is named
                   shop=ShopFacts(retriever.kind, retriever.shop_kinds(), retriever.associations),
                   asked=" ".join([plan.query, plan.extra_query, *plan.constraints.must_have]))
    asm.items = _in_slots(asm.items, plan.slots)
    if plan.note:
        asm.message = " ".join(filter(None, [plan.note, asm.message]))
    return _result(retriever, asm, plan, scores.ranked, pool.history)


def bundle_needs(plan: TurnPlan) -> list[str]:
    """The gathering's needs the bundle should cover (``optimize.NEED_VALUE``), none when the shopper says how
    many things they want: then their count is the plan, and "4 things for my shop: cake stands & baking" is
    a restock, not a baking day to equip (on the budget suite's dev requests covering the needs there cost
    bundle precision)."""
    return plan.ideas if plan.ideas_are_kinds and plan.constraints.size is None else []


def _rescorer(retriever: ShopRetriever, plan: TurnPlan, shopper: str | None, turn_pool: Any) -> Any:
    def run(pool: list[ScoredItem], chosen: list[Item]) -> list[ScoredItem]:
        # the turn's pool: the Retriever re-ranks in numpy, nothing is embedded or read per pick
        fresh = {s.item.id: s for s in retriever.rescore(pool, plan.query, shopper=shopper, chosen=chosen,
                                                          pool=turn_pool)}
        # keep the fused order's scale: add the complement/substitute change the reranker sees
        return [ScoredItem(s.item, s.score + _delta(s, fresh.get(s.item.id)), s.breakdown,
                           {**s.evidence, **(fresh[s.item.id].evidence if s.item.id in fresh else {})})
                for s in pool]
    return run


def _delta(old: ScoredItem, new: ScoredItem | None) -> float:
    if new is None:
        return 0.0
    return sum(new.breakdown.get(k, 0.0) - old.breakdown.get(k, 0.0) for k in ("complement", "substitute"))


def _in_slots(items: list[ScoredItem], slots: list[str]) -> list[ScoredItem]:
    """Keep the previous display order; new items take the places of the items they replace."""
    if not slots:
        return items
    by_id = {s.item.id: s for s in items}
    new = [s for s in items if s.item.id not in slots]
    out = []
    for i in slots:
        if i in by_id:
            out.append(by_id[i])
        elif new:
            out.append(new.pop(0))
    return out + new


def _result(retriever: ShopRetriever, asm: Assembly, plan: TurnPlan, ranked: list[ScoredItem],
            history: list[tuple[Item, Event]]) -> BundleResult:
    c = plan.constraints
    # a reason may only name an item the shopper sees: one in the bundle or in their history
    known = {s.item.id for s in asm.items} | {it.id for it, _ in history}

    def title_of(item_id: str) -> str | None:
        it = retriever.item(item_id) if item_id in known else None
        return it.title if it else None

    def reason(s: ScoredItem) -> str:
        term = next((m for m in c.must_have if matches_term(s.item.title, m)), None)
        key, fill = ("asked", {"term": term}) if term else reason_of(s, plan.query, title_of)
        return messages.reason(plan.lang, key, fill)

    lines = [BundleLine(id=s.item.id, title=s.item.title, price=s.item.price, currency=s.item.currency or c.currency,
                        reason=reason(s),
                        quantity=asm.quantity(s.item.id),
                        category=s.item.category_path, image_url=s.item.image_url, score=round(s.score, 6),
                        breakdown=dict(s.breakdown)) for s in asm.items]
    return BundleResult(items=lines, total=asm.total, currency=c.currency, constraints=c,
                        ranked=[s.item.id for s in ranked[:RANKED_N]], message=asm.message, unmet=asm.unmet)


