"""The generator's two runtimes side by side, in one run, on the same prompts: llama.cpp vs transformers.

For each of 5 explanation prompts (real Online Retail rows through the real prompt files) and one judge batch
of 12 candidates, it times:

- raw transformers ``model.generate`` (float32, greedy, exactly N new tokens): the library baseline;
- bundlebot's transformers ``Generator`` (``greedy_ids``), and bundlebot's ``LlamaCppGenerator``;
- raw llama-cpp-python ``Llama.generate`` (greedy sampler) on the same token ids: the fast library's own speed,
  so the overhead of bundlebot's own loop (numpy argmax, n-gram ban, detokenizing) is visible;

and prints prefill tokens/s, decode tokens/s, time to the first token, judge-batch latency, the ratios against
raw transformers, and the process's peak RSS.

    .venv/bin/python benchmarks/bench_runtime.py [--home DIR] [--tokens 48] [--threads 2] [--repeats 3] [--prompts 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_llm import prompts, real_candidates, timed  # noqa: E402


def median_time(fn, repeats: int) -> float:
    return timed(fn, repeats)[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", default=os.environ.get("BUNDLEBOT_HOME", str(Path.home() / ".bundlebot")))
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--prompts", type=int, default=5, help="explanation prompts (of 5)")
    args = ap.parse_args()

    import torch
    from llama_cpp import Llama

    from assistant import llm
    from assistant.fusion import judge_messages
    from benchmarks._machine import print_machine
    from bundlebot.config.assistant import GeneratorConfig
    from retrieval.types import ScoredItem

    torch.set_num_threads(args.threads)
    print_machine()
    home, n = Path(args.home).expanduser(), args.tokens
    gens = {rt: llm.load_generator(GeneratorConfig(runtime=rt, adapter="none", threads=args.threads), home)
            for rt in ("transformers", "llamacpp")}
    # what the service writes explanations with: the committed explanation LoRA, applied at run time
    gens["llamacpp + explanation adapter"] = llm.load_generator(
        GeneratorConfig(runtime="llamacpp", explain_adapter="default", threads=args.threads), home, task="explain")
    judges = {rt: llm.load_generator(GeneratorConfig(runtime=rt, adapter="default", threads=args.threads), home)
              for rt in ("transformers", "llamacpp")}
    raw_hf = gens["transformers"].model
    raw_cpp = Llama(model_path=gens["llamacpp"].info["gguf"], n_ctx=2048, n_threads=args.threads,
                    n_threads_batch=args.threads, verbose=False)
    print(f"- threads {args.threads}; {n} new tokens per prompt; median of {args.repeats}; "
          f"llama.cpp base {Path(gens['llamacpp'].info['gguf']).name}\n")

    cands = real_candidates()
    _, explain = prompts(cands)
    rows: dict[str, list[tuple[float, float, float]]] = {}  # name -> (prefill s, decode tok/s, first token s)

    for msgs in explain[: args.prompts]:
        ids = gens["transformers"].encode(msgs)
        x = torch.tensor([ids])

        def hf_generate(k: int, x=x) -> None:
            with torch.inference_mode():
                raw_hf.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=k, min_new_tokens=k,
                                do_sample=False, pad_token_id=gens["transformers"].tokenizer.pad_token_id)

        hf_generate(2)  # warm
        pre = median_time(lambda: hf_generate(1), args.repeats)
        whole = median_time(lambda: hf_generate(n), args.repeats)
        rows.setdefault("raw transformers generate (fp32)", []).append((pre, (n - 1) / (whole - pre), pre))

        def cpp_generate(k: int, ids=ids) -> None:
            raw_cpp.reset()
            for i, _tok in enumerate(raw_cpp.generate(ids, top_k=1, temp=0.0, reset=True)):
                if i + 1 >= k:
                    break

        cpp_generate(2)
        pre = median_time(lambda: cpp_generate(1), args.repeats)
        whole = median_time(lambda: cpp_generate(n), args.repeats)
        rows.setdefault("raw llama-cpp-python generate (Q4_1)", []).append((pre, (n - 1) / (whole - pre), pre))

        for rt, gen in gens.items():
            list(gen.greedy_ids(msgs, 1))  # warm the system block, as in live use

            def ours(k: int, gen=gen, msgs=msgs) -> float:
                t = time.perf_counter()
                first = None
                for i, _ in enumerate(gen.greedy_ids(msgs, k)):
                    first = first or time.perf_counter() - t
                    if i + 1 >= k:
                        break
                return first or 0.0

            pre = median_time(lambda: ours(1), args.repeats)
            whole = median_time(lambda: ours(n), args.repeats)
            got = sum(1 for _ in gen.greedy_ids(msgs, n))
            rows.setdefault(f"bundlebot {rt} greedy_ids", []).append(
                (pre, (got - 1) / max(whole - pre, 1e-9) if got > 1 else float("nan"), pre))
        lengths = len(ids)

    print(f"| runtime (explanation prompts, ~{lengths} tokens) | prefill s | first token s | decode tok/s | "
          "decode vs raw transformers |")
    print("|---|---|---|---|---|")
    base = statistics.median(r[1] for r in rows["raw transformers generate (fp32)"])
    for name, rs in rows.items():
        dec = statistics.median(r[1] for r in rs)
        print(f"| {name} | {statistics.median(r[0] for r in rs):.3f} | {statistics.median(r[2] for r in rs):.3f} "
              f"| {dec:.1f} | {dec / base:.2f}x |")

    items = cands[0]
    scored = [ScoredItem(it, 0.0, {}, {}) for it in items]
    batch = judge_messages("hosting a tea party for six, about £25", scored)
    print(f"\n| judge batch, {len(batch)} candidates, default adapter | median s | vs transformers |")
    print("|---|---|---|")
    judge_times = {}
    for rt, gen in judges.items():
        gen.judge_scores(batch)  # warm
        judge_times[rt] = median_time(lambda gen=gen: gen.judge_scores(batch), args.repeats)
    for rt, t in judge_times.items():
        print(f"| bundlebot {rt} judge_scores | {t:.3f} | {judge_times['transformers'] / t:.2f}x |")
    a, b = (judges[rt].judge_scores(batch) for rt in ("llamacpp", "transformers"))
    print(f"\n- judge agreement: max |P(yes) difference| {max(abs(x - y) for x, y in zip(a, b, strict=True)):.3f} "
          f"over {len(a)} candidates")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"- peak RSS of this process (both runtimes, both adapters, raw models): {peak:.0f} MB")
    print(f"- load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
