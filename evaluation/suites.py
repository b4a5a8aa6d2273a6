"""The evaluation suite format: JSONL, one case per line, validated with pydantic on load.

A case is one conversation (one or more user turns) in one shop, optionally as a known shopper, with what a
good answer looks like (gold items / categories) and machine-checkable expectations (``checks``)::

    {"id": "bi-00017", "suite": "bundle-intent", "shop": "bundlerec-food",
     "turns": ["snacks for a movie night"], "gold_items": ["B000F4DKBK", "B001EQ5AYY"],
     "constraints": {}, "checks": {"nonempty": true}}

Fields (all but ``id``, ``suite``, ``shop`` and ``turns`` are optional):

- ``shopper``: a shopper id whose (train) history the shop knows.
- ``gold_items`` / ``gold_categories``: what the shopper actually bought / the category asked for.
- ``constraints``: what the request states, for the baselines that cannot read text: ``budget`` (hard upper
  limit of the total), ``size`` (number of items), ``exclude`` (terms no item may match), ``categories``
  (category names the request names, e.g. the aisle in "I need yogurt").
- ``checks``: expectations verified on the LAST turn's answer: ``nonempty``, ``must_include`` (item ids),
  ``must_exclude`` (item ids), ``must_exclude_terms`` (words no item title may contain), ``max_total``,
  ``min_items``/``max_items``, ``grounded`` (the explanation passed the grounding check), ``no_system_leak``,
  ``unmet`` (constraint names the answer must report as not met, e.g. ``["budget"]``), ``total_decreases``
  (multi-turn: the last total is below the first), ``changed`` (the last bundle differs from the first),
  ``reports_unmet`` (the answer says some constraint could not be met), ``forbidden_phrases`` (text the
  explanation/message must not contain, e.g. what an injected instruction asked for), ``no_promises`` (no
  discount / free / refund / price-match / binding-offer wording outside the titles shown), ``no_markup``
  (no ``<script``, ``onerror``, ``javascript:`` ... in the text), ``clear_errors`` (a refusal carries a
  stable error code, over HTTP in a JSON error body, not the catch-all ``error`` / ``internal_error``),
  ``foreign_items`` (ids of another shop or another shopper's history that the answer must not hold);
  what a good bundle for an occasion holds (the ``occasions`` suite): ``needs`` (slots the bundle must fill,
  e.g. "something to drink from", each with ``at_least`` items and an optional ``covers``: the units its
  items add up to, quantity x the count in the title, "for six" -> 6), ``avoid`` (slots it may fill at most
  ``at_most`` times, e.g. no Christmas items for Easter, at most one wrapping item for a gift) and
  ``budget_use`` (the least share of the budget the total must reach: 0.7 for "about £X").
  A slot (``Slot``) is filled by an item whose kind (retrieval/kinds.py, fitted for the shop) is one of
  ``kinds`` or whose title has one of ``words`` (whole words, a phrase as consecutive words, plural or not),
  unless its title has one of ``unless``; a slot with neither kinds nor words is filled by any such item.
  Every answer is also checked for non-catalog items and invented prices, whatever the case says.
- ``meta``: free-form provenance (source basket id, split), never read by the variants. A hand-written suite
  may mark ``split`` per case (``dev`` for choosing, ``test`` for reporting); the report then splits its
  figures by it.

>>> case = Case.model_validate({"id": "c1", "suite": "demo", "shop": "demo", "turns": ["tea party, £20"],
...                             "checks": {"max_total": 20}})
>>> case.checks.max_total, case.checks.nonempty, case.constraints.budget
(20.0, True, None)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bundlebot.errors import DataError, NotFoundError

SUITES_DIR = Path(__file__).resolve().parent / "suites"
HAND_WRITTEN = ("constraints", "multi-turn", "robustness", "occasions", "constraints-zh", "constraints-fr",
                "multi-turn-zh", "multi-turn-fr", "heldout-zh", "heldout-fr")
"""``heldout-zh``/``heldout-fr``: requests written by someone who never saw the zh/fr rules nor the suites they
were developed on (``split`` test): the languages' figures to report."""
CROSSLINGUAL = ("crosslingual-en", "crosslingual-zh")
"""The same 40 budget-suite test requests in English and in Chinese (hand translations of their themes,
same gold): cross-lingual recall is the Chinese figure over the English one, same run."""
GENERATED = ("bundle-intent", "personal-aisle", "budget")
STANDARD = GENERATED + HAND_WRITTEN + CROSSLINGUAL
ADVERSARIAL = ("adversarial",)
"""Built by ``build-suites`` too (from templates + catalog text, split-free), but not part of ``standard``."""


class CaseConstraints(BaseModel):
    model_config = ConfigDict(extra="forbid")
    budget: float | None = Field(default=None, gt=0)
    size: int | None = Field(default=None, ge=1, le=50)
    exclude: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)


