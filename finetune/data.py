"""Supervised examples for LoRA training, built from the TRAIN splits with the live assistant's own prompts.

Every choice example is what the assistant would show the model for a real request: the request is parsed
with ``assistant.parse.parse_request``, the shop's own ``Retriever`` (vector search + co-purchase
complements + reranker, on the shop indexed from the train data) returns the candidates, the top
``data.candidates`` become lettered choices, and ``assistant.fusion.choose_messages`` renders the shared
``choose`` prompt. The target is the letter(s) of the gold items among them. When no gold item was
retrieved (``data.unretrieved``), the request is skipped and the next one drawn ("skip", the default: the
gold letters then sit where the live reranker puts them), or one gold item is inserted at a seeded random
position, replacing the last candidate ("insert"). Inserting puts most golds at random slots, which
teaches that the reranker's first candidate is rarely right, while at inference it is the most often right.

The shopper's history is what the service shows too (``assistant.turn.relevant_history``: the history
items the reranker matched to the candidates, then the most recent purchases). A train basket is in the
index it is replayed against, so the retriever is asked for history from BEFORE the basket
(``history_before``): otherwise the basket's own items come back as "bought before" candidates, which a
held-out basket never gets (on 25 Instacart requests that leak lifted gold coverage from 15 to 22).

Requests are derived exactly as the evaluation suites derive theirs (both use ``retrieval.tasks``):

- ``bundlerec-food``: train bundles with an intent; request = the intent; gold = the bundle's items.
- ``instacart``: each shopper's LAST train order (history = their earlier orders, as for a test order);
  one item of it, drawn with the seed, gives "I need <aisle>"; gold = the order's items in that aisle.
- ``online-retail``: each shopper's last train invoice; request = ``budget_invoice`` (the invoice's themes,
  size and real total); gold = the invoice's items.

With ``data.task = "judge"`` each such request is split into pointwise prompts instead (``judge_examples``:
the shared ``judge`` prompt for ONE candidate, target " yes" for its first gold candidates and " no" for
near-miss and random non-gold ones), so no letter position can carry the answer; the requests drawn are the
same as a choice build's with the same seed.

Explanation examples: the gold items (that fit the budget) as a bundle, with their catalog facts, the
reranker's per-item reasons and the history, rendered with the shared ``explain`` prompt; the target is
``assistant.explain.deterministic_explanation``, which states only those facts, and every target is
verified with the grounding check (``check_explanation``) before it is written.

With ``data.task = "explain"`` the examples are explanations only, of the bundles the service itself builds
for the requests (``finetune.explain_data``), train and dev alike.

Dev examples (choice only, or explanations for an explain build) come from DEV baskets for the eval loss;
test baskets are never read: the builder checks that every example's basket is a train (or dev) basket and
none is a test basket.

>>> from retrieval.types import Basket
>>> insert_gold(["a", "b", "c"], {"z"}, random.Random(0))
(['a', 'z', 'b'], 1)
>>> letters_of(["a", "b", "z"], {"z", "a"})
['A', 'C']
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.modelfiles import file_sha256
from assistant.prompting import LETTERS
from assistant.turn import HISTORY_N
from bundlebot.errors import DataError
from finetune.config import TrainConfig
from retrieval.tasks import SHOP_OF_SOURCE, basket_aisles, budget_invoice, ensure_indexed
from retrieval.types import Basket, Event, Item, ScoredItem, SourceData

log = logging.getLogger(__name__)

DATA_FILES = {"bundlerec-food": ["bundlerec_food/bundle_intent.csv", "bundlerec_food/bundle_item.csv",
                                 "bundlerec_food/session_bundle.csv", "bundlerec_food/item_titles.csv",
                                 "bundlerec_food/item_categories.csv"],
              "instacart": ["instacart/orders_sample.csv.gz", "instacart/products.csv.gz"],
              "online-retail": ["online_retail/online_retail_2010_2011.parquet"]}


@dataclass
class Target:
    """One request to build an example from: what was asked, which items are right, and as whom."""

    source: str
    basket: Basket
    request: str
    gold: list[str]
    split: str
    history: list[tuple[Item, Event]] = field(default_factory=list)


def insert_gold(ids: list[str], gold: set[str], rng: random.Random) -> tuple[list[str], int]:
    """Make sure a gold item is among ``ids``: if none is, put one at a random slot, dropping the last id.

    Returns (ids, slot of the inserted item or -1 when a gold item was already retrieved).
    """
    if gold & set(ids):
        return list(ids), -1
    pick = sorted(gold)[rng.randrange(len(gold))]
    out = list(ids[:-1])
    slot = rng.randrange(len(out) + 1)
    out.insert(slot, pick)
    return out, slot


def letters_of(ids: list[str], gold: set[str]) -> list[str]:
    return [LETTERS[i] for i, x in enumerate(ids) if x in gold]


class Histories:
    """Each shopper's train purchases, newest first, to show the history a held-out basket would see."""

    def __init__(self, src: SourceData) -> None:
        self.items = {it.id: it for it in src.items}
        self.by_shopper: dict[str, list[Event]] = {}
        for e in src.events:
            self.by_shopper.setdefault(e.shopper_id, []).append(e)
        for events in self.by_shopper.values():
            events.sort(key=lambda e: -e.timestamp)

    def before(self, shopper: str | None, ts: float | None, n: int = HISTORY_N) -> list[tuple[Item, Event]]:
        """Up to ``n`` distinct items bought strictly before ``ts`` (the basket itself is not history)."""
        out: list[tuple[Item, Event]] = []
        seen: set[str] = set()
        for e in self.by_shopper.get(shopper or "", []):
            if (ts is None or e.timestamp < ts) and e.item_id not in seen and e.item_id in self.items:
                seen.add(e.item_id)
                out.append((self.items[e.item_id], e))
                if len(out) >= n:
                    break
        return out


