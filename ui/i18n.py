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


@cache
def make_i18n(gr: Any) -> Any:
    """The ``gr.I18n`` of ``WORDS`` (Chinese under both ``zh`` and ``zh-CN``, as browsers report it); one
    instance, so the layout's keys and the mounted app's translations are the same object's."""
    return gr.I18n(**{"en": WORDS["en"], "fr": WORDS["fr"], "zh": WORDS["zh"], "zh-CN": WORDS["zh"]})
