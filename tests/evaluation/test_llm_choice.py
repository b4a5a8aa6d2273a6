"""`bundlebot eval llm` (evaluation/llm_cases.py, evaluation/llm_choice.py): base vs adapter on the same inputs.

The measurement runs on real dev cases (BundleRec food through a real Chroma index) with a tiny random Llama
and a tiny LoRA trained on real builder examples; the cached inputs are checked against the prompts the live
service renders for a real demo-shop case with history.
"""

from __future__ import annotations

import json
from copy import deepcopy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from evaluation import cli
from evaluation.llm_cases import case_input, choose_prompt, judge_prompts
from evaluation.llm_choice import grounding, measure, rescore, score_case, write
from tests.assistant.fakes import FakeGenerator, FakeRetriever

SUITE = "bundle-intent"


@pytest.fixture(scope="module")
def adapter(tmp_path_factory, tiny_model_dir, real_examples, small_train_config) -> Path:
    """A tiny choice LoRA, a few steps on the real examples (enough to score unlike the base)."""
    from assistant.modelfiles import base_model_fingerprint
    from finetune.train import train

    out = tmp_path_factory.mktemp("llm-adapter")
    cfg = replace(small_train_config, train=replace(small_train_config.train, max_steps=4, eval_every=100))
    return train(cfg, model_dir=tiny_model_dir, data_dir=real_examples[0], out=out / "adapter",
                 base=base_model_fingerprint(tiny_model_dir), checkpoints=out / "ckpt", progress=False).out


@pytest.fixture(scope="module")
def app(ft_app_config, tiny_model_dir):
    app = deepcopy(ft_app_config)
    app.assistant.generator.path = str(tiny_model_dir)
    app.assistant.generator.max_new_tokens = 12
    return app


@pytest.fixture(scope="module")
def measured(app, adapter, tmp_path_factory) -> tuple[dict[str, Any], Path]:
    """Four real dev cases of bundle-intent scored by both models, and the cache their inputs went to."""
    cache = tmp_path_factory.mktemp("llm-cache")
    return measure(app, "dev", 4, adapter, suites=(SUITE,), threads=1, cache=cache), cache


def _strip(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report["suites"][SUITE].items() if k not in ("rows", "seconds")}


def test_both_models_score_one_rendering_of_the_same_case() -> None:
    shop = FakeRetriever()
    case = {"id": "c", "query": "tea party", "ids": ["T1", "N1", "C1"], "gold": ["N1"],
            "scored": [["T1", 0.9], ["N1", 0.8], ["C1", 0.7], ["K1", 0.1]],
            "history": [["M1", 1291161600.0, "purchase"]]}
    gens = {"base": FakeGenerator(), "lora": FakeGenerator(probs=[0.1, 0.8, 0.1])}
    row = score_case(gens, case, shop.item, (0.5, 0.8), "choice")
    assert gens["base"].scored == gens["lora"].scored == [choose_prompt(case, shop.item)]
    assert "Mug home sweet home (bought 2010-12-01)" in gens["base"].scored[0][1]["content"]
    assert row["history"] and row["lora_hit1"] and not row["base_hit1"] and row["rerank_hit1"] is False
    row = score_case(gens, case, shop.item, (0.5, 0.8), "judge")
    assert gens["base"].judged == gens["lora"].judged == [judge_prompts(case, shop.item)]
    assert row["lora_probs"] == [0.1, 0.9, 0.1]  # the fake's P(yes): only the napkins fit


def test_cached_inputs_render_the_prompts_the_live_service_scores(demo_config, demo_retriever, online_retail,
                                                                 demo_shoppers) -> None:
    """Real budget cases of demo shoppers (history lines in their prompts): the inputs kept as data, through a
    JSON round trip, render exactly the choose and judge prompts the service gives the model for the turn."""
    from assistant.service import ShoppingAssistant
    from evaluation.build import budget_cases
    from evaluation.runner import sample

    keep = set(demo_shoppers)
    cases = sample([c for c in budget_cases(online_retail, "test") if c.shopper in keep], 2, key=lambda c: c.id)
    for scoring in ("choice", "judge"):
        cfg = deepcopy(demo_config)
        cfg.assistant.llm_scoring = scoring
        cfg.assistant.fusion = True  # off by default; these prompts are what fusion asks
        gen = FakeGenerator()
        bot = ShoppingAssistant(cfg, "demo", generator=gen, retriever=demo_retriever)
        for case in cases:
            cached = json.loads(json.dumps(case_input(cfg, demo_retriever, case, cfg.assistant.llm_candidates)))
            assert cached["history"] and len(cached["ids"]) >= 2  # the service asks the model
            asked = len(gen.scored) + len(gen.judged)
            bot.turn(case.turns[0], shopper=case.shopper, explain=False)
            assert len(gen.scored) + len(gen.judged) == asked + 1
            if scoring == "choice":
                assert gen.scored[-1] == choose_prompt(cached, demo_retriever.item)
            else:
                assert gen.judged[-1] == judge_prompts(cached, demo_retriever.item)