def last_per_shopper(baskets: list[Basket]) -> list[Basket]:
    """Each shopper's last basket by time (ties: the later one in the list)."""
    last: dict[str, Basket] = {}
    for b in baskets:
        if b.shopper_id is not None and (b.shopper_id not in last
                                         or (b.timestamp or 0) >= (last[b.shopper_id].timestamp or 0)):
            last[b.shopper_id] = b
    return [last[k] for k in sorted(last)]


def bundle_targets(src: SourceData, baskets: list[Basket], split: str, rng: random.Random) -> list[Target]:
    """Bundles with an intent the live service accepts as a message (not e.g. the intent "2")."""
    known = {it.id for it in src.items}
    out = []
    for b in baskets:
        gold = [i for i in dict.fromkeys(b.item_ids) if i in known]
        if b.intent and accepted(b.intent) and gold:
            out.append(Target("bundlerec-food", b, b.intent.strip(), gold, split))
    return out


def accepted(message: str) -> bool:
    """Whether a shopper's turn would take this text at all (an intent such as "4" is refused)."""
    from assistant.parse import clean_message
    from bundlebot.errors import RequestError

    try:
        clean_message(message)
    except RequestError:
        return False
    return True


def aisle_targets(src: SourceData, baskets: list[Basket], split: str, rng: random.Random) -> list[Target]:
    items, hist = {it.id: it for it in src.items}, Histories(src)
    out = []
    for b in last_per_shopper(baskets) if split == "train" else baskets:
        aisles = basket_aisles(b, items)
        if not aisles:
            continue
        usable = list(aisles)
        aisle = aisles[usable[rng.randrange(len(usable))]]
        gold = [i for i in usable if aisles[i] == aisle]
        out.append(Target("instacart", b, f"I need {aisle}", gold, split, hist.before(b.shopper_id, b.timestamp)))
    return out


def budget_targets(src: SourceData, baskets: list[Basket], split: str, rng: random.Random) -> list[Target]:
    items, hist = {it.id: it for it in src.items}, Histories(src)
    out = []
    for b in last_per_shopper(baskets) if split == "train" else baskets:
        if (inv := budget_invoice(b, items)) is not None:
            out.append(Target("online-retail", b, inv.request, inv.gold, split,
                              hist.before(b.shopper_id, b.timestamp)))
    return out


TARGETS = {"bundlerec-food": bundle_targets, "instacart": aisle_targets, "online-retail": budget_targets}


