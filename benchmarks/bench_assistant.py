"""Per-stage latency of the assistant on the demo shop (p50/p95 over >= 50 varied requests), decode speed of
the pipeline vs a raw ``model.generate`` on the same prompt, and peak memory.

    BUNDLEBOT_HOME=... .venv/bin/python benchmarks/bench_assistant.py --shop demo [--explain-n 50]

Stages (from ``BundleResult.timings_ms``): parse, retrieve (vector search + complements + rerank),
llm_scoring (one forward pass over the lettered top-K), assemble (incl. complementarity rescoring),
bundle (everything before the explanation), first_token (turn start -> first explanation token),
turn (the whole turn). ``rerank`` is timed separately: one ``Retriever.rescore`` over the candidates.
Targets on a 2-core CPU: bundle <= 300 ms, first token <= 1.0 s, full turn <= 5 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REQUESTS = [
    "hosting a tea party for six, budget £25", "birthday gift for my mum under £20", "christmas decorations, £30",
    "a picnic for four, no plastic", "baking things for a kids party, under £15", "3 things for a housewarming",
    "something for the garden, between 10 and 25 pounds", "wedding gift, no candles, max 40",
    "stocking fillers for kids, £10", "a few gifts for my sister, nothing pink", "dinner party for 8 people",
    "vintage kitchen bits under £12", "a baby shower present", "tea towels and mugs, about 15 pounds",
    "halloween party for 10 kids", "valentine's gift for my wife, £25", "easter treats, no chocolate",
    "gift for my dad, no socks or ties", "a cosy night in, candles and blankets", "something for a new home, £50",
    "lunch box set for school", "retirement gift for a colleague under £30", "5 items for a bbq",
    "cake stand and napkins for afternoon tea", "gift wrap and cards, under £5", "hot water bottle gift",
    "party bunting and balloons", "jewellery box for my niece", "doorstop and coat hooks, £20",
    "a thank you present for a teacher, £10", "a gift for my boss, not too expensive",
    "must include a teapot, a tea party under £30", "christmas present with a card, £15",
    "storage tins for the kitchen", "children's tea set", "a romantic dinner, two candles and glasses",
    "anniversary present, between 20 and 40", "a few things for my grandma", "picnic blanket and cups",
    "garden party for twelve, budget £60", "a gift for my friend who likes cats", "paper party plates, no plastic",
    "something under £3", "lanterns for the garden, max £25", "retrospot kitchen things",
    "shopping bags, nothing red", "a gift set for a new baby under £20", "photo frames, 3 things",
    "a secret santa gift, £10", "office desk things, no more than 15 pounds", "a hen party, 6 things",
    "christmas tree decorations without glass",
]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))] if xs else float("nan")


def machine() -> str:
    try:
        from benchmarks._machine import describe  # written by the retrieval work, if present

        return describe()
    except Exception:  # noqa: BLE001 - the helper is optional
        import torch

        return (f"{platform.platform()} | python {platform.python_version()} | {os.cpu_count()} CPUs | "
                f"torch {torch.__version__} ({torch.get_num_threads()} threads)")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def shoppers(n: int) -> list[str]:
    from bundlebot.config import load_config
    from retrieval.importers import load_source

    data = load_source("online-retail", load_config().data_path)
    return sorted({b.shopper_id for b in data.test if b.shopper_id})[:n]


def run(bot, requests: list[str], who: list[str], explain: bool) -> dict[str, list[float]]:
    stages: dict[str, list[float]] = {}
    for i, req in enumerate(requests):
        t0 = time.perf_counter()
        bundle_ms = None
        for ev in bot.turn_stream(req, shopper=who[i % len(who)] if i % 3 else None, explain=explain):
            if ev.type == "bundle":
                bundle_ms = (time.perf_counter() - t0) * 1000
            if ev.type == "done":
                for k, v in ev.data["result"]["timings_ms"].items():
                    stages.setdefault(k, []).append(v)
                if explain:  # who wrote what the shopper read: the model (checked) or the fallback
                    res = ev.data["result"]
                    source = res.get("explanation_source") or "?"
                    source += " (whole)" if source == "model" and not res.get("problems") else \
                        " (part)" if source == "model" else ""
                    stages.setdefault(f"source:{source}", []).append(1.0)
            if ev.type == "error":
                print("error:", req, ev.data, file=sys.stderr)
        if bundle_ms is not None:
            stages.setdefault("bundle", []).append(bundle_ms)
    return stages


def rerank_ms(bot, requests: list[str]) -> list[float]:
    out = []
    for req in requests[:20]:
        cands = bot.retriever.candidates(req, k=40)
        t = time.perf_counter()
        bot.retriever.rescore(cands, req, chosen=[cands[0].item] if cands else [])
        out.append((time.perf_counter() - t) * 1000)
    return out


def decode_speed(bot, n_tokens: int = 60) -> tuple[float, float]:
    """(pipeline stream tok/s, raw model.generate tok/s) on the same explanation prompt, same run."""
    import torch

    result, _ = bot.turn(REQUESTS[0], explain=False)
    from assistant.explain import explain_messages

    msgs = explain_messages(result.constraints.query, result.items, currency=result.constraints.currency)
    gen = bot.writer  # the model that writes explanations
    ids = gen.encode(msgs)
    t, first, pieces = time.perf_counter(), None, []
    for piece in gen.stream(msgs, n_tokens):
        first = first or time.perf_counter()
        pieces.append(piece)
    end = time.perf_counter()
    n_out = len(gen.tokenizer.encode("".join(pieces), add_special_tokens=False))
    pipe = (n_out - 1) / (end - first) if first and n_out > 1 else float("nan")
    if getattr(gen, "model", None) is None:  # llama.cpp: no transformers model here (bench_runtime compares)
        return pipe, float("nan")
    x = torch.tensor([ids])
    with torch.inference_mode():
        gen.model.generate(x, max_new_tokens=2, do_sample=False)  # warm
        t = time.perf_counter()
        out = gen.model.generate(x, max_new_tokens=n_out, min_new_tokens=n_out, do_sample=False)
        raw_s = time.perf_counter() - t
    t = time.perf_counter()
    with torch.inference_mode():
        gen.model.generate(x, max_new_tokens=1, do_sample=False)
    prefill_s = time.perf_counter() - t
    raw = (out.shape[1] - len(ids) - 1) / max(1e-9, raw_s - prefill_s)
    return pipe, raw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shop", default="demo")
    ap.add_argument("--n", type=int, default=len(REQUESTS), help="requests for the bundle-only pass")
    ap.add_argument("--explain-n", type=int, default=len(REQUESTS), help="requests for the full-turn pass")
    ap.add_argument("--config", default=None)
    ap.add_argument("--fusion", action="store_true", help="fuse the LLM's scores in both passes (the config's "
                                                          "assistant.fusion otherwise: off by default)")
    args = ap.parse_args()
    from assistant.service import ShoppingAssistant
    from bundlebot.config import load_config

    cfg = load_config(args.config)
    cfg.assistant.fusion = cfg.assistant.fusion or args.fusion
    print("machine:", machine())
    print("load average at the start:", load_average())
    t = time.perf_counter()
    bot = ShoppingAssistant(cfg, args.shop)
    bot.warm()  # what the first turn would load (the scorer only with fusion), outside the timings
    bot.turn("warm up: tea party", explain=True)
    print(f"load + warm-up: {time.perf_counter() - t:.1f} s; writer {bot.writer.info}")
    who = shoppers(30)
    reqs = (REQUESTS * 2)[: args.n]
    report(run(bot, reqs, who, explain=False), f"bundle only (explain off, fusion {cfg.assistant.fusion})")
    print(f"rerank (Retriever.rescore, 40 candidates): p50 {pct(rerank_ms(bot, reqs), .5):.1f} ms")
    report(run(bot, (REQUESTS * 2)[: args.explain_n], who, explain=True), "full turn (model explanation)")
    pipe, raw = decode_speed(bot)
    print(f"decode: pipeline {pipe:.1f} tok/s vs raw model.generate {raw:.1f} tok/s (ratio {pipe / raw:.2f})")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print("load average at the end:", load_average())


def report(stages: dict[str, list[float]], title: str) -> None:
    n = len(stages.get("total", []))
    print(f"\n{title}: {n} requests")
    print(f"{'stage':<14}{'p50 ms':>10}{'p95 ms':>10}")
    for k in ("parse", "retrieve", "llm_scoring", "assemble", "bundle", "first_token", "explain", "total"):
        if stages.get(k):
            print(f"{k:<14}{pct(stages[k], .5):>10.1f}{pct(stages[k], .95):>10.1f}")
    sources = {k.split(":", 1)[1]: len(v) for k, v in stages.items() if k.startswith("source:")}
    if sources:
        print("explanation shown: " + ", ".join(f"{k} {v}" for k, v in sorted(sources.items())))


if __name__ == "__main__":
    main()
