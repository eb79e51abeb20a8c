"""Typed configuration parameters: each experiment declares its TOML keys with these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    """One configuration key: its type, default and allowed range or choices.

    kind is one of "int", "float", "str", "bool", "int_list", "str_list".
    """

    kind: str
    default: Any
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None

    def describe(self) -> str:
        """Human-readable description of the allowed values (used in error messages)."""
        parts = [self.kind.replace("_list", " list")]
        if self.minimum is not None or self.maximum is not None:
            parts.append(f"in [{self.minimum}, {self.maximum}]")
        if self.choices is not None:
            parts.append("from {" + ", ".join(self.choices) + "}")
        return " ".join(parts)

    def validate(self, value: Any) -> str | None:
        """Return None if value is acceptable, else a short description of what is wrong."""
        if self.kind.endswith("_list"):
            if not isinstance(value, list) or not value:
                return f"expected a non-empty list, got {value!r}"
            element = Param(self.kind[: -len("_list")], None, "", self.minimum, self.maximum,
                            self.choices)
            for item in value:
                problem = element.validate(item)
                if problem:
                    return f"element {item!r}: {problem}"
            twice = repeated(value)
            if twice:  # each of their cells would be measured twice
                return f"duplicate element(s) {', '.join(map(repr, twice))}"
            return None
        if not _has_kind(value, self.kind):
            return f"expected {self.kind}, got {type(value).__name__} {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"{value!r} is not one of {{{', '.join(self.choices)}}}"
        if self.minimum is not None and value < self.minimum:
            return f"{value!r} is below the minimum {self.minimum}"
        if self.maximum is not None and value > self.maximum:
            return f"{value!r} is above the maximum {self.maximum}"
        return None


def repeated(values: list[Any]) -> list[Any]:
    """The values that occur more than once in a list, each named once, in order."""
    found: list[Any] = []
    for index, value in enumerate(values):
        if value in values[:index] and value not in found:
            found.append(value)
    return found


def _has_kind(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "float":
        return isinstance(value, int | float)
    if kind == "str":
        return isinstance(value, str)
    raise ValueError(f"unknown parameter kind {kind!r}")
