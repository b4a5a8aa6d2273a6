"""Turn a bundle (``BundleResult.to_dict()``) into text for chat clients and escaped HTML for the Gradio UI.

Model and catalog text is always escaped before it goes into HTML.

>>> b = {"items": [{"id": "1", "title": "TEA <b>SET</b>", "price": 4.5, "currency": "GBP",
...      "reason": "for six", "quantity": 1}], "total": 4.5, "currency": "GBP",
...      "constraints": {"budget": 25.0, "size": None, "exclude": [], "must_have": []}}
>>> print(bundle_text(b))
Bundle: 1 item, total £4.50 (budget £25.00)
1. TEA <b>SET</b> — £4.50: for six
>>> "&lt;b&gt;" in cards_html(b)
True
"""

from __future__ import annotations

from html import escape
from typing import Any

from assistant.prompting import format_price
from ui.i18n import cards_words


def budget_line(bundle: dict[str, Any]) -> str:
    words = cards_words(bundle.get("language"))
    items = bundle.get("items") or []
    cur = bundle.get("currency")
    budget = (bundle.get("constraints") or {}).get("budget")
    total = format_price(bundle.get("total"), cur)
    text = words["one" if len(items) == 1 else "many"].format(n=len(items), total=total)
    return text + (words["budget"].format(budget=format_price(budget, cur)) if budget is not None else "")


def bundle_text(bundle: dict[str, Any]) -> str:
    """A plain-text listing (what an OpenAI-compatible client without bundle support shows)."""
    lines = [f"Bundle: {budget_line(bundle)}"]
    for i, line in enumerate(bundle.get("items") or [], 1):
        qty = f"{line.get('quantity', 1)} × " if line.get("quantity", 1) > 1 else ""
        price = format_price(line.get("price"), line.get("currency") or bundle.get("currency"))
        lines.append(f"{i}. {qty}{line['title']} — {price}: {line.get('reason', '')}".rstrip(": "))
    if bundle.get("message"):
        lines.append(str(bundle["message"]))
    return "\n".join(lines)


def chips_html(constraints: dict[str, Any] | None, currency: str | None = None, lang: str | None = None) -> str:
    """The parsed constraints as chips (budget, size, occasion, exclusions...), in the answer's language."""
    words = cards_words(lang)
    chips = []
    c = constraints or {}
    if c.get("budget") is not None:
        chips.append(words["chip_budget"].format(v=format_price(c["budget"], c.get("currency") or currency)))
    if c.get("max_each") is not None:
        chips.append(words["chip_each"].format(v=format_price(c["max_each"], c.get("currency") or currency)))
    for key in ("size", "people", "occasion", "recipient"):
        if c.get(key):
            chips.append(words[f"chip_{key}"].format(v=c[key]))
    chips += [words["chip_no"].format(v=t) for t in c.get("exclude") or []]
    chips += [words["chip_with"].format(v=t) for t in c.get("must_have") or []]
    body = "".join(f'<span class="bb-chip">{escape(str(t))}</span>' for t in chips)
    return f'<div class="bb-chips">{body or "<em>" + escape(words["none"]) + "</em>"}</div>'


def cards_html(bundle: dict[str, Any] | None) -> str:
    """The bundle as cards: title, price, one-line reason; then the total against the budget."""
    if not bundle or not bundle.get("items"):
        msg = escape(str((bundle or {}).get("message") or cards_words((bundle or {}).get("language"))["empty"]))
        return f'<div class="bb-cards"><p>{msg}</p></div>'
    cards = []
    for i, line in enumerate(bundle["items"], 1):
        price = format_price(line.get("price"), line.get("currency") or bundle.get("currency"))
        qty = f" × {line['quantity']}" if line.get("quantity", 1) > 1 else ""
        cards.append(
            f'<div class="bb-card" data-id="{escape(str(line["id"]))}"><div class="bb-num">#{i}</div>'
            f'<div class="bb-title">{escape(str(line["title"]))}</div>'
            f'<div class="bb-price">{escape(price)}{qty}</div>'
            f'<div class="bb-reason">{escape(str(line.get("reason", "")))}</div></div>')
    total = f'<div class="bb-total">{escape(budget_line(bundle))}</div>'
    note = f'<p class="bb-note">{escape(str(bundle["message"]))}</p>' if bundle.get("message") else ""
    return f'<div class="bb-cards">{"".join(cards)}</div>{total}{note}'


CSS = """
.bb-chips{display:flex;flex-wrap:wrap;gap:6px}
.bb-chip{background:#eef2ff;border:1px solid #c7d2fe;border-radius:999px;padding:2px 10px;font-size:13px}
.bb-cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:8px}
.bb-card{border:1px solid #ddd;border-radius:8px;padding:8px}
.bb-title{font-weight:600}.bb-price{color:#065f46}.bb-reason{font-size:13px;color:#555}
.bb-num{font-size:12px;color:#888}.bb-total{margin-top:8px;font-weight:600}
"""
