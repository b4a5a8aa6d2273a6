"""LLM preference scoring and fusion: real candidates only, switchable off, robust to a misbehaving model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.fusion import choose_messages, fuse, llm_scores
from retrieval.types import Item, ScoredItem
from tests.assistant.fakes import CATALOG, FakeGenerator


def cands(n: int = 5) -> list[ScoredItem]:
    return [ScoredItem(CATALOG[i], 1.0 - 0.1 * i, {"relevance": 1.0 - 0.1 * i}) for i in range(n)]


def test_weight_zero_or_no_probs_keeps_reranker_order() -> None:
    base = [s.item.id for s in cands()]
    assert [s.item.id for s in fuse(cands(), None, weight=0.9)] == base
    assert [s.item.id for s in fuse(cands(), [0, 0, 0, 0, 1.0], weight=0.0)] == base


def test_llm_can_lift_a_candidate_and_breakdown_records_it() -> None:
    out = fuse(cands(), [0.0, 0.0, 0.0, 0.0, 1.0], weight=0.9)
    assert out[0].item.id == CATALOG[4].id
    assert out[0].breakdown["llm_prob"] == 1.0 and "rerank" in out[0].breakdown


@settings(max_examples=100, deadline=None)
@given(scores=st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=20),
       probs=st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=20), w=st.floats(0, 1))
def test_fusion_only_reorders_real_candidates(scores, probs, w) -> None:
    cs = [ScoredItem(Item(f"i{i}", "X"), s) for i, s in enumerate(scores)]
    out = fuse(cs, probs[: len(cs)], weight=w)
    assert sorted(s.item.id for s in out) == sorted(s.item.id for s in cs)
    assert all(-1e-9 <= s.score <= 1 + 1e-9 for s in out)


@pytest.mark.parametrize("bad", [[0.5], [float("nan")] * 3, [-1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
def test_malformed_llm_scores_fall_back_to_reranker(bad) -> None:
    assert llm_scores(FakeGenerator(probs=bad), [{"role": "user", "content": "x"}], 3) is None


def test_choose_prompt_letters_every_candidate() -> None:
    msgs = choose_messages("tea party", cands(4))
    user = msgs[1]["content"]
    assert "D. " in user and "E. " not in user and "A-D" in user and msgs[-1]["role"] == "assistant"


def test_scoring_with_a_tiny_real_causal_lm() -> None:
    """The real Generator code path on a tiny random Llama with the real SmolLM2 tokenizer."""
    from assistant.llm import Generator
    from tests.tiny_lm import make_tiny_lm, smollm2_tokenizer_dir

    model, tok = make_tiny_lm(smollm2_tokenizer_dir(), seed=0)
    gen = Generator(model, tok)
    probs = llm_scores(gen, choose_messages("tea party", cands(5)), 5)
    assert probs is not None and len(probs) == 5 and abs(sum(probs) - 1) < 1e-5
    assert llm_scores(gen, choose_messages("tea party", cands(5)), 5) == probs  # deterministic
    assert len(fuse(cands(), probs, weight=0.35)) == 5


def test_judge_prompts_show_one_candidate_each_without_letters() -> None:
    from assistant.fusion import judge_messages
    from assistant.prompting import item_line

    prompts = judge_messages("tea party", cands(3))
    assert len(prompts) == 3
    for p, s in zip(prompts, cands(3), strict=True):
        user = p[1]["content"]
        assert user.endswith("Does this candidate fit the request? Reply yes or no.")
        assert f"<catalog>\n{item_line(s.item)}\n</catalog>" in user and "A. " not in user
        assert p[-1] == {"role": "assistant", "content": "Answer:"}
    # everything before the item is the same, so the batch shares one KV cache for it
    heads = {p[1]["content"].split("<catalog>")[0] for p in prompts}
    assert len(heads) == 1


@pytest.mark.parametrize(("configured", "task", "mode"), [
    ("auto", "choice", "choice"), ("auto", "judge", "judge"), ("choice", "judge", "choice"),
    ("judge", "choice", "judge")])
def test_scoring_mode_follows_the_adapter_unless_configured(configured, task, mode) -> None:
    from assistant.fusion import scoring_mode

    assert scoring_mode(configured, FakeGenerator(task=task)) == mode


def test_judge_scores_rank_each_candidate_on_its_own() -> None:
    from assistant.fusion import rank_scores

    gen = FakeGenerator(yes=lambda p: 0.8 if "Regency" in p[1]["content"] else 0.2)
    probs = rank_scores(gen, "judge", "tea party", cands(4))
    assert probs == [0.8, 0.2, 0.2, 0.2] and len(gen.judged) == 1 and not gen.scored
    assert rank_scores(FakeGenerator(yes=lambda p: float("nan")), "judge", "tea party", cands(3)) is None


def test_judge_scoring_with_a_tiny_real_causal_lm() -> None:
    from assistant.fusion import rank_scores
    from assistant.llm import Generator
    from tests.tiny_lm import make_tiny_lm, smollm2_tokenizer_dir

    model, tok = make_tiny_lm(smollm2_tokenizer_dir(), seed=0)
    probs = rank_scores(Generator(model, tok), "judge", "tea party", cands(5))
    assert probs is not None and len(probs) == 5 and all(0 < p < 1 for p in probs)


def test_an_unknown_scoring_mode_is_a_config_error() -> None:
    from bundlebot.config.assistant import AssistantConfig
    from bundlebot.errors import ConfigError

    with pytest.raises(ConfigError, match="llm_scoring"):
        AssistantConfig(llm_scoring="pairwise")
    assert AssistantConfig().llm_scoring == "auto"
