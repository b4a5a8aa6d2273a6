"""Bundle assembly benchmark: the served ``build`` stage's assembly, exact optimisation against the greedy path.

For the hand-written occasion requests of a shop (evaluation/suites/occasions.jsonl: budgets, head counts,
named kinds), each request's pool and fused scores are computed once (the reranker alone, no LLM), then
``assistant.assemble.assemble`` is timed as ``turn.build`` calls it (the plan's ideas and needs, its room to grow
by a few items): with the optimisation (the default) and
with ``optimise=False`` (the greedy path, also the fallback). Also prints how often the two differ, the
solver's own share of the time and the budget use of each.

    .venv/bin/python benchmarks/bench_assemble.py --shop demo --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._machine import print_machine  # noqa: E402
from bundlebot.config import load_config  # noqa: E402

SUITE = ROOT / "evaluation" / "suites" / "occasions.jsonl"


def _requests(shop: str) -> list[str]:
    cases = [json.loads(line) for line in SUITE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [c["turns"][0] for c in cases if c.get("shop", shop) == shop]


def _pct(vals: list[float], q: float) -> float:
    return sorted(vals)[int(q * (len(vals) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shop", default="demo")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print_machine()

    import assistant.optimize as optimize
    from assistant.assemble import ShopFacts, assemble
    from assistant.turn import bundle_needs, first_plan, gather, score
    from retrieval.search import Retriever

    cfg = load_config(None)
    cfg.assistant.fusion = False
    r = Retriever.open(cfg, args.shop)
    shop = ShopFacts(r.kind, r.shop_kinds(), r.associations)
    solve, solver_ms = optimize.solve, []

    def timed_solve(p: optimize.Problem) -> list[int] | None:
        t0 = time.perf_counter()
        out = solve(p)
        solver_ms.append((time.perf_counter() - t0) * 1000)
        return out

    optimize.solve = timed_solve  # type: ignore[assignment]
    rows: dict[str, list[float]] = {"optimised": [], "greedy": []}
    use: dict[str, list[float]] = {"optimised": [], "greedy": []}
    differ, n_cands = 0, []
    for text in _requests(args.shop):
        plan = first_plan(text, cfg.assistant, known=r.lexicon.knows)
        pool = gather(r, plan, None)
        ranked = score(lambda: None, cfg.assistant, plan, pool).ranked
        n_cands.append(len(ranked))
        asked = " ".join([plan.query, *plan.constraints.must_have])
        got = {}
        for name, optimise in (("optimised", True), ("greedy", False)):
            run = partial(assemble, ranked, plan.constraints, size=plan.size, shop=shop, asked=asked,
                          optimise=optimise, grow=plan.grow, needs=bundle_needs(plan))
            got[name] = run()
            t0 = time.perf_counter()
            for _ in range(args.repeat):
                run()
            rows[name].append((time.perf_counter() - t0) * 1000 / args.repeat)
            if plan.constraints.budget and got[name].total is not None:
                use[name].append(got[name].total / plan.constraints.budget)
        differ += [s.item.id for s in got["optimised"].items] != [s.item.id for s in got["greedy"].items]
    print(f"\nshop {args.shop}: {len(n_cands)} occasion requests, candidates median {statistics.median(n_cands):.0f}, "
          f"{args.repeat} repeats each; bundles differ in {differ}")
    for name, vals in rows.items():
        print(f"  {name:<10} assembly p50 {statistics.median(vals):7.2f} ms   p95 {_pct(vals, 0.95):7.2f} ms   "
              f"median total/budget {statistics.median(use[name]):.2f}")
    print(f"  solver alone (scipy milp / HiGHS) p50 {statistics.median(solver_ms):.2f} ms   "
          f"p95 {_pct(solver_ms, 0.95):.2f} ms")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
