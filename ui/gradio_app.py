"""The Gradio chat UI: streaming chat with a stop button, bundle cards with per-item buttons (follow-ups,
like / not for me) and per-bundle ones, constraint chips, a shopper picker, conversations saved in the browser.

The callbacks are thin wrappers around ``chat_events``, a plain generator that tests drive without a
server: it runs one turn of the service and yields a ``View`` after every event.

>>> from tests.ui.fakes import fake_factory
>>> from bundlebot.config import AppConfig
>>> rt = fake_factory()(AppConfig(), "demo")
>>> views = list(chat_events(rt.assistant, "tea party £10", [], None, None))
>>> views[-1].history[-1]["content"]
'A bundle of 3 for your request.'
>>> [ln["id"] for ln in views[-1].bundle["items"]]
['demo-0', 'demo-1', 'demo-2']
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from typing import Any

from assistant.types import ConversationState
from bundlebot.config import AppConfig
from bundlebot.errors import BundlebotError
from retrieval.feedback import LiveEvent, record
from ui.format import CSS, cards_html, chips_html
from ui.i18n import make_i18n
from ui.runtime import Runtimes, ShopRuntime

log = logging.getLogger(__name__)

EXAMPLES = ["hosting a tea party for six, about £25", "a christmas gift for my gran under £15",
            "5 items for a kids' birthday party, no candles", "picnic for four, between £20 and £40"]
ACTIONS = {"cheaper": "swap #{n} for something cheaper", "swap": "swap #{n}", "remove": "remove #{n}"}
SAVED_MAX = 20
"""Conversations kept in the browser, newest first (older ones drop off)."""


@dataclass
class View:
    """Everything the UI shows after one event of a turn."""

    history: list[dict[str, Any]]
    bundle: dict[str, Any] | None = None
    state: dict[str, Any] | None = None
    constraints: dict[str, Any] = field(default_factory=dict)

    def outputs(self) -> tuple[Any, ...]:
        cur = (self.bundle or {}).get("currency")
        lang = (self.bundle or {}).get("language")
        return (self.history, chips_html(self.constraints, cur, lang), cards_html(self.bundle), self.bundle,
                self.state)


def chat_events(assistant: Any, message: str, history: list[dict[str, Any]], state: dict[str, Any] | None,
                shopper: str | None, *, budget_s: float = 60.0) -> Iterator[View]:
    """Run one turn and yield a fresh view after each event; errors become an assistant chat message."""
    history = list(history or []) + [{"role": "user", "content": message}]
    cur = {"text": "", "bundle": None, "state": state, "constraints": {}}

    def view(text: str | None = None) -> View:
        reply = {"role": "assistant", "content": cur["text"] if text is None else text}
        return View(history + [reply], cur["bundle"], cur["state"], cur["constraints"])

    started = time.monotonic()
    try:
        conv = ConversationState.from_dict(state) if state else None
        for ev in assistant.turn_stream(message, conv, shopper):
            _apply(cur, ev.type, ev.data)
            yield view()
            if ev.type in ("done", "error"):
                return
            if time.monotonic() - started > budget_s:
                yield view(_sorry(f"the turn took longer than {budget_s:g} s", "try again"))
                return
    except BundlebotError as exc:
        yield view(_sorry(exc.message, exc.hint))
    except Exception:  # our bug: logged with its trace, the shopper sees a plain sentence
        log.exception("UI turn failed")
        yield view(_sorry("something went wrong on our side"))


def _apply(cur: dict[str, Any], kind: str, data: dict[str, Any]) -> None:
    if kind == "constraints":
        cur["constraints"] = data.get("constraints", {})
    elif kind == "bundle":
        cur["bundle"] = data.get("result")
    elif kind == "token":
        cur["text"] += data.get("text", "")
    elif kind == "done":  # the checked explanation replaces what was streamed
        cur["text"] = data.get("explanation") or cur["text"]
        cur["state"], cur["bundle"] = data.get("state", cur["state"]), data.get("result") or cur["bundle"]
    elif kind == "error":
        cur["text"] = _sorry(data.get("message", "the turn failed"), data.get("hint"))


def _sorry(message: str, hint: str | None = None) -> str:
    return f"Sorry — {message}." + (f" {hint[0].upper()}{hint[1:]}." if hint else "")


def action_message(action: str, index: int) -> str:
    """The follow-up a per-item button sends (the service parses it like typed text).

    >>> action_message("cheaper", 1)
    'swap #2 for something cheaper'
    """
    return ACTIONS[action].format(n=index + 1)


def feedback(runtime: ShopRuntime, kind: str, lines: list[dict[str, Any]], scope: str, shopper: str | None,
             state: dict[str, Any] | None, request: str = "") -> tuple[str, dict[str, Any] | None]:
    """A like / dislike of one bundle line (``scope="item"``) or of the whole bundle (``"bundle"``): recorded
    for the shopper (``retrieval.feedback.record``: their next turn reads it), and a disliked item leaves
    this conversation too (the state's rejected items), so an anonymous shopper's dislike also holds.
    Returns the note shown and the new state.

    >>> from tests.ui.fakes import fake_factory
    >>> rt = fake_factory()(AppConfig(), "demo")
    >>> note, st = feedback(rt, "dislike", [{"id": "demo-1", "title": "DEMO CAKE STAND"}], "item", None, {})
    >>> note, st["rejected"]
    ('Noted: no more DEMO CAKE STAND.', ['demo-1'])
    """
    ids = [str(ln["id"]) for ln in lines]
    state = dict(state) if state is not None else None
    if state is not None and scope == "item":
        rejected = [i for i in state.get("rejected") or [] if i not in ids]
        state["rejected"] = rejected + ids if kind == "dislike" else rejected
    if shopper:
        try:
            record(runtime.retriever.store, [LiveEvent(shopper, i, kind, time.time(), scope=scope, request=request)
                                             for i in ids])
        except BundlebotError as exc:
            return f"Sorry — {exc.message}.", state
    what = "this bundle" if scope == "bundle" else str(lines[0].get("title", "it")) if lines else "it"
    return (f"Noted: more like {what}." if kind == "like" else f"Noted: no more {what}."), state


def last_request(history: list[dict[str, Any]]) -> str:
    """The shopper's last typed request (what a bundle answered), for the feedback events' context."""
    for msg in reversed(history or []):
        text = msg.get("content") if msg.get("role") == "user" else None
        if isinstance(text, str) and text and not any(text.startswith(a.split("{")[0]) for a in ACTIONS.values()):
            return text[:2000]
    return ""


def save_conversation(saved: list[dict[str, Any]] | None, index: int | None, history: list[dict[str, Any]],
                      state: dict[str, Any] | None, bundle: dict[str, Any] | None) -> tuple[list, int | None]:
    """The browser's saved conversations with this one written at ``index`` (None: a new one, first).

    >>> saved, i = save_conversation([], None, [{"role": "user", "content": "tea party"}], {"bundle": []}, None)
    >>> i, saved[0]["title"], conversation_choices(saved)
    (0, 'tea party', [('tea party', 0)])
    """
    if not history:
        return list(saved or []), index
    entry = {"title": _title(history), "history": history, "state": state, "bundle": bundle}
    saved = list(saved or [])
    if index is not None and 0 <= index < len(saved):
        saved[index] = entry
        return saved, index
    return [entry, *saved][:SAVED_MAX], 0


def _title(history: list[dict[str, Any]]) -> str:
    first = next((m.get("content") for m in history if m.get("role") == "user"), "") or "conversation"
    text = str(first)
    return text if len(text) <= 48 else text[:47] + "…"


def conversation_choices(saved: list[dict[str, Any]] | None) -> list[tuple[str, int]]:
    return [(str(c.get("title", "conversation")), i) for i, c in enumerate(saved or [])]


def load_conversation(saved: list[dict[str, Any]] | None, index: int | None) -> tuple[Any, ...]:
    """(history, state, bundle) of a saved conversation; an empty conversation for a bad index."""
    saved = saved or []
    if index is None or not (0 <= int(index) < len(saved)):
        return [], None, None
    c = saved[int(index)]
    return list(c.get("history") or []), c.get("state"), c.get("bundle")


def delete_conversation(saved: list[dict[str, Any]] | None, index: int | None) -> tuple[list, None]:
    saved = list(saved or [])
    if index is not None and 0 <= index < len(saved):
        saved.pop(index)
    return saved, None


def history_html(runtime: ShopRuntime, shopper: str | None, n: int = 8) -> str:
    """The shopper's most recent history items, newest first."""
    if not shopper:
        return "<p><em>Anonymous shopper: no history used.</em></p>"
    try:
        rows = sorted(runtime.retriever.history(shopper), key=lambda ie: -ie[1].timestamp)[:n]
    except BundlebotError as exc:
        return f"<p>{escape(exc.message)}</p>"
    items = "".join(f"<li>{escape(it.title)} <small>({escape(ev.kind)})</small></li>" for it, ev in rows)
    return f"<b>Recent history of {escape(shopper)}</b><ul>{items or '<li>none</li>'}</ul>"


def demo_shoppers(config: AppConfig, runtime: ShopRuntime, n: int = 8) -> list[str]:
    """Configured demo shoppers, else the shop metadata's, else the shoppers with most history (small
    stores only: counting reads every history entry)."""
    if config.server.demo_shoppers:
        return list(config.server.demo_shoppers)[:n]
    store = runtime.retriever.store
    try:
        listed = (store.meta() if hasattr(store, "meta") else {}).get("demo_shoppers")
        if listed:
            return [str(s) for s in listed][:n]
        if not hasattr(store, "history_metadata") or store.history_count() > 50_000:
            return []
        counts = Counter(str(m.get("shopper")) for m in store.history_metadata().values())
        return [s for s, _ in counts.most_common(n)]
    except BundlebotError:
        return []


def picker_visible(config: AppConfig) -> bool:
    """The shopper picker exposes shoppers' history: only in open local mode unless configured.

    >>> from bundlebot.config.server import ServerConfig
    >>> picker_visible(AppConfig()), picker_visible(AppConfig(server=ServerConfig(api_keys={"a": "k"})))
    (True, False)
    """
    picker = config.server.ui_shopper_picker
    return config.server.open_mode if picker is None else picker


def build_blocks(config: AppConfig, runtimes: Runtimes) -> Any:
    """The Blocks app; every callback is a few lines around ``chat_events``."""
    import gradio as gr

    from ui.gradio_layout import layout

    shop = config.server.default_shop
    show_picker = picker_visible(config)
    budget = config.server.turn_time_budget_s or config.assistant.turn_time_budget_s * 1.5 + 5.0

    def respond(message: str, history: list, state: dict | None, bundle: dict | None, shopper: str | None):
        message = (message or "").strip()[: config.server.max_message_chars]
        if not message:
            return
        for view in chat_events(runtimes.get(shop).assistant, message, history, state, shopper or None,
                                budget_s=budget):
            yield ("",) + view.outputs()

    def pick(shopper: str | None):
        shown = history_html(runtimes.get(shop), shopper or None)
        return shown, [], chips_html({}), cards_html(None), None, None

    def react(kind: str, lines: list, scope: str, history: list, state: dict | None, shopper: str | None):
        return feedback(runtimes.get(shop), kind, lines, scope, shopper or None, state, last_request(history))

    shoppers = demo_shoppers(config, runtimes.get(shop)) if show_picker else []
    return layout(gr, respond, pick, react, shoppers, show_picker, storage_secret(config), make_i18n(gr))


def storage_secret(config: AppConfig) -> str:
    """The key Gradio's BrowserState encrypts saved conversations with. It is sent to the page (the
    encryption happens there), so it protects nothing from the shopper; it only has to stay the same across
    restarts, or a restart would leave every saved conversation unreadable."""
    import hashlib

    seed = f"bundlebot-ui|{config.server.shopper_token_secret or ''}|{config.server.default_shop}"
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def mount(app: Any, config: AppConfig, runtimes: Runtimes) -> None:
    """Mount the UI at ``/`` with no file access, no SSR/MCP, errors hidden (callbacks report them)."""
    import gradio as gr

    blocks = build_blocks(config, runtimes)
    gr.mount_gradio_app(app, blocks, path="", allowed_paths=[], footer_links=[], show_error=False,
                        css=CSS, ssr_mode=False, mcp_server=False, max_file_size="1mb", i18n=make_i18n(gr))
