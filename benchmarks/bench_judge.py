"""Benchmark of pointwise ("judge") scoring: 12 yes/no prompts per request, pipeline vs the raw library.

For 5 real requests with 12 real Online Retail candidates each (the prompts of ``bench_llm.py``), times

- ``Generator.judge_scores``: the shared prefix once (system block from the prefix cache), the 12 tails as
  one left-padded batch over copies of its KV cache;
- raw, one by one: ``model(input_ids)`` over each full prompt (what a plain loop would do);
- raw, batched: the 12 full prompts left-padded into one ``model(input_ids, attention_mask)`` call;
- for scale: ``Generator.choice_scores`` on the same 12 candidates as one lettered prompt.

and checks that the three judge paths give the same P(yes) (max |difference|). Machine details first.

    BUNDLEBOT_HOME=/tmp/bbhome .venv/bin/python benchmarks/bench_judge.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def raw_one_by_one(gen, prompts) -> list[float]:
    import torch

    out = []
    for p in prompts:
        with torch.inference_mode():
            logits = gen.model(input_ids=torch.tensor([gen.encode(p)])).logits[0, -1].float()
        out.append(_p_yes(gen, logits.unsqueeze(0))[0])
    return out


def raw_batched(gen, prompts) -> list[float]:
    import torch

    seqs = [gen.encode(p) for p in prompts]
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), gen._pad_id)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, width - len(s):], mask[i, width - len(s):] = torch.tensor(s), 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        logits = gen.model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=1).logits[:, -1]
    return _p_yes(gen, logits.float())


def _p_yes(gen, logits) -> list[float]:
    from assistant.llm import yes_probability

    return yes_probability(logits, gen._yes_no)


def median_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--adapter", default="none", help="adapter dir, 'default' or 'none' (the base model)")
    args = ap.parse_args()
    import torch

    from assistant import llm
    from assistant.fusion import choose_messages, judge_messages
    from benchmarks.bench_llm import REQUESTS, print_machine, real_candidates
    from bundlebot.config import load_config
    from bundlebot.config.assistant import GeneratorConfig
    from retrieval.types import ScoredItem

    if args.threads:
        torch.set_num_threads(args.threads)
    print_machine()
    gen = llm.load_generator(GeneratorConfig(adapter=args.adapter, dtype="float32", threads=args.threads),
                             load_config().home_path)
    rows = {"pipeline judge_scores (shared prefix, one batch)": [], "raw: 12 full forwards, one by one": [],
            "raw: 12 full prompts, one padded batch": [], "choice_scores (one lettered prompt, for scale)": []}
    worst = 0.0
    for (req, _), items in zip(REQUESTS, real_candidates(), strict=True):
        cands = [ScoredItem(it, 1.0) for it in items]
        prompts, choose = judge_messages(req, cands), choose_messages(req, cands)
        got = gen.judge_scores(prompts)  # warm: fills the system-prompt cache as in serving
        worst = max(worst, *(abs(a - b) for a, b in zip(got, raw_one_by_one(gen, prompts), strict=True)),
                    *(abs(a - b) for a, b in zip(got, raw_batched(gen, prompts), strict=True)))
        paths = (lambda p=prompts: gen.judge_scores(p), lambda p=prompts: raw_one_by_one(gen, p),
                 lambda p=prompts: raw_batched(gen, p), lambda c=choose: gen.choice_scores(c, 12))
        for name, fn in zip(rows, paths, strict=True):
            rows[name].append(median_s(fn, args.repeats))
    lengths = [len(gen.encode(p)) for p in prompts]
    print(f"## judge scoring, 12 candidates x {len(REQUESTS)} real requests (prompt tokens {min(lengths)}-"
          f"{max(lengths)}; adapter {gen.info['adapter']}; torch threads {torch.get_num_threads()})\n")
    base = statistics.median(rows["pipeline judge_scores (shared prefix, one batch)"])
    print("| path | median s per request | time vs the pipeline |\n|---|---|---|")
    for name, secs in rows.items():
        med = statistics.median(secs)
        print(f"| {name} | {med:.3f} | {med / base:.2f}x |")
    print(f"\n- max |P(yes) pipeline - raw| over all prompts: {worst:.2e}; load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
