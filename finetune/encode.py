"""Examples -> token ids -> padded batches -> loss, exactly as the assistant reads the model.

The assistant scores lettered candidates from ONE next-token distribution after the chat prompt (with
``add_generation_prompt``): ``P(letter | prompt)``. A choice example is therefore trained on that single
position: the prompt is masked and the loss is the mean of ``-log P(g | prompt)`` over the gold letters ``g``
(cross-entropy to a uniform target over the golds, so a 2-gold example teaches "B or E", not "B then E").
An explanation example is ordinary next-token loss on its target text only.

Batches are LEFT-padded with explicit ``position_ids``, so every row ends at the same position, the loss
needs only the last few logits (``logits_to_keep``: the 49k-way lm_head is not computed over the prompt),
and a row sees the same positions as an unpadded single prompt at inference.

>>> ex = {"kind": "choice", "gold_letters": ["B"], "n_choices": 3, "target": "B",
...       "messages": [{"role": "user", "content": "pick"}, {"role": "assistant", "content": ":"}]}
>>> class Tok:  # a stand-in with the two calls encode_example() makes: one id per character
...     def apply_chat_template(self, m, **kw): return "<" + m[0]["content"] + ">"
...     def encode(self, s, add_special_tokens=False): return [ord(c) for c in s]
>>> encode_example(Tok(), ex)["input_ids"], encode_example(Tok(), ex)["gold"]
([60, 112, 105, 99, 107, 62, 58, 66], [[66]])
"""

from __future__ import annotations

from typing import Any

from assistant.prompting import LETTERS
from bundlebot.errors import DataError

IGNORE = -100


def prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Prompt token ids exactly as ``assistant.llm.Generator.encode`` builds them: the chat template with the
    generation prompt, then a trailing assistant message (e.g. "Answer:") as an open answer prefix."""
    msgs = [dict(m) for m in messages]
    prefix = msgs.pop()["content"] if msgs and msgs[-1]["role"] == "assistant" else ""
    text = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) + prefix
    return list(tokenizer.encode(text, add_special_tokens=False))


def letter_ids(tokenizer: Any, n: int = len(LETTERS)) -> list[list[int]]:
    """Token ids spelling each letter as the next token: " A" first (natural after "Answer:"), then "A".

    The loss merges both spellings exactly as the assistant reads scores, so it uses the assistant's own table.
    """
    from assistant.llm import letter_token_ids

    return letter_token_ids(tokenizer, n)


def encode_example(tokenizer: Any, ex: dict[str, Any]) -> dict[str, Any]:
    """Token ids, labels (prompt masked) and, for a choice or judge example, the answer options' token ids
    (``options``: each letter's / yes's and no's spellings) and the right ones (``gold``)."""
    prompt = prompt_ids(tokenizer, ex["messages"])
    if ex["kind"] == "judge":
        from assistant.llm import answer_token_ids

        if ex.get("label") not in ("yes", "no"):
            raise DataError(f"judge label should be yes or no, got {ex.get('label')!r}",
                            hint="rebuild the training data with `bundlebot train build-data`")
        options = answer_token_ids(tokenizer)
        right = options[0 if ex["label"] == "yes" else 1]
        return {"input_ids": prompt + [right[0]], "labels": [IGNORE] * len(prompt) + [right[0]], "gold": [right],
                "options": options}
    if ex["kind"] == "choice":
        letters = letter_ids(tokenizer, ex["n_choices"])
        bad = [g for g in ex["gold_letters"] if g not in LETTERS[: ex["n_choices"]]]
        if bad or not ex["gold_letters"]:
            raise DataError(f"gold letters {ex['gold_letters']} outside A..{LETTERS[ex['n_choices'] - 1]}",
                            hint="rebuild the training data with `bundlebot train build-data`")
        gold = [letters[LETTERS.index(g)] for g in ex["gold_letters"]]
        # The appended first gold only gives the row a target slot like an explanation's; the loss at that
        # slot uses every gold and both spellings (see module doc).
        first = gold[0][0]
        return {"input_ids": prompt + [first], "labels": [IGNORE] * len(prompt) + [first], "gold": gold,
                "options": letters}
    target = tokenizer.encode(ex["target"], add_special_tokens=False)
    target = target + tokenizer.encode("<|im_end|>", add_special_tokens=False)
    return {"input_ids": prompt + target, "labels": [IGNORE] * len(prompt) + target, "gold": [], "options": []}


def collate(rows: list[dict[str, list[int]]], pad_id: int) -> dict[str, Any]:
    """Left-pad a list of encoded examples into tensors; ``keep`` = how many final logits the loss needs."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    n_target = max(sum(1 for x in r["labels"] if x != IGNORE) for r in rows)
    n_gold = max(1, max(len(r["gold"]) for r in rows))
    n_spell = max([1] + [len(g) for r in rows for g in r["gold"]])
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    gold = torch.full((len(rows), n_gold, n_spell), IGNORE, dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[i, width - n:] = torch.tensor(r["input_ids"])
        labels[i, width - n:] = torch.tensor(r["labels"])
        mask[i, width - n:] = 1
        for j, spellings in enumerate(r["gold"]):
            gold[i, j, : len(spellings)] = torch.tensor(spellings)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    weight = torch.tensor([float(r.get("weight", 1.0)) for r in rows])
    return {"input_ids": ids, "attention_mask": mask, "position_ids": positions, "labels": labels,
            "gold": gold, "keep": n_target + 1, "weight": weight}


def batch_loss(model: Any, batch: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Mean per-example loss of a collated batch (each row times its ``weight``), plus per-row stats (the
    unweighted loss, whether argmax hit a gold)."""
    import torch

    keep = int(batch["keep"])
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                position_ids=batch["position_ids"], logits_to_keep=keep)
    logp = torch.log_softmax(out.logits[:, :-1].float(), dim=-1)  # predicts labels[:, -keep+1:]
    labels = batch["labels"][:, -keep + 1:]
    gold = batch["gold"]
    is_choice = gold[:, 0, 0] != IGNORE
    tok = -logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    valid = (labels != IGNORE).float()
    text_loss = (tok * valid).sum(-1) / valid.sum(-1).clamp(min=1)
    last = logp[:, -1]  # the answer slot of a choice row: log P(next | prompt)
    spelled = last.unsqueeze(1).expand(-1, gold.shape[1], -1).gather(-1, gold.clamp(min=0))
    spelled = spelled.masked_fill(gold == IGNORE, float("-inf"))
    per_gold = torch.logsumexp(spelled, dim=-1)  # log P(letter), both spellings merged
    gvalid = gold[:, :, 0] != IGNORE
    gl = torch.where(gvalid, -per_gold, torch.zeros_like(per_gold))
    choice_loss = gl.sum(-1) / gvalid.sum(-1).clamp(min=1)
    per_row = torch.where(is_choice, choice_loss, text_loss)
    weight = batch.get("weight")
    weighted = per_row * weight.to(per_row.device) if weight is not None else per_row
    return weighted.mean(), {"per_row": per_row.detach(), "is_choice": is_choice, "last": last.detach(),
                            "gold": gold}


def choice_hits(stats: dict[str, Any], options: list[list[list[int]]]) -> list[bool]:
    """For each choice / judge row: is its most likely option (a letter among its A..n, or yes/no; spellings
    merged) a right one? ``options``: each row's options (``encode_example``), [] for explanation rows."""
    import torch

    hits = []
    for i, opts in enumerate(options):
        if not bool(stats["is_choice"][i]) or not opts:
            continue
        scores = [float(torch.logsumexp(stats["last"][i, ids], 0)) for ids in opts]
        best = opts[max(range(len(scores)), key=scores.__getitem__)][0]
        hits.append(best in stats["gold"][i, :, 0].tolist())
    return hits
