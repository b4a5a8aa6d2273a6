"""The shop's own embedder: the base sentence-transformers model fine-tuned on the shop's (request, item) pairs.

The pairs are the ranker's own training requests (``finetune/ranker.py``: an intent, an invoice's themes and
total, "I need <aisle>", the shop's live requests) with each gold item's embedding text. The loss is
sentence-transformers' ``MultipleNegativesRankingLoss``: every other item of a batch is a negative, so a
batch never holds the same request or item twice (that would be a false negative). The whole model is
fine-tuned: on 2 cores a LoRA step costs about what a full step does (the backward pass runs through every
layer either way), and the full model moved dev recall more (EVALUATION.md), at ~90 MB per shop.

Dev decides: the tuned model is kept only when its plain top-10 recall on the dev requests (cosine over the
whole catalog, nothing else) beats the base model's; otherwise the manifest says why and serving keeps the
base embedder. A kept model's vectors of every item go to the shop's ``tuned`` vector set
(``ShopStore.upsert_side``), and ``Retriever`` reads it: its nearest items join the candidates and its cosine
is the ranker's ``tuned`` feature.

>>> pairs = [("tea party", "Teapot"), ("tea party", "Cups"), ("garden", "Teapot"), ("garden", "Trowel")]
>>> [sorted(b) for b in batches(pairs, steps=2, size=2, seed=0)]
[[('garden', 'Trowel'), ('tea party', 'Cups')], [('garden', 'Teapot'), ('tea party', 'Cups')]]
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bundlebot.config import AppConfig
from retrieval.embeddings import SHOP_FOLDER, SHOP_MANIFEST, read_shop_manifest

log = logging.getLogger(__name__)

BATCH = 32
EMBEDDER_STEPS = 160
"""The steps ``bundlebot fit --embedder`` trains for when ``retrieval.embedder_steps`` is 0 (its default)."""
LR = 5e-5
MIN_PAIRS = 256
"""Fewer (request, item) pairs than this teach the model nothing a shop can rely on: the base model stays."""
RECALL_AT = 10
EMBED_BATCH = 128


def steps_for(config: AppConfig, shop: str) -> int:
    """The steps a fit of ``shop`` tunes its embedder for (0: it keeps the base one). ``retrieval.embedder_steps``
    when set; 0 when ``retrieval.shop_embedder`` is off; otherwise the steps the shop opted in to at its last
    fit (``embedder.json``'s ``opted_steps``), so that ``bundlebot index``, which refits with the default
    config, keeps a shop's ``fit --embedder`` instead of silently dropping it; ``fit --no-embedder`` forgets it.
    """
    if config.retrieval.shop_embedder == "off":
        return 0
    if config.retrieval.embedder_steps > 0:
        return config.retrieval.embedder_steps
    return int((read_shop_manifest(config.home_path, shop) or {}).get("opted_steps") or 0)


def wanted(config: AppConfig, shop: str) -> bool:
    """Whether a fit of ``shop`` tunes its embedder (``steps_for`` > 0)."""
    return steps_for(config, shop) > 0


def folder(config: AppConfig, shop: str) -> Path:
    return config.home_path / "shops" / shop / SHOP_FOLDER


def training_pairs(items: dict[str, Any], requests: Sequence[Any]) -> list[tuple[str, str]]:
    """(request text, item embedding text) for every gold item of every request, each pair once."""
    return list(dict.fromkeys((r.text, items[g].embedding_text()) for r in requests for g in r.gold if g in items))


def batches(pairs: Sequence[tuple[str, str]], *, steps: int, size: int, seed: int) -> Iterator[list[tuple[str, str]]]:
    """``steps`` batches of up to ``size`` pairs, in seeded epochs, no request and no item twice in a batch
    (a pair that would repeat one waits for the next batch)."""
    rng = random.Random(seed)
    queue: list[int] = []
    for _ in range(steps):
        if len(queue) < 2 * size:  # room to skip a pair that would repeat a text
            more = list(range(len(pairs)))
            rng.shuffle(more)
            queue += more
        batch: list[int] = []
        later: list[int] = []
        texts: set[str] = set()
        while queue and len(batch) < size:
            j = queue.pop()
            q, d = pairs[j]
            if q in texts or d in texts:
                later.append(j)
                continue
            texts.update((q, d))
            batch.append(j)
        queue += reversed(later)  # popped from the end: they come first next time
        yield [pairs[j] for j in batch]


def train(model: Any, pairs: Sequence[tuple[str, str]], *, steps: int, seed: int = 0, size: int = BATCH,
          lr: float = LR, progress: bool = True) -> list[float]:
    """Fine-tune ``model`` (a SentenceTransformer) in place; returns the loss of each step."""
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from tqdm import tqdm

    torch.manual_seed(seed)
    loss_fn = MultipleNegativesRankingLoss(model)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    losses = []
    try:
        for batch in tqdm(batches(pairs, steps=steps, size=size, seed=seed), total=steps, desc="shop embedder",
                          unit="step", disable=not progress):
            if len(batch) < 2:  # one pair has no in-batch negative
                continue
            features = [model.preprocess([q for q, _ in batch]), model.preprocess([d for _, d in batch])]
            loss = loss_fn(features, None)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(round(float(loss.item()), 4))
    finally:
        model.eval()
    return losses


def encode(model: Any, texts: Sequence[str]) -> np.ndarray:
    return np.asarray(model.encode(list(texts), batch_size=EMBED_BATCH, convert_to_numpy=True,
                                   normalize_embeddings=True, show_progress_bar=False), dtype=np.float32)


def dev_recall(item_ids: Sequence[str], item_vecs: np.ndarray, query_vecs: np.ndarray,
               requests: Sequence[Any], k: int = RECALL_AT) -> float:
    """Mean recall@k of plain cosine top-k over the whole catalog (the embedder's own contribution).

    >>> vecs = np.eye(3, dtype=np.float32)
    >>> class R: gold = ("b",)
    >>> ids = ["a", "b", "c"]
    >>> dev_recall(ids, vecs, vecs[[1]], [R()], k=1), dev_recall(ids, vecs, vecs[[0]], [R()], k=1)
    (1.0, 0.0)
    """
    pos = {i: n for n, i in enumerate(item_ids)}
    vals = []
    for qv, r in zip(query_vecs, requests, strict=True):
        gold = [pos[g] for g in r.gold if g in pos]
        if gold:
            top = set(np.argsort(-(item_vecs @ qv), kind="stable")[:k].tolist())
            vals.append(sum(g in top for g in gold) / min(len(gold), k))
    return round(float(np.mean(vals)), 4) if vals else 0.0


def _digest(base: Any, pairs: Sequence[tuple[str, str]], item_texts: Sequence[str], steps: int) -> str:
    h = hashlib.sha256(json.dumps([base.name, str(base.path), steps, BATCH, LR]).encode())
    for q, d in pairs:
        h.update(f"{q}\t{d}\n".encode())
    for t in item_texts:
        h.update(t.encode())
    return h.hexdigest()[:16]


def fit_embedder(config: AppConfig, store: Any, items: Sequence[Any], train_reqs: Sequence[Any],
                 dev_reqs: Sequence[Any], *, progress: bool = True, unless_current: bool = False) -> dict[str, Any]:
    """Fine-tune the shop's embedder on ``train_reqs``, keep it when dev recall says so, write its vector set.
    Returns the manifest (also saved as ``<home>/shops/<shop>/embedder.json``)."""
    from retrieval.embeddings import SentenceTransformerEmbedder, make_embedder

    t0 = time.perf_counter()
    shop = store.name
    steps = steps_for(config, shop)
    manifest: dict[str, Any] = {"shop": shop, "status": "base"}
    if steps <= 0:
        return _keep_base(config, store, manifest, "retrieval.shop_embedder is off"
                          if config.retrieval.shop_embedder == "off" else
                          "retrieval.embedder_steps is 0, the default (`bundlebot fit --embedder` tunes one)", t0)
    manifest["opted_steps"] = steps  # a later fit with the default config tunes it again (``steps_for``)
    base = make_embedder(config.retrieval.embedder)
    if not isinstance(base, SentenceTransformerEmbedder):
        return _keep_base(config, store, manifest, f"the shop's embedder ({base.name}) is not a "
                                                   "sentence-transformers model: nothing to fine-tune", t0)
    by_id = {it.id: it for it in items}
    pairs = training_pairs(by_id, train_reqs)
    ids = sorted(by_id)
    texts = [by_id[i].embedding_text() for i in ids]
    digest = _digest(base, pairs, texts, steps)
    manifest.update(base=base.name, base_path=str(base.path), data_sha256=digest, pairs=len(pairs), steps=steps,
                    batch=BATCH, lr=LR, train_requests=len(train_reqs), dev_requests=len(dev_reqs))
    old = read_shop_manifest(config.home_path, shop)
    if unless_current and old and old.get("data_sha256") == digest and (
            old.get("status") != "tuned" or len(store.side_ids("tuned")) == len(ids)):
        log.info("shop %s: the embedder is current (same pairs, catalog and settings); not refitted", shop)
        return {**old, "reused": True}
    if len(pairs) < MIN_PAIRS:
        return _keep_base(config, store, manifest, f"{len(pairs)} (request, item) pairs, at least {MIN_PAIRS} are "
                                                   "needed", t0)
    model = _copy_of(base)
    dev_queries = [r.text for r in dev_reqs]
    stored = {it.id: v for it, v in store.get_items(ids, with_vectors=True)}  # the base vectors, indexed already
    base_vecs = np.stack([stored[i] if i in stored else base.embed(texts[n]) for n, i in enumerate(ids)])
    base_recall = dev_recall(ids, base_vecs, base.embed_batch(dev_queries), dev_reqs) if dev_reqs else None
    losses = train(model, pairs, steps=steps, progress=progress)
    vecs = encode(model, texts)
    tuned_recall = dev_recall(ids, vecs, encode(model, dev_queries), dev_reqs) if dev_reqs else None
    manifest["dev"] = {f"recall@{RECALL_AT}_base": base_recall, f"recall@{RECALL_AT}_tuned": tuned_recall}
    manifest["loss"] = {"first": losses[0] if losses else None,
                        "last_20_mean": round(float(np.mean(losses[-20:])), 4) if losses else None}
    if tuned_recall is None or base_recall is None or tuned_recall <= base_recall:
        return _keep_base(config, store, manifest, "the tuned embedder did not beat the base one on dev"
                          if dev_reqs else "no dev requests to check the tuned embedder on", t0)
    out = folder(config, shop)
    shutil.rmtree(out, ignore_errors=True)
    model.save(str(out))
    store.drop_side("tuned")
    by_pos = {i: n for n, i in enumerate(ids)}
    store.upsert_side("tuned", [by_id[i] for i in ids], vecs[[by_pos[i] for i in ids]])
    manifest.update(status="tuned", versions=_versions(), wall_s=round(time.perf_counter() - t0, 1))
    _write(config, shop, manifest)
    log.info("shop %s: tuned embedder, dev %s", shop, manifest["dev"])
    return manifest


def _copy_of(base: Any) -> Any:
    """A trainable copy of the base model (the shared base instance keeps serving other shops unchanged)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(base.path), device="cpu", local_files_only=True)


def _keep_base(config: AppConfig, store: Any, manifest: dict[str, Any], reason: str, t0: float) -> dict[str, Any]:
    shutil.rmtree(folder(config, store.name), ignore_errors=True)
    store.drop_side("tuned")
    manifest.update(status="base", reason=reason, wall_s=round(time.perf_counter() - t0, 1))
    _write(config, store.name, manifest)
    log.info("shop %s keeps the base embedder: %s", store.name, reason)
    return manifest


def _write(config: AppConfig, shop: str, manifest: dict[str, Any]) -> None:
    path = config.home_path / "shops" / shop / SHOP_MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    tmp.replace(path)


def _versions() -> dict[str, str]:
    import sentence_transformers
    import torch
    import transformers

    return {"sentence_transformers": sentence_transformers.__version__, "torch": torch.__version__,
            "transformers": transformers.__version__}
