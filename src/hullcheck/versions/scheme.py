"""What every version scheme provides, and the error for a version a scheme cannot read.

A scheme is a name and a ``key`` function. ``key(v)`` parses ``v`` once (results are cached)
and returns a hashable value whose natural order *is* the scheme's version order, so callers
can pre-compute keys and compare them with ``<``/``==`` at tuple speed. Equal keys mean equal
versions under the scheme (``1.0`` and ``1.0.0`` are equal for Maven, not for dpkg).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from hullcheck.errors import FormatError

# Enough for the distinct versions of a large image plus an advisory feed's worth of bounds.
CACHE_SIZE = 1 << 17


class InvalidVersion(FormatError):
    """A version string that cannot be read under the named scheme; it is never guessed."""

    default_hint = "the version cannot be compared; the package is reported as skipped"

    def __init__(self, scheme: str, version: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(f"invalid {scheme} version {version!r}: {reason}", hint=hint)
        self.scheme = scheme
        self.version = version
        self.reason = reason


class UnknownScheme(FormatError):
    """A version scheme name that no comparator is registered for."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(
            f"unknown version scheme {name!r}",
            hint="known schemes: " + ", ".join(known),
        )
        self.name = name


@dataclass(frozen=True, slots=True, kw_only=True)
class Scheme:
    """One registered version scheme."""

    name: str
    key: Callable[[str], Any]  # str -> hashable, totally ordered key; raises InvalidVersion
    summary: str

    def compare(self, a: str, b: str) -> int:
        ka, kb = self.key(a), self.key(b)
        newer: bool = ka > kb  # keys are Any: say what their comparisons give
        older: bool = ka < kb
        return newer - older

    def is_valid(self, v: str) -> bool:
        try:
            self.key(v)
        except InvalidVersion:
            return False
        return True


def check_text(scheme: str, v: object) -> str:
    """Reject what no scheme accepts: non-strings, empty strings, whitespace and control chars."""
    if not isinstance(v, str):
        raise InvalidVersion(scheme, repr(v), "not a string")
    if not v:
        raise InvalidVersion(scheme, v, "empty")
    if not v.isprintable() or any(c.isspace() for c in v):
        raise InvalidVersion(scheme, v, "contains whitespace or control characters")
    return v


__all__ = ["CACHE_SIZE", "Hashable", "InvalidVersion", "Scheme", "UnknownScheme", "check_text"]
