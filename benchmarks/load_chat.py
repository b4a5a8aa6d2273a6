"""Load test of the chat API: N concurrent streaming chats (OpenAI-compatible SSE) against a real server.

    .venv/bin/python benchmarks/load_chat.py [--clients 1,4,16] [--modes embedded,server] [--chats 1]
                                             [--home DIR] [--max-seconds 240] [--threads N]

For each mode it starts the server itself on a free loopback port (``bundlebot serve``) and measures, per
client count: p50/p95 time to the bundle (the first content delta: the listing) and to done
(``data: [DONE]``), both from the chat's first attempt, the refusals (429 ``busy`` with a ``Retry-After``,
after which the client retries, as the widget does), the error count (anything else; target 0) and
completed chats per second.

- ``embedded``: one worker on the embedded Chroma store of ``--home``.
- ``server``: a ``chroma run`` server (started here on a copy of the same store) + ``--workers 2``.

The server runs the default config (real MiniLM, real SmolLM2 with explanations, 2 turn slots, a 30 s
queue bound, the default turn budgets) except rate limits high enough for every client to share one IP.
``--home`` defaults to /tmp/bundlebot-bench; the demo shop (online-retail, history of 150 shoppers) is
indexed there once if missing.
Everything is bounded: ``--max-seconds`` per client level, loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._machine import print_machine  # noqa: E402

BIN = Path(sys.executable).parent
PROMPTS = ["hosting a tea party for six, about £25", "a christmas gift for my gran under £15",
           "5 items for a kids' birthday party, no candles", "picnic for four, between £20 and £40",
           "something for a new home, £30", "a cosy night in, candles and blankets",
           "stocking fillers for three kids under £10", "garden party decorations, about £20"]
INDEX_SCRIPT = """
import sys
from bundlebot.config import load_config
from retrieval.importers import load_source
from retrieval.index import index_source
cfg = load_config()
data = load_source("online-retail", cfg.data_path)
shoppers = sorted({b.shopper_id for b in data.test if b.shopper_id})[:150]
print(index_source(cfg, "online-retail", "demo", progress=False, shoppers=set(shoppers), data=data).summary())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_index(home: Path) -> None:
    marker = home / ".load_chat_indexed"
    if marker.exists():
        return
    print(f"indexing the demo shop into {home} (once)...", flush=True)
    env = {**os.environ, "BUNDLEBOT_HOME": str(home), "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", INDEX_SCRIPT], env=env, check=True, timeout=1800)
    marker.write_text("ok")


