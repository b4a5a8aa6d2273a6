"""Types of one conversational turn: parsed constraints, the proposed bundle, the conversation state, events.

Everything here is JSON-serializable through ``to_dict``/``from_dict`` so an HTTP API can stay stateless
by passing the state back and forth.

>>> s = ConversationState(shop="demo", constraints=Constraints(budget=25.0, size=3))
>>> ConversationState.from_dict(s.to_dict()) == s
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from bundlebot.errors import BundlebotError

EventType = Literal["constraints", "bundle", "token", "done", "error"]


@dataclass
class Constraints:
    budget: float | None = None
    """Upper limit of the bundle total (hard)."""
    budget_min: float | None = None
    """Lower end of a stated range ('between 20 and 40'); soft."""
    max_each: float | None = None
    """Upper limit of each item's price ('nothing over £5 each'); hard, like the budget."""
    currency: str | None = None
    size: int | None = None
    """Number of distinct items asked for."""
    exclude: list[str] = field(default_factory=list)
    """Terms no item may match ('candles', 'nuts')."""
    must_have: list[str] = field(default_factory=list)
    occasion: str | None = None
    recipient: str | None = None
    people: int | None = None
    age: int | None = None
    """The recipient's age, when the request gives it ("my 7 year old son", "a 2 year old")."""
    query: str = ""
    """What to search for, with the constraint phrases removed."""
    uncertain: list[str] = field(default_factory=list)
    """Fields the rules were unsure about (the model may be asked)."""
    similar_ok: bool = False
    """Near-duplicates are wanted ('6 mugs'): assembly then allows substitutes of each other."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Constraints:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class BundleLine:
    id: str
    title: str
    price: float | None
    currency: str | None
    reason: str
    quantity: int = 1
    category: str = ""
    image_url: str | None = None
    score: float = 0.0
    breakdown: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BundleResult:
    items: list[BundleLine]
    total: float | None
    currency: str | None
    constraints: Constraints
    explanation: str = ""
    grounded: bool = True
    ranked: list[str] = field(default_factory=list)
    """Ids of the top fused candidates, best first (evaluation reads recall from it)."""
    message: str = ""
    """A plain statement when not every constraint could be met (which one, and what was done)."""
    unmet: list[str] = field(default_factory=list)
    """Names of the constraints that could not be met: 'budget', 'size', 'exclude', 'must_have', 'nothing'."""
    language: str = "en"
    """The language the message, explanation and summary are written in (``assistant.languages``)."""
    timings_ms: dict[str, float] = field(default_factory=dict)
    explanation_source: str = "deterministic"
    """'model' (generated sentences that passed the grounding check), 'fallback' (generated, but no sentence
    passed or there was no time: the deterministic one; then ``grounded`` is False), 'deterministic' (no
    model asked)."""
    problems: list[str] = field(default_factory=list)
    """What the grounding check found in the model's text (empty when all of it passed). With
    ``explanation_source`` 'model' they concern the part held back after the last shown sentence."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["constraints"] = self.constraints.to_dict()
        return d


@dataclass
class ConversationState:
    shop: str
    shopper: str | None = None
    constraints: Constraints = field(default_factory=Constraints)
    bundle: list[str] = field(default_factory=list)
    """Ids of the current bundle, in display order."""
    pinned: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    turns: list[dict[str, str]] = field(default_factory=list)
    """The last few turns, {'role', 'content'}, for display and follow-ups."""
    language: str = "en"
    """The conversation's language (``assistant.languages``): answers are in it, and a follow-up too short to
    tell ("moins cher") is read in it."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["constraints"] = self.constraints.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConversationState:
        d = dict(d)
        d["constraints"] = Constraints.from_dict(d.get("constraints") or {})
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class TurnEvent:
    """One event of a streamed turn: constraints parsed -> bundle proposed -> tokens -> done (or error).

    ``data`` is the event as plain JSON (what the HTTP API streams); an ``error`` event also carries the
    error itself and ``done`` the final objects, so in-process callers need not parse JSON back.

    >>> from bundlebot.errors import RequestError
    >>> TurnEvent.failed(RequestError("message is empty")).data
    {'code': 'bad_request', 'message': 'message is empty'}
    """

    type: EventType
    data: dict[str, Any] = field(default_factory=dict)
    error: BundlebotError | None = None
    result: BundleResult | None = None
    state: ConversationState | None = None

    @classmethod
    def failed(cls, exc: BundlebotError) -> TurnEvent:
        return cls("error", exc.to_dict(), error=exc)

    @classmethod
    def finished(cls, result: BundleResult, state: ConversationState, **data: Any) -> TurnEvent:
        """The ``done`` event: ``data`` holds result and state as JSON, plus ``data``."""
        return cls("done", {"result": result.to_dict(), "state": state.to_dict(), **data}, result=result,
                   state=state)
