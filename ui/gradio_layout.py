"""The Gradio Blocks layout (components and wiring only; behaviour lives in ui.gradio_app).

Saved conversations: the Blocks equivalent of ``ChatInterface(save_history=True)``, built from the same
part, a ``gr.BrowserState`` (the browser's localStorage): a turn that finishes saves the conversation (its
chat, state and bundle) there, the "Saved conversations" list reopens one, "Start over" begins a new one.
Stop: while a turn streams, the Stop button cancels it (``cancels=``), which closes the turn's generator;
the conversation keeps the state of the last finished turn.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from ui.format import cards_html, chips_html
from ui.gradio_app import (
    EXAMPLES,
    action_message,
    conversation_choices,
    delete_conversation,
    load_conversation,
    save_conversation,
)

STORAGE_KEY = "bundlebot-conversations"


def layout(gr: Any, respond: Callable, pick: Callable, react: Callable, shoppers: list[str], show_picker: bool,
           secret: str, i18n: Any) -> Any:
    """``i18n``: ``ui.i18n.make_i18n(gr)``, the same instance the app is mounted with."""
    with gr.Blocks(title="bundlebot", analytics_enabled=False) as blocks:
        gr.Markdown(i18n("heading"))
        conv = gr.State(None)
        bundle = gr.State(None)
        current = gr.State(None)  # the open conversation's place among the saved ones
        saved = gr.BrowserState([], storage_key=STORAGE_KEY, secret=secret)
        with gr.Row():
            with gr.Column(scale=3):
                chips = gr.HTML(chips_html({}), elem_id="bb-chips")
                chat = gr.Chatbot(label=i18n("chat"), height=420, elem_id="bb-chat", feedback_options=None,
                                  buttons=["copy"])
                with gr.Row():
                    box = gr.Textbox(placeholder=i18n("placeholder"), show_label=False,
                                     scale=4, elem_id="bb-input", max_length=2000)
                    send = gr.Button(i18n("send"), variant="primary", scale=1, elem_id="bb-send")
                    stop = gr.Button(i18n("stop"), variant="stop", scale=1, elem_id="bb-stop", visible=False)
                gr.Examples(EXAMPLES, inputs=[box], label=i18n("try"))
                with gr.Row():
                    restart = gr.Button(i18n("restart"), elem_id="bb-restart")
                    forget = gr.Button(i18n("forget"), elem_id="bb-forget", size="sm")
                past = gr.Radio(choices=[], label=i18n("saved"), elem_id="bb-saved")
            with gr.Column(scale=2):
                who = gr.Dropdown(choices=[""] + shoppers, value="", label=i18n("shopper"),
                                  visible=show_picker, elem_id="bb-shopper", allow_custom_value=False)
                history = gr.HTML("", visible=show_picker, elem_id="bb-history")
                cards = gr.HTML(cards_html(None), elem_id="bb-cards")
                note = gr.Markdown("", elem_id="bb-feedback")
                outs = [box, chat, chips, cards, bundle, conv]
                _item_buttons(gr, respond, react, bundle, [chat, conv, bundle, who], outs, [note, conv], i18n)
        ins = [box, chat, conv, bundle, who]
        streaming, idle = (lambda: (gr.update(visible=True), gr.update(visible=False)),
                           lambda: (gr.update(visible=False), gr.update(visible=True)))
        turns = []
        for trigger in (box.submit, send.click):
            turn = trigger(streaming, None, [stop, send], queue=False).then(respond, ins, outs)
            turn.then(idle, None, [stop, send], queue=False).then(
                save_conversation, [saved, current, chat, conv, bundle], [saved, current], queue=False)
            turns.append(turn)
        stop.click(idle, None, [stop, send], cancels=turns, queue=False)
        who.change(pick, [who], [history, chat, chips, cards, bundle, conv])
        restart.click(lambda: ([], chips_html({}), cards_html(None), None, None, None), None,
                      [chat, chips, cards, bundle, conv, current])
        _saved_list(gr, blocks, saved, current, past, forget, [chat, chips, cards, bundle, conv])
        blocks.queue(default_concurrency_limit=2)
    return blocks


def _saved_list(gr: Any, blocks: Any, saved: Any, current: Any, past: Any, forget: Any, shown: list) -> None:
    """The list of saved conversations: filled on load and on every save, a pick reopens one."""

    def choices(items: list | None):
        return gr.update(choices=conversation_choices(items), value=None)

    def reopen(items: list | None, index: int | None):
        history, state, bundle = load_conversation(items, index)
        c = (state or {}).get("constraints") or {}
        return (history, chips_html(c, (bundle or {}).get("currency"), (bundle or {}).get("language")),
                cards_html(bundle), bundle, state, index)

    gr.on([blocks.load, saved.change], choices, [saved], [past], queue=False)
    past.input(reopen, [saved, past], [*shown, current], queue=False)
    forget.click(delete_conversation, [saved, current], [saved, current], queue=False).then(
        lambda: ([], chips_html({}), cards_html(None), None, None), None, shown, queue=False)


def _item_buttons(gr: Any, respond: Callable, react: Callable, bundle: Any, ins: list, outs: list,
                  noted: list, i18n: Any) -> None:
    """Per item: "cheaper" / "swap" / "remove" follow-ups and "like" / "not for me"; for the whole bundle:
    "like this bundle" / "not this bundle". Re-rendered whenever the bundle changes."""

    @gr.render(inputs=[bundle])
    def buttons(current: dict | None) -> None:
        lines = (current or {}).get("items") or []
        for i, line in enumerate(lines):
            with gr.Row(equal_height=True):
                with gr.Column(scale=3, min_width=140):
                    gr.HTML(f"<b>#{i + 1}</b> {escape(str(line.get('title', '')))}")
                for action in ("cheaper", "swap", "remove"):
                    btn = gr.Button(i18n(action), size="sm", scale=1, min_width=70, elem_classes=[f"bb-{action}"])
                    btn.click(_action(respond, action, i), ins, outs)
                for kind, label in (("like", "like"), ("dislike", "dislike")):
                    btn = gr.Button(i18n(label), size="sm", scale=1, min_width=70, elem_classes=[f"bb-{kind}"])
                    btn.click(_react(react, kind, [line], "item"), ins, noted, queue=False)
        if lines:
            with gr.Row():
                for kind, label in (("like", "like_bundle"), ("dislike", "dislike_bundle")):
                    btn = gr.Button(i18n(label), size="sm", elem_classes=[f"bb-bundle-{kind}"])
                    btn.click(_react(react, kind, lines, "bundle"), ins, noted, queue=False)


def _action(respond: Callable, action: str, index: int) -> Callable:
    def run(history: list, state: dict | None, bundle: dict | None, shopper: str | None):
        yield from respond(action_message(action, index), history, state, bundle, shopper)
    return run


def _react(react: Callable, kind: str, lines: list, scope: str) -> Callable:
    def run(history: list, state: dict | None, bundle: dict | None, shopper: str | None):
        return react(kind, lines, scope, history, state, shopper)
    return run
