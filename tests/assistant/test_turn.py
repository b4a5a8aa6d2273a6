"""The turn's own stages on the fast fakes: relevance before popularity, and the per-person search."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.companions import anchor_kind, with_companions
from assistant.quantities import per_person_items
from assistant.turn import first_plan, gather, relevant_first, score, search_pools
from bundlebot.config.assistant import AssistantConfig
from retrieval.kinds import Kinds
from retrieval.titles import WordStats
from retrieval.types import Item, ScoredItem
from tests.assistant.fakes import CATALOG, FakeRetriever

# napkins and plates come in packs here: the per-person kinds of this shop
PACKS = {"N1": ("napkin", 20), "N2": ("napkin", 12), "P1": ("paper plate", 8), "P2": ("paper plate", 6),
         "T1": ("teapot", 1), "T2": ("teapot", 1), "M1": ("mug", 1), "M2": ("mug", 1)}
ITEMS = [*CATALOG, Item("N2", "PACK OF 12 TEA PARTY NAPKINS", price=0.95, currency="GBP"),
         Item("P2", "SET/6 PAPER PLATES TEA", price=1.45, currency="GBP")]


def _kinds(together: dict[str, list[list]] | None = None) -> Kinds:
    return Kinds(WordStats.fit([]), {i: k for i, (k, _) in PACKS.items()}, {i: p for i, (_, p) in PACKS.items()},
                 {}, {k: {"role": "main"} for k, _ in PACKS.values()}, together or {})


def test_a_head_count_adds_a_search_among_the_per_person_kinds() -> None:
    kinds = _kinds()
    retriever = FakeRetriever(ITEMS, kinds=kinds)
    assert per_person_items(kinds) == ("N1", "N2", "P1", "P2")
    pools = search_pools(retriever, first_plan("a tea party for six"), None)
    assert len(pools) == 2 and pools[-1].pool.query == "tea party"  # the request's own search stays last
    k, extra, idea, _ = pools[0]
    assert k is not None and idea is None and {it.id for it in extra.items} == {"N1", "N2", "P1", "P2"}
    assert len(search_pools(retriever, first_plan("a tea party"), None)) == 1  # no head count, no companions
    assert len(search_pools(FakeRetriever(ITEMS), first_plan("a tea party for six"), None)) == 1  # no kinds


def _cand(i: int, score: float, pop: float, rel: float) -> ScoredItem:
    return ScoredItem(Item(str(i), f"item {i}"), score, {"popularity": pop, "rest": round(score - pop, 6)},
                      {"relevance": rel})


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(-1, 2), st.floats(-0.5, 1), st.floats(-0.2, 0.9)), min_size=1, max_size=30),
       st.floats(0.01, 0.3))
def test_relevance_first_only_takes_popularity_from_the_less_relevant(rows, margin) -> None:
    cands = [_cand(i, s, p, r) for i, (s, p, r) in enumerate(rows)]
    out = relevant_first(cands, margin)
    assert sorted(s.item.id for s in out) == sorted(s.item.id for s in cands)  # the same candidates, re-ordered
    assert [s.score for s in out] == sorted((s.score for s in out), reverse=True)
    rels = sorted((r for _, _, r in rows), reverse=True)
    floor = rels[min(5, len(rels)) - 1] - margin
    before = {s.item.id: s for s in cands}
    for s in out:
        old = before[s.item.id]
        cut = old.score - s.score
        assert -1e-6 <= cut <= max(old.breakdown["popularity"], 0.0) + 1e-6  # at most its popularity share
        if old.evidence["relevance"] >= floor:
            assert abs(cut) < 1e-6  # relevant enough: untouched
        if old.evidence["relevance"] <= floor - margin:
            assert abs(cut - max(old.breakdown["popularity"], 0.0)) < 1e-5  # far below: all of it
        assert abs(sum(s.breakdown.values()) - s.score) < 1e-5  # the breakdown still adds up to the score


def test_relevance_first_is_off_at_zero_and_without_cosines() -> None:
    cands = [_cand(0, 1.0, 0.9, 0.1), *[_cand(i, 0.5, 0.0, 0.6) for i in range(1, 6)]]
    assert relevant_first(cands, 0.0) is cands
    bare = [ScoredItem(Item("a", "a"), 1.0, {"popularity": 1.0})]
    assert relevant_first(bare, 0.15) is bare
    assert relevant_first(cands, 0.15)[0].item.id == "1"  # the best seller of cosine 0.1 no longer leads


def test_the_kinds_bought_with_the_anchor_kind_are_searched_and_gain_in_the_ranking() -> None:
    # the shop's baskets buy mugs with teapots; nothing in "a teapot for my mum" says mug
    kinds = _kinds({"teapot": [["mug", 0.6], ["napkin", 0.2]]})
    retriever = FakeRetriever(ITEMS, kinds=kinds)
    plan = first_plan("a teapot for my mum", AssistantConfig(companion_bonus=0.3))
    assert len(search_pools(retriever, first_plan("a teapot for my mum"), None)) == 1  # off by default
    pools = search_pools(retriever, plan, None)
    assert plan.anchor == "teapot" and plan.companions == {"mug": 0.6, "napkin": 0.2}
    assert {it.id for it in pools[0].pool.items} == {"M1", "M2", "N1", "N2"}  # the companions' items, searched
    pool = gather(retriever, plan, None)
    assert pool.companion == {"M1": 0.6, "M2": 0.6, "N1": 0.2, "N2": 0.2}
    cfg = AssistantConfig(fusion=False, relevance_margin=0.0, companion_bonus=0.3)
    plain = score(lambda: None, AssistantConfig(fusion=False, relevance_margin=0.0, companion_bonus=0.0), plan, pool)
    ranked = score(lambda: None, cfg, plan, pool)
    gain = {s.item.id: s.breakdown.get("companion", 0.0) for s in ranked.ranked}
    assert gain["M1"] == gain["M2"] == round(cfg.companion_bonus * 0.6, 6) and gain["T1"] == 0.0
    pos = {s.item.id: i for i, s in enumerate(ranked.ranked)}
    before = {s.item.id: i for i, s in enumerate(plain.ranked)}
    assert pos["M1"] < before["M1"]  # the mug moved up


def test_no_kinds_no_anchor() -> None:
    retriever = FakeRetriever(ITEMS)
    plan = first_plan("a teapot for my mum", AssistantConfig(companion_bonus=0.3))
    assert len(search_pools(retriever, plan, None)) == 1 and plan.anchor is None and not plan.companions
    assert anchor_kind(None, None) is None


def test_a_companion_far_from_the_request_gains_nothing() -> None:
    near = ScoredItem(Item("c", "paper cups"), 0.3, {}, {"relevance": 0.5})
    mid = ScoredItem(Item("m", "paper plates"), 0.3, {}, {"relevance": 0.35})
    far = ScoredItem(Item("x", "christmas cracker"), 0.3, {}, {"relevance": 0.1})
    out = {s.item.id: s.score for s in with_companions([near, mid, far], {"c": 0.5, "m": 0.5, "x": 0.5}, 0.4,
                                                      floor=0.4, margin=0.1)}
    assert out == {"c": 0.5, "m": 0.4, "x": 0.3}  # all of it at the floor, half halfway, none a margin below
