"""What the shopper reads, in French and Chinese: the bundle's explanation, the parsed-constraint summary and
the plain statements (nothing fits, fewer items than asked, a note about an edit).

The small generator writes English only passably and Chinese not at all, so a non-English answer is never
generated: every sentence here is a checked template filled with the bundle's facts (``facts.Evidence``),
exactly the facts the English templates (``assistant.wording``) state. Catalog titles and kind names stay as
the shop wrote them.

>>> from assistant.facts import Evidence
>>> ev = Evidence(2, ["teapot", "mug"], 12.5, 15.0, 2.5, "GBP", pairs=[("White teapot", "Rose mug", 31)])
>>> print(explanation(ev, "zh"))
这组搭配包括 teapot 和 mug。White teapot 和 Rose mug 有 31 笔订单一起购买。合计 £12.50，在 £15.00 的预算内，还剩 £2.50。
>>> print(explanation(ev, "fr"))
Ce lot réunit teapot et mug. White teapot et Rose mug ont été achetés ensemble dans 31 commandes. \
Le total est de £12.50, dans votre budget de £15.00 (il reste £2.50).
"""

from __future__ import annotations

import re

from assistant.explain import REASONS as ENGLISH_REASONS
from assistant.facts import Evidence
from assistant.prompting import format_price
from assistant.types import Constraints

_T = {
    "zh": {
        "kinds": "这组搭配包括 {kinds}。", "for": "为{occasion}准备：{kinds}。",
        "pair": "{a} 和 {b} 有 {count} 笔订单一起购买。",
        "history": "您在 {when} 买过 {title}，这组搭配里有同类商品。",
        "again": "您在 {when} 买过 {title}，所以这次又放进来了。",
        "top": "{title} 在本店出现在 {count} 笔订单中。",
        "budget": "合计 {total}，在 {budget} 的预算内，还剩 {left}。",
        "budget_all": "合计 {total}，正好用完 {budget} 的预算。",
        "total": "合计 {total}。", "and": " 和 ", "sep": "、", "more": "{kinds} 等",
        "nothing": "本店没有符合{where}的商品；可以试试提高预算或减少限制。",
        "size": "{where}只找到 {found} 件，少于您要的 {size} 件。", "found": "{where}只找到 {found} 件。",
        "must": "{where}没能放入您指定的 {n} 样东西。",
        "within": "预算 {budget} 以内", "without": "不含您排除的 {n} 样东西",
        "where_join": "、", "no_target": "购物组合里没有您说的那件商品，所以没有改动。",
        "already": "购物组合里已经有 {title}，所以没有再加。",
        "currency": "本店价格以 {shop} 计，不做换算：您的预算按 {budget} 计算。",
        "bad_budget": "您给的预算无法使用（应在一分钱到一百万之间），所以没有按预算筛选。",
        "start_over": "好的，重新开始。您想买些什么？",
        "summary_budget": "预算 {budget}",
        "summary_each": "每件不超过 {price}", "summary_items": "{n} 件", "summary_people": "{n} 人",
        "summary_occasion": "场合：{v}", "summary_recipient": "送给：{v}", "summary_no": "{n} 项排除",
        "summary_must": "{n} 项必需", "summary_none": "没有限制", "summary_sep": " · ",
    },
    "fr": {
        "kinds": "Ce lot réunit {kinds}.", "for": "Pour {occasion} : {kinds}.",
        "pair": "{a} et {b} ont été achetés ensemble dans {count} commandes.",
        "history": "Vous avez acheté {title} en {when}, et le lot en contient un du même genre.",
        "again": "Vous avez acheté {title} en {when} : le revoici.",
        "top": "{title} figure dans {count} commandes de la boutique.",
        "budget": "Le total est de {total}, dans votre budget de {budget} (il reste {left}).",
        "budget_all": "Le total est de {total}, tout votre budget de {budget}.",
        "total": "Le total est de {total}.", "and": " et ", "sep": ", ", "more": "{kinds} et d'autres",
        "nothing": "Rien dans le catalogue ne convient{where} ; essayez un budget plus élevé ou moins de limites.",
        "size": "Seulement {found} des {size} articles demandés conviennent{where}.",
        "found": "Articles qui conviennent{where} : {found}.",
        "must": "Impossible d'inclure les {n} articles demandés{where}.",
        "within": " pour {budget} maximum", "without": " sans les {n} articles exclus",
        "where_join": " et", "no_target": "Cet article n'est pas dans le lot : rien n'a été changé.",
        "already": "Le lot contient déjà {title} : rien n'a été ajouté.",
        "currency": "Les prix de la boutique sont en {shop} et ne sont pas convertis : votre budget a été lu "
                    "comme {budget}.",
        "bad_budget": "Le budget indiqué ne peut pas être utilisé (il doit être entre un centime et un million) : "
                      "aucun budget n'a été appliqué.",
        "start_over": "D'accord, on recommence. Que cherchez-vous ?",
        "summary_budget": "budget {budget}",
        "summary_each": "au plus {price} l'article", "summary_items": "{n} articles", "summary_people": "{n} personnes",
        "summary_occasion": "occasion : {v}", "summary_recipient": "pour : {v}", "summary_no": "{n} exclusion(s)",
        "summary_must": "{n} article(s) obligatoire(s)", "summary_none": "aucune contrainte", "summary_sep": " · ",
    },
}
OCCASION_NAMES = {
    "zh": {"tea party": "茶话会", "afternoon tea": "下午茶", "birthday": "生日", "birthday party": "生日派对",
           "christmas": "圣诞节", "wedding": "婚礼", "picnic": "野餐", "party": "派对", "kids party": "儿童派对",
           "baby shower": "迎婴派对", "housewarming": "乔迁", "halloween": "万圣节", "easter": "复活节",
           "baking": "烘焙", "barbecue": "烧烤", "valentine": "情人节", "gardening": "园艺"},
    "fr": {"tea party": "un goûter", "afternoon tea": "un thé", "birthday": "un anniversaire",
           "birthday party": "une fête d'anniversaire", "christmas": "Noël", "wedding": "un mariage",
           "picnic": "un pique-nique", "party": "une fête", "kids party": "une fête d'enfants",
           "baby shower": "une baby shower", "housewarming": "une crémaillère", "halloween": "Halloween",
           "easter": "Pâques", "baking": "la pâtisserie", "barbecue": "un barbecue", "valentine": "la Saint-Valentin",
           "gardening": "le jardinage"},
}
SHOWN_KINDS = 3
REASONS = {
    "zh": {"history": "和您买过的 {title} 很搭", "history_when": "和您在 {when} 买的 {title} 很搭",
           "complement": "常和 {other} 一起购买", "llm": "助手的首选", "popular": "本店热销",
           "matches": "符合“{words}”", "close": "与您的要求相近", "asked": "您指定的 {term}"},
    "fr": {"history": "va avec {title}, que vous avez acheté", "history_when": "va avec {title}, acheté en {when}",
           "complement": "souvent acheté avec {other}", "llm": "le premier choix de l'assistant",
           "popular": "un choix populaire de la boutique", "matches": "correspond à « {words} »",
           "close": "proche de votre demande", "asked": "le {term} demandé"},
}
"""An item's reason (``explain.REASONS``, by key) in French and Chinese; titles stay as the shop wrote them."""


