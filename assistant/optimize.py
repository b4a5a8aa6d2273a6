"""The bundle as a small exact optimisation: which of the best candidates to take, all at once.

A mixed-integer program over the ``WINDOW`` best candidates (``scipy.optimize.milp``, HiGHS), one binary
``x_i`` per candidate:

    maximise  sum_i (FILL + v_i) x_i + sum_{i<j} w_ij x_i x_j - crowding - shortfall_weight * s / budget
              - (FILL + EXTRA_COST) e
    s.t.      sum_i x_i <= slots + e,  0 <= e <= extra  (size; ``extra`` items more may fill the budget)
              sum_i cost_i x_i <= budget                (hard: price x quantity)
              sum_i r_i cost_i x_i + s >= floor,  s >= 0  (soft: "about £25" -> at least £20; "under £30" -> £18)
              sum_{i in g} x_i <= 1                     (one per kind, no two near-duplicates)
              sum_{i in r} x_i >= 1                     (a kind the request names)
              x_a <= sum_{m main} x_m                   (an accessory the request does not name needs a main item)
              z_k <= sum_{i in n_k} x_i,  0 <= z_k <= 1    (a gathering's k-th need is covered), + sum_k u_k z_k

``v_i`` is the candidate's fused score with the caller's bonuses and penalties (a set that covers the party,
a per-person kind, an accessory that waits); ``w_ij`` its complementarity with ``j``: co-purchase in train
baskets, item level or kind level (``Kinds.together``), divided by the bundle's size - 1 so that a bundle's
complementarity is what each item adds on average; it is linearised with ``y_ij <= x_i, y_ij <= x_j`` and
``sum_j y_ij <= (slots - 1) x_i``, which keeps the relaxation tight. ``crowding``: every two items of one
category cost ``DIVERSITY_PENALTY`` (one count variable per step, exact because the cost is convex).
``FILL`` outweighs every other term, so the bundle holds as many items as fit before anything else counts:
a slot left empty is never the price of a better score. Ties are broken by candidate order (best score,
then item id) with a tiny per-rank epsilon, so the same request gets the same bundle in every process.

Filling the budget. ``r_i`` is the candidate's score over the window's best, in [0, 1], to the power
``SPEND_POWER``: money counts towards the floor as far as it buys what the request is about. A barbecue's
best candidates are all cheap (£0.85 napkins, £1.70 of plates for eight); counting every pound alike, a
£4.95 butter dish scoring a twentieth of the best beat the plates, because it closed more of the floor than
the plates' score was worth. An item beyond ``slots`` (at most ``extra`` of them, when the size is the
default and not the shopper's) earns no ``FILL`` and costs ``EXTRA_COST``: it comes only when its score and
what it brings towards the floor are worth more than that, so a short bundle grows by a fifth thing rather
than trading its paper cups for something dearer.

A gathering's needs (``gatherings.NEEDS``: a tea party's teapot, cups, cake stand, plates, likeliest
first) count once each, whichever candidate covers them, by ``NEED_VALUE`` times their place in the list
(the first the most): a cake stand the ranker likes better than the cups does not push the cups out of a
tea party for six, and a second plate adds nothing to the first.

>>> p = Problem(value=np.array([0.9, 0.8, 0.5]), cost=np.array([12.0, 9.0, 8.0]), slots=2, budget=20.0,
...             groups=[[0, 1]])
>>> solve(p)
[0, 2]
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.quantities import set_bonus
from assistant.rules import DIVERSITY_PENALTY, EPS, Kinding, ShopFacts, clashes, is_substitute, kind_group
from assistant.types import Constraints
from retrieval.types import Item, ScoredItem

log = logging.getLogger(__name__)

FILL = 20.0
"""Objective weight of one more item: more than dropping an item could ever gain (a few scores of at most ~2
each, and at most ``SHORTFALL_STATED`` of the floor). Kept this small because HiGHS stops at a relative gap
of 1e-4 of the objective: with 4 items the answer is optimal to within 0.01 of one item's score."""
EXTRA_COST = 0.5
"""What an item beyond the bundle's size must bring, its score plus what it closes of the floor: about half a
good candidate's score. On the occasions dev cases 0.5 passed a need more than 1.0 and no check fewer."""
TIE_EPS = 1e-6
TIME_LIMIT_S = 0.5
"""HiGHS stops here (the window keeps real problems in milliseconds); then the caller's greedy path runs."""
WINDOW = 24
"""Candidates the optimisation chooses among: the best ones. HiGHS's cost is mostly fixed per model size:
40 candidates took 50 ms p50 on the loaded 2-core machine, 24 about 40 (BENCHMARKS.md)."""
SPEND_POWER = 0.5
"""How much a weak candidate's price counts towards the floor (``r_i``): 0 counts every pound alike, 1 in
proportion to the score. On the occasions dev cases 0.5 passed the most checks (0 and 1 each lost budget use
or the needs; EVALUATION.md)."""
WAITING = 4
"""Accessories that wait (``Kinding.waits``) in the window, beside its ``WINDOW`` others."""
PER_KIND = 3
"""Candidates of one kind in the window: one is taken, the others are its upgrades."""
COMPLEMENT = 0.5
"""Weight of a pair's co-purchase association (the reranker's own complement weight)."""
KIND_TOGETHER = 0.5
"""A pair of kinds bought together (``Kinds.together``) counts half an item pair's association."""
TOGETHER_N = 30
PAIRS_PER_ITEM = 6
MIN_PAIR = 0.005
"""Pairs kept for the objective: each candidate's ``PAIRS_PER_ITEM`` strongest of at least this weight."""
ACCESSORY_WAIT = 3.0
"""An accessory the request does not name is worth this much less: it fills only a slot nothing else can."""
NEED_VALUE = 1.0
"""What covering a gathering's first need is worth; the k-th of m is worth (m - k) / m of it."""
PER_PERSON_BONUS = 0.1
"""With a head count ("for six"), a per-person kind (cups, plates, napkins) is worth a little more."""
UNDER_SHARE = 0.6
"""Without a stated lower end, a budget is a soft floor at this share of it ("under £30": about £18 or more). At
half, a floor the objective trades against a little score, answers landed just under half ("£14.95 of £30")."""
SHORTFALL = 3.0
"""Objective cost of a total below the soft floor of a plain budget, per whole budget short: a 0.8 candidate
gives way to a 0.4 one that brings the total 15 % of the budget closer (never above the budget, never a slot)."""
SHORTFALL_STATED = 10.0
"""The same below a lower end the shopper stated ("about £25", "between £20 and £40"): 10 % of the budget
short costs as much as a whole item's score."""


