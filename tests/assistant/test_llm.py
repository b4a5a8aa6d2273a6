"""assistant.llm on a tiny random Llama with the real SmolLM2 tokenizer (fast), plus ONE slow integration
test with the real default model (converted once into the data home's model cache). The model files, their
fingerprints and the adapter rule: tests/assistant/test_modelfiles.py."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant import llm, modelfiles
from assistant.prompting import format_bundle, format_candidates, format_reasons, render
from bundlebot.config.assistant import GeneratorConfig
from bundlebot.errors import ModelError
from retrieval.types import Item
from tests.assistant.test_modelfiles import make_adapter
from tests.tiny_lm import make_tiny_lm, save_tiny_lm, smollm2_tokenizer_dir

ITEMS = [
    Item(id=i, title=t, price=p, currency="GBP", category=c) for i, t, p, c in [
        ("22423", "REGENCY CAKESTAND 3 TIER", 10.95, ("kitchen", "cake stands")),
        ("21533", "RETROSPOT LARGE MILK JUG", 4.95, ("kitchen", "jugs")),
        ("84029E", "RED WOOLLY HOTTIE WHITE HEART.", 3.75, ("home",)),
        ("22720", "SET OF 3 CAKE TINS PANTRY DESIGN", 4.95, ("kitchen",)),
        ("23245", "ROSES REGENCY TEACUP AND SAUCER", 2.95, ("kitchen", "tea")),
    ]
]


def choose(items=ITEMS, request="hosting a tea party for six, about £25"):
    return render("choose", request=request, history="(none)", candidates=format_candidates(items),
                  n_choices=len(items))


@pytest.fixture(scope="module")
def tok_dir() -> Path:
    return smollm2_tokenizer_dir()


@pytest.fixture(scope="module")
def gen(tok_dir) -> llm.Generator:
    model, tok = make_tiny_lm(tok_dir, seed=0)
    return llm.Generator(model, tok, info={"base_id": "tiny"})


@pytest.fixture(scope="module")
def tiny_dir(tok_dir, tmp_path_factory) -> Path:
    return save_tiny_lm(tmp_path_factory.mktemp("tiny"), tok_dir, seed=1)


def test_letter_tokens_are_the_spaced_and_bare_capitals(gen):
    ids = llm.letter_token_ids(gen.tokenizer, 3)
    assert [gen.tokenizer.decode([i[0]]) for i in ids] == [" A", " B", " C"]
    assert [gen.tokenizer.decode(i[1:]) for i in ids] == ["A", "B", "C"]


@pytest.mark.parametrize("n", [1, 2, 5])
def test_choice_scores_is_a_deterministic_probability_vector(gen, n):
    p = gen.choice_scores(choose(ITEMS[:n]), n)
    assert len(p) == n and all(x >= 0 for x in p) and sum(p) == pytest.approx(1.0, abs=1e-6)
    assert gen.choice_scores(choose(ITEMS[:n]), n) == p  # bitwise: same split, same numbers


def test_choice_scores_equal_letter_probabilities_of_a_plain_forward(gen):
    msgs = choose()
    ids = torch.tensor([gen.encode(msgs)])
    with torch.inference_mode():
        probs = torch.softmax(gen.model(ids).logits[0, -1].float(), -1)
    letters = llm.letter_token_ids(gen.tokenizer, 5)
    want = torch.tensor([probs[i].sum().item() for i in letters])
    assert torch.allclose(torch.tensor(gen.choice_scores(msgs, 5)), want / want.sum(), atol=1e-5)


def test_choice_scores_rejects_an_impossible_number_of_choices(gen):
    with pytest.raises(ValueError, match="n_choices"):
        gen.choice_scores(choose(), 27)


def test_prompt_ends_with_the_open_answer_prefix(gen):
    text = gen.tokenizer.decode(gen.encode(choose()))
    assert text.endswith("<|im_start|>assistant\nAnswer:") and text.count("<|im_start|>system") == 1


def test_system_prefix_kv_reuse_gives_the_logits_of_one_full_pass(gen):
    msgs = choose()
    gen.prefix_cache_size = 0
    full, _ = gen.prefill(msgs)
    gen.prefix_cache_size = 4
    gen._prefixes.clear()
    miss, _ = gen.prefill(msgs)
    hit, _ = gen.prefill(msgs)
    assert len(gen._prefixes) == 1
    assert torch.equal(miss, hit)
    assert torch.allclose(full, hit, atol=1e-5)


def test_prefix_cache_is_not_mutated_by_decoding(gen):
    msgs = explain_msgs()
    first = "".join(gen.stream(msgs, 12))
    assert "".join(gen.stream(msgs, 12)) == first


def explain_msgs():
    return render("explain", request="tea party", bundle=format_bundle(ITEMS[:2]), total="£15.90",
                  history="(none)",
                  reasons=format_reasons([(i.title, "fits a tea party") for i in ITEMS[:2]]), facts="(none)")


def test_stream_concatenation_equals_the_raw_greedy_generate(gen):
    msgs = explain_msgs()
    ids = torch.tensor([gen.encode(msgs)])
    with torch.inference_mode():
        raw = gen.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=24, do_sample=False,
                                 eos_token_id=sorted(gen._stop_ids), pad_token_id=gen.tokenizer.pad_token_id)
    want = gen.tokenizer.decode(raw[0, ids.shape[1]:], skip_special_tokens=True)
    pieces = list(gen.stream(msgs, 24))
    assert len(pieces) > 1 and "".join(pieces) == want


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_detokenize_joins_to_the_full_decode_and_never_splits_a_character(tok_dir, text):
    tok = _tok(tok_dir)
    ids = tok.encode(text, add_special_tokens=False)
    pieces = list(llm.detokenize(tok, ids))
    full = tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    assert "".join(pieces) == full
    assert not any("\ufffd" in p for p in pieces) or "\ufffd" in full  # only where the text itself has one


def test_detokenize_holds_multibyte_characters_until_complete(tok_dir):
    tok = _tok(tok_dir)
    ids = tok.encode("£25 🎉 café", add_special_tokens=False)
    assert any("\ufffd" in tok.decode([i]) for i in ids)  # the case exists: some token ends mid-character
    assert "".join(llm.detokenize(tok, ids)) == "£25 🎉 café"


@settings(max_examples=60, deadline=None)
@given(st.text("ab\nU:", max_size=30), st.sampled_from(["\nU:", "b\n", "aaa"]))
def test_detokenize_stops_before_a_stop_string(tok_dir, text, stop):
    tok = _tok(tok_dir)
    out = "".join(llm.detokenize(tok, tok.encode(text, add_special_tokens=False), [stop]))
    assert stop not in out and text.startswith(out)
    assert out == (text[: text.index(stop)] if stop in text else text)


_TOKS: dict = {}


def _tok(tok_dir):
    if "t" not in _TOKS:
        from transformers import AutoTokenizer

        _TOKS["t"] = AutoTokenizer.from_pretrained(tok_dir)
    return _TOKS["t"]


def test_load_generator_from_a_directory_is_cached_per_process(tiny_dir, tmp_path):
    cfg = GeneratorConfig(path=str(tiny_dir), adapter="none", dtype="float32", device="cpu")
    gen = llm.load_generator(cfg, tmp_path)
    assert llm.load_generator(cfg, tmp_path) is gen
    assert gen.info["dtype"] == "float32" and gen.info["device"] == "cpu" and gen.info["adapter"] is None
    assert gen.info["base_id"] == tiny_dir.name and gen.info["load_ms"] >= 0


@pytest.mark.parametrize("path", ["/nonexistent/model", "/tmp"])
def test_a_missing_or_wrong_model_path_raises_model_error_with_a_hint(path, tmp_path):
    with pytest.raises(ModelError, match="generator.path") as err:
        llm.load_generator(GeneratorConfig(path=path, adapter="none"), tmp_path)
    assert err.value.hint


def test_a_matching_adapter_is_merged_and_changes_the_logits_like_peft(tiny_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = make_adapter(tiny_dir, tmp_path / "lora", modelfiles.base_model_fingerprint(tiny_dir))
    cfg = GeneratorConfig(path=str(tiny_dir), adapter=str(adapter), dtype="float32")
    gen = llm.load_generator(cfg, tmp_path)
    assert gen.info["adapter"] == str(adapter)
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir), adapter).eval()
    ids = torch.tensor([gen.encode(choose())])
    with torch.inference_mode():
        want, got = peft_model(ids).logits, gen.model(ids).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_dir)(ids).logits
    assert torch.allclose(got, want, atol=1e-4) and not torch.allclose(got, base, atol=1e-3)


def test_an_adapter_for_another_base_model_raises_a_clear_error(tiny_dir, tmp_path):
    other = {"base_model_id": "some-other-model", "base_model_sha256": "0" * 64}
    adapter = make_adapter(tiny_dir, tmp_path / "lora", other)
    with pytest.raises(ModelError) as err:
        llm.load_generator(GeneratorConfig(path=str(tiny_dir), adapter=str(adapter)), tmp_path)
    assert "some-other-model" in str(err.value) and tiny_dir.name in str(err.value) and err.value.hint


def test_an_adapter_without_the_base_sha256_is_refused_by_load_generator(tiny_dir, tmp_path):
    adapter = make_adapter(tiny_dir, tmp_path / "lora", {"base_model_id": tiny_dir.name})
    with pytest.raises(ModelError, match="does not record base_model_sha256") as err:
        llm.load_generator(GeneratorConfig(path=str(tiny_dir), adapter=str(adapter)), tmp_path)
    assert "bundlebot train" in err.value.hint


def test_a_default_adapter_that_does_not_fit_leaves_the_base_alone(tiny_dir, tmp_path, monkeypatch, caplog):
    other = {"base_model_id": "some-other-model", "base_model_sha256": "0" * 64}
    monkeypatch.setattr(modelfiles, "DEFAULT_ADAPTER_DIR", make_adapter(tiny_dir, tmp_path / "lora", other))
    with caplog.at_level(logging.WARNING, logger="assistant.modelfiles"):
        gen = llm.load_generator(GeneratorConfig(path=str(tiny_dir), adapter="default"), tmp_path)
    assert gen.info["adapter"] is None and gen.info["task"] == "choice" and "some-other-model" in caplog.text


def test_default_names_each_tasks_own_committed_adapter(tiny_dir, tmp_path, monkeypatch):
    fp = modelfiles.base_model_fingerprint(tiny_dir)
    score = make_adapter(tiny_dir, tmp_path / "score", {**fp, "task": "judge"})
    explain = make_adapter(tiny_dir, tmp_path / "explain", {**fp, "task": "explain"})
    monkeypatch.setattr(modelfiles, "DEFAULT_ADAPTER_DIR", score)
    monkeypatch.setattr(modelfiles, "DEFAULT_EXPLAIN_ADAPTER_DIR", explain)
    cfg = GeneratorConfig(path=str(tiny_dir), adapter="default", explain_adapter="default", runtime="transformers")
    scorer, writer = (llm.load_generator(cfg, tmp_path, task=t) for t in ("score", "explain"))
    # the same spec "default" in both tasks is two models, not one cache entry
    assert scorer.info["adapter"] == str(score) and writer.info["adapter"] == str(explain)
    assert writer.info["task"] == "explain" and scorer is not writer


def test_auto_dtype_and_device_on_this_machine():
    device = llm.resolve_device("auto")
    assert device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert llm.resolve_dtype("auto", "cpu") == llm.CPU_AUTO_DTYPE
    assert llm.resolve_dtype("float16", "cpu") == "float16"


# ------------------------------------------------------------------------------------ the real model


@pytest.fixture(scope="session")
def real_gen() -> llm.Generator:
    from bundlebot.config import load_config

    return llm.load_generator(GeneratorConfig(adapter="none"), load_config().home_path)


@pytest.mark.slow
def test_real_default_model_scores_and_explains_a_tea_party(real_gen):
    assert real_gen.info["base_id"] == modelfiles.DEFAULT_BASE_ID
    # the tokenizer (and, on transformers, the weights) come through the converted cache; llama.cpp reads the GGUF
    assert (Path(real_gen.info.get("model_dir", real_gen.info["path"])) / modelfiles.SOURCE_NAME).is_file()
    msgs = choose()
    p = real_gen.choice_scores(msgs, 5)
    assert sum(p) == pytest.approx(1.0, abs=1e-6) and all(0 < x < 0.99 for x in p)
    assert real_gen.choice_scores(msgs, 5) == p
    text = "".join(real_gen.stream(explain_msgs(), 24))
    assert len(text.split()) >= 5 and "<|im" not in text
    assert "".join(real_gen.stream(explain_msgs(), 24)) == text


def judge(items=ITEMS, request="hosting a tea party for six, about £25"):
    from assistant.prompting import item_line

    return [render("judge", request=request, history="- Regency teapot (bought 2010-12-01)", item=item_line(it))
            for it in items]


def test_answer_tokens_are_the_spellings_of_yes_and_no(gen):
    yes, no = llm.answer_token_ids(gen.tokenizer)
    assert {gen.tokenizer.decode([i]) for i in yes} == {" yes", "yes", " Yes", "Yes"}
    assert {gen.tokenizer.decode([i]) for i in no} == {" no", "no", " No", "No"}


def test_batched_judge_scores_equal_one_plain_forward_per_prompt(gen):
    """The shared-prefix batch (one KV cache for the common start, left-padded tails of different lengths)
    gives each prompt the P(yes) of its own unbatched full pass."""
    prompts = judge()
    tails = {len(gen.encode(p)) for p in prompts}
    assert len(tails) > 1  # the tails really differ in length, so padding is exercised
    yes, no = llm.answer_token_ids(gen.tokenizer)
    want = []
    for p in prompts:
        with torch.inference_mode():
            logp = torch.log_softmax(gen.model(torch.tensor([gen.encode(p)])).logits[0, -1].float(), -1)
        want.append(float(torch.sigmoid(torch.logsumexp(logp[yes], 0) - torch.logsumexp(logp[no], 0))))
    got = gen.judge_scores(prompts)
    assert got == pytest.approx(want, abs=1e-5)
    assert gen.judge_scores(prompts[2:3]) == pytest.approx(want[2:3], abs=1e-5)  # a batch of one
    assert gen.judge_scores([]) == []
    # the tail of each prompt is the item: a different item changes that prompt's score only
    swapped = gen.judge_scores(judge([ITEMS[1], ITEMS[1], *ITEMS[2:]]))
    assert swapped[2:] == pytest.approx(got[2:], abs=1e-5) and swapped[0] == pytest.approx(got[1], abs=1e-5)


def test_no_repeat_ngram_decoding_never_repeats_an_answer_ngram_and_is_greedy_otherwise(gen):
    """The random tiny LM loops at once; with no_repeat_ngram=3 no 3-gram of the answer appears twice, and
    up to the first banned step the answer is the plain greedy one."""
    msgs = explain_msgs()
    plain = list(gen.greedy_ids(msgs, 40))
    ngrams = [tuple(plain[i:i + 3]) for i in range(len(plain) - 2)]
    assert len(set(ngrams)) < len(ngrams)  # plain greedy repeats itself: the rule has work to do
    fixed = list(gen.greedy_ids(msgs, 40, no_repeat_ngram=3))
    grams = [tuple(fixed[i:i + 3]) for i in range(len(fixed) - 2)]
    assert len(set(grams)) == len(grams)
    first = next(i for i in range(len(plain)) if plain[i] in llm.repeated_ngram_ends(plain[:i], 3))
    assert fixed[:first] == plain[:first] and fixed[first] != plain[first]
    assert "".join(gen.stream(msgs, 40, no_repeat_ngram=3)) == gen.tokenizer.decode(fixed, skip_special_tokens=True)
    # the prompt does not count: an answer may quote any prompt n-gram once more
    assert llm.repeated_ngram_ends([1, 2, 3], 3) == set() and llm.repeated_ngram_ends([1, 2, 1, 2], 3) == {1}


def test_the_service_passes_the_configured_no_repeat_ngram_to_the_explanation() -> None:
    from assistant.service import ShoppingAssistant
    from bundlebot.config import AppConfig
    from tests.assistant.fakes import FakeGenerator, FakeRetriever

    seen = []

    class Recording(FakeGenerator):
        def stream(self, messages, max_new_tokens=80, **kw):
            seen.append(kw.get("no_repeat_ngram"))
            return super().stream(messages, max_new_tokens)

    cfg = AppConfig()
    ShoppingAssistant(cfg, "demo", retriever=FakeRetriever(), generator=Recording()).turn("tea party for six")
    cfg.assistant.generator.no_repeat_ngram = 4
    ShoppingAssistant(cfg, "demo", retriever=FakeRetriever(), generator=Recording()).turn("tea party for six")
    assert seen == [0, 4]  # off by default (EVALUATION.md, "Explanation grounding")
    from bundlebot.errors import ConfigError

    with pytest.raises(ConfigError, match="no_repeat_ngram"):
        GeneratorConfig(no_repeat_ngram=-1)