def _scored(retriever: Any, ids: list[str], cands: list[ScoredItem]) -> list[ScoredItem]:
    by_id = {s.item.id: s for s in cands}
    out = []
    for i in ids:
        if i in by_id:
            out.append(by_id[i])
        else:  # the inserted gold item: a catalog item with no reranker evidence
            item = retriever.item(i)
            if item is None:
                raise DataError(f"gold item {i} is not in the indexed shop", hint="re-index the shop")
            out.append(ScoredItem(item, 0.0, {"relevance": 0.0}, {}))
    return out


def live_turn(t: Target, retriever: Any) -> tuple[Any, Any]:
    """(plan, pool) of ``t`` as a shopper's first turn: ``assistant.turn``'s own stages, with the history
    from before the basket (a replayed train basket is not its own history)."""
    from assistant import turn

    plan = turn.first_plan(t.request, known=retriever.lexicon.knows)
    shopper = t.basket.shopper_id if t.source != "bundlerec-food" else None
    before = t.basket.timestamp if shopper else None
    return plan, turn.gather(retriever, plan, shopper, history_before=before, recent=t.history)


def choice_example(t: Target, retriever: Any, k: int, rng: random.Random, insert: bool = False,
                   shuffle: int | None = None) -> tuple[dict | None, list[ScoredItem], list[tuple[Item, Event]]]:
    """The live assistant's choose prompt for ``t`` with its gold letters (see the module doc); ``(None,
    candidates, history)`` when no gold item was retrieved and ``insert`` is off. ``shuffle`` (a seed): the
    candidates are lettered in a random order drawn from that seed and the basket id, so the position says
    nothing about the answer."""
    from assistant.fusion import choose_messages

    plan, pool = live_turn(t, retriever)
    query, cands, history = plan.query, pool.usable(plan.constraints, k), pool.history
    ids = [s.item.id for s in cands]
    if not set(t.gold) & set(ids) and not insert:
        return None, cands, history
    ids, slot = insert_gold(ids or [t.gold[0]], set(t.gold), rng)
    if shuffle is not None:
        inserted = ids[slot] if slot >= 0 else None
        ids = random.Random(f"{shuffle}-shuffle-{t.basket.id}").sample(ids, len(ids))
        slot = ids.index(inserted) if inserted is not None else -1
    shown = _scored(retriever, ids, cands)
    ex = {"kind": "choice", "source": t.source, "split": t.split, "basket_id": t.basket.id,
          "request": t.request, "query": query, "candidates": ids,
          "gold_items": [i for i in ids if i in set(t.gold)], "gold_letters": letters_of(ids, set(t.gold)),
          "n_choices": len(ids), "inserted_at": slot, "first_is_gold": ids[0] in set(t.gold),
          "messages": choose_messages(query, shown, history)}
    return ex, shown, history


def judge_examples(ex: dict, shown: list[ScoredItem], history: list[tuple[Item, Event]], positives: int,
                   negatives: int, seed: int) -> list[dict]:
    """A choice example's request split into pointwise ``judge`` prompts (one candidate each -> yes/no).

    Yes: the first ``positives`` gold candidates. No: the first ceil(negatives / 2) non-gold candidates in
    the reranker's order (its near misses) and the rest drawn at random from the remaining non-gold ones.
    Each prompt is what ``assistant.fusion.judge_messages`` renders at inference, so no position or letter
    is in it; the rows keep the candidate's reranker rank for the dataset card. The random draw has its own
    seed per basket, so a judge build draws the same requests as a choice build with the same seed.
    """
    from assistant.fusion import judge_messages

    gold = set(ex["gold_items"])
    pos = [i for i, s in enumerate(shown) if s.item.id in gold][:positives]
    neg = [i for i, s in enumerate(shown) if s.item.id not in gold]
    near = (negatives + 1) // 2
    rest = neg[near:]
    rng = random.Random(f"{seed}-judge-{ex['basket_id']}")
    picked = neg[:near] + sorted(rng.sample(rest, min(len(rest), negatives - near)))
    prompts = judge_messages(ex["query"], [shown[i] for i in pos + picked], history)
    keep = ("source", "split", "basket_id", "request", "query", "first_is_gold")
    return [{"kind": "judge", **{k: ex[k] for k in keep}, "item": shown[i].item.id, "rank": i,
             "label": "yes" if i in pos else "no", "messages": m}
            for i, m in zip(pos + picked, prompts, strict=True)]


