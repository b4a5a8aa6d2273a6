"""The chat UI's own words in English, French and Chinese (Gradio's ``I18n``: the browser's language picks
them; catalog titles and the assistant's answers are not translated here: answers follow the language of
the shopper's message, ``assistant.languages``)."""

from __future__ import annotations

from functools import cache
from typing import Any

WORDS: dict[str, dict[str, str]] = {
    "en": {"heading": "## bundlebot — ask for a bundle\nDescribe the occasion, the people and a budget.",
           "chat": "Chat", "placeholder": "hosting a tea party for six, about £25", "send": "Send", "stop": "Stop",
           "try": "Try", "restart": "Start over", "forget": "Delete this conversation",
           "saved": "Saved conversations (in this browser)", "shopper": "Shopper (demo)", "cheaper": "cheaper",
           "swap": "swap", "remove": "remove", "like": "like", "dislike": "not for me",
           "like_bundle": "like this bundle", "dislike_bundle": "not this bundle"},
    "fr": {"heading": "## bundlebot — demandez un lot\nDécrivez l'occasion, les personnes et un budget.",
           "chat": "Discussion", "placeholder": "un goûter pour six, environ 25 £", "send": "Envoyer",
           "stop": "Arrêter", "try": "Essayez", "restart": "Recommencer", "forget": "Supprimer cette conversation",
           "saved": "Conversations enregistrées (dans ce navigateur)", "shopper": "Client (démo)",
           "cheaper": "moins cher", "swap": "changer", "remove": "retirer", "like": "j'aime",
           "dislike": "pas pour moi", "like_bundle": "j'aime ce lot", "dislike_bundle": "pas ce lot"},
    "zh": {"heading": "## bundlebot — 让我帮您搭配\n说说场合、人数和预算。", "chat": "对话",
           "placeholder": "六个人的茶话会，预算25英镑", "send": "发送", "stop": "停止", "try": "试试",
           "restart": "重新开始", "forget": "删除这段对话", "saved": "已保存的对话（仅在此浏览器）",
           "shopper": "顾客（演示）", "cheaper": "便宜点", "swap": "换一个", "remove": "去掉", "like": "喜欢",
           "dislike": "不适合我", "like_bundle": "喜欢这个组合", "dislike_bundle": "不要这个组合"},
}


CARDS: dict[str, dict[str, str]] = {
    "en": {"one": "{n} item, total {total}", "many": "{n} items, total {total}", "budget": " (budget {budget})",
           "empty": "No bundle yet — ask for one.", "none": "no constraints yet", "chip_budget": "budget ≤ {v}",
           "chip_each": "each ≤ {v}", "chip_size": "{v} items", "chip_people": "{v} people",
           "chip_occasion": "occasion: {v}",
           "chip_recipient": "recipient: {v}", "chip_no": "no {v}", "chip_with": "with {v}"},
    "fr": {"one": "{n} article, total {total}", "many": "{n} articles, total {total}", "budget": " (budget {budget})",
           "empty": "Pas encore de lot — demandez-en un.", "none": "pas encore de contrainte",
           "chip_budget": "budget ≤ {v}", "chip_each": "≤ {v} l'article", "chip_size": "{v} articles",
           "chip_people": "{v} personnes",
           "chip_occasion": "occasion : {v}", "chip_recipient": "pour : {v}", "chip_no": "sans {v}",
           "chip_with": "avec {v}"},
    "zh": {"one": "{n} 件，合计 {total}", "many": "{n} 件，合计 {total}", "budget": "（预算 {budget}）",
           "empty": "还没有组合，说说您想要什么吧。", "none": "还没有限制", "chip_budget": "预算 ≤ {v}",
           "chip_each": "每件 ≤ {v}", "chip_size": "{v} 件", "chip_people": "{v} 人", "chip_occasion": "场合：{v}",
           "chip_recipient": "送给：{v}",
           "chip_no": "不要 {v}", "chip_with": "要有 {v}"},
}
"""The cards' and chips' words (``ui.format``), by the language of the answer they show."""


def cards_words(lang: str | None) -> dict[str, str]:
    return CARDS.get(lang or "en", CARDS["en"])


@cache
def make_i18n(gr: Any) -> Any:
    """The ``gr.I18n`` of ``WORDS`` (Chinese under both ``zh`` and ``zh-CN``, as browsers report it); one
    instance, so the layout's keys and the mounted app's translations are the same object's."""
    return gr.I18n(**{"en": WORDS["en"], "fr": WORDS["fr"], "zh": WORDS["zh"], "zh-CN": WORDS["zh"]})
