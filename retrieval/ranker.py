"""A shop's learned ranker: LightGBM LambdaRank over ``features.FEATURES``, fitted on the shop's own train split.

LightGBM because it ranks (``lambdarank`` optimises NDCG over each request's candidates directly), takes
monotone constraints and missing values natively, predicts 100 rows in about a millisecond, gives exact
per-feature contributions (``pred_contrib``: TreeSHAP, summing to the prediction), and ships as a plain wheel
for every platform; XGBoost and CatBoost do the same but are 5-20x larger installs.

Files, in ``<home>/shops/<shop>/ranker/``: ``model.txt`` (LightGBM's text format) and ``manifest.json``
(features, library versions, the fit's data hash, dev metrics, wall time, ``scale``). A shop whose fit found
too little data has a manifest with ``status: "hand"`` and no model: it keeps the hand weights, and says so.

The prediction is multiplied by ``scale`` (the hand scores' spread over the learned ones' on the train rows)
so that the substitute penalty, which training pools never exercise (nothing is chosen yet), can be added in
the hand reranker's own units when assembly re-ranks after a pick.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bundlebot.errors import DataError
from bundlebot.paths import writing
from retrieval.faults import crash_point
from retrieval.features import FEATURES, GROUPS, MONOTONE

log = logging.getLogger(__name__)

MODEL_FILE, MANIFEST_FILE = "model.txt", "manifest.json"
MIN_GROUPS = 50
"""A shop with fewer training requests whose pool holds a bought item keeps the hand weights."""
PARAMS: dict[str, Any] = {
    "objective": "lambdarank", "metric": "ndcg", "eval_at": [10], "learning_rate": 0.05, "num_leaves": 15,
    "min_data_in_leaf": 50, "feature_fraction": 0.9, "lambdarank_truncation_level": 30, "verbosity": -1,
    "deterministic": True, "force_row_wise": True, "num_threads": 2, "seed": 7}
"""15 leaves, 50 rows a leaf: on the dev splits as good as 31 / 20 and 7 / 100 (within 0.005 recall@10 on
each of the three shops), and the smaller model."""
ROUNDS, PATIENCE = 400, 40


def ranker_dir(home: Path, shop: str) -> Path:
    return home / "shops" / shop / "ranker"


@dataclass
class RankingData:
    """Training rows: one group per request, its candidates' features and whether each was bought."""

    x: np.ndarray
    y: np.ndarray
    groups: list[int]
    hand: np.ndarray
    """The hand reranker's score of each row (for ``scale``)."""

    @classmethod
    def empty(cls) -> RankingData:
        return cls(np.zeros((0, len(FEATURES)), np.float32), np.zeros(0, np.int32), [], np.zeros(0, np.float32))

    @classmethod
    def stack(cls, parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> RankingData:
        """From (x, y, hand) per request; requests without a positive teach LambdaRank nothing and are dropped."""
        kept = [p for p in parts if len(p[1]) and p[1].max() > 0]
        if not kept:
            return cls.empty()
        return cls(np.concatenate([p[0] for p in kept]), np.concatenate([p[1] for p in kept]).astype(np.int32),
                   [len(p[1]) for p in kept], np.concatenate([p[2] for p in kept]).astype(np.float32))


@dataclass
class LearnedRanker:
    booster: Any
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def scale(self) -> float:
        return float(self.manifest.get("scale", 1.0))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(self.booster.predict(x, num_threads=1), dtype=np.float64)

    def breakdowns(self, x: np.ndarray, substitute: np.ndarray) -> list[dict[str, float]]:
        """Per row, the contributions grouped into the breakdown's terms (+ ``base``, the model's mean), with
        the hand ``substitute`` penalty; each row sums to the item's score."""
        contrib = self.scale * np.asarray(self.booster.predict(x, pred_contrib=True, num_threads=1))
        col = {f: i for i, f in enumerate(FEATURES)}
        grouped = {g: contrib[:, [col[f] for f in fs if f != "substitute"]].sum(axis=1) for g, fs in GROUPS.items()}
        grouped["substitute"] = np.asarray(substitute, dtype=np.float64)
        grouped["base"] = contrib[:, -1]
        return [{g: round(float(v[i]), 6) for g, v in grouped.items()} for i in range(len(x))]

    def importances(self) -> dict[str, float]:
        """Each feature's share of the total gain."""
        gain = np.asarray(self.booster.feature_importance(importance_type="gain"), dtype=np.float64)
        total = gain.sum() or 1.0
        return {f: round(float(g / total), 4) for f, g in zip(FEATURES, gain, strict=True)}


def load_ranker(home: Path, shop: str) -> LearnedRanker | None:
    """The shop's fitted ranker, or None (not fitted, or fitted to ``hand``). A model whose features are not
    this code's is refused: a silently misaligned column would rank nonsense."""
    folder = ranker_dir(home, shop)
    manifest = read_manifest(home, shop)
    if manifest is None or manifest.get("status") != "learned" or not (folder / MODEL_FILE).is_file():
        return None
    if list(manifest.get("features", [])) != list(FEATURES):
        raise DataError(f"the ranker of shop {shop!r} was fitted on other features",
                        hint=f"refit it: bundlebot fit --shop {shop}")
    import lightgbm as lgb

    return LearnedRanker(lgb.Booster(model_file=str(folder / MODEL_FILE)), manifest)


def ranker_status(home: Path, shop: str, mode: str = "auto") -> tuple[str, str | None]:
    """("learned" | "hand", why the hand weights) for a shop served with ``retrieval.ranker = mode``."""
    if mode == "hand":
        return "hand", "configured: retrieval.ranker = 'hand'"
    try:
        m = read_manifest(home, shop)
    except DataError as exc:
        return "hand", exc.message
    if m is None:
        return "hand", f"not fitted: bundlebot fit --shop {shop}"
    if m.get("status") != "learned":
        return "hand", str(m.get("reason") or "the fit kept the hand weights")
    return "learned", None


def read_manifest(home: Path, shop: str) -> dict[str, Any] | None:
    path = ranker_dir(home, shop) / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}", hint="refit: bundlebot fit --shop <shop>") from exc