def explain_example(t: Target, shown: list[ScoredItem], retriever: Any, history: list[tuple[Item, Event]],
                    size: int = 4) -> dict | None:
    """Gold items (within the budget) as a bundle -> the fact-only explanation; None if it would not pass
    the grounding check (then it is not a target the model should learn)."""
    from assistant.explain import Facts, check_explanation, deterministic_explanation, explain_messages, item_reason
    from assistant.prompting import format_history
    from assistant.turn import first_plan
    from assistant.types import BundleLine

    plan = first_plan(t.request)
    c, query = plan.constraints, plan.query
    gold = set(t.gold)
    picked = [s for s in shown if s.item.id in gold][:size]
    titles = {s.item.id: s.item.title for s in shown}
    lines = [BundleLine(id=s.item.id, title=s.item.title, price=s.item.price, currency=s.item.currency,
                        reason=item_reason(s, query, lambda i: titles.get(i) or _title(retriever, i)),
                        category=s.item.category_path) for s in picked]
    prices = [ln.price for ln in lines]
    total = round(sum(prices), 2) if lines and all(p is not None for p in prices) else None  # type: ignore[arg-type]
    if not lines or (c.budget is not None and total is not None and total > c.budget):
        return None
    text = deterministic_explanation(lines, total, c, query)
    facts = Facts(titles=[ln.title for ln in lines], prices=prices, total=total, budget=c.budget,
                  currency=lines[0].currency, context=[query, format_history(history)],
                  others=[s.item.title for s in shown if s.item.id not in gold])
    if check_explanation(text, facts, generated=False):
        return None
    return {"kind": "explain", "source": t.source, "split": t.split, "basket_id": t.basket.id,
            "request": t.request, "bundle": [ln.id for ln in lines], "target": text,
            "messages": explain_messages(query, lines, currency=c.currency)}


def _title(retriever: Any, item_id: str) -> str | None:
    item = retriever.item(item_id)
    return item.title if item else None


def check_splits(src: SourceData, targets: list[Target]) -> None:
    """Every target comes from the split it claims: train (or dev, for the eval loss). ``src.test`` is not
    even read: the importers' splits are disjoint, so membership in train/dev rules test out."""
    ids = {"train": {b.id for b in src.train_baskets}, "dev": {b.id for b in src.dev}}
    for t in targets:
        if t.basket.id not in ids.get(t.split, set()):
            raise DataError(f"{src.name} basket {t.basket.id} is not a {t.split} basket",
                            hint="training data may only come from train baskets (dev for the eval loss)")


