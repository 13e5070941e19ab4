"""Declare a params section once: each key's name, type, default, check and comment together.

::

    @section("train")
    class TrainConfig(Section):
        epochs: int = key(60, Int(low=1), "passes over the training split")

:func:`section` turns the class into a frozen dataclass with ``from_dict(mapping)``, which
checks every key and raises :class:`~qgan.core.errors.ConfigError` with one line naming the
key, the value and what is allowed::

    params.yaml: train.epochs: 0 is not allowed (an integer >= 1)

Unknown keys are refused the same way. A section may add cross-key checks in a
``validate(self)`` method that raises :meth:`Section.invalid`. The comment given to
:func:`key` is the one ``params.yaml`` carries beside the key (a test keeps them equal).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from qgan.core.errors import ConfigError


class Invalid(ValueError):
    """A check's refusal; its message says what is allowed. ``value``: the part of the key's
    value to name in the error (an item of a list), if not the whole value."""

    def __init__(self, allowed: str, value: Any = None, part: bool = False):
        super().__init__(allowed)
        self.value, self.part = value, part


def fail(name: str, value: Any, allowed: str, where: str = "params.yaml") -> ConfigError:
    """The one-line error for key ``name`` (``section.key``) holding ``value``, read from ``where``."""
    return ConfigError(f"{where}: {name}: {value!r} is not allowed ({allowed})")


@dataclass(frozen=True)
class Int:
    low: int | None = None           # smallest allowed value
    null: bool = False               # None allowed

    def __call__(self, v: Any) -> int | None:
        if v is None and self.null:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or (self.low is not None and v < self.low):
            bound = f" >= {self.low}" if self.low is not None else ""
            raise Invalid(f"an integer{bound}" + (" or null" if self.null else ""))
        return v


@dataclass(frozen=True)
class Number:
    low: float                       # interval of allowed values ...
    high: float
    closed_low: bool = False         # ... with or without its ends
    closed_high: bool = False
    null: bool = False

    def __call__(self, v: Any) -> float | None:
        if v is None and self.null:
            return None
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok or v < self.low or (v == self.low and not self.closed_low) or v > self.high or (
                v == self.high and not self.closed_high):
            span = (f"in {'[' if self.closed_low else '('}{self.low}, {self.high}"
                    f"{']' if self.closed_high else ')'}")
            raise Invalid(f"a number {span}" + (" or null" if self.null else ""))
        return float(v)


@dataclass(frozen=True)
class OneOf:
    values: tuple                    # the allowed values

    def __call__(self, v: Any) -> Any:
        if v not in self.values:
            raise Invalid("one of " + ", ".join(map(str, self.values)))
        return v


@dataclass(frozen=True)
class Flag:
    null: bool = False

    def __call__(self, v: Any) -> bool | None:
        if (v is None and self.null) or isinstance(v, bool):
            return v
        raise Invalid("true, false or null" if self.null else "true or false")


@dataclass(frozen=True)
class Text:
    def __call__(self, v: Any) -> str | None:
        if v is not None and not isinstance(v, str):
            raise Invalid("a string or null")
        return v


@dataclass(frozen=True)
class Either:
    literal: Any                     # one special value (e.g. "auto") ...
    other: Callable                  # ... or whatever this check accepts

    def __call__(self, v: Any) -> Any:
        if v == self.literal:
            return v
        try:
            return self.other(v)
        except Invalid as exc:
            raise Invalid(f"{self.literal} or {exc}") from None


@dataclass(frozen=True)
class UniqueList:
    item: Callable                   # check of each item
    what: str                        # what the items are, for the message

    def __call__(self, v: Any) -> tuple:
        if not isinstance(v, (list, tuple)) or not v or len(set(map(str, v))) != len(v):
            raise Invalid("a non-empty list without repeats")
        checked = []
        for x in v:
            try:
                checked.append(self.item(x))
            except Invalid as exc:
                raise Invalid(f"{self.what}: {exc}", value=x, part=True) from None
        return tuple(checked)


def key(default: Any, check: Callable[[Any], Any], doc: str) -> Any:
    """A key of a section: its default, its check and the comment ``params.yaml`` carries."""
    if isinstance(default, list):
        default = tuple(default)
    return dataclasses.field(default=default, metadata={"check": check, "doc": doc})


class Section:
    """Base of the classes :func:`section` makes; ``NAME`` is the params.yaml section."""
    NAME = ""

    @classmethod
    def from_dict(cls, values: Any, where: str = "params.yaml") -> "Section":
        """The section from a mapping, every key checked; ``where`` names the input in errors
        (``params.yaml``, or the command whose options override some keys)."""
        values = {} if values is None else values
        if not isinstance(values, dict):
            raise fail(cls.NAME, values, "a mapping of keys", where)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ConfigError(f"{where}: {cls.NAME}.{unknown[0]}: unknown key (allowed: {', '.join(fields)})")
        checked = {}
        for name, f in fields.items():
            value = values.get(name, f.default)
            try:
                checked[name] = f.metadata["check"](value)
            except Invalid as exc:
                raise fail(f"{cls.NAME}.{name}", exc.value if exc.part else value, str(exc), where) from None
        cfg = cls(**checked)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Cross-key checks; raise :meth:`invalid` on the first problem."""

    def invalid(self, key_name: str, value: Any, allowed: str) -> ConfigError:
        return fail(f"{self.NAME}.{key_name}", value, allowed)

    def to_dict(self) -> dict[str, Any]:
        """As ``params.yaml`` holds it (tuples as lists)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)}


def section(name: str):
    """Class decorator for a :class:`Section` subclass of :func:`key` fields: a frozen
    dataclass reading params section ``name``."""
    def wrap(cls: type) -> type:
        cls.NAME = name
        return dataclass(frozen=True)(cls)
    return wrap
