"""Smoke evaluation on the real indexed demo shop: baselines and bundlebot in the same run, one report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.build import budget_cases
from evaluation.cli import run_suites
from evaluation.runner import Runner, SuiteRun, sample
from evaluation.suites import SUITES_DIR, load_suite, write_suite
from evaluation.variants import Answer, from_result, make_variants

# The LLM variants cost seconds per case here: the bundle-intent run in EVALUATION.md exercises them.
VARIANTS = ["popularity", "personal-popularity", "embedding", "reranker"]


@pytest.fixture(scope="module")
def budget_suite(tmp_path_factory, online_retail, demo_shoppers) -> Path:
    """Three real budget cases (test invoices) of shoppers whose history the demo index holds."""
    keep = set(demo_shoppers)
    cases = [c for c in budget_cases(online_retail, "test") if c.shopper in keep]
    return write_suite(sample(cases, 3, key=lambda c: c.id), tmp_path_factory.mktemp("suites") / "budget.jsonl")


@pytest.fixture(scope="module")
def smoke_run(demo_config, budget_suite, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval-out")
    run_suites(demo_config, [str(budget_suite), "constraints"], VARIANTS, 3, "test", None, None, False, out)
    return out


def test_smoke_eval_writes_one_report_with_every_variant(smoke_run: Path) -> None:
    data = json.loads((smoke_run / "results.json").read_text())
    assert set(data["suites"]) == {"budget", "constraints"}
    budget = data["suites"]["budget"]
    assert set(budget["cases"]) == {"popularity", "personal-popularity", "embedding", "reranker"}
    for variant, recs in budget["cases"].items():
        assert len(recs) == 3, variant
        for r in recs:  # real invoices: every answer must stay within the invoice total, catalog items only
            assert r["metrics"]["errors"] == 0, r
            assert r["metrics"]["within_budget"] == 1.0, (variant, r)
            assert r["metrics"]["invalid_items"] == 0 and r["metrics"]["invented_prices"] == 0, r
            if r["answer"]["items"]:  # every variant, baselines too, is measured as a bundle
                assert 0.0 <= r["metrics"]["kind_diversity"] <= 1.0 and 0.0 <= r["metrics"]["accessory_share"] <= 1.0
                assert len(r["answer"]["items"]) < 2 or 0.0 <= r["metrics"]["cobought"] <= 1.0
    report = (smoke_run / "report.md").read_text()
    assert "## budget (3 cases)" in report and "| within_budget |" in report
    assert "| recall@10 |" in report and "reranker" in report
    assert "## Rankers" in report and "| demo | hand (not fitted" in report
    assert "| kind_diversity |" in report and "| kind_diversity_unasked |" in report and "| cobought |" in report
    assert "### Paired differences" in report and "| recall@10 | reranker − personal-popularity |" in report
    assert (smoke_run / "budget-metrics.png").stat().st_size > 1000
    assert (smoke_run / "constraints-latency.png").is_file()


def test_a_run_cut_short_keeps_the_suites_it_finished(demo_config, budget_suite, tmp_path, monkeypatch) -> None:
    real = Runner.run

    def run(self, name, cases, variants):  # type: ignore[no-untyped-def]
        if name == "constraints":
            raise KeyboardInterrupt  # the session ends during the second suite
        return real(self, name, cases, variants)

    monkeypatch.setattr(Runner, "run", run)
    with pytest.raises(KeyboardInterrupt):
        run_suites(demo_config, [str(budget_suite), "constraints"], ["popularity"], 3, "test", None, None, False,
                   tmp_path, False)
    data = json.loads((tmp_path / "results.json").read_text())
    assert set(data["suites"]) == {"budget"} and data["meta"]["partial"] == "1 of 2 suites"
    assert len(data["suites"]["budget"]["cases"]["popularity"]) == 3
    assert "Partial report: 1 of 2 suites" in (tmp_path / "report.md").read_text()


def test_bundlebot_meets_hand_written_constraints(smoke_run: Path) -> None:
    data = json.loads((smoke_run / "results.json").read_text())
    recs = data["suites"]["constraints"]["cases"]["reranker"]
    assert len(recs) == 3
    for r in recs:
        m = r["metrics"]
        assert m["errors"] == 0 and m["invalid_items"] == 0 and m["invented_prices"] == 0, r
        assert m["within_budget"] in (None, 1.0), r


def test_same_command_same_numbers(demo_config, budget_suite) -> None:
    runner = Runner(demo_config, progress=False)
    cases = load_suite(budget_suite)[:1]
    variants = make_variants(["personal-popularity", "reranker"], demo_config, explain=False)
    first = runner.run("budget", cases, variants)
    second = runner.run("budget", cases, variants)

    def strip(run: SuiteRun) -> dict:
        return {v: [({k: x for k, x in r["metrics"].items() if k != "latency_ms"}, r["answer"]) for r in recs]
                for v, recs in run.results.items()}

    assert strip(first) == strip(second)


def test_robustness_shop_with_injected_catalog_text(demo_config) -> None:
    """The runner indexes the robustness shop (demo items + injected descriptions) and survives junk input."""
    runner = Runner(demo_config, progress=False)
    cases = [c for c in load_suite(SUITES_DIR / "robustness.jsonl") if c.id in ("rob-01", "rob-03", "rob-08")]
    run = runner.run("robustness", cases, make_variants(["reranker"], demo_config, explain=False))
    shop = runner.shops["robustness"]
    assert "INJ-TEAPOT" in shop.items and len(shop.items) == 304
    recs = {r["id"]: r for r in run.results["reranker"]}
    assert all(r["metrics"]["errors"] == 0 for r in recs.values()), recs
    assert recs["rob-01"]["answer"]["items"] == []  # an empty message is refused, not answered
    assert recs["rob-08"]["metrics"]["within_budget"] == 1.0
    assert recs["rob-08"]["metrics"]["invented_prices"] == 0, recs["rob-08"]


def test_http_answer_maps_the_turn_response_shape() -> None:
    body = {"bundle": {"items": [{"id": "22423", "price": 12.75}], "total": 12.75, "ranked": ["22423", "x"],
                       "unmet": []},
            "constraints": {"budget": 20.0}, "explanation": "A cakestand for £12.75.", "grounded": True}
    res = dict(body["bundle"], constraints=body["constraints"], explanation=body["explanation"], grounded=True)
    ans = from_result(res, res)
    assert ans == Answer(items=[("22423", 12.75)], ranked=["22423", "x"], total=12.75,
                         explanation="A cakestand for £12.75.", grounded=True, stated_budget=20.0,
                         first_items=["22423"], first_total=12.75)


def test_the_learned_variant_ranks_with_the_shops_ranker_and_reranker_with_the_hand_weights(demo_config) -> None:
    from evaluation.variants import variant_config

    assert variant_config(demo_config, "reranker", False).retrieval.ranker == "hand"
    learned = variant_config(demo_config, "learned", True)
    assert learned.retrieval.ranker == "auto" and not learned.assistant.fusion and not learned.assistant.explain
    assert variant_config(demo_config, "base", True).retrieval.ranker == "auto"
    assert demo_config.retrieval.ranker == "auto"  # the base config is never changed


def test_a_shop_the_run_indexes_gets_its_ranker_fitted_once(tmp_path) -> None:
    """A fresh machine's run indexes its shops: each is fitted too (else "learned" is the hand weights)."""
    from bundlebot.config import AppConfig
    from bundlebot.config.retrieval import EmbedderConfig, RetrievalConfig
    from evaluation.cli import fit_ranker
    from evaluation.shops import robustness_catalog
    from retrieval.ranker import read_manifest

    cfg = AppConfig(home=str(tmp_path), retrieval=RetrievalConfig(embedder=EmbedderConfig(kind="hash")))
    fitted: list[tuple[str, str]] = []

    def fit(config, shop, spec, progress):  # type: ignore[no-untyped-def]
        fitted.append((shop, spec))
        fit_ranker(config, shop, spec, progress)

    runner = Runner(cfg, progress=False, fit=fit)
    runner.shop("robustness")
    runner.shop("robustness")
    assert fitted == [("robustness", str(robustness_catalog(cfg)))]
    manifest = read_manifest(cfg.home_path, "robustness")
    assert manifest is not None and manifest["status"] == "hand" and "no train baskets" in manifest["reason"]
    Runner(cfg, progress=False, fit=fit).shop("robustness")  # indexed already: a later run fits nothing
    assert len(fitted) == 1
