"""`bundlebot index` killed with SIGKILL at each crash point (``retrieval.faults.POINTS``), then run again,
leaves exactly what an uninterrupted run leaves: the same items (metadata and vectors), history, counts, shop
metadata and co-purchase files, nothing duplicated or lost. `bundlebot fit` killed while saving the ranker
(``FIT_POINTS``) leaves a shop that ranks by hand until the refit, which writes what one clean fit writes.

The source is a real BundleRec-format folder cut from the shared bundlerec_food data (its first users, their
sessions, bundles and items), so catalog, history and co-purchase statistics all get written; every run is a
real `bundlebot index` process with the packaged MiniLM and an embedded Chroma store."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bundlebot.config import AppConfig
from retrieval.faults import ENV, FIT_POINTS, POINTS
from retrieval.store import VectorStore

SHOP = "crash"
USERS = 150


@pytest.fixture(scope="module")
def source(data_dir, tmp_path_factory) -> Path:
    """The first USERS users of bundlerec_food, with everything that refers to them, in the same format."""
    src, out = data_dir / "bundlerec_food", tmp_path_factory.mktemp("bundlerec-small")
    read = lambda name: pd.read_csv(src / name, dtype=str, keep_default_na=False)  # noqa: E731
    users = set(sorted(read("user_session.csv")["user ID"].unique(), key=int)[:USERS])
    tables = {n: read(n) for n in ("user_session.csv", "session_item.csv", "session_bundle.csv", "bundle_item.csv",
                                   "bundle_intent.csv", "user_item.csv", "user_bundle.csv", "item_titles.csv",
                                   "item_categories.csv")}
    us = tables["user_session.csv"][tables["user_session.csv"]["user ID"].isin(users)]
    sessions = set(us["session ID"])
    si = tables["session_item.csv"][tables["session_item.csv"]["session ID"].isin(sessions)]
    sb = tables["session_bundle.csv"][tables["session_bundle.csv"]["session ID"].isin(sessions)]
    bundles = set(sb["bundle ID"])
    bi = tables["bundle_item.csv"][tables["bundle_item.csv"]["bundle ID"].isin(bundles)]
    items = set(si["item ID"]) | set(bi["item ID"])
    keep = {"user_session.csv": us, "session_item.csv": si, "session_bundle.csv": sb, "bundle_item.csv": bi,
            "bundle_intent.csv": tables["bundle_intent.csv"][tables["bundle_intent.csv"]["bundle ID"].isin(bundles)],
            "user_item.csv": tables["user_item.csv"][tables["user_item.csv"]["user ID"].isin(users)
                                                     & tables["user_item.csv"]["item ID"].isin(items)],
            "user_bundle.csv": tables["user_bundle.csv"][tables["user_bundle.csv"]["user ID"].isin(users)],
            "item_titles.csv": tables["item_titles.csv"][tables["item_titles.csv"]["item ID"].isin(items)],
            "item_categories.csv": tables["item_categories.csv"][tables["item_categories.csv"]["item ID"]
                                                                 .isin(items)]}
    for name, frame in keep.items():
        frame.to_csv(out / name, index=False)
    assert len(keep["item_titles.csv"]) > 256, "more than one embedding batch, so a crash leaves a prefix"
    return out


def _index(home: Path, source: Path, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BUNDLEBOT_HOME": str(home), "TQDM_DISABLE": "1"}
    env.pop(ENV, None)
    if crash_at:
        env[ENV] = crash_at
    return subprocess.run([sys.executable, "-m", "bundlebot", "-q", "index", "--source", f"bundlerec:{source}",
                           "--shop", SHOP, "--no-fit"], env=env, capture_output=True, text=True, timeout=600)


def _snapshot(home: Path) -> dict:
    """Everything an index run leaves: items with vectors, history, counts, metadata, statistics files."""
    store = VectorStore(AppConfig(home=str(home)).retrieval.store, home / "chroma").shop(SHOP)
    ids = sorted(store.all_item_ids())
    items = {it.id: (it, np.round(v, 6).tobytes()) for it, v in store.get_items(ids, with_vectors=True)}
    meta = {k: v for k, v in store.meta().items() if k != "source"}
    stats = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted((home / "shops" / SHOP).glob("copurchase.*"))}
    return {"ids": ids, "items": items, "count": store.count(), "history": store.history_metadata(),
            "history_count": store.history_count(), "meta": meta, "stats": stats}


@pytest.fixture(scope="module")
def clean(source, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("clean-home")
    run = _index(home, source)
    assert run.returncode == 0, run.stderr[-2000:]
    return _snapshot(home)


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_any_point_then_rerun_is_the_same_as_one_clean_run(point, source, clean, tmp_path):
    killed = _index(tmp_path, source, crash_at=point)
    assert killed.returncode == -signal.SIGKILL, f"the crash point {point!r} was not reached: {killed.stderr[-800:]}"
    again = _index(tmp_path, source)
    assert again.returncode == 0, again.stderr[-2000:]
    got = _snapshot(tmp_path)
    assert got["ids"] == clean["ids"] and got["count"] == clean["count"] == len(clean["ids"])
    assert got["items"] == clean["items"]
    assert got["history"] == clean["history"] and got["history_count"] == clean["history_count"] > 0
    assert got["meta"] == clean["meta"] and got["stats"] == clean["stats"] and len(got["stats"]) == 2
    assert not list((tmp_path / "shops" / SHOP).glob("*.tmp"))  # no half-written file is left behind


def _fit(home: Path, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["BUNDLEBOT_HOME"] = str(home)
    if crash_at:
        env[ENV] = crash_at
    return subprocess.run([sys.executable, "-m", "bundlebot", "-q", "fit", "--shop", SHOP, "--requests", "80",
                           "--no-embedder"], env=env, capture_output=True, text=True, timeout=600)


def _ranker_files(home: Path) -> dict:
    """The fitted ranker as serving reads it: the model's bytes and the manifest without its timings."""
    import json

    folder = home / "shops" / SHOP / "ranker"
    manifest = json.loads((folder / "manifest.json").read_text())
    for timing in ("fit_s", "wall_s"):
        manifest.pop(timing, None)
    model = folder / "model.txt"
    return {"manifest": manifest, "model": model.read_bytes() if model.exists() else None}


@pytest.fixture(scope="module")
def clean_fit(source, tmp_path_factory) -> tuple[Path, dict]:
    home = tmp_path_factory.mktemp("clean-fit-home")
    assert _index(home, source).returncode == 0
    run = _fit(home)
    assert run.returncode == 0, run.stderr[-2000:]
    return home, _ranker_files(home)


@pytest.mark.parametrize("point", FIT_POINTS)
def test_fit_killed_while_saving_then_refit_is_the_same_as_one_clean_fit(point, source, clean_fit, tmp_path):
    from retrieval.ranker import ranker_status

    home, clean_files = clean_fit
    assert clean_files["manifest"]["status"] == "learned" and clean_files["model"]  # a model to lose
    assert _index(tmp_path, source).returncode == 0
    killed = _fit(tmp_path, crash_at=point)
    assert killed.returncode == -signal.SIGKILL, f"the crash point {point!r} was not reached: {killed.stderr[-800:]}"
    # serving after the kill: no manifest names a model that is not all there, so the shop ranks by hand
    assert ranker_status(tmp_path, SHOP)[0] == "hand"
    again = _fit(tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert _ranker_files(tmp_path) == clean_files
    assert not list((tmp_path / "shops" / SHOP / "ranker").glob("*.tmp"))
