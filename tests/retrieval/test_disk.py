"""A full disk or an unwritable data home: every write path (indexing, the embedding cache, the vector store,
co-purchase statistics, item kinds, the learned ranker) refuses with a DiskError that says how to fix it, and
what was stored before is still there, byte for byte.

How the faults are made: these tests run as root, and root writes through ``chmod`` (permission bits do not
stop it), so a read-only folder cannot be made with chmod here. Instead:

- the embedded store gets a REAL refused write: a child process whose file-size limit (RLIMIT_FSIZE, which
  binds root too) is the history files' current size, so SQLite fails exactly as on a full disk;
- the embedding cache gets a REAL read-only database (SQLite opened with ``mode=ro``);
- the file writes (co-purchase, ranker) get ``OSError(ENOSPC)`` / ``OSError(EROFS)`` from a monkeypatched
  write call, the same exception the kernel raises;
- the up-front home check is fed ``os.access`` = False (what a read-only mount answers); the chmod test runs
  only where chmod binds (not root).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bundlebot.paths
from bundlebot.config import AppConfig
from bundlebot.config.retrieval import EmbedderConfig, RetrievalConfig, StoreConfig
from bundlebot.errors import DiskError
from bundlebot.paths import PROJECT_ROOT
from retrieval.copurchase import CoPurchase
from retrieval.embeddings import EmbeddingCache
from retrieval.index import index_source
from retrieval.search import stats_path
from retrieval.store import VectorStore
from retrieval.types import Basket, Event, Item, SourceData

ITEMS = [Item(f"i{i}", f"product {i} mug", category=("kitchen",), price=1.0 + i, currency="GBP")
         for i in range(30)]
BASKETS = [Basket(f"b{i}", (f"i{i % 30}", f"i{(i + 1) % 30}", f"i{(i + 7) % 30}")) for i in range(40)]
EVENTS = [Event(f"s{i % 5}", f"i{i % 30}", 1.6e9 + i, "purchase", 1) for i in range(20)]


def config(tmp_path: Path) -> AppConfig:
    return AppConfig(home=str(tmp_path / "home"),
                     retrieval=RetrievalConfig(embedder=EmbedderConfig(kind="hash")))


def source(items=ITEMS) -> SourceData:
    return SourceData("disk", list(items), list(EVENTS), list(BASKETS), currency="GBP")


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def enospc(*_: object, **__: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


# ---- indexing ---------------------------------------------------------------------------------------------
def test_an_unwritable_home_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    cfg = config(tmp_path)
    monkeypatch.setattr(bundlebot.paths.os, "access", lambda path, mode: False)  # a read-only mount's answer
    with pytest.raises(DiskError) as info:
        index_source(cfg, "disk", "shop", progress=False, data=source())
    assert info.value.code == "disk_error" and info.value.status == 507
    assert "writable" in info.value.hint and "BUNDLEBOT_HOME" in info.value.hint
    assert not cfg.home_path.exists()  # not even the folders


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod; the os.access test covers this")
def test_a_chmod_read_only_home_is_refused(tmp_path):
    cfg = config(tmp_path)
    index_source(cfg, "disk", "shop", progress=False, data=source())
    before = files(cfg.home_path)
    cfg.home_path.chmod(0o555)
    try:
        with pytest.raises(DiskError):
            index_source(cfg, "disk", "shop", progress=False, data=source(ITEMS[:20]))
    finally:
        cfg.home_path.chmod(0o755)
    assert files(cfg.home_path) == before


@pytest.mark.parametrize("fails", ["copurchase", "kinds"])
def test_a_full_disk_while_saving_statistics_keeps_the_stored_ones(tmp_path, monkeypatch, fails):
    cfg = config(tmp_path)
    index_source(cfg, "disk", "shop", progress=False, data=source())
    stats = stats_path(cfg, "shop")
    before, meta = files(stats), VectorStore(cfg.retrieval.store, cfg.store_path).shop("shop").meta()
    if fails == "copurchase":
        monkeypatch.setattr("retrieval.copurchase.np.savez_compressed", enospc)
    else:
        monkeypatch.setattr("retrieval.kinds.Kinds.save", enospc)
    changed = source([*ITEMS[:25], Item("new", "new teapot", price=3.0, currency="GBP")])
    with pytest.raises(DiskError) as info:
        index_source(cfg, "disk", "shop", progress=False, data=changed)
    assert "free space" in info.value.hint and str(stats) in info.value.hint
    mine = {"copurchase": ("copurchase.npz", "copurchase.json"), "kinds": ("kinds.json",)}[fails]
    after = files(stats)
    assert {f: after[f] for f in mine} == {f: before[f] for f in mine}  # the stored ones, whole
    assert not [f for f in after if f.endswith(".tmp")] or fails == "kinds"  # (Kinds.save is patched whole)
    assert VectorStore(cfg.retrieval.store, cfg.store_path).shop("shop").meta() == meta  # the meta is written last
    monkeypatch.undo()  # space freed: the same run now completes
    rep = index_source(cfg, "disk", "shop", progress=False, data=changed)
    assert rep.valid == 26 and CoPurchase.load(stats).n_baskets == len(BASKETS)


def test_copurchase_save_refused_half_way_leaves_no_temporaries(tmp_path, monkeypatch):
    stats = CoPurchase.fit(BASKETS, ITEMS)
    stats.save(tmp_path / "s")
    before = files(tmp_path / "s")
    real = Path.write_text

    def json_fails(self, *a, **kw):  # the .npz temporary is written, then the .json one is refused
        if self.name == "copurchase.json.tmp":
            raise OSError(errno.EROFS, "Read-only file system")
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "write_text", json_fails)
    with pytest.raises(DiskError, match="co-purchase statistics") as info:
        stats.save(tmp_path / "s")
    assert "writable" in info.value.hint
    assert files(tmp_path / "s") == before


# ---- the embedding cache ----------------------------------------------------------------------------------
def test_a_read_only_embedding_cache_is_a_disk_error_and_keeps_its_vectors(tmp_path):
    import sqlite3

    cache = EmbeddingCache(tmp_path, "hash-4")
    cache.put({"a": np.ones(4, dtype=np.float32)})
    cache._db.close()
    cache._db = sqlite3.connect(f"file:{cache.path}?mode=ro", uri=True, check_same_thread=False)
    with pytest.raises(DiskError, match="embedding cache") as info:
        cache.put({"b": np.zeros(4, dtype=np.float32), "c": np.ones(4, dtype=np.float32)})
    assert "writable" in info.value.hint
    cache.close()
    again = EmbeddingCache(tmp_path, "hash-4")
    assert sorted(again.get(["a", "b", "c"])) == ["a"] and len(again) == 1


# ---- the vector store (embedded Chroma) -------------------------------------------------------------------
CHILD = """
import json, os, resource, signal, sys
import numpy as np
from bundlebot.config.retrieval import StoreConfig
from bundlebot.errors import BundlebotError
from retrieval.store import VectorStore
from retrieval.types import Event