@dataclass
class Problem:
    value: np.ndarray
    """Per candidate, what taking it is worth (score, bonuses, penalties)."""
    cost: np.ndarray
    """Per candidate, price x quantity (0 without a budget)."""
    slots: int
    spend: np.ndarray | None = None
    """Per candidate, what its cost brings towards the floor (``r_i cost_i``; None: its whole cost)."""
    budget: float | None = None
    """What is left of the budget after the fixed items (None: no budget)."""
    floor: float | None = None
    """The soft lower end of the total, after the fixed items."""
    shortfall_weight: float = 0.0
    """Objective cost of missing the floor by the whole budget."""
    groups: list[list[int]] = field(default_factory=list)
    """Sets of candidates of which at most one may be taken."""
    required: list[list[int]] = field(default_factory=list)
    """Sets of candidates of which at least one must be taken (the caller knows one fits)."""
    pairs: list[tuple[int, int, float]] = field(default_factory=list)
    """(i, j, w > 0): taking both adds ``w``."""
    crowds: list[tuple[list[int], int, float]] = field(default_factory=list)
    """(members, already, penalty): every two items of one category, counting ``already`` fixed ones, cost
    ``penalty`` (the m-th extra item costs m x penalty: convex, so a count variable per step is exact)."""
    needs_main: list[int] = field(default_factory=list)
    """Candidates allowed only with a main item among ``mains``."""
    mains: list[int] = field(default_factory=list)
    extra: int = 0
    """Items allowed beyond ``slots``, each without ``FILL`` and at ``EXTRA_COST`` (only with a floor)."""
    covers: list[tuple[list[int], float]] = field(default_factory=list)
    """(members, u > 0): taking at least one of ``members`` adds ``u`` once (a gathering's need)."""