def reason(lang: str, key: str, fill: dict[str, str]) -> str:
    """An item's reason in ``lang``; in English (``explain.REASONS``) for every other language."""
    return REASONS.get(lang, ENGLISH_REASONS)[key].format(**fill)


def translated(lang: str) -> bool:
    return lang in _T


def text(lang: str, key: str, **fill: object) -> str:
    return _T[lang][key].format(**fill)


def _list(lang: str, words: list[str]) -> str:
    t = _T[lang]
    return words[0] if len(words) == 1 else t["sep"].join(words[:-1]) + t["and"] + words[-1]


def explanation(ev: Evidence, lang: str) -> str:
    """The bundle's facts in ``lang``: what it covers, its strongest evidence, how it uses the budget."""
    t = _T[lang]
    price = lambda x: format_price(x, ev.currency)  # noqa: E731
    out = []
    if ev.kinds:
        kinds = ev.kinds[:SHOWN_KINDS]
        listed = t["more"].format(kinds=t["sep"].join(kinds)) if len(ev.kinds) > SHOWN_KINDS else _list(lang, kinds)
        occasion = OCCASION_NAMES[lang].get(ev.occasion)
        out.append(t["for"].format(occasion=occasion, kinds=listed) if occasion else t["kinds"].format(kinds=listed))
    for a, b, n in ev.pairs[:1]:
        out.append(t["pair"].format(a=a, b=b, count=n))
    if not ev.pairs:
        for title, when, again in ev.history[:1]:
            if when:
                out.append(t["again" if again else "history"].format(title=title, when=when))
    if len(out) < 2 and ev.top:
        out.append(t["top"].format(title=ev.top[0], count=ev.top[1]))
    if ev.total is not None:
        if ev.budget is None:
            out.append(t["total"].format(total=price(ev.total)))
        elif ev.left is not None and ev.left >= 0.01:
            out.append(t["budget"].format(total=price(ev.total), budget=price(ev.budget), left=price(ev.left)))
        else:
            out.append(t["budget_all"].format(total=price(ev.total), budget=price(ev.budget)))
    return ("" if lang == "zh" else " ").join(out)