def write_config(folder: Path, home: Path, store: dict[str, object], threads: int | None = None) -> Path:
    lines = [f'home = "{home}"', "[server]",
             "rate_limit_per_minute = 100000", "ip_rate_limit_per_minute = 100000",
             "[retrieval.store]"] + [f"{k} = {json.dumps(v)}" for k, v in store.items()]
    if threads:
        lines += ["[assistant.generator]", f"threads = {threads}"]
    path = folder / f"config-{store['mode']}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_for(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return
            last = r.text[:300]
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout} s: {last}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Refused(Exception):
    """A well-formed 429 ``busy``: JSON error envelope and an integer ``Retry-After``."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy, retry after {retry_after} s")
        self.retry_after = retry_after


async def one_chat(client: httpx.AsyncClient, url: str, prompt: str, t0: float) -> tuple[float, float]:
    """(time to the bundle, time to done) since ``t0`` of one streamed chat; Refused on a well-formed 429,
    RuntimeError on any other failure."""
    ttft = None
    body = {"model": "bundlebot", "stream": True, "messages": [{"role": "user", "content": prompt}]}
    async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
        if r.status_code == 429:
            text, after = (await r.aread()).decode(), r.headers.get("retry-after", "")
            if after.isdigit() and json.loads(text).get("error", {}).get("code") == "busy":
                raise Refused(int(after))
            raise RuntimeError(f"malformed 429 (Retry-After {after!r}): {text[:200]}")
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {(await r.aread())[:200]!r}")
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                if ttft is None:
                    raise RuntimeError("stream ended without content")
                return ttft, time.perf_counter() - t0
            chunk = json.loads(line[6:])
            if "error" in chunk:
                raise RuntimeError(chunk["error"].get("code"))
            if ttft is None and chunk["choices"][0]["delta"].get("content"):
                ttft = time.perf_counter() - t0
    raise RuntimeError("stream ended without [DONE]")


async def level(url: str, clients: int, chats: int, max_seconds: float) -> dict[str, float]:
    results: list[tuple[float, float]] = []
    errors: list[str] = []
    refusals = [0]

    async def client_loop(i: int) -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(max_seconds)) as client:
            for j in range(chats):
                prompt, t0 = PROMPTS[(i * chats + j) % len(PROMPTS)], time.perf_counter()
                while True:
                    try:
                        results.append(await one_chat(client, url, prompt, t0))
                    except Refused as busy:  # come back when told, as the widget does
                        refusals[0] += 1
                        await asyncio.sleep(busy.retry_after)
                        continue
                    except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the run
                        errors.append(str(exc)[:80])
                    break

    t0 = time.perf_counter()
    tasks = [asyncio.create_task(client_loop(i)) for i in range(clients)]
    done, pending = await asyncio.wait(tasks, timeout=max_seconds)
    for t in pending:
        t.cancel()
    wall = time.perf_counter() - t0
    missing = clients * chats - len(results) - len(errors)
    return summarize(results, len(errors) + missing, wall, errors) | {"refused": refusals[0]}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def summarize(results: list[tuple[float, float]], errors: int, wall: float,
              messages: list[str]) -> dict[str, float]:
    ttft, done = [r[0] for r in results], [r[1] for r in results]
    if messages:
        print(f"  errors: {sorted(set(messages))[:5]}", flush=True)
    return {"ok": len(results), "errors": errors, "ttft_p50": pct(ttft, 50), "ttft_p95": pct(ttft, 95),
            "done_p50": pct(done, 50), "done_p95": pct(done, 95), "rps": len(results) / wall, "wall": wall}


def run_mode(mode: str, home: Path, folder: Path, args: argparse.Namespace) -> list[tuple[int, dict]]:
    procs: list[subprocess.Popen] = []
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "ANONYMIZED_TELEMETRY": "False"}
    env.pop("BUNDLEBOT_API_KEYS", None)  # loopback-only open mode
    try:
        if mode == "embedded":
            cfg, workers = write_config(folder, home, {"mode": "embedded"}, args.threads), 1
        else:
            copy = folder / "chroma-copy"  # the server gets its own copy: two processes never share a folder
            shutil.copytree(home / "chroma", copy, dirs_exist_ok=True)
            cport = free_port()
            chroma = BIN / "chroma" if (BIN / "chroma").exists() else Path("chroma")
            procs.append(subprocess.Popen([str(chroma), "run", "--path", str(copy), "--host", "127.0.0.1",
                                           "--port", str(cport)], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, env=env))
            wait_for(f"http://127.0.0.1:{cport}/api/v2/heartbeat", procs[-1], 60)
            cfg, workers = write_config(folder, home, {"mode": "http", "port": cport}, args.threads), 2
        procs.append(subprocess.Popen([str(BIN / "bundlebot"), "-q", "serve", "--config", str(cfg),
                                       "--port", str(port), "--workers", str(workers)], env=env))
        wait_for(f"{url}/readyz", procs[-1], args.startup_seconds)
        asyncio.run(level(url, 1, 1, args.max_seconds))  # warm-up chat (first-call costs), not counted
        out = []
        for n in args.clients:
            stats = asyncio.run(level(url, n, args.chats, args.max_seconds))
            print(f"  {mode}: {n} clients -> {stats}", flush=True)
            out.append((n, stats))
        return out
    finally:
        for p in reversed(procs):
            stop(p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1,4,16", type=lambda s: [int(x) for x in s.split(",")])
    ap.add_argument("--modes", default="embedded,server", type=lambda s: s.split(","))
    ap.add_argument("--chats", type=int, default=1, help="sequential chats per client")
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "bundlebot-bench")
    ap.add_argument("--max-seconds", type=float, default=240.0, help="bound per client level")
    ap.add_argument("--startup-seconds", type=float, default=900.0)
    ap.add_argument("--threads", type=int, default=None,
                    help="generator.threads of the server (default: the config's, every core to prefill)")
    args = ap.parse_args()
    args.home.mkdir(parents=True, exist_ok=True)
    print_machine()
    ensure_index(args.home)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes:
            rows += [(mode, n, s) for n, s in run_mode(mode, args.home, Path(tmp), args)]
    print("\n| store | clients | chats ok | 429 busy (retried) | errors | bundle p50 / p95 (s) | "
          "done p50 / p95 (s) | chats/s |")
    print("|---|---|---|---|---|---|---|---|")
    for mode, n, s in rows:
        label = "embedded, 1 worker" if mode == "embedded" else "Chroma server, 2 workers"
        print(f"| {label} | {n} | {s['ok']} | {s['refused']} | {s['errors']} | "
              f"{s['ttft_p50']:.2f} / {s['ttft_p95']:.2f} | "
              f"{s['done_p50']:.2f} / {s['done_p95']:.2f} | {s['rps']:.2f} |")


if __name__ == "__main__":
    main()
