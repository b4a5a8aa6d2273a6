"""One request's embedding: bundlebot's ``embed`` (one torch thread for a few texts) against raw
``SentenceTransformer.encode`` on torch's default threads, the same short requests in the same run.

Run it on a quiet machine and beside a busy process (``--busy`` starts one: a numpy loop on one core), since
the difference is what another process on the 2-core machine does to torch's thread barrier.

    .venv/bin/python benchmarks/bench_embed_query.py [--busy]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._machine import print_machine  # noqa: E402

REQUESTS = ["I need milk", "hosting a tea party for six, about £25", "a christmas gift for my gran under £15",
            "snacks for a movie night", "a housewarming present under £20", "I need fresh vegetables"]


def _spin(stop_at: float) -> None:
    import numpy as np

    a = np.random.rand(300, 300)
    while time.time() < stop_at:
        a @ a


def _p50(fn, n: int) -> float:
    times = []
    for i in range(n):
        q = REQUESTS[i % len(REQUESTS)]
        t0 = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--busy", action="store_true", help="keep one core busy with another process meanwhile")
    ap.add_argument("--n", type=int, default=60)
    args = ap.parse_args()
    import torch

    from bundlebot.config.retrieval import EmbedderConfig
    from retrieval.embeddings import make_embedder

    emb = make_embedder(EmbedderConfig())
    emb.embed("warm up")
    raw = emb.model  # the same SentenceTransformer
    busy = None
    if args.busy:
        busy = mp.Process(target=_spin, args=(time.time() + 600,), daemon=True)
        busy.start()
        time.sleep(2)
    print_machine()
    ours = _p50(emb.embed, args.n)
    theirs = _p50(lambda q: raw.encode([q], normalize_embeddings=True, show_progress_bar=False), args.n)
    print(f"torch threads {torch.get_num_threads()}, busy process: {bool(busy)}, {args.n} requests each")
    print(f"  bundlebot embed (1 thread) p50 {ours:8.1f} ms")
    print(f"  raw encode ({torch.get_num_threads()} threads)  p50 {theirs:8.1f} ms   "
          f"ratio ours/raw {ours / theirs:.2f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if busy:
        busy.terminate()


if __name__ == "__main__":
    main()