def bundle_message(lang: str, unmet: list[str], c: Constraints, found: int, size: int) -> str:
    """What could not be met, as ``assemble._message`` says it in English."""
    t = _T[lang]
    limits = []
    if c.budget is not None:
        limits.append(t["within"].format(budget=format_price(c.budget, c.currency)))
    if c.exclude:
        limits.append(t["without"].format(n=len(c.exclude)))
    where = t["where_join"].join(limits)
    if "nothing" in unmet:
        return t["nothing"].format(where=where)
    parts = []
    if "size" in unmet:
        parts.append(t["size" if c.size is not None else "found"].format(found=found, size=size, where=where))
    if "must_have" in unmet:
        parts.append(t["must"].format(n=len(c.must_have), where=where))
    return ("" if lang == "zh" else " ").join(parts)


def summarize(lang: str, c: Constraints) -> str:
    """The parsed constraints for display (``service.summarize`` in English). Client terms are counted,
    never echoed: the shopper's words were foreign to the shop."""
    t = _T[lang]
    parts = []
    if c.budget is not None:
        lo = f"{format_price(c.budget_min, c.currency)}–" if c.budget_min is not None else ""
        parts.append(t["summary_budget"].format(budget=lo + format_price(c.budget, c.currency)))
    if c.max_each is not None:
        parts.append(t["summary_each"].format(price=format_price(c.max_each, c.currency)))
    if c.size:
        parts.append(t["summary_items"].format(n=c.size))
    if c.people:
        parts.append(t["summary_people"].format(n=c.people))
    if c.occasion:
        parts.append(t["summary_occasion"].format(v=OCCASION_NAMES[lang].get(c.occasion, c.occasion)))
    if c.exclude:
        parts.append(t["summary_no"].format(n=len(c.exclude)))
    if c.must_have:
        parts.append(t["summary_must"].format(n=len(c.must_have)))
    return t["summary_sep"].join(parts) or t["summary_none"]


ERRORS = [  # (the English message, as ``parse.clean_message`` words it; zh; fr), with the hint the same way
    (r"the message is (\d+) characters, at most (\d+) are accepted",
     ("消息有 {0} 个字符，最多 {1} 个", "请把要求写短一些"),
     ("le message fait {0} caractères, {1} au maximum", "raccourcissez la demande")),
    (r"the message should describe what you want in words",
     ("请用文字说明您想买什么", "例如：六个人的茶话会，预算25英镑"),
     ("décrivez ce que vous cherchez avec des mots", "par exemple : un goûter pour six, moins de 25 livres")),
    (r"the message is empty",
     ("消息是空的", "说说您想买什么"), ("le message est vide", "dites ce que vous cherchez")),
]
"""The errors a shopper's own message can cause, in French and Chinese; every other error (a malformed state,
a server problem) is a developer's and stays English."""


def localized_error(exc: Exception, lang: str) -> Exception:
    """``exc`` with its message and hint in ``lang`` when it is one of ``ERRORS``; otherwise ``exc`` itself.

    >>> from bundlebot.errors import RequestError
    >>> err = localized_error(RequestError("the message is 1200 characters, at most 1000 are accepted"), "zh")
    >>> err.message, err.hint, err.code
    ('消息有 1200 个字符，最多 1000 个', '请把要求写短一些', 'bad_request')
    """
    message = getattr(exc, "message", None)
    if lang not in _T or not isinstance(message, str):
        return exc
    for pattern, zh, fr in ERRORS:
        if m := re.match(pattern, message):
            text, hint = zh if lang == "zh" else fr
            return type(exc)(text.format(*m.groups()), hint=hint)
    return exc
