"""The dataset card written next to the training examples (and copied into the adapter directory).

>>> info = {"data_config": {"candidates": 12, "max_length": 1024}, "gold_inserted": 3, "counts": {"train/x": 5},
...         "dropped_too_long": {}, "token_lengths": {"p50": 700}, "inputs_sha256": {"a.csv": "ab12"}}
>>> "- train/x: 5" in dataset_card(info)
True
>>> "explanation data" in dataset_card({**info, "data_config": {"task": "explain", "max_length": 1024}})
True
"""

from __future__ import annotations

CARD_TEXT = """# bundlebot fine-tuning data (dataset card)

Supervised examples for the LoRA adapter of the default generator, built by `bundlebot train build-data`
(`finetune/data.py`) from the TRAIN splits of the shared data sets (`../shared/data`, splits as in its
README). Dev baskets give the dev examples (eval loss only); test baskets are never read into examples.

## How requests were derived (the same way the evaluation suites derive theirs)

- bundlerec-food: a train bundle's crowd-written intent is the request; gold = the bundle's items.
- instacart: each shopper's last train order; one of its items (seeded draw) gives "I need <aisle>";
  gold = the order's items in that aisle; history = the shopper's orders before it.
- online-retail (shop `demo`): each shopper's last train invoice; request = its product themes, item count
  and real total as the budget ("I need 3 things for my shop: ... My budget is £42.50."); gold = its items.

Candidates are the live assistant's: parsed request -> the shop's Retriever (vector search, co-purchase
complements, reranker) -> in stock, not excluded -> the first {k},
{rendered}, with the history lines the service shows
(`assistant.turn.relevant_history`). A train basket is itself in the index it is replayed against, so the
retriever only sees the shopper's items first bought BEFORE the basket (`history_before`).
Requests whose candidates held no gold item: {unretrieved}.
{order}
{target}

Explanation examples: gold items within the budget as a bundle with their catalog facts and reranker reasons,
rendered with the shared `explain` prompt; target = `deterministic_explanation` (states only those facts),
each verified by the grounding check `check_explanation` before it is kept.

## Counts

{counts}

Dropped for exceeding max_length ({max_length} tokens): {dropped}

## Token lengths of the train examples (prompt + target, SmolLM2 tokenizer)

{lengths}

## Inputs (sha256)

{hashes}

## Known limits

- Co-purchase statistics are fitted on all train baskets, including the basket an example was made from.
- The shopper's history (prompt lines, history candidates, the reranker's affinity) holds only items first
  bought before the basket, but an item bought before AND in the basket keeps its aggregated count and last
  date, which include the basket.
- Explanation targets are templated, so the adapter learns a plain, factual style rather than free prose.
"""


EXPLAIN_CARD = """# bundlebot explanation data (dataset card)

Supervised examples for the explanation adapter (`generator.explain_adapter`), built by `bundlebot train
build-data` with `[data] task = "explain"` (`finetune/explain_data.py`) from the TRAIN splits of the shared
data sets (`../shared/data`); dev invoices give the dev examples (eval loss only); test baskets are never read.

## How the examples were made

- Requests: each shopper's last train invoice of Online Retail (shop `demo`), as the `budget` suite derives
  its cases ("I need 3 things for my shop: ... My budget is £42.50."); a share of {no_budget} of them
  (drawn per invoice, `data.explain_no_budget`) replayed without the budget sentence, so some bundles have
  no budget to state.
- Bundle: the request replayed through the served turn (`finetune.data.live_turn`: `first_plan`, `gather`
  with the shopper's history from BEFORE the invoice; `assistant.turn.score` without the LLM;
  `assistant.turn.build`), so the bundle is the one the service shows.
- Prompt: the shared `explain` prompt (`assistant.explain.explain_messages`) with the service's facts block
  (`assistant.facts.explain_facts`: kinds, budget use, pairs bought together in N train orders, what the
  shopper bought before and when, the most ordered item).
- Target: 2-3 sentences stating those facts, wording drawn per invoice from several templates
  (`write_target`); every target passes the service's strict check (`check_explanation`) or is dropped
  ({skipped}).

## Counts

{counts}

Dropped for exceeding max_length ({max_length} tokens): {dropped}

## Token lengths of the train examples (prompt + target, SmolLM2 tokenizer)

{lengths}

## Inputs (sha256)

{hashes}

## Known limits

- Co-purchase counts are fitted on all train baskets, including the invoice an example was made from.
- The targets are templated: the adapter learns a plain, factual style, not free prose.
- One source (the demo shop): the other data sets have no prices and no shop of their own indexed here.
"""


def table(d: dict) -> str:
    return "\n".join(f"- {k}: {v}" for k, v in d.items()) or "- none"


def dataset_card(info: dict) -> str:
    d = info["data_config"]
    if d.get("task") == "explain":
        skipped = info.get("skipped_no_gold") or {}
        return EXPLAIN_CARD.format(no_budget=d.get("explain_no_budget", 0.0),
                                   skipped=", ".join(f"{k}: {v}" for k, v in skipped.items()) or "none dropped",
                                   counts=table(info["counts"]), max_length=d["max_length"],
                                   dropped=info["dropped_too_long"] or "none", lengths=table(info["token_lengths"]),
                                   hashes=table(info["inputs_sha256"]))

    if info["data_config"].get("unretrieved", "insert") == "skip":
        skipped = info.get("skipped_no_gold") or {}
        unretrieved = (f"skipped, the next request drawn instead ({sum(skipped.values())} skipped: "
                       + (", ".join(f"{k} {v}" for k, v in skipped.items()) or "none") + "), so the gold "
                       "items sit where the live reranker puts them")
    else:
        unretrieved = (f"one gold item put at a seeded random slot, replacing the last candidate "
                       f"({info['gold_inserted']} train examples)")
    if d.get("task", "choice") == "judge":
        order = (f"Task `judge`: each request is split into one `judge` prompt per candidate "
                 f"(`assistant.fusion.judge_messages`; request, history, ONE item, no letters): its first "
                 f"{d.get('judge_positives')} gold candidates answer \" yes\", and {d.get('judge_negatives')} "
                 f"non-gold ones answer \" no\" (half the reranker's highest non-gold, half drawn at random "
                 f"from the rest of the {d['candidates']}).")
        target = ('Target: " yes" / " no"; the loss is on the answer slot only (-log P(answer); " yes", "yes", '
                  '" Yes", "Yes" merged, likewise for no).')
        rendered = "each rendered on its own with the shared `judge` prompt (`assistant.fusion.judge_messages`)"
    else:
        order = ("Train candidates are lettered in a seeded random order (`shuffle = true`), so the position says "
                 "nothing about the answer; dev keeps the reranker's order, as inference does."
                 if d.get("shuffle") else "Candidates are lettered in the reranker's order, as at inference.")
        target = ('Target: the gold letter(s);\nthe loss is on the answer slot only (mean of -log P(gold letter) '
                  'over the golds; " A" and "A" merged).')
        rendered = "lettered A.., rendered with the shared `choose` prompt (`assistant.fusion.choose_messages`)"
    return CARD_TEXT.format(k=info["data_config"]["candidates"], unretrieved=unretrieved, order=order,
                            target=target, rendered=rendered,
                            counts=table(info["counts"]), max_length=info["data_config"]["max_length"],
                            dropped=info["dropped_too_long"] or "none", lengths=table(info["token_lengths"]),
                            hashes=table(info["inputs_sha256"]))
