"""OpenAI-compatible details of /v1/chat/completions: ``stream_options.include_usage``, ``n``, ``stop`` and
``usage``. The framing and parameters run over the fast fake service (raw HTTP and the official ``openai``
client on the same TestClient); ``usage`` runs the real service (``MeteredAssistant``) with a tiny random
causal LM and the real SmolLM2 tokenizer over the assistant tests' fake retriever."""

from __future__ import annotations

import json
import re

import openai
import pytest
from fastapi.testclient import TestClient

from tests.ui.conftest import auth, keyed_config, sse_frames
from ui.api import create_app
from ui.completions import MeteredGenerator, StopCut, Usage, metering
from ui.runtime import ShopRuntime

A = auth("sk-a-secret")
TEA = [{"role": "user", "content": "tea party £10"}]
# The fake's answer: "Bundle: 3 items, total £9.00 (budget £10.00)\n1. SHOPA TEAPOT — £2.00: fits the party\n
# 2. SHOPA CAKE STAND ...\n3. SHOPA NAPKINS ...\n\nA bundle of 3 for your request.", streamed word by word.
REQUEST = "hosting a tea party for six, budget £25, no candles"


def post(client: TestClient, **body: object):
    return client.post("/v1/chat/completions", json={"messages": TEA, **body}, headers=A)


def chunks_of(text: str) -> list[dict]:
    frames = sse_frames(text)
    assert frames[-1] == (None, "[DONE]") and all(event is None for event, _ in frames)
    return [json.loads(data) for _, data in frames[:-1]]


def streamed_text(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])