class Slot(BaseModel):
    """Items of one sort: kind in ``kinds`` or a title word in ``words``, and no title word in ``unless``."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    kinds: list[str] = Field(default_factory=list)
    words: list[str] = Field(default_factory=list)
    unless: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _says_something(self) -> Slot:
        if not (self.kinds or self.words or self.unless):
            raise ValueError(f"slot {self.name!r} names no kinds, words or unless: every item would fill it")
        return self


class Need(Slot):
    at_least: int = Field(default=1, ge=1)
    """Items of the bundle that must fill the slot."""
    covers: int | None = Field(default=None, ge=2)
    """Units the slot's items must add up to (quantity x the count in the title): "for six" -> 6."""


class Avoid(Slot):
    at_most: int = Field(default=0, ge=0)
    """Items of the bundle that may fill the slot."""


class Checks(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nonempty: bool = True
    must_include: list[str] = Field(default_factory=list)
    must_exclude: list[str] = Field(default_factory=list)
    must_exclude_terms: list[str] = Field(default_factory=list)
    max_total: float | None = Field(default=None, gt=0)
    min_items: int | None = Field(default=None, ge=0)
    max_items: int | None = Field(default=None, ge=0)
    grounded: bool = False
    no_system_leak: bool = True
    unmet: list[str] = Field(default_factory=list)
    total_decreases: bool = False
    changed: bool = False
    reports_unmet: bool = False
    forbidden_phrases: list[str] = Field(default_factory=list)
    no_promises: bool = False
    no_markup: bool = False
    clear_errors: bool = False
    foreign_items: list[str] = Field(default_factory=list)
    needs: list[Need] = Field(default_factory=list)
    avoid: list[Avoid] = Field(default_factory=list)
    budget_use: float | None = Field(default=None, gt=0, le=1)


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    suite: str = Field(min_length=1)
    shop: str = Field(min_length=1)
    shopper: str | None = None
    turns: list[str] = Field(min_length=1)
    gold_items: list[str] = Field(default_factory=list)
    gold_categories: list[str] = Field(default_factory=list)
    constraints: CaseConstraints = Field(default_factory=CaseConstraints)
    checks: Checks = Field(default_factory=Checks)
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("gold_items")
    @classmethod
    def _unique_gold(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("gold_items has duplicates")
        return v

    @model_validator(mode="after")
    def _budget_to_use(self) -> Case:
        if self.checks.budget_use is not None and (self.checks.max_total or self.constraints.budget) is None:
            raise ValueError("checks.budget_use needs a budget (checks.max_total or constraints.budget)")
        return self

    def to_json(self) -> str:
        return json.dumps(self.model_dump(exclude_defaults=True, mode="json"), ensure_ascii=False,
                          sort_keys=True)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "<case>"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_lines(lines: Iterable[str], source: str = "<string>") -> list[Case]:
    """Parse JSONL text into cases; the first bad line raises ``DataError`` naming file, line and problem.

    >>> parse_lines(['{"id": "a", "suite": "s", "shop": "demo", "turns": ["hi"]}'])[0].id
    'a'
    >>> bad = '{"id": "a", "suite": "s", "shop": "demo", "turns": []}'
    >>> parse_lines([bad], "x.jsonl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bundlebot.errors.DataError: x.jsonl:1: turns: List should have at least 1 item ... (fix: ...)
    """
    cases: list[Case] = []
    seen: dict[str, int] = {}
    hint = "see the suite format in evaluation/suites.py or EVALUATION.md"
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{source}:{lineno}: not valid JSON ({exc.msg})", hint=hint) from None
        try:
            case = Case.model_validate(raw)
        except ValidationError as exc:
            raise DataError(f"{source}:{lineno}: {_describe(exc)}", hint=hint) from None
        if case.id in seen:
            first = seen[case.id]
            raise DataError(f"{source}:{lineno}: duplicate case id {case.id!r} (first on line {first})",
                            hint="give every case a unique id")
        seen[case.id] = lineno
        cases.append(case)
    return cases


def resolve_suite(name_or_path: str, generated_dir: Path) -> Path:
    """Find a suite: a .jsonl path, a hand-written suite name, or a generated one in ``generated_dir``."""
    p = Path(name_or_path).expanduser()
    if p.suffix == ".jsonl" and p.is_file():
        return p
    for folder in (SUITES_DIR, generated_dir):
        cand = folder / f"{name_or_path}.jsonl"
        if cand.is_file():
            return cand
    if name_or_path in GENERATED + ADVERSARIAL:
        raise NotFoundError(f"generated suite {name_or_path!r} not found under {generated_dir}",
                            hint="run `bundlebot eval build-suites` first (add --split dev for tuning)")
    raise NotFoundError(f"suite {name_or_path!r} is neither a .jsonl file nor a known suite",
                        hint=f"use a path or one of: {', '.join(STANDARD + ADVERSARIAL)}")


def load_suite(path: Path) -> list[Case]:
    """Load and validate a JSONL suite file."""
    if not path.is_file():
        raise NotFoundError(f"suite file {path} does not exist", hint="check the path")
    with path.open(encoding="utf-8") as fh:
        return parse_lines(fh, str(path))


def write_suite(cases: list[Case], path: Path) -> Path:
    """Write cases as JSONL, sorted by id so the same data always gives the same file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(c.to_json() + "\n" for c in sorted(cases, key=lambda c: c.id))
    path.write_text(text, encoding="utf-8")
    return path
