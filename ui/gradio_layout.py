"""The Gradio Blocks layout (components and wiring only; behaviour lives in ui.gradio_app)."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from ui.format import cards_html, chips_html
from ui.gradio_app import EXAMPLES, action_message


def layout(gr: Any, respond: Callable, pick: Callable, shoppers: list[str], show_picker: bool) -> Any:
    with gr.Blocks(title="bundlebot", analytics_enabled=False) as blocks:
        gr.Markdown("## bundlebot — ask for a bundle\nDescribe the occasion, the people and a budget.")
        conv = gr.State(None)
        bundle = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
                chips = gr.HTML(chips_html({}), elem_id="bb-chips")
                chat = gr.Chatbot(label="Chat", height=420, elem_id="bb-chat", feedback_options=None,
                                  buttons=["copy"])
                with gr.Row():
                    box = gr.Textbox(placeholder="hosting a tea party for six, about £25", show_label=False,
                                     scale=4, elem_id="bb-input", max_length=2000)
                    send = gr.Button("Send", variant="primary", scale=1, elem_id="bb-send")
                gr.Examples(EXAMPLES, inputs=[box], label="Try")
                restart = gr.Button("Start over", elem_id="bb-restart")
            with gr.Column(scale=2):
                who = gr.Dropdown(choices=[""] + shoppers, value="", label="Shopper (demo)",
                                  visible=show_picker, elem_id="bb-shopper", allow_custom_value=False)
                history = gr.HTML("", visible=show_picker, elem_id="bb-history")
                cards = gr.HTML(cards_html(None), elem_id="bb-cards")
                outs = [box, chat, chips, cards, bundle, conv]
                _item_buttons(gr, respond, bundle, [chat, conv, bundle, who], outs)
        ins = [box, chat, conv, bundle, who]
        box.submit(respond, ins, outs)
        send.click(respond, ins, outs)
        who.change(pick, [who], [history, chat, chips, cards, bundle, conv])
        restart.click(lambda: ([], chips_html({}), cards_html(None), None, None), None,
                      [chat, chips, cards, bundle, conv])
        blocks.queue(default_concurrency_limit=2)
    return blocks


def _item_buttons(gr: Any, respond: Callable, bundle: Any, ins: list, outs: list) -> None:
    """Per-item "cheaper" / "swap" / "remove" buttons, re-rendered whenever the bundle changes."""

    @gr.render(inputs=[bundle])
    def buttons(current: dict | None) -> None:
        for i, line in enumerate((current or {}).get("items") or []):
            with gr.Row(equal_height=True):
                with gr.Column(scale=3, min_width=140):
                    gr.HTML(f"<b>#{i + 1}</b> {escape(str(line.get('title', '')))}")
                for action in ("cheaper", "swap", "remove"):
                    btn = gr.Button(action, size="sm", scale=1, min_width=70, elem_classes=[f"bb-{action}"])
                    btn.click(_action(respond, action, i), ins, outs)


def _action(respond: Callable, action: str, index: int) -> Callable:
    def run(history: list, state: dict | None, bundle: dict | None, shopper: str | None):
        yield from respond(action_message(action, index), history, state, bundle, shopper)
    return run
