"""Requests in Chinese and French: the language of a turn, the rules that read it into English, the shop's
words for the rest, and the edits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assistant.edits import parse_edit
from assistant.languages import detect, read
from assistant.parse import clean_message, parse_request
from bundlebot.errors import RequestError
from retrieval.multilingual import Glossary, multilingual_encoder, vocabulary

SUITES = Path(__file__).resolve().parents[2] / "evaluation" / "suites"
# the shop's word for each foreign term the cases below use (what a Glossary gives; tested on its own)
WORDS = {"蜡烛": "candle", "杯子": "cup", "茶壶": "teapot", "气球": "balloon", "餐巾": "napkin",
         "马克杯": "mug", "bougies": "candle", "tasse": "cup", "théière": "teapot", "ballons": "balloon",
         "serviettes": "napkin", "mugs": "mug"}


def english(text: str, lang: str | None = None) -> str:
    lang = lang or detect(text)
    out, _ = read(text, lang).resolved(WORDS.get)
    return out


def turns(name: str) -> list[list[str]]:
    return [json.loads(line)["turns"] for line in (SUITES / f"{name}.jsonl").read_text("utf-8").splitlines()
            if line.strip()]


@pytest.mark.parametrize("name, lang", [("constraints", "en"), ("multi-turn", "en"), ("occasions", "en"),
                                        ("constraints-fr", "fr"), ("multi-turn-fr", "fr"),
                                        ("constraints-zh", "zh"), ("multi-turn-zh", "zh")])
def test_every_turn_of_a_suite_is_read_in_its_language(name: str, lang: str) -> None:
    for conversation in turns(name):
        previous = None
        for text in conversation:
            previous = detect(text, previous)
            assert previous == lang, text


def test_a_short_follow_up_keeps_the_conversations_language() -> None:
    assert detect("Pas de ballons", "fr") == "fr"
    assert detect("Pas de ballons", "en") in ("en", "fr")  # too short to tell: the conversation decides
    assert detect("no balloons", "fr") == "en"  # the shopper switched to English
    assert detect("cheaper please", "fr") == "en" and detect("moins cher", "fr") == "fr"
    assert detect("Des sacs repas, 4 en tout") == "fr"  # unsure first turn: French function words decide


@pytest.mark.parametrize("text, budget, budget_min", [
    ("为六个人的茶话会准备东西，预算25英镑", 25.0, None),
    ("茶壶，25镑以内", 25.0, None),
    ("杯子，不超过15英镑", 15.0, None),
    ("圣诞装饰，20英镑左右", 20.0, 16.0),
    ("烘焙用的东西，20到40英镑", 40.0, 20.0),
    ("預算１５英鎊的禮物", 15.0, None),  # traditional characters, full-width digits
    ("un cadeau pour ma mère, moins de 20 livres", 20.0, None),
    ("une théière, 15 £ maximum", 15.0, None),
    ("des tasses pour environ 25 livres", 25.0, 20.0),
    ("entre 20 et 40 livres pour un pique-nique", 40.0, 20.0),
    ("pas plus de 5,50 £", 5.5, None),
])
def test_budgets_in_chinese_and_french(text: str, budget: float, budget_min: float | None) -> None:
    c = parse_request(english(text))
    assert (c.budget, c.budget_min) == (budget, budget_min), english(text)


@pytest.mark.parametrize("text, people, size", [
    ("六个人的下午茶", 6, None), ("八个孩子的生日派对", 8, None), ("来三件野餐用的东西", None, 3),
    ("给同事挑两样东西", None, 2), ("pour six personnes, un goûter", 6, None),
    ("trois articles pour un pique-nique", None, 3), ("une fête pour 8 enfants", 8, None),
])
def test_people_and_counts(text: str, people: int | None, size: int | None) -> None:
    c = parse_request(english(text))
    assert (c.people, c.size) == (people, size), english(text)


@pytest.mark.parametrize("text, exclude", [
    ("生日派对，不要蜡烛", ["candle"]), ("派对用品，别要气球，也没有餐巾", ["balloon", "napkin"]),
    ("un anniversaire sans bougies", ["candle"]), ("une fête, pas de ballons ni serviettes", ["balloon", "napkin"]),
])
def test_exclusions_become_the_shops_words(text: str, exclude: list[str]) -> None:
    assert parse_request(english(text)).exclude == exclude, english(text)


@pytest.mark.parametrize("text, occasion, recipient", [
    ("给妈妈的礼物", None, "mum"), ("圣诞节送奶奶的礼物", "christmas", "grandma"),
    ("un cadeau de noël pour ma grand-mère", "christmas", "grandma"), ("un goûter pour six", "tea party", None),
])
def test_occasions_and_recipients(text: str, occasion: str | None, recipient: str | None) -> None:
    c = parse_request(english(text))
    assert (c.occasion, c.recipient) == (occasion, recipient), english(text)


TITLES = {"a": "WHITE TEAPOT", "b": "SCENTED CANDLE", "c": "CAKE STAND"}


@pytest.mark.parametrize("text, kind, targets, cheaper", [
    ("换个便宜点的", "constraints", [], True),
    ("去掉第二个", "remove", ["b"], False),
    ("把蜡烛去掉", "remove", ["b"], False),
    ("换一个别的茶壶", "replace", ["a"], False),
    ("moins cher", "constraints", [], True),
    ("enlève le deuxième", "remove", ["b"], False),
    ("change la théière pour une autre", "replace", ["a"], False),
])
def test_edits_of_the_bundle(text: str, kind: str, targets: list[str], cheaper: bool) -> None:
    lang = detect(text, "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "fr")
    e = parse_edit(english(text, lang), list(TITLES), TITLES)
    assert (e.kind, e.targets, e.cheaper) == (kind, targets, cheaper), english(text, lang)


def test_an_addition_searches_the_shops_word() -> None:
    e = parse_edit(english("再加一个杯子", "zh"), list(TITLES), TITLES)
    assert (e.kind, e.query) == ("add", "cup")
    e = parse_edit(english("ajoute une tasse", "fr"), list(TITLES), TITLES)
    assert (e.kind, e.query) == ("add", "cup")


def test_a_word_nothing_translates_is_kept_for_the_multilingual_search() -> None:
    text, unplaced = read("一个骷髅图案的午餐袋", "zh").resolved(lambda term: None)
    assert unplaced == ["骷髅图案", "午餐袋"] and "午餐袋" not in text
    _, unplaced = read("des sacs repas", "fr").resolved(lambda term: None)
    assert unplaced == ["sacs repas"]


def test_french_function_words_never_reach_the_english_search() -> None:
    # "Ma Campagne Cutlery Box" and "Rose Du Sud Oven Glove" were matched by "ma" and "du"
    c = parse_request(english("un cadeau pour ma mère, moins de 20 livres"))
    assert c.recipient == "mum" and not {"ma", "du", "des", "de", "un"} & set(c.query.lower().split())


def test_messages_in_any_script_are_read_and_others_get_a_clear_error() -> None:
    assert clean_message("为六个人的茶话会", any_script=True) == "为六个人的茶话会"
    with pytest.raises(RequestError, match="language bundlebot cannot read"):
        clean_message("お茶会の準備")
    with pytest.raises(RequestError, match="letters a-z"):
        clean_message("🎁🎈 ？！")


def test_the_glossary_places_a_foreign_word_on_the_shops_word() -> None:
    words = vocabulary(["teapot", "mug", "candle", "napkin", "balloon", "doormat"],
                       ["RED TEAPOT", "BLUE TEAPOT", "SPOTTY MUG", "CANDLE", "CAKE STAND", "CAKE STAND"])
    g = Glossary.fit(words, multilingual_encoder("use"))
    assert g.translate("茶壶") == "teapot"  # the dictionary says so; the encoder alone hesitates
    assert g.translate("bougies") == "candle"
    assert g.translate("气球") == "balloon"
    assert g.translate("mugs") == "mugs"  # an English word the shop uses stays as written
    assert g.translate("量子力学") is None  # nothing of the shop's is near quantum mechanics


def test_the_dictionary_settles_what_the_encoder_confuses() -> None:
    # USE-m3 puts 餐巾 (napkin) nearer "towel" and 茶壶 (teapot) nearer "tea cosy"; CC-CEDICT's glosses decide
    g = Glossary.fit(["towel", "napkin", "tea cosy", "teapot", "picnic", "basket", "baking", "fire"],
                     multilingual_encoder("use"))
    assert (g.translate("餐巾"), g.translate("茶壶")) == ("napkin", "teapot")
    assert g.translate("烘焙") == "baking"  # its gloss says "dry by fire": too far from what the encoder says


def test_the_glossary_round_trips_and_refuses_another_encoder(tmp_path: Path) -> None:
    g = Glossary.fit(["teapot", "mug"], multilingual_encoder("hash"))
    path = g.save(tmp_path / "glossary.npz")
    assert Glossary.load(path, multilingual_encoder("hash")).entries == ["teapot", "mug"]
    with pytest.raises(Exception, match="embedded with"):
        Glossary.load(path, multilingual_encoder("use"))


@pytest.mark.parametrize("text, exclude", [
    ("妈妈的生日礼物，蜡烛就不要了", ["candle"]), ("派对装饰，气球就不用了", ["balloon"]),
    ("乔迁礼物，别推荐马克杯", ["mug"]), ("un cadeau, et pas de bougies elles en ont plein", ["candle"]),
])
def test_exclusions_written_after_the_thing(text: str, exclude: list[str]) -> None:
    assert parse_request(english(text)).exclude[:1] == exclude, english(text)


@pytest.mark.parametrize("text, size", [
    ("办公室的6个同事每人送一件小礼物", 6), ("10个小朋友，每人准备一份小礼物", 10), ("谢师礼物，就一件", 1),
    ("un petit truc à chacune de mes 5 collègues", 5), ("pour les 10 enfants, un par enfant", 10),
    ("un cadeau pour la maitresse, un seul article", 1),
])
def test_one_each_and_just_one(text: str, size: int) -> None:
    assert parse_request(english(text)).size == size, english(text)


def test_accents_are_optional_in_french() -> None:
    c = parse_request(english("pour noel, un cadeau a moins de 15 livres pour mes 5 collegues", "fr"))
    assert (c.occasion, c.budget, c.people) == ("christmas", 15.0, 5)


def test_one_more_and_remove_with_a_particle() -> None:
    assert parse_edit(english("再多加一样", "zh"), list(TITLES), TITLES).kind == "add"
    assert parse_edit(english("把第二样去掉吧", "zh"), list(TITLES), TITLES).targets == ["b"]
    assert parse_edit(english("ajoute encore un article", "fr"), list(TITLES), TITLES).kind == "add"


def test_reasons_cards_and_chips_in_the_answers_language() -> None:
    from assistant.explain import REASONS
    from assistant.languages.messages import REASONS as LOCAL
    from ui.format import cards_html, chips_html

    for lang in ("zh", "fr"):  # every English reason has its translation, with the same values
        assert set(LOCAL[lang]) == set(REASONS)
        for key, text in REASONS.items():
            assert set(re.findall(r"{(\w+)}", LOCAL[lang][key])) <= set(re.findall(r"{(\w+)}", text)), key
    b = {"items": [{"id": "1", "title": "WHITE TEAPOT", "price": 4.5, "currency": "GBP", "reason": "x"}],
         "total": 4.5, "currency": "GBP", "constraints": {"budget": 10.0}, "language": "zh"}
    assert "合计 £4.50" in cards_html(b) and "预算 £10.00" in cards_html(b)
    assert "不要 candle" in chips_html({"exclude": ["candle"]}, "GBP", "zh")
    assert "sans candle" in chips_html({"exclude": ["candle"]}, "GBP", "fr")
    assert "no candle" in chips_html({"exclude": ["candle"]}, "GBP")


def test_a_refusal_of_the_shoppers_own_message_is_in_their_language() -> None:
    from assistant.service import ShoppingAssistant
    from bundlebot.config import AppConfig
    from tests.assistant.fakes import FakeRetriever

    bot = ShoppingAssistant(AppConfig(), "demo", retriever=FakeRetriever())
    err = list(bot.turn_stream("茶壶" * 600, explain=False))[-1]
    assert err.type == "error" and err.data["message"] == "消息有 1200 个字符，最多 1000 个"
    state = {"shop": "demo", "language": "fr"}  # an emoji has no language: the conversation's
    err = list(bot.turn_stream("🎁🎁", state, explain=False))[-1]
    assert err.data["code"] == "bad_request" and err.data["message"].startswith("décrivez")
    err = list(bot.turn_stream("🎁🎁", explain=False))[-1]
    assert "letters a-z" in err.data["message"]  # English, when nothing says otherwise


def test_a_thing_not_to_give_and_a_newborn() -> None:
    c = parse_request(english("同事结婚，厨房礼物，30镑左右，别送杯子"))
    assert c.exclude == ["cup"] and c.occasion == "wedding" and c.budget == 30.0, english("别送杯子")
    c = parse_request(english("给刚出生的小侄子准备一份见面礼，15英镑以内"))
    assert (c.occasion, c.recipient, c.budget) == ("new baby", "nephew", 15.0), english("刚出生")
