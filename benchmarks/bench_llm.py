"""Benchmark of the generator layer (assistant/llm.py) with the real default model, fp32 vs bf16.

Prints: load time (GGUF dequantization vs the converted cache dir), 400-token prefill, greedy decode
tokens/s of the pipeline vs a raw ``model.generate`` on the same prompt, choice-scoring latency for 12
lettered candidates (with and without the system-prompt KV cache), bf16-vs-fp32 agreement on real prompts
(choice argmax, probability differences, greedy text), and peak RSS.

Prompts are built from real Online Retail catalog rows (../shared/data) through the real prompt files.

    .venv/bin/python benchmarks/bench_llm.py [--home DIR] [--no-gguf] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REQUESTS = [  # (request, keyword that finds fitting catalog rows)
    ("hosting a tea party for six, about £25", "TEA"),
    ("a christmas gift for my gran under £15", "CHRISTMAS"),
    ("decorations for a kid's birthday party", "PARTY"),
    ("baking supplies for a cake sale", "CAKE"),
    ("a cosy present for a friend who loves candles", "CANDLE"),
]


def print_machine() -> None:
    try:
        from benchmarks._machine import print_machine as show
    except ImportError:
        import torch

        print(f"## machine\n- {platform.platform()} {platform.processor()} cores={os.cpu_count()} "
              f"torch={torch.__version__}\n")
        return
    show()
    import torch

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else "flags: "
    flags = cpuinfo.split("flags", 2)[1].split("\n")[0]
    print(f"- torch threads: {torch.get_num_threads()}; cpu bf16 flags: "
          f"{[f for f in ('avx512_bf16', 'amx_bf16', 'avx512f', 'avx2') if f in flags.split()]}\n")


def real_candidates(n: int = 12):
    """For each request: 12 real catalog items, half matching its keyword, half popular others (fixed)."""
    import pandas as pd

    from bundlebot.paths import default_data_dir
    from retrieval.types import Item

    df = pd.read_parquet(default_data_dir() / "online_retail/online_retail_2010_2011.parquet",
                         columns=["StockCode", "Description", "UnitPrice"]).dropna()
    rows = df[df.UnitPrice > 0].groupby("StockCode").agg(title=("Description", "first"), price=("UnitPrice", "median"),
                                                          count=("UnitPrice", "size"))
    rows = rows.sort_values("count", ascending=False)
    out = []
    for i, (_, kw) in enumerate(REQUESTS):
        hit = rows[rows.title.str.contains(kw)].head(n // 2)
        other = rows[~rows.title.str.contains(kw)].iloc[i * n: i * n + n - len(hit)]
        picked = pd.concat([hit, other]).sample(frac=1.0, random_state=i)
        out.append([Item(id=str(k), title=r.title, price=round(float(r.price), 2), currency="GBP")
                    for k, r in picked.iterrows()])
    return out


def prompts(cands):
    from assistant.prompting import format_bundle, format_candidates, format_reasons, render

    choose, explain = [], []
    for (req, _), items in zip(REQUESTS, cands, strict=True):
        choose.append(render("choose", request=req, history="(none)", candidates=format_candidates(items),
                             n_choices=len(items)))
        bundle = items[:3]
        explain.append(render("explain", request=req, bundle=format_bundle(bundle),
                              total=f"£{sum(i.price for i in bundle):.2f}", history="(none)",
                              reasons=format_reasons([(i.title, "matches the request") for i in bundle]),
                              facts="(none)"))
    return choose, explain


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def bench_load(home: Path, gguf: bool) -> None:
    from assistant import llm, modelfiles
    from bundlebot.config.assistant import GeneratorConfig

    t = time.perf_counter()
    path = modelfiles.prepare_default_model(home)
    print(f"- prepare_default_model (conversion, or cache check when done): {time.perf_counter() - t:.2f} s")
    if gguf:
        t = time.perf_counter()
        modelfiles.load_gguf(modelfiles.default_gguf_path())
        print(f"- load from GGUF (transformers gguf_file=, dequantize): {time.perf_counter() - t:.1f} s")
    for dtype in ("float32", "bfloat16"):
        llm._CACHE.clear()
        gen = llm.load_generator(GeneratorConfig(adapter="none", dtype=dtype), home)
        print(f"- load from the cached dir {path.name} ({dtype}): {gen.info['load_ms'] / 1000:.2f} s")


def bench_speed(gen, choose, explain, repeats: int) -> dict:
    import torch

    ids = sum((gen.encode(m) for m in choose), [])[:400]
    gen.prefix_cache_size = 0
    prefill, _ = timed(lambda: gen._forward(ids, None), repeats)
    msgs = explain[0]
    n_raw, raw_s = raw_generate(gen, msgs, 48)
    t = time.perf_counter()
    first, n = None, 0
    for _tid in gen.greedy_ids(msgs, 48):
        n += 1
        first = first or time.perf_counter() - t
    pipe_s = time.perf_counter() - t
    gen.prefix_cache_size = 4
    list(gen.greedy_ids(msgs, 1))  # warm the system prompt cache, as in live use
    t = time.perf_counter()
    n_cached = sum(1 for _ in gen.greedy_ids(msgs, 48))
    cached_s = time.perf_counter() - t
    score_nocache = score_latency(gen, choose, 0)
    score_cache = score_latency(gen, choose, 4)
    assert n == n_raw == n_cached, (n, n_raw, n_cached)
    return {"threads": torch.get_num_threads(), "prefill400_s": prefill, "tokens": n,
            "raw_tok_s": n / raw_s, "pipe_tok_s": n / pipe_s, "pipe_cached_tok_s": n / cached_s,
            "pipe_decode_tok_s": (n - 1) / (pipe_s - first), "first_token_s": first,
            "score12_s": score_nocache, "score12_cached_s": score_cache}


def raw_generate(gen, msgs, n: int) -> tuple[int, float]:
    import torch

    ids = torch.tensor([gen.encode(msgs)])
    t = time.perf_counter()
    with torch.inference_mode():
        out = gen.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False,
                                 eos_token_id=sorted(gen._stop_ids), pad_token_id=gen.tokenizer.pad_token_id)
    secs = time.perf_counter() - t
    new = out[0, ids.shape[1]:].tolist()
    return len([i for i in new if i not in gen._stop_ids]), secs


def score_latency(gen, choose, cache: int) -> float:
    gen.prefix_cache_size = cache
    gen._prefixes.clear()
    gen.choice_scores(choose[0], 12)  # warm (and fill the cache when on)
    return statistics.median(timed(lambda m=m: gen.choice_scores(m, 12), 1)[0] for m in choose)


def agreement(g32, g16, choose, explain) -> None:
    diffs, same = [], 0
    for m in choose:
        p32, p16 = g32.choice_scores(m, 12), g16.choice_scores(m, 12)
        same += max(range(12), key=p32.__getitem__) == max(range(12), key=p16.__getitem__)
        diffs.append(max(abs(a - b) for a, b in zip(p32, p16, strict=True)))
        print(f"  - fp32 {[round(x, 3) for x in p32]}\n    bf16 {[round(x, 3) for x in p16]}")
    print(f"- choice argmax agreement bf16 vs fp32: {same}/{len(choose)}; max |dp| per prompt: "
          f"{[round(d, 3) for d in diffs]}")
    for m in explain[:3]:
        a, b = g32.generate(m, 40), g16.generate(m, 40)
        common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        print(f"- greedy 40 tokens identical: {a == b} (first {common} chars agree)\n  fp32: {a!r}\n  bf16: {b!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--no-gguf", action="store_true", help="skip the slow GGUF load timing")
    ap.add_argument("--no-load", action="store_true", help="skip every load timing")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from assistant import llm
    from bundlebot.config import load_config
    from bundlebot.config.assistant import GeneratorConfig

    home = args.home or load_config().home_path
    print_machine()
    if not args.no_load:
        print("## load")
        bench_load(home, not args.no_gguf)
    choose, explain = prompts(real_candidates())
    gens = {d: llm.load_generator(GeneratorConfig(adapter="none", dtype=d), home) for d in ("float32", "bfloat16")}
    print("\n## bf16 vs fp32 on real prompts (12 real Online Retail candidates each)")
    agreement(gens["float32"], gens["bfloat16"], choose, explain)
    print(f"\n## speed (12-candidate choose prompts: {[len(gens['float32'].encode(m)) for m in choose]} tokens)")
    for d, gen in gens.items():
        r = bench_speed(gen, choose, explain, args.repeats)
        print(f"- {d}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
        print(f"  pipeline/raw generate decode ratio: {r['pipe_tok_s'] / r['raw_tok_s']:.2f} "
              f"(with the warm system-prompt cache: {r['pipe_cached_tok_s'] / r['raw_tok_s']:.2f})")
    print(f"\n- peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
          f"load average now: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