def fit(train: RankingData, dev: RankingData, rounds: int = ROUNDS) -> tuple[LearnedRanker, dict[str, Any]]:
    """LambdaRank on ``train``, early-stopped on ``dev``'s NDCG@10; returns the ranker and what the manifest
    records of the fit (the caller adds the data description)."""
    import lightgbm as lgb

    t0 = time.perf_counter()
    params = {**PARAMS, "monotone_constraints": [MONOTONE.get(f, 0) for f in FEATURES]}
    dtrain = lgb.Dataset(train.x, label=train.y, group=train.groups, feature_name=list(FEATURES),
                         free_raw_data=False)
    valid = [lgb.Dataset(dev.x, label=dev.y, group=dev.groups, reference=dtrain)] if dev.groups else []
    callbacks = [lgb.early_stopping(PATIENCE, verbose=False)] if valid else []
    booster = lgb.train(params, dtrain, num_boost_round=rounds, valid_sets=valid, callbacks=callbacks)
    raw = np.asarray(booster.predict(train.x, num_threads=1))
    scale = float(np.std(train.hand) / np.std(raw)) if np.std(raw) > 0 else 1.0
    info = {"status": "learned", "library": f"lightgbm {lgb.__version__}", "features": list(FEATURES),
            "params": {k: v for k, v in params.items() if k != "monotone_constraints"},
            "monotone": {f: MONOTONE[f] for f in FEATURES if f in MONOTONE},
            "rounds": int(booster.best_iteration or booster.current_iteration()), "scale": round(scale, 6),
            "train_requests": len(train.groups), "train_rows": int(len(train.y)),
            "dev_requests": len(dev.groups), "fit_s": round(time.perf_counter() - t0, 2)}
    ranker = LearnedRanker(booster, info)
    info["importance"] = ranker.importances()
    return ranker, info


def save(home: Path, shop: str, ranker: LearnedRanker | None, manifest: dict[str, Any]) -> Path:
    """Write the model (if any) and the manifest. Both go to temporaries first, so a disk that refuses them
    (full, read-only: DiskError) leaves the stored pair as it was; then the old manifest goes, the model is
    renamed in and the manifest last, so a crash leaves no manifest that names a model not fully written."""
    folder = ranker_dir(home, shop)
    model_tmp, manifest_tmp = folder / (MODEL_FILE + ".tmp"), folder / (MANIFEST_FILE + ".tmp")
    with writing(f"the learned ranker of shop {shop!r}", folder, discard=(model_tmp, manifest_tmp)):
        folder.mkdir(parents=True, exist_ok=True)
        if ranker is not None:  # the text save_model writes, written by Python so a refused write is an OSError
            model_tmp.write_text(ranker.booster.model_to_string())
        manifest_tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    crash_point("ranker")
    (folder / MANIFEST_FILE).unlink(missing_ok=True)
    if ranker is not None:
        model_tmp.replace(folder / MODEL_FILE)
    else:
        (folder / MODEL_FILE).unlink(missing_ok=True)
    crash_point("ranker-swap")
    manifest_tmp.replace(folder / MANIFEST_FILE)
    return folder
