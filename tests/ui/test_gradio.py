"""The Gradio UI's plain generator (no server), the formatting it shows, and the Blocks it builds."""

from __future__ import annotations

from bundlebot.config import AppConfig
from bundlebot.config.server import ServerConfig
from tests.ui.fakes import XSS, fake_factory
from ui import gradio_app
from ui.format import cards_html, chips_html
from ui.gradio_app import action_message, build_blocks, chat_events, demo_shoppers, history_html
from ui.runtime import Runtimes


def _runtime():
    return fake_factory()(AppConfig(), "demo")


def test_chat_events_stream_then_finish():
    views = list(chat_events(_runtime().assistant, "tea party £10", [], None, None))
    assert len(views) >= 4  # constraints, bundle, tokens..., done: the UI updates as it streams
    assert views[0].constraints["budget"] == 10.0 and views[0].bundle is None
    partial = [v.history[-1]["content"] for v in views[2:-1]]
    assert partial == sorted(partial, key=len) and partial[0] != partial[-1]
    last = views[-1]
    assert [m["role"] for m in last.history] == ["user", "assistant"]
    assert last.state["bundle"] == [ln["id"] for ln in last.bundle["items"]]
    history, chips, cards, bundle, state = last.outputs()
    assert "budget ≤ £10.00" in chips and "DEMO TEAPOT" in cards and "budget £10.00" in cards


def test_follow_up_button_edits_the_bundle():
    rt = _runtime()
    first = list(chat_events(rt.assistant, "tea £10", [], None, None))[-1]
    second = list(chat_events(rt.assistant, action_message("remove", 0), first.history, first.state, None))[-1]
    assert second.state["bundle"] == first.state["bundle"][1:]
    assert len(second.history) == 4 and second.history[2]["content"] == "remove #1"


def test_errors_become_chat_messages_not_traces():
    rt = _runtime()
    crash = list(chat_events(rt.assistant, "boom", [], None, None))[-1].history[-1]["content"]
    assert crash.startswith("Sorry") and "internal detail" not in crash and "Traceback" not in crash
    junk = list(chat_events(rt.assistant, "junk", [], None, None))[-1].history[-1]["content"]
    assert "no shopping request" in junk and "Say what you need" in junk


def test_model_text_is_escaped_in_html():
    last = list(chat_events(_runtime().assistant, "xss tea", [], None, None))[-1]
    bundle = dict(last.bundle, items=[dict(last.bundle["items"][0], title=XSS, reason=XSS)])
    html = cards_html(bundle)
    assert "<img" not in html and "&lt;img" in html
    assert "<script" not in chips_html({"exclude": ["<script>alert(1)</script>"]})


def test_a_price_cap_per_item_is_a_chip_in_each_language():
    c = {"max_each": 5.0, "currency": "GBP"}
    assert [chips_html(c, lang=lang).count("£5.00") for lang in ("en", "fr", "zh")] == [1, 1, 1]
    assert "each ≤ £5.00" in chips_html(c) and "budget" not in chips_html(c)


def test_history_and_shopper_picker():
    rt = _runtime()
    from retrieval.types import Event
    rt.retriever.store.add_events([Event("42", "demo-1", 5.0), Event("42", "demo-2", 9.0, kind="view")],
                                   vectors=[[0.0], [0.0]])
    html = history_html(rt, "42")
    assert html.index("DEMO NAPKINS") < html.index("DEMO CAKE STAND")  # newest first
    assert "Anonymous" in history_html(rt, None)
    cfg = AppConfig(server=ServerConfig(demo_shoppers=["42", "7"]))
    assert demo_shoppers(cfg, rt) == ["42", "7"]