def source_examples(source: str, src: SourceData, retriever: Any, cfg: TrainConfig, rng: random.Random,
                    stats: Counter[str] | None = None) -> Iterator[dict]:
    """Choice + explanation examples from ``source``'s train baskets, then its dev choice examples.

    Requests are drawn in a seeded order until each split has its count; with ``unretrieved = "skip"`` a
    request whose candidates hold no gold item is passed over and counted in ``stats`` ("<source>/<split>").
    """
    from tqdm.auto import tqdm

    d = cfg.data
    stats = Counter() if stats is None else stats
    make = TARGETS[source]
    train, dev = make(src, src.train_baskets, "train", rng), make(src, src.dev, "dev", rng)
    check_splits(src, train + dev)
    rng.shuffle(train)
    rng.shuffle(dev)
    n_explain = d.explain_examples // len(d.sources)
    for split, targets, want in (("train", train, d.choice_examples.get(source, 0)),
                                 ("dev", dev, d.dev_examples // len(d.sources))):
        kept = 0
        bar = tqdm(total=min(want, len(targets)), desc=f"examples {source} {split}", unit="ex")
        for t in targets:
            if kept >= want:
                break
            ex, shown, history = choice_example(t, retriever, d.candidates, rng, insert=d.unretrieved == "insert",
                                                shuffle=d.seed if d.shuffle and split == "train" else None)
            if ex is None:
                stats[f"{source}/{split}"] += 1
                bar.set_postfix(skipped=stats[f"{source}/{split}"])
                continue
            kept += 1
            bar.update()
            if d.task == "judge":
                yield from judge_examples(ex, shown, history, d.judge_positives, d.judge_negatives, d.seed)
            else:
                yield ex
            if split == "train" and n_explain > 0:
                exp = explain_example(t, shown, retriever, history)
                if exp is not None:
                    n_explain -= 1
                    yield exp
        bar.close()
        if kept < want:
            log.warning("%s %s: only %d of %d choice examples (the requests ran out)", source, split, kept, want)


def input_hashes(data_dir: Path, sources: list[str], task: str = "choice") -> dict[str, str]:
    """sha256 of every input file: the shared data files read and the prompt files rendered (the task's
    scoring prompt and the explanation prompt)."""
    from importlib import resources

    out = {}
    for source in sources:
        for rel in DATA_FILES[source]:
            out[rel] = file_sha256(data_dir / rel)
    scoring = {"choice": ("choose.yaml",), "judge": ("judge.yaml",)}.get(task, ())
    for name in (*scoring, "explain.yaml"):
        res = resources.files("assistant") / "prompts" / name
        if res.is_file():
            out[f"assistant/prompts/{name}"] = hashlib.sha256(res.read_bytes()).hexdigest()
    return out


def build_dataset(cfg: TrainConfig, app: Any, out: Path, tokenizer: Any, *, progress: bool = True,
                  ensure_index: Callable[[Any, str], Any] | None = None) -> dict:
    """Write ``out/train.jsonl``, ``out/dev.jsonl``, ``out/data_info.json`` and ``out/dataset_card.md``.

    ``ensure_index(app, shop)`` makes sure the shop is indexed (default: ``retrieval.tasks.ensure_indexed``,
    the evaluation's too, so training and evaluation share one index per shop).
    """
    from finetune.encode import prompt_ids
    from retrieval.importers import load_source
    from retrieval.search import Retriever

    rng = random.Random(cfg.data.seed)
    rows: dict[str, list[dict]] = {"train": [], "dev": []}
    dropped: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for source in cfg.data.sources:
        src, shop = load_source(source, app.data_path), SHOP_OF_SOURCE[source]
        if ensure_index is None:
            ensure_indexed(app, shop, source, len(src.items), progress=progress)
        else:
            ensure_index(app, shop)
        retriever = Retriever.open(app, shop)
        if cfg.data.task == "explain":
            from finetune.explain_data import explain_examples

            examples = explain_examples(source, src, retriever, cfg, app, rng, skipped)
        else:
            examples = source_examples(source, src, retriever, cfg, rng, skipped)
        for ex in examples:
            answer = 1 if ex["kind"] in ("choice", "judge") else len(
                tokenizer.encode(ex["target"], add_special_tokens=False)) + 1
            ex["n_tokens"] = len(prompt_ids(tokenizer, ex["messages"])) + answer
            if ex["n_tokens"] > cfg.data.max_length:
                dropped[f"{source}/{ex['kind']}"] += 1
                continue
            rows[ex["split"]].append(ex)
    out.mkdir(parents=True, exist_ok=True)
    for split, exs in rows.items():
        (out / f"{split}.jsonl").write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in exs))
    info = {"inputs_sha256": input_hashes(app.data_path, cfg.data.sources, cfg.data.task),
            "data_config": cfg.to_dict()["data"],
            "counts": _counts(rows), "dropped_too_long": dict(dropped), "token_lengths": _lengths(rows["train"]),
            "gold_inserted": sum(e.get("inserted_at", -1) >= 0 for e in rows["train"]),
            "skipped_no_gold": dict(sorted(skipped.items())),
            "train_sha256": file_sha256(out / "train.jsonl"), "dev_sha256": file_sha256(out / "dev.jsonl")}
    (out / "data_info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    from finetune.adapter import CARD
    from finetune.card import dataset_card

    (out / CARD).write_text(dataset_card(info))
    return info


def _counts(rows: dict[str, list[dict]]) -> dict[str, int]:
    c = Counter(f"{split}/{e['source']}/{e['kind']}" for split, exs in rows.items() for e in exs)
    return dict(sorted(c.items()))


def _lengths(rows: list[dict]) -> dict[str, float]:
    n = sorted(e["n_tokens"] for e in rows) or [0]
    pick = lambda q: n[min(len(n) - 1, int(q * len(n)))]  # noqa: E731
    return {"min": n[0], "p50": pick(0.5), "p90": pick(0.9), "max": n[-1], "mean": round(sum(n) / len(n), 1)}