# ---- stream_options.include_usage ---------------------------------------------------------------------------
def test_include_usage_adds_one_usage_chunk_with_empty_choices_right_before_done(client):
    r = post(client, stream=True, stream_options={"include_usage": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    # exact framing of the end: `data: <one-line JSON>`, a blank line, `data: [DONE]`, a blank line
    m = re.search(r"\n\ndata: (\{[^\n]*\})\n\ndata: \[DONE\]\n\n\Z", r.text)
    assert m, r.text[-400:]
    last = json.loads(m.group(1))
    assert list(last) == ["id", "created", "model", "object", "choices", "usage"]
    assert last["object"] == "chat.completion.chunk" and last["choices"] == []
    assert last["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}  # no model here
    chunks = chunks_of(r.text)
    assert chunks[-1] == last
    others = chunks[:-1]
    assert all("usage" in c and c["usage"] is None for c in others)  # as OpenAI: null on every other chunk
    assert all(c["choices"] for c in others) and others[-1]["choices"][0]["finish_reason"] == "stop"
    assert {(c["id"], c["created"], c["model"]) for c in chunks} == {(last["id"], last["created"], "bundlebot")}


@pytest.mark.parametrize("options", [None, {}, {"include_usage": False}])
def test_without_include_usage_there_is_no_usage_chunk(client, options):
    body = {"stream": True} | ({"stream_options": options} if options is not None else {})
    chunks = chunks_of(post(client, **body).text)
    assert all(c["choices"] and "usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["bundle"]["items"]


def test_include_usage_is_not_sent_after_an_error(client):
    r = client.post("/v1/chat/completions", headers=A, json={
        "messages": [{"role": "user", "content": "junk"}], "stream": True, "stream_options": {"include_usage": True}})
    frames = sse_frames(r.text)
    assert json.loads(frames[-2][1])["error"]["code"] == "bad_request" and frames[-1][1] == "[DONE]"
    assert all(not (isinstance(d, dict) and d.get("choices") == []) for d in map(json.loads,
                                                                                  (f for _, f in frames[:-1])))


def test_stream_options_are_strictly_typed_and_read_only_when_streaming(client):
    assert post(client, stream=True, stream_options={"include_usage": "yes"}).status_code == 422
    r = post(client, stream_options={"include_usage": True})  # not streamed: usage is in the body anyway
    assert r.status_code == 200 and set(r.json()["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}


# ---- n --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("n", [2, 5])
def test_n_above_one_is_a_clear_400_and_runs_no_turn(client, n, stream):
    r = post(client, n=n, stream=stream)
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] == err["type"] == "unsupported_parameter"
    assert f"n={n}" in err["message"] and "only n=1 is supported" in err["message"] and "n=1" in err["hint"]
    assert client.app.state.runtimes.get("shopa").assistant.calls == []


@pytest.mark.parametrize("n", [1, None])
def test_n_one_or_absent_is_served(client, n):
    r = post(client, **({"n": n} if n is not None else {}))
    assert r.status_code == 200 and len(r.json()["choices"]) == 1


@pytest.mark.parametrize("n", [0, -1, "2", 1.5])
def test_n_outside_the_schema_is_422(client, n):
    assert post(client, n=n).status_code == 422


def test_the_spec_says_n_is_at_most_one(client):
    props = client.get("/openapi.json").json()["components"]["schemas"]["ChatRequest"]["properties"]
    assert {"type": "integer", "minimum": 1, "maximum": 1} in [
        {k: v for k, v in s.items() if k in ("type", "minimum", "maximum")} for s in props["n"]["anyOf"]]
    assert {"stop", "stream_options"} <= set(props)


# ---- stop -----------------------------------------------------------------------------------------------------
STOPS = [  # (stop, expected content ends with, what must be gone)
    ("for your", "\n\nA bundle of 3 ", "request"),                 # inside the model's explanation
    (["zzz", "of 3 for"], "\n\nA bundle ", "for your"),            # a list; spans two streamed words
    (["SHOPA CAKE"], "fits the party\n2. ", "NAPKINS"),           # inside the bundle listing
    (["\n\n"], "3. SHOPA NAPKINS — £4.00: fits the party", "A bundle"),
]


@pytest.mark.parametrize(("stop", "ends", "gone"), STOPS)
def test_stop_cuts_the_text_at_the_first_stop_streamed_or_not(client, stop, ends, gone):
    whole = post(client).json()
    r = post(client, stop=stop).json()
    content, bundle = r["choices"][0]["message"]["content"], r["choices"][0]["message"]["bundle"]
    assert content.endswith(ends) and gone not in content and whole["choices"][0]["message"]["content"].startswith(
        content)
    assert bundle == whole["choices"][0]["message"]["bundle"] and len(bundle["items"]) == 3  # never cut
    assert r["bundlebot_state"]["bundle"] == whole["bundlebot_state"]["bundle"]
    chunks = chunks_of(post(client, stop=stop, stream=True).text)
    stops = [stop] if isinstance(stop, str) else stop
    assert streamed_text(chunks) == content
    assert not any(s in c["choices"][0]["delta"].get("content", "") for c in chunks for s in stops)
    final = chunks[-1]
    assert final["choices"][0]["finish_reason"] == "stop" and final["bundle"]["items"] == bundle["items"]
    assert content.endswith(final["explanation"])  # what the deltas spelled of the explanation
    assert final["bundlebot_state"]["turns"][-1]["content"] == "A bundle of 3 for your request."


@pytest.mark.parametrize("stop", [None, [], "not in the answer", ["nope", ""]])
def test_stop_that_never_matches_changes_nothing(client, stop):
    whole = post(client).json()["choices"][0]["message"]["content"]
    assert post(client, stop=stop).json()["choices"][0]["message"]["content"] == whole
    assert streamed_text(chunks_of(post(client, stop=stop, stream=True).text)) == whole


@pytest.mark.parametrize("stop", [["a", "b", "c", "d", "e"], 5, [1], {"s": "x"}])
def test_stop_outside_the_schema_is_422(client, stop):
    assert post(client, stop=stop).status_code == 422


def test_stop_cut_holds_back_a_partial_stop_across_pieces():
    cut = StopCut(["\nUser:"])
    assert [cut.feed(t) for t in ("Hello\nUs", "e", "r: hi")] == ["Hello", "", ""] and cut.hit
    cut = StopCut(["\nUser:"])
    assert [cut.feed(t) for t in ("Hello\nUs", "ually")] == ["Hello", "\nUsually"] and cut.finish() == ""
    cut = StopCut(["END"])
    assert cut.feed("the E") == "the " and cut.finish() == "E"  # the stream ended without the stop
    # the stop complete first wins (as when the text arrives piece by piece), not the one starting first
    cut = StopCut(["is abc", "a"])
    assert cut.cut("this abc") == "this " == "".join(cut.feed(ch) for ch in "this abc") and cut.hit


# ---- the official OpenAI client ---------------------------------------------------------------------------------
def test_openai_client_include_usage_n_and_stop(client):
    oai = openai.OpenAI(base_url="http://testserver/v1", api_key="sk-a-secret", http_client=client, max_retries=0)
    chunks = list(oai.chat.completions.create(model="bundlebot", messages=TEA, stream=True, stop=["for your"],
                                              stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 0
    assert all(c.usage is None for c in chunks[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.endswith("A bundle of 3 ") and "request" not in text
    with pytest.raises(openai.BadRequestError) as err:
        oai.chat.completions.create(model="bundlebot", messages=TEA, n=2)
    assert err.value.code == "unsupported_parameter" and "only n=1" in err.value.message
    done = oai.chat.completions.create(model="bundlebot", messages=TEA, n=1, stop="SHOPA CAKE")
    assert done.choices[0].message.content.endswith("2. ") and done.usage.total_tokens == 0


# ---- usage: real tokens where a model ran ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def recording_generator():
    """A real ``Generator`` (tiny random Llama, real SmolLM2 tokenizer) that records what it generated."""
    from assistant.llm import Generator
    from tests.tiny_lm import make_tiny_lm, smollm2_tokenizer_dir

    class Recording(Generator):
        def greedy_ids(self, messages, max_new_tokens, no_repeat_ngram=0):
            self.prompts.append(messages)
            for tid in super().greedy_ids(messages, max_new_tokens, no_repeat_ngram):
                self.generated += 1
                yield tid

    model, tok = make_tiny_lm(smollm2_tokenizer_dir(), seed=0)
    gen = Recording(model, tok, info={"base_id": "tiny"})
    gen.prompts, gen.generated = [], 0
    return gen


def real_client(tmp_path, generator, **assistant: object) -> TestClient:
    from tests.assistant.fakes import FakeRetriever
    from ui.completions import MeteredAssistant

    config = keyed_config(tmp_path)
    for k, v in assistant.items():
        setattr(config.assistant, k, v)

    def factory(cfg, shop):
        retriever = FakeRetriever()
        return ShopRuntime(shop, MeteredAssistant(cfg, shop, generator=generator, retriever=retriever), retriever)

    return TestClient(create_app(config, assistant_factory=factory, ui=False))


def _usage(client: TestClient, gen, **body: object) -> tuple[dict, int, int, list[dict]]:
    gen.prompts.clear()
    gen.generated = 0
    r = client.post("/v1/chat/completions", headers=A,
                    json={"messages": [{"role": "user", "content": REQUEST}], **body})
    assert r.status_code == 200, r.text
    prompt = sum(len(gen.encode(p)) for p in gen.prompts)
    if body.get("stream"):
        chunks = chunks_of(r.text)
        return chunks[-1]["usage"], prompt, gen.generated, chunks
    return r.json()["usage"], prompt, gen.generated, [r.json()]


def test_usage_counts_the_explanation_prompt_and_every_generated_token(tmp_path, recording_generator):
    gen = recording_generator
    with real_client(tmp_path, gen, max_size=3) as client:
        usage, prompt, generated, _ = _usage(client, gen)
        assert len(gen.prompts) == 1 and prompt > 100 and generated > 0  # the explanation prompt ran
        assert usage == {"prompt_tokens": prompt, "completion_tokens": generated,
                         "total_tokens": prompt + generated}
        streamed, s_prompt, s_generated, chunks = _usage(client, gen, stream=True,
                                                          stream_options={"include_usage": True})
        assert chunks[-1]["choices"] == [] and streamed == usage == {
            "prompt_tokens": s_prompt, "completion_tokens": s_generated, "total_tokens": s_prompt + s_generated}


def test_usage_without_a_generated_explanation_counts_it_with_the_loaded_tokenizer(tmp_path, recording_generator):
    gen = recording_generator
    with real_client(tmp_path, gen, max_size=3, explain=False) as client:
        usage, _, generated, (body,) = _usage(client, gen)
    assert gen.prompts == [] and generated == 0  # no explanation generated (the LLM still scored candidates)
    explanation = body["bundlebot_state"]["turns"][-1]["content"]
    assert explanation and body["choices"][0]["message"]["content"].endswith(explanation)
    n = len(gen.tokenizer.encode(explanation, add_special_tokens=False))
    assert usage == {"prompt_tokens": 0, "completion_tokens": n, "total_tokens": n}


def test_unmetered_stream_is_the_generators_own_and_metered_text_is_the_same(recording_generator):
    gen = recording_generator
    msgs = [{"role": "system", "content": "You write one sentence."}, {"role": "user", "content": "tea party"}]
    metered = MeteredGenerator(gen)
    plain = "".join(gen.stream(msgs, 12))
    assert "".join(metered.stream(msgs, 12)) == plain  # no meter on this thread (e.g. the Gradio UI)
    usage = Usage()
    with metering(usage):
        assert "".join(metered.stream(msgs, 12)) == plain
    assert usage.generated and usage.prompt_tokens == len(gen.encode(msgs)) and 0 < usage.completion_tokens <= 12
    assert metered.info == gen.info  # everything else delegates


def test_the_served_assistant_wraps_the_writer_it_loads_and_never_loads_one_to_count(tiny_model_dir):
    from bundlebot.config import AppConfig
    from bundlebot.config.assistant import GeneratorConfig
    from tests.assistant.fakes import FakeRetriever
    from ui.completions import MeteredAssistant

    config = AppConfig()
    config.assistant.generator = GeneratorConfig(path=str(tiny_model_dir), adapter="none", dtype="float32",
                                                 device="cpu")
    bot = MeteredAssistant(config, "demo", retriever=FakeRetriever())
    assert bot.loaded_tokenizer is None  # nothing loaded yet, and asking does not load
    gen = bot.writer  # what the explanation reaches for: loaded here, as in ShoppingAssistant
    assert isinstance(gen, MeteredGenerator) and bot.writer is gen and bot.loaded_tokenizer is gen.inner.tokenizer
    assert not isinstance(bot.generator, MeteredGenerator)  # scoring passes are not counted
