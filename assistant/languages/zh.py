"""Chinese requests read into English phrases (see the package docstring). Chinese has no spaces: the rules
work on characters, and what is left once every rule has run is cut into terms at the connecting words
(和, 或, 还有, 、) and trimmed of verbs, classifiers and particles at either end — the only segmentation
the rules need, so no segmenter (jieba) is loaded.

>>> text, terms = rewrite("给妈妈的礼物，不要蜡烛，20镑以内")
>>> " ".join(text.split()), terms
('for my mum gift , no ⟦0!⟧ , under £20', ['蜡烛'])
>>> " ".join(rewrite("去掉第二个")[0].split()), " ".join(rewrite("再加一个杯子")[0].split())
('remove the second one', 'add ⟦0⟧')
"""

from __future__ import annotations

import re
import unicodedata

from assistant.languages import one_each, placeholder

# Traditional characters that requests use, to their simplified forms: the rules are written once.
_TRADITIONAL = str.maketrans(
    "禮媽預鎊燭氣給個買東們話會聖誕節點換進內過這裡應爺壺盤燈歲兒孫車餅乾蠟誰寶嬰婦親師閨鄰廚飾裝"
    "與還須預設為標準備萬聖復活紀歡樂對雙張條樣種約貴錢塊幾兩從頭開處盃學園藝烤燒遠遊戲誕週蓋燙熱",
    "礼妈预镑烛气给个买东们话会圣诞节点换进内过这里应爷壶盘灯岁儿孙车饼干蜡谁宝婴妇亲师闺邻厨饰装"
    "与还须预设为标准备万圣复活纪欢乐对双张条样种约贵钱块几两从头开处杯学园艺烤烧远游戏诞周盖烫热")
_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUMERAL = "[零一二两三四五六七八九十百]+"
# a numeral is a number only before a classifier, a unit of money or 人; 一些, 一点, 一定 stay words
_UNIT = "(?=[个位件样人份套张盒只把双杯英镑磅块元名种条支瓶罐])"
_CJK = "\u3400-\u9fff"
_CUR = r"(?P<cur>英镑|镑|磅|元|块钱|块|人民币)?"
_AMT = r"(?P<sym>£|\$|€)?\s*(?P<n>\d+(?:\.\d+)?)\s*" + _CUR

ORDINALS = {"一": "first", "二": "second", "两": "second", "三": "third", "四": "fourth", "五": "fifth",
            "六": "sixth", "1": "first", "2": "second", "3": "third", "4": "fourth", "5": "fifth", "6": "sixth"}