def test_measure_compares_base_and_adapter_on_the_same_inputs(measured, app, adapter) -> None:
    report, cache = measured
    rep = report["suites"][SUITE]
    assert rep["cases"] == 4 and 0.0 <= rep["coverage"] <= 1.0
    assert report["fusion_weight"] == app.assistant.fusion_weight  # the config's weights, no other default
    assert report["fusion_weight_no_history"] == app.assistant.fusion_weight_no_history
    assert {"base_hit@1", "lora_hit@1", "rerank_hit@1", "lora-base_hit@1", "base_fused_hit@1",
            "lora_fused_recall@3", "lora-base_fused_hit@1", "lora-base_fused_recall@3", "fusion_sweep"} <= set(rep)
    assert [p.name for p in cache.iterdir()] == ["bundle-intent-dev-n4-seed0-k12-v4.json"]
    cached = json.loads((cache / "bundle-intent-dev-n4-seed0-k12-v4.json").read_text())
    assert set(cached[0]) == {"id", "query", "shopper", "ids", "gold", "scored", "history"}
    again = measure(app, "dev", 4, adapter, suites=(SUITE,), threads=1, cache=cache)
    assert again["suites"][SUITE]["rows"] == rep["rows"]  # the cached inputs score exactly the same
    for row in rep["rows"]:  # every usable candidate is kept, the first k of them were shown
        assert [i for i, _ in row["scored"]][: row["n"]] == row["ids"] and len(row["base_probs"]) == row["n"]
    # bundle intents come with no shopper: every case takes the no-history weight
    assert not any(r["history"] for r in rep["rows"])
    alone = measure(app, "dev", 4, adapter, suites=(SUITE,), threads=1, cache=cache, base=False)["suites"][SUITE]
    assert "base_hit@1" not in alone  # the adapter alone on the same inputs: the same probabilities
    assert [r["lora_probs"] for r in alone["rows"]] == [r["lora_probs"] for r in rep["rows"]]


def test_rescore_moves_only_the_fused_figures(measured) -> None:
    report, _ = measured
    rep, sweep = report["suites"][SUITE], report["suites"][SUITE]["fusion_sweep"]
    copy = lambda: json.loads(json.dumps(report))  # noqa: E731 - rescore re-judges the rows it is given
    # at weight 0 the model does not count; judging again at the measured weights changes nothing
    assert sweep["0.0"]["base_hit@1"] == sweep["0.0"]["lora_hit@1"] == rep["rerank_hit@1"]
    assert sweep["0.0"]["base_recall@3"] == sweep["0.0"]["lora_recall@3"] == rep["rerank_recall@3"]
    at = (report["fusion_weight"], report["fusion_weight_no_history"])
    assert _strip(rescore(copy(), at)) == _strip(report)
    w = rescore(copy(), (0.7, None))["suites"][SUITE]
    assert w["lora_fused_hit@1"] == sweep["0.7"]["lora_hit@1"]
    assert w["base_fused_recall@3"] == sweep["0.7"]["base_recall@3"]
    assert w["lora_hit@1"] == rep["lora_hit@1"]  # the LLM alone does not depend on the weight
    # no case has history lines, so only the no-history weight counts
    assert _strip(rescore(copy(), (0.0, 0.7))) == _strip(rescore(copy(), (0.7, None)))
    assert _strip(rescore(copy(), (0.7, 0.0))) == _strip(rescore(copy(), (0.0, None)))


