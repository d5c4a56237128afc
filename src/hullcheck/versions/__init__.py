"""Version comparison, one module per scheme; the scheme names are ``ecosystem.py``'s.

    compare("dpkg", "1.0-1", "1.0-1~deb12u1")   # -> 1
    key("semver", "1.2.3")                      # hashable, ordered like compare()

A version a scheme cannot read raises ``InvalidVersion`` (a ``FormatError``); it is never
guessed, so matching can report the package as skipped. An unregistered scheme name raises
``UnknownScheme`` (also a ``FormatError``), never a bare ``KeyError``.
"""

from __future__ import annotations

from typing import Any

from hullcheck.versions import apk, dpkg, go, maven, nuget, packagist, pep440, rpm, rubygems, semver
from hullcheck.versions.scheme import InvalidVersion, Scheme, UnknownScheme

SCHEMES: dict[str, Scheme] = {
    m.SCHEME.name: m.SCHEME
    for m in (dpkg, apk, rpm, pep440, semver, go, maven, rubygems, nuget, packagist)
}


def scheme(name: str) -> Scheme:
    """The registered scheme called ``name``."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise UnknownScheme(name, tuple(SCHEMES)) from None


def key(name: str, v: str) -> Any:
    """A hashable, totally ordered sort key for ``v`` under scheme ``name``."""
    return scheme(name).key(v)


def compare(name: str, a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is older than, equal to or newer than ``b`` under scheme ``name``."""
    s = SCHEMES.get(name) or scheme(name)
    ka, kb = s.key(a), s.key(b)
    newer: bool = ka > kb  # keys are Any: say what their comparisons give
    older: bool = ka < kb
    return newer - older


def is_valid(name: str, v: str) -> bool:
    """Whether ``v`` is a readable version under scheme ``name``."""
    return scheme(name).is_valid(v)


__all__ = [
    "SCHEMES",
    "InvalidVersion",
    "Scheme",
    "UnknownScheme",
    "compare",
    "is_valid",
    "key",
    "scheme",
]