OCCASIONS = [  # longest first where one contains another
    ("生日派对", "birthday party"), ("生日聚会", "birthday party"), ("生日会", "birthday party"),
    ("儿童派对", "kids party"), ("小朋友派对", "kids party"), ("孩子的派对", "kids party"),
    ("下午茶会", "tea party"), ("茶话会", "tea party"), ("茶会", "tea party"), ("下午茶", "afternoon tea"),
    ("圣诞节", "christmas"),
    ("圣诞", "christmas"), ("生日", "birthday"), ("婚礼", "wedding"), ("结婚", "wedding"),
    ("迎婴派对", "baby shower"), ("新生儿", "new baby"), ("宝宝出生", "new baby"),
    ("刚出生", "new baby"), ("出生", "new baby"), ("满月", "new baby"), ("见面礼", "gift"), ("乔迁", "housewarming"),
    ("搬新家", "new home"), ("新家", "new home"), ("野餐", "picnic"), ("晚宴", "dinner party"),
    ("花园派对", "garden party"), ("万圣节", "halloween"), ("情人节", "valentine"), ("复活节", "easter"),
    ("母亲节", "mother's day"), ("父亲节", "father's day"), ("周年纪念", "anniversary"), ("纪念日", "anniversary"),
    ("烧烤", "barbecue"), ("烘焙", "baking"), ("做蛋糕", "baking"), ("感谢", "thank you"), ("谢礼", "thank you"),
    ("退休", "retirement"), ("毕业", "graduation"), ("早餐", "breakfast"), ("单身派对", "hen party"),
    ("派对", "party"), ("聚会", "party"), ("秘密圣诞老人", "secret santa"), ("早日康复", "get well"),
    ("露营", "camping"), ("上学", "school"), ("办公室", "office"), ("园艺", "gardening"),
    ("圣诞袜", "stocking filler"),
]
RECIPIENTS = [
    ("妈妈", "mum"), ("母亲", "mum"), ("老妈", "mum"), ("爸爸", "dad"), ("父亲", "dad"), ("老爸", "dad"),
    ("奶奶", "grandma"), ("外婆", "grandma"), ("姥姥", "grandma"), ("祖母", "grandma"),
    ("爷爷", "grandad"), ("外公", "grandad"), ("姥爷", "grandad"), ("祖父", "grandad"),
    ("姐姐", "sister"), ("妹妹", "sister"), ("哥哥", "brother"), ("弟弟", "brother"), ("妻子", "wife"),
    ("老婆", "wife"), ("太太", "wife"), ("丈夫", "husband"), ("老公", "husband"), ("男朋友", "boyfriend"),
    ("女朋友", "girlfriend"), ("闺蜜", "friend"), ("朋友", "friend"), ("老板", "boss"), ("同事", "colleague"),
    ("老师", "teacher"), ("女儿", "daughter"), ("儿子", "son"), ("侄女", "niece"), ("外甥女", "niece"),
    ("侄子", "nephew"), ("外甥", "nephew"), ("阿姨", "aunt"), ("姑姑", "aunt"), ("叔叔", "uncle"),
    ("舅舅", "uncle"), ("邻居", "neighbour"), ("孩子们", "kids"), ("小朋友们", "kids"), ("宝宝", "baby"),
    ("婴儿", "baby"), ("主人", "host"), ("父母", "parents"), ("孩子", "kids"), ("小孩", "kids"),
]
OCCASIONS.sort(key=lambda p: -len(p[0]))
RECIPIENTS.sort(key=lambda p: -len(p[0]))
_PEOPLE = [("孩子", "kids"), ("小孩", "kids"), ("小朋友", "kids"), ("儿童", "kids"), ("朋友", "friends"),
           ("同事", "colleagues"), ("客人", "guests"), ("宾客", "guests"), ("大人", "adults"), ("人", "people")]
_GRAMMAR = frozenset("过她他它们先去带就也都还又再很太更最在是有了着把被给让"
                     "跟和或与为对从到向往这那哪些个吗呢吧啊呀哦嘛么什怎要想"
                     "会能可该请帮找买送挑选来用做办看拿放刚才已经正小大新老好")
_SEP = r"(?:和|跟|与|及|以及|还有|或者|或是|或|、|,|/|;)"
# what a term is trimmed of at its ends: verbs of wanting and buying, numerals, classifiers, particles
_LEAD = re.compile(r"^(?:我们|我|你|请|办|在|给|用|为|对|让|从|帮我|给我|麻烦|想要|想|需要|要|"
                   r"买|找|挑|选|送|来|再|还|也|一些|一下|"
                   r"[一几两]?[个件份套只把张盒双支条瓶些点])+")
_TRAIL = re.compile(r"(?:用的|用|的|了|吧|呢|吗|啊|呀|哦|嘛|之类|什么|等等|等|类|这种|那种|东西|用品)+$")
_FILLERS = re.compile(r"下个月|下周|这周|周末|明天|今天|最近|马上|加起来|用品|用具|套装|"
                      r"我想要|我想|我需要|我要|其实|但是|任何|随便|打算花|打算|"
                      r"一共|总共|每个|要办|举办|"
                      r"用的|就要|帮我找|帮我选|帮我|给我推荐|推荐一下|推荐|有没有|可以|能不能|"
                      r"麻烦|谢谢|请问|请|准备|一些|一下|东西|适合|的话|好吗|怎么样|吧|呢|吗|啊|呀")


def _number(text: str) -> int | None:
    """A Chinese numeral up to 999: 六 -> 6, 十二 -> 12, 二十五 -> 25, 一百 -> 100."""
    total, current = 0, 0
    for ch in text:
        if ch in _DIGITS:
            current = _DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