def test_eval_llm_rescore_cli_writes_results_and_report(measured, tmp_path) -> None:
    report, _ = measured
    saved = tmp_path / "dev"
    write(report, saved)
    group = typer.Typer()
    cli.register(group)
    out = tmp_path / "dev-0.7"
    res = CliRunner().invoke(group, ["eval", "llm", "--rescore", str(saved / "results.json"), "--fusion-weight",
                                     "0.7", "--fusion-weight-no-history", "0.7", "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = json.loads((out / "results.json").read_text())  # no model was loaded for it
    assert got["suites"][SUITE] == json.loads(json.dumps(rescore(json.loads(json.dumps(report)), (0.7, 0.7))))[
        "suites"][SUITE]
    assert got["meta"]["command"].startswith("bundlebot") and got["fusion_weight"] == 0.7
    md = (out / "report.md").read_text()
    assert md in res.stdout and f"## {SUITE} (4 cases" in md
    assert "| fused hit@1 |" in md and "| lora − base (95% CI) |" in md and "| 0.7 |" in md
    res = CliRunner().invoke(group, ["eval", "llm", "--rescore", str(saved / "results.json"), "--out", str(out)])
    assert res.exit_code == 0, res.output  # without weights: the config's
    from bundlebot.config import load_config

    cfg = load_config()
    got = json.loads((out / "results.json").read_text())
    assert (got["fusion_weight"], got["fusion_weight_no_history"]) == (cfg.assistant.fusion_weight,
                                                                       cfg.assistant.fusion_weight_no_history)


def test_judge_scoring_scores_each_shown_candidate_on_its_own(measured, app, adapter) -> None:
    """The same cached cases scored pointwise (``--scoring judge``): one P(yes) per shown candidate."""
    _, cache = measured
    choice = measure(app, "dev", 4, adapter, suites=(SUITE,), threads=1, cache=cache, base=False)
    judged = measure(app, "dev", 4, adapter, suites=(SUITE,), threads=1, cache=cache, base=False, scoring="judge")
    assert (choice["scoring"], judged["scoring"]) == ("choice", "judge")  # a choice adapter: "auto" is choice
    for a, b in zip(choice["suites"][SUITE]["rows"], judged["suites"][SUITE]["rows"], strict=True):
        assert a["ids"] == b["ids"] and len(b["lora_probs"]) == b["n"]
        assert all(0 < p < 1 for p in b["lora_probs"]) and b["lora_probs"] != a["lora_probs"]


@pytest.fixture(scope="module")
def explain_adapter(tmp_path_factory, tiny_model_dir, real_examples, small_train_config) -> Path:
    """A tiny explanation adapter (manifest task "explain"): two steps on the real examples' explanations."""
    import json

    from assistant.modelfiles import base_model_fingerprint
    from finetune.train import train

    out = tmp_path_factory.mktemp("explain-adapter")
    lines = (real_examples[0] / "train.jsonl").read_text().splitlines()
    rows = [r for r in lines if json.loads(r)["kind"] == "explain"]
    assert rows
    for split in ("train", "dev"):
        (out / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    cfg = replace(small_train_config, data=replace(small_train_config.data, task="explain"),
                  train=replace(small_train_config.train, max_steps=2, eval_every=100))
    return train(cfg, model_dir=tiny_model_dir, data_dir=out, out=out / "adapter",
                 base=base_model_fingerprint(tiny_model_dir), checkpoints=out / "ckpt", progress=False).out


def test_grounding_explains_the_same_bundle_with_each_model(app, explain_adapter, adapter, tmp_path) -> None:
    """Fusion off, so both models explain the same bundle; the live check judges each text."""
    g = grounding(app, explain_adapter, ["pasta dinner for two", ("breakfast tea and biscuits", None)],
                  shop="bundlerec-food")["grounding"]
    assert g["bundles"] == 2 and len(g["rows"]) == 2 and "lora-base_grounded" in g and "lora-base_passed" in g
    for row in g["rows"]:  # a random tiny LM writes noise: the live check must reject it for both models
        assert row["base_grounded"] is False and row["lora_grounded"] is False
        assert row["base_passed"] is False and row["base_problems"] and row["lora_problems"]
        # what the model streamed is kept beside the shown (deterministic) text; the tiny LM writes ~nothing
        assert isinstance(row["base_model_text"], str) and row["base_model_text"] != row["base_text"]
    assert sum(g["base_problems"].values()) >= 2
    md = (write({"grounding": g}, tmp_path / "g")).read_text()
    assert "## grounding (2 bundles, shop bundlerec-food)" in md and "| grounded |" in md and "| passed |" in md
    # a scoring adapter never writes explanations: with one, only the base model is measured
    only = grounding(app, adapter, ["pasta dinner for two"], shop="bundlerec-food")["grounding"]
    assert "lora_grounded" not in only and only["adapter"] is None