folder, shop = sys.argv[1], sys.argv[2]
s = VectorStore(StoreConfig(), folder).shop(shop)
history = s.history.path  # the shopper history's SQLite file (and its WAL) inside the store folder
limit = max(os.path.getsize(p) for p in history.parent.glob(history.name + "*"))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write then fails with EFBIG instead of killing
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # no file may grow: a full disk, for this process
events = [Event(f"new{i}", f"i{i % 30}", 1.7e9 + i, "view", 1) for i in range(3000)]
vecs = np.ones((len(events), 16), dtype=np.float32) / 4.0
try:
    s.add_events(events, vecs)
    print(json.dumps({"code": None}))
except BundlebotError as exc:
    print(json.dumps({"code": exc.code, "status": exc.status, "hint": exc.hint}))
"""


def test_events_refused_by_a_full_store_disk_are_a_disk_error_and_keep_the_history(tmp_path):
    folder = tmp_path / "chroma"
    s = VectorStore(StoreConfig(), folder).shop("shop")
    s.upsert_items(ITEMS, np.ones((len(ITEMS), 16), dtype=np.float32) / 4.0)
    s.add_events(EVENTS, np.ones((len(EVENTS), 16), dtype=np.float32) / 4.0)
    history = {f"s{i}": s.history_query(f"s{i}", np.ones(16, dtype=np.float32) / 4.0, k=50) for i in range(5)}
    count = s.history_count()
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), "shop"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["code"] == "disk_error" and got["status"] == 507, got  # not store_error's "delete the folder"
    assert "free space" in got["hint"] and str(folder) in got["hint"] and "delete" not in got["hint"]
    after = VectorStore(StoreConfig(), folder).shop("shop")
    assert after.history_count() == count and after.count() == len(ITEMS)
    assert {k: after.history_query(k, np.ones(16, dtype=np.float32) / 4.0, k=50) for k in history} == history


# ---- the learned ranker -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fails", ["model.txt.tmp", "manifest.json.tmp"])
def test_a_refused_ranker_save_keeps_the_fitted_ranker(tmp_path, monkeypatch, fails):
    from retrieval.ranker import MODEL_FILE, RankingData, fit, load_ranker, ranker_dir, save
    from tests.retrieval.test_ranker import _groups

    ranker, info = fit(RankingData.stack(_groups(30, 3)), RankingData.stack(_groups(10, 4)), rounds=5)
    save(tmp_path, "shop", ranker, info)
    folder = ranker_dir(tmp_path, "shop")
    before = files(folder)
    real = Path.write_text

    def refused(self, *a, **kw):
        if self.name == fails:
            real(self, "half a fi")  # a partial write, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "write_text", refused)
    with pytest.raises(DiskError, match="learned ranker") as info_:  # a refit on a full disk
        save(tmp_path, "shop", ranker, {**info, "rounds": 1})
    assert "free space" in info_.value.hint
    assert files(folder) == before and (folder / MODEL_FILE).is_file()  # model and manifest as they were
    assert load_ranker(tmp_path, "shop") is not None