def _count(text: str) -> int:
    return int(text) if text.isdigit() else (_number(text) or 1)


def _money(m: re.Match[str]) -> str:
    n, cur, sym = m.group("n"), m.group("cur"), m.group("sym")
    if cur in ("元", "块", "块钱", "人民币"):
        return f"{n} yuan"
    return f"{sym or '£'}{n}" if (cur or sym) else n


def _terms(chunk: str, terms: list[str], plural: bool = False, negated: bool = False) -> str:
    """Each term of a chunk ("茶壶和杯子") marked, joined with "or" (an exclusion reads "no a or b")."""
    out = []
    for part in re.split(_SEP, chunk):
        part = _TRAIL.sub("", _LEAD.sub("", _FILLERS.sub("", part).strip()))
        part = re.sub(r"^(?:带|有|含|含有|带有)", "", part)
        if part.isascii():  # English a rule wrote, or the shopper's own English word
            out.append(part.strip())
            continue
        # 骷髅图案的午餐袋 (a skull-pattern lunch bag): each side of 的 is placed on its own
        # a grammar character left over on its own (过, 她, 先) is no product; 包, 碗, 灯 are
        words = [placeholder(terms, p, negated).strip() for p in part.split("的")
                 if re.search(f"[{_CJK}A-Za-z]", p) and p not in _GRAMMAR]
        if words:
            words[-1] = words[-1].replace("⟧", "s⟧" if plural else "⟧")
            out.append(" ".join(words))
    return " " + " and ".join(out) + " " if out else " "


_TERM = rf"(?P<x>[{_CJK}A-Za-z][{_CJK}A-Za-z、和或 ]*?)"
_END = r"(?=\s*(?:吧|啊|呀|吗|了|哦|哈)*\s*(?:[,.;!?]|$))"


