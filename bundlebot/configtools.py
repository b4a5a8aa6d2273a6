"""Build nested config dataclasses from plain dicts (a parsed TOML file), rejecting unknown keys.

>>> from bundlebot.config.retrieval import RetrievalConfig
>>> from_dict(RetrievalConfig, {"store": {"mode": "http", "port": 8001}}).store.port
8001
>>> from_dict(RetrievalConfig, {"stor": {}})
Traceback (most recent call last):
...
bundlebot.errors.ConfigError: ...
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

from bundlebot.errors import ConfigError

T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "") -> T:
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(where + k for k in unknown)}",
            hint=f"valid keys here: {', '.join(sorted(known))}",
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value, where=f"{where}{name}.")
        kwargs[name] = value
    for name, f in known.items():
        hint = hints[name]
        if name not in kwargs and dataclasses.is_dataclass(hint) and f.default is dataclasses.MISSING \
                and f.default_factory is dataclasses.MISSING:
            kwargs[name] = from_dict(hint, {}, where=f"{where}{name}.")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad config section {where or '<root>'}: {exc}") from exc


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)