def test_blocks_build_with_picker_only_in_open_mode():
    keyed = AppConfig(server=ServerConfig(api_keys={"demo": "k"}))
    blocks = build_blocks(keyed, Runtimes(keyed, fake_factory()))
    dropdowns = [b for b in blocks.blocks.values() if type(b).__name__ == "Dropdown"]
    assert len(dropdowns) == 1 and not dropdowns[0].visible  # keyed server: no one's history on show
    assert gradio_app.picker_visible(AppConfig()) and gradio_app.picker_visible(AppConfig(server=ServerConfig(
        api_keys={"demo": "k"}, ui_shopper_picker=True)))


def test_stop_button_cancels_the_streaming_turns_and_history_is_kept_in_the_browser():
    cfg = AppConfig()
    blocks = build_blocks(cfg, Runtimes(cfg, fake_factory()))
    stop = next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == "bb-stop")
    assert not stop.visible  # shown only while a turn streams
    cancelled = {c for d in blocks.config["dependencies"] if (stop._id, "click") in map(tuple, d["targets"])
                 for c in d["cancels"]}
    assert len(cancelled) == 2 and {blocks.fns[c].name for c in cancelled} == {"respond"}  # typed and sent
    saved = [b for b in blocks.blocks.values() if type(b).__name__ == "BrowserState"]
    assert len(saved) == 1 and saved[0].storage_key == "bundlebot-conversations"
    assert gradio_app.storage_secret(cfg) == gradio_app.storage_secret(AppConfig())  # the same after a restart


def test_saved_conversations_round_trip():
    rt = _runtime()
    last = list(chat_events(rt.assistant, "tea party £10", [], None, None))[-1]
    saved, i = gradio_app.save_conversation(None, None, last.history, last.state, last.bundle)
    assert i == 0 and gradio_app.conversation_choices(saved) == [("tea party £10", 0)]
    follow = list(chat_events(rt.assistant, "remove #1", last.history, last.state, None))[-1]
    saved, i = gradio_app.save_conversation(saved, i, follow.history, follow.state, follow.bundle)
    assert len(saved) == 1  # the same conversation, updated
    saved, j = gradio_app.save_conversation(saved, None, [{"role": "user", "content": "x" * 60}], None, None)
    assert j == 0 and gradio_app.conversation_choices(saved)[0][0] == "x" * 47 + "…"
    history, state, bundle = gradio_app.load_conversation(saved, 1)
    assert history == follow.history and state == follow.state and bundle == follow.bundle
    assert gradio_app.load_conversation(saved, 7) == ([], None, None)
    saved, none = gradio_app.delete_conversation(saved, 0)
    assert none is None and [c["title"] for c in saved] == ["tea party £10"]
    many = saved
    for n in range(30):
        many, _ = gradio_app.save_conversation(many, None, [{"role": "user", "content": f"c{n}"}], None, None)
    assert len(many) == gradio_app.SAVED_MAX and many[0]["title"] == "c29"


def test_like_and_dislike_buttons_record_feedback_for_the_shopper():
    rt = _runtime()
    last = list(chat_events(rt.assistant, "tea party £10", [], None, "42"))[-1]
    lines = last.bundle["items"]
    note, state = gradio_app.feedback(rt, "dislike", lines[:1], "item", "42", last.state,
                                      gradio_app.last_request(last.history))
    assert "no more DEMO TEAPOT" in note and state["rejected"] == [lines[0]["id"]]
    note, state = gradio_app.feedback(rt, "like", lines, "bundle", "42", state)
    assert note == "Noted: more like this bundle." and state["rejected"] == [lines[0]["id"]]
    note, state = gradio_app.feedback(rt, "like", lines[:1], "item", "42", state)
    assert state["rejected"] == []  # a like undoes the dislike in this conversation too
    logged = rt.retriever.store.feedback.events("42")
    assert [(e.kind, e.scope) for e in logged] == [("dislike", "item")] + [("like", "bundle")] * 3 + [("like", "item")]
    assert logged[0].request == "tea party £10" and rt.retriever.store.events == []  # not history
    assert rt.retriever.taste("42").disliked == frozenset()