def rewrite(text: str) -> tuple[str, list[str]]:
    """``text`` with what the rules read turned into English phrases, and the foreign terms left."""
    terms: list[str] = []
    t = unicodedata.normalize("NFKC", text).translate(_TRADITIONAL)
    t = re.sub(r"[、。！？；：“”‘’（）《》【】]", lambda m: {"、": "、", "。": ".", "！": "!", "？": "?",
                                                      "；": ";", "：": ":"}.get(m.group(0), " "), t)

    t = re.sub(r"第([一二两三四五六1-6])(?:个|件|样)?", lambda m: f" the {ORDINALS[m.group(1)]} one ", t)
    t = re.sub(r"最后(?:一)?(?:个|件|样)", " the last one ", t)
    t = re.sub(r"(?:改成|换成|变成)\s*(?P<n>[一二两三四五六七八九十\d]+)\s*(?:个|件|样)(?:东西|物品|商品)?",
               lambda m: f" make it {_count(m.group('n'))} items ", t)
    t = re.sub(r"(?:再多加|再加|再来|再要|多加|再添)\s*(?:一)?\s*(?:个|件|样|份)?"
               r"\s*(?=\s*(?:吧|啊|呀)*\s*(?:[,.;!?]|$))", " one more ", t)
    # "每人一份" (one each): as many things as people, once the people are counted (``_one_each``)
    each = bool(re.search(r"每(?:个)?人\s*(?:送|准备|买|一)?\s*(?:一|1)?\s*(?:件|份|个|样)|一人一(?:件|份|个|样)", t))
    t = re.sub(r"每(?:个)?人\s*(?:送|准备|买)?\s*(?:一|1)?\s*(?:件|份|个|样)|一人一(?:件|份|个|样)", " ", t)
    t = re.sub(r"(?:只要|就要|只买|就买|只|就)\s*(?P<n>[一二两三四五六七八九十\d]+)\s*(?:个|件|样)(?:东西|物品|商品)?",
               lambda m: f" {_count(m.group('n'))} things ", t)
    t = re.sub(r"(?:来|要)\s*(?P<n>[一二两三四五六七八九十\d]+)\s*(?:个|件|样)(?=\s*(?:[,.;!?]|$))",
               lambda m: f" {_count(m.group('n'))} of them ", t)
    t = re.sub(r"其中(?:一|1)\s*(?:个|件|样)", " one of them ", t)
    # "一个茶壶" is "a teapot", not a count of one
    t = re.sub(r"一(?=[个件份套只把张盒双支条瓶])[个件份套只把张盒双支条瓶]?", " ", t)
    t = re.sub(_NUMERAL + _UNIT, lambda m: str(n) if (n := _number(m.group(0))) is not None else m.group(0), t)

    # edits of the current bundle
    t = re.sub(r"^(?:重新开始|从头开始|重来|清空|重新来)", " start over ", t)
    t = re.sub(rf"预算改(?:成|为)\s*{_AMT}", lambda m: f" actually my budget is {_money(m)} ", t)
    t = re.sub(r"(?:换|来|要)?(?:个|一个|一些)?(?:更)?便宜(?:一)?(?:点|些)?(?:的)?|(?:价格|价钱)?低一点(?:的)?",
               " cheaper ", t)
    t = re.sub(r"(?:去掉|删掉|拿掉|删除|移除|去除|拿走|不要了)\s*(?=\s*the )", " remove ", t)
    t = re.sub(rf"带\s*{_TERM}\s*的?(?:都|全部|全)?(?:去掉|删掉|拿掉|不要)",
               lambda m: " remove anything with" + _terms(m.group("x"), terms, negated=True), t)
    t = re.sub(rf"把\s*{_TERM}\s*(?:都|全部|全)?(?:去掉|删掉|拿掉|删除|拿走){_END}",
               lambda m: " remove" + _terms(m.group("x"), terms), t)
    t = re.sub(rf"(?:去掉|删掉|拿掉|删除|移除|去除|拿走)\s*{_TERM}{_END}",
               lambda m: " remove" + _terms(m.group("x"), terms), t)
    t = re.sub(rf"把\s*{_TERM}\s*换(?:成|为)\s*{_TERM.replace('?P<x>', '?P<y>')}{_END}",
               lambda m: " swap" + _terms(m.group("x"), terms) + "for" + _terms(m.group("y"), terms), t)
    t = re.sub(rf"把\s*(?P<t>the \w+ one|{_TERM})\s*换(?:掉|一下|个|一个)?(?:别的|其他的|不同的)?",
               lambda m: " swap " + (m.group("t") if m.group("t").startswith("the ") else
                                    _terms(m.group("x"), terms)) + " for a different one ", t)
    t = re.sub(rf"换\s*(?:掉|个)?\s*(?:别的|其他的|不同的|另外的)\s*{_TERM}{_END}"
               rf"|换掉\s*{_TERM.replace('?P<x>', '?P<y>')}{_END}",
               lambda m: " swap the" + _terms(m.group("x") or m.group("y"), terms) + "for a different one ", t)
    t = re.sub(rf"(?P<start>^\s*)?(?:再加|加上|加|添加|添|再来|再要|多加)\s*(?:一)?(?:个|件|些|点|份)?\s*{_TERM}{_END}",
               lambda m: (" add" if m.group("start") is not None else " plus a") + _terms(m.group("x"), terms), t)
    t = re.sub(r"再加|加上", " plus ", t)
    t = re.sub(rf"(?:保留|留着|留下)\s*{_TERM}{_END}", lambda m: " keep" + _terms(m.group("x"), terms), t)
    t = re.sub(rf"(?:类似|像)\s*{_TERM}\s*(?:那样|这样)?(?:的)?{_END}",
               lambda m: " more like" + _terms(m.group("x"), terms), t)


    # money
    t = re.sub(rf"(?P<a>£?\d+(?:\.\d+)?)\s*(?:英镑|镑|磅)?\s*(?:到|至|~|-|—)\s*{_AMT}",
               lambda m: f" between £{m.group('a').lstrip('£')} and {_money(m)} ", t)
    t = re.sub(rf"预算(?:是|为|在|有|大概|大约|差不多|约)?\s*{_AMT}\s*(?P<about>左右|上下)?(?:以内|以下|之内)?",
               lambda m: f" {'about' if m.group('about') else 'budget'} {_money(m)} ", t)
    t = re.sub(rf"(?:不超过|不要超过|别超过|最多|最高|不高于|低于|少于|控制在|在)\s*{_AMT}\s*(?:以内|以下|之内)?",
               lambda m: f" under {_money(m)} ", t)
    t = re.sub(rf"(?:大概|大约|差不多|约)\s*{_AMT}\s*(?:左右|上下)?", lambda m: f" about {_money(m)} ", t)
    t = re.sub(rf"{_AMT}\s*(?:以内|以下|之内|内)", lambda m: f" under {_money(m)} ", t)
    t = re.sub(rf"{_AMT}\s*(?:左右|上下)", lambda m: f" about {_money(m)} ", t)
    t = re.sub(r"(?P<n>\d+(?:\.\d+)?)\s*(?:英镑|镑|磅)", r" £\g<n> ", t)
    t = re.sub(r"预算", " budget ", t)

    # people and counts
    for word, english in _PEOPLE:
        t = re.sub(rf"(\d+)\s*(?:个|位|名)?\s*{word}", rf" for \1 {english} ", t)
    t = re.sub(r"(\d+)\s*(?:件|样|种)(?:东西|物品|商品|礼物)?|(\d+)\s*(?:个|份)(?:东西|物品|商品|礼物)",
               lambda m: f" {m.group(1) or m.group(2)} things ", t)
    t = re.sub(rf"(\d+)\s*(?:个|只|把|张|盒|套|条|双|支|瓶|罐|杯)?\s*(?P<x>[{_CJK}]+?){_END}",
               lambda m: f" {m.group(1)}" + _terms(m.group("x"), terms, plural=int(m.group(1)) > 1), t)
    t = re.sub(r"(\d+)\s*(?:个|只|把|张|盒|套|条|双|支|瓶|罐|杯)\s*(?=[A-Za-z])", r" \1 ", t)

    # exclusions and must-haves
    t = re.sub(rf"(?:别|不要)(?:推荐|给我|买|放|选|送|拿|挑)\s*{_TERM}{_END}",
               lambda m: " no" + _terms(m.group("x"), terms, negated=True), t)
    t = re.sub(rf"(?:任何|所有)?\s*{_TERM}\s*(?:的)?(?:东西|那款|那个|那种|这种|之类的)?\s*(?:就|也|都)?"
               rf"(?:不要了|不要|不用了|不用|算了|免了|别要了|别要){_END}",
               lambda m: " no" + _terms(m.group("x"), terms, negated=True), t)
    t = re.sub(rf"(?:不要|别要|不需要|不用|不想要|没有|不含|不带|除了|别放)\s*{_TERM}{_END}",
               lambda m: " no" + _terms(m.group("x"), terms, negated=True), t)
    t = re.sub(rf"(?:一定要有|必须有|一定要|必须|要有|包括|包含|带上|加上)\s*{_TERM}{_END}",
               lambda m: " must include" + _terms(m.group("x"), terms), t)

    # occasions, recipients, gifts
    t = re.sub(rf"(?:给|送给)?\s*(?:一个|一位)?(?:喜欢|爱|热爱|迷)\s*(?P<x>[{_CJK}A-Za-z]+?)的(?:人|朋友)?",
               lambda m: " for someone who loves" + _terms(m.group("x"), terms), t)
    for word, english in OCCASIONS:
        t = t.replace(word, f" {english} ")
    for word, english in RECIPIENTS:
        t = re.sub(rf"(?:送给|送|给)?\s*(?:我的|我)?\s*{word}(?:的)?", f" for my {english} ", t)
    t = re.sub(r"(?:的)?(?:礼物|礼品|小礼物)", " gift ", t)

    t = _FILLERS.sub(" ", t)
    # what is left of the Chinese is what the shopper wants
    t = re.sub(rf"[{_CJK}][{_CJK}、]*", lambda m: _terms(m.group(0), terms), t)
    return one_each(t, each), terms