class _Rows:
    """A sparse constraint matrix, row by row."""

    def __init__(self) -> None:
        self.r: list[int] = []
        self.c: list[int] = []
        self.v: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, cols: list[int], vals: list[float], lo: float, hi: float) -> None:
        row = len(self.lo)
        self.r += [row] * len(cols)
        self.c += cols
        self.v += vals
        self.lo.append(lo)
        self.hi.append(hi)


def solve(p: Problem) -> list[int] | None:
    """The indices of the optimal bundle, in candidate order; None when the solver proves no optimum in
    ``TIME_LIMIT_S`` (the caller then assembles greedily)."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix

    n = len(p.value)
    if n == 0 or p.slots <= 0:
        return []
    # the t-th candidate taken of a category has (already + t - 1) companions there; the first is free
    use_floor = p.floor is not None and p.floor > 0 and p.budget is not None and p.budget > 0
    extra = p.extra if use_floor else 0
    most = p.slots + extra
    steps = [[pen * (already + t - 1) for t in range(2 if already == 0 else 1, min(len(members), most) + 1)]
             for members, already, pen in p.crowds]
    y0, u0 = n, n + len(p.pairs)
    s_col = u0 + sum(len(st) for st in steps)
    e_col = s_col + 1
    z0 = e_col + 1
    width = z0 + len(p.covers)
    obj = np.zeros(width)
    obj[:n] = -(FILL + p.value - TIE_EPS * np.arange(n))
    obj[y0:u0] = [-w for *_, w in p.pairs]
    obj[u0:s_col] = [cost for st in steps for cost in st]
    if use_floor:
        obj[s_col] = p.shortfall_weight / float(p.budget)  # type: ignore[arg-type]
    obj[e_col] = FILL + EXTRA_COST
    obj[z0:] = [-u for _, u in p.covers]
    rows = _Rows()
    everyone = list(range(n))
    rows.add([*everyone, e_col], [1.0] * n + [-1.0], -np.inf, p.slots)
    if p.budget is not None:
        rows.add(everyone, [float(x) for x in p.cost], -np.inf, p.budget + 1e-9)
    if use_floor:
        spend = p.cost if p.spend is None else p.spend
        rows.add([*everyone, s_col], [*(float(x) for x in spend), 1.0], float(p.floor), np.inf)  # type: ignore[arg-type]
    for g in p.groups:
        if len(g) > 1:
            rows.add(g, [1.0] * len(g), -np.inf, 1.0)
    for g in p.required:
        if g:
            rows.add(g, [1.0] * len(g), 1.0, np.inf)
    partners: dict[int, list[int]] = {}
    for k, (i, j, _) in enumerate(p.pairs):
        rows.add([y0 + k, i], [1.0, -1.0], -np.inf, 0.0)
        rows.add([y0 + k, j], [1.0, -1.0], -np.inf, 0.0)
        partners.setdefault(i, []).append(y0 + k)
        partners.setdefault(j, []).append(y0 + k)
    for i, ys in partners.items():  # an item has at most slots - 1 partners: keeps the relaxation tight
        if len(ys) > most - 1:
            rows.add([*ys, i], [1.0] * len(ys) + [-(most - 1.0)], -np.inf, 0.0)
    at = u0
    for (members, already, _), st in zip(p.crowds, steps, strict=True):
        if st:  # the members taken beyond the free first one are paid for, cheapest step first (convex)
            rows.add([*members, *range(at, at + len(st))], [1.0] * len(members) + [-1.0] * len(st), -np.inf,
                     1.0 if already == 0 else 0.0)
            at += len(st)
    for a in p.needs_main:
        others = [m for m in p.mains if m != a]
        rows.add([a, *others], [1.0, *([-1.0] * len(others))], -np.inf, 0.0)
    for k, (members, _) in enumerate(p.covers):
        rows.add([z0 + k, *members], [1.0, *([-1.0] * len(members))], -np.inf, 0.0)
    a_mat = csr_matrix((rows.v, (rows.r, rows.c)), shape=(len(rows.lo), width))
    integrality = np.zeros(width)
    integrality[:n] = 1
    ub = np.ones(width)
    ub[s_col] = np.inf if use_floor else 0.0
    ub[e_col] = extra
    res = milp(obj, constraints=LinearConstraint(a_mat, np.array(rows.lo), np.array(rows.hi)),
               integrality=integrality, bounds=Bounds(np.zeros(width), ub),
               options={"time_limit": TIME_LIMIT_S})
    if res.x is None or res.status != 0:
        log.warning("bundle optimisation gave no optimum (%s); assembling greedily", res.message)
        return None
    return [i for i in range(n) if res.x[i] > 0.5]


def choose(fixed: list[ScoredItem], named: list[ScoredItem], pool: list[ScoredItem], c: Constraints, size: int,
            kinds: Kinding, shop: ShopFacts, grow: int = 0, needs: Sequence[str] = ()) -> list[ScoredItem] | None:
    """``fixed`` (pinned, must-haves) plus the best rest of the bundle, chosen at once among the ``WINDOW``
    best candidates (``assistant.optimize``); each kind of ``named`` (the request's kinds' best candidates)
    stays in it, maybe as a dearer item of that kind; ``grow`` more items may come to reach the budget's floor
    (``Problem.extra``); ``needs``: a gathering's needs, likeliest first, that ``fixed`` does not cover yet
    (``Problem.covers``). None when the solver fails: then assembly is greedy."""
    spent = sum(kinds.cost(s.item) for s in fixed)
    budget = None if c.budget is None else c.budget - spent
    needs = [n for n in needs if not any(kinds.is_a(s.item, n) for s in fixed)]
    window = _window(fixed, named, pool, c, kinds, budget, needs)
    if size - len(fixed) <= 0 or not window:
        return fixed
    try:
        picks = solve(_problem(fixed, named, window, c, kinds, shop, size - len(fixed), budget, spent, grow,
                               needs))
    except (ImportError, ValueError, RuntimeError) as exc:  # no scipy, or HiGHS refusing the problem
        log.warning("bundle optimisation failed (%s); assembling greedily", exc)
        return None
    if picks is None:
        return None
    # main items best first, then the accessories added on
    return fixed + sorted((window[i] for i in picks), key=lambda s: kinds.waits(s.item))


def _window(fixed: list[ScoredItem], named: list[ScoredItem], pool: list[ScoredItem], c: Constraints,
            kinds: Kinding, budget: float | None, needs: Sequence[str] = ()) -> list[ScoredItem]:
    """The candidates the optimisation chooses among: the best ``WINDOW`` that fit beside ``fixed`` alone,
    at most ``PER_KIND`` of a kind, best score first and ties by id; every ``named`` one and the best of each
    of ``needs``; and besides them at most ``WAITING`` accessories that wait, so that wrapping ranked first
    does not leave the window with no main item to wrap."""
    def fits(s: ScoredItem) -> bool:
        return (budget is None or kinds.cost(s.item) <= budget + EPS) and not clashes(s, fixed, c, kinds)

    ranked = sorted(pool, key=lambda s: (-s.score, s.item.id))
    names = {s.item.id for s in named}
    names |= {s.item.id for n in needs if (s := next((s for s in ranked if kinds.is_a(s.item, n) and fits(s)),
                                                     None))}
    out, per_kind, waiting = [], Counter[str](), 0
    for s in sorted([*named, *pool], key=lambda s: (s.item.id not in names, -s.score, s.item.id)):
        if not fits(s):
            continue
        k, waits = kinds.of(s.item), kinds.waits(s.item)
        if s.item.id not in names and (len(out) - waiting >= WINDOW or (waits and waiting >= WAITING)
                                       or (k is not None and per_kind[k[0]] >= PER_KIND)):
            continue
        per_kind[k[0] if k else ""] += 1
        waiting += waits
        out.append(s)
    return sorted(out, key=lambda s: (-s.score, s.item.id))


def _problem(fixed: list[ScoredItem], named: list[ScoredItem], window: list[ScoredItem], c: Constraints,
             kinds: Kinding, shop: ShopFacts, slots: int, budget: float | None, spent: float,
             extra: int = 0, needs: Sequence[str] = ()) -> Problem:
    n, f = len(window), len(fixed)
    items = [s.item for s in window]
    value = np.array([s.score + set_bonus(people=c.people, pack=kinds.pack(it))
                      + (PER_PERSON_BONUS if c.people and kinds.per_person(it) else 0.0)
                      - (ACCESSORY_WAIT if kinds.waits(it) else 0.0) for s, it in zip(window, items, strict=True)])
    pair = _pair_weights([s.item for s in fixed] + items, kinds, shop) / max(slots + f - 1, 1)
    value += pair[:f, f:].sum(axis=0)  # what each candidate adds to the fixed items
    inner = pair[f:, f:]
    keep = np.zeros_like(inner, dtype=bool)
    for i in range(n):  # each candidate's strongest partners only: the rest hardly moves a bundle of a few
        top = np.argsort(-inner[i], kind="stable")[:PAIRS_PER_ITEM]
        keep[i, top[inner[i, top] >= MIN_PAIR]] = True
    keep |= keep.T
    pairs = [(int(i), int(j), float(inner[i, j])) for i, j in zip(*np.nonzero(np.triu(keep, 1)), strict=True)]
    cats: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        if it.category:
            cats.setdefault(it.category[-1], []).append(i)
    held = Counter(s.item.category[-1] for s in fixed if s.item.category)
    crowds = [(members, held[cat], DIVERSITY_PENALTY) for cat, members in cats.items()]
    target = c.budget_min if c.budget_min is not None else (UNDER_SHARE * c.budget if c.budget is not None else None)
    waiting = [i for i, it in enumerate(items) if kinds.waits(it)]
    has_main = any(not kinds.waits(s.item) for s in fixed)
    cost = np.array([kinds.cost(it) for it in items])
    best = max((s.score for s in window), default=0.0)
    share = np.array([min(max(s.score / best, 0.0), 1.0) if best > 0 else 1.0 for s in window]) ** SPEND_POWER
    covers = [(members, NEED_VALUE * (len(needs) - k) / len(needs)) for k, n in enumerate(needs)
              if (members := [i for i, it in enumerate(items) if kinds.is_a(it, n)])]
    return Problem(value=value, cost=cost, spend=cost * share, slots=slots, extra=extra, budget=budget,
                   covers=covers,
                   floor=None if target is None else target - spent,
                   shortfall_weight=SHORTFALL if c.budget_min is None else SHORTFALL_STATED,
                   groups=_groups(window, c, kinds), pairs=pairs, crowds=crowds,
                   required=[[i for i, it in enumerate(items) if kinds.same(it, s.item) or it.id == s.item.id]
                             for s in named],
                   needs_main=[] if has_main else waiting, mains=[i for i in range(n) if i not in waiting])


def _groups(window: list[ScoredItem], c: Constraints, kinds: Kinding) -> list[list[int]]:
    """At most one of each: a kind (unless named in the plural), two near-duplicates (unless wanted)."""
    if c.similar_ok:
        return []
    items = [s.item for s in window]
    by_kind: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        if (k := kinds.of(it)) is not None and not kinds.named(k[0], plural=True):
            by_kind.setdefault(kind_group(k[0]), []).append(i)
    n = len(items)
    return list(by_kind.values()) + [
        [i, j] for i in range(n) for j in range(i + 1, n) if not kinds.same(items[i], items[j])
        and (is_substitute(items[i], items[j]) or window[j].evidence.get("substitute_of") == items[i].id
             or window[i].evidence.get("substitute_of") == items[j].id)]


def _pair_weights(items: list[Item], kinds: Kinding, shop: ShopFacts) -> np.ndarray:
    """(n, n): what taking both items adds, ``COMPLEMENT`` x their co-purchase association (item level; for
    two kinds, at least ``KIND_TOGETHER`` x how much their kinds are bought together)."""
    n = len(items)
    assoc = np.zeros((n, n))
    if shop.associations is not None:
        assoc = np.array(shop.associations([it.id for it in items]), dtype=float).reshape(n, n)
    names = [k[0] if (k := kinds.of(it)) else None for it in items]
    if shop.kinds is not None:
        together = {k: dict(shop.kinds.together(k, TOGETHER_N)) for k in set(names) if k}
        for i in range(n):
            for j in range(i + 1, n):
                a, b = names[i], names[j]
                if a and b and a != b:
                    w = KIND_TOGETHER * max(together[a].get(b, 0.0), together[b].get(a, 0.0))
                    assoc[i, j] = assoc[j, i] = max(assoc[i, j], w)
    np.fill_diagonal(assoc, 0.0)
    return COMPLEMENT * assoc
