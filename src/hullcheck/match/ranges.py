"""OSV ``affected`` evaluation for one installed version, under one version scheme.

A range's events are sorted by version and walked in order: ``introduced`` opens,
``fixed`` / ``limit`` close at their version, ``last_affected`` closes just after it.
Any event version the scheme cannot read makes the whole range unevaluable: we
report that (``Unevaluable``) rather than guess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hullcheck.versions import InvalidVersion
from hullcheck.vulndb.model import Affected, EventKind, Range, RangeType

_ORDER = {EventKind.INTRODUCED: 0, EventKind.LAST_AFFECTED: 1, EventKind.FIXED: 2,
          EventKind.LIMIT: 2}


class Unevaluable(Exception):
    """The record cannot be evaluated for this version (unreadable version in a range)."""


@dataclass(frozen=True, slots=True)
class Hit:
    matched: str  # human-readable description of what matched
    fixed: tuple[str, ...]  # fixed versions above the installed one, from the matched ranges


_MINUS_INF = object()


def _in_range(r: Range, vkey: Any, key: Callable[[str], Any]) -> bool:
    events = []
    for e in r.events:
        if e.kind is EventKind.INTRODUCED and e.value == "0":
            events.append((0, 0, e.kind))
            continue
        try:
            events.append((1, key(e.value), e.kind))
        except InvalidVersion:
            raise Unevaluable(f"{e.kind.value} version {e.value!r} is not readable") from None
    events.sort(key=lambda t: (t[0], t[1], _ORDER[t[2]]) if t[0] else (0, 0, 0))
    affected = False
    for lowest, ekey, kind in events:
        if kind is EventKind.INTRODUCED:
            if not lowest or vkey >= ekey:
                affected = True
        elif kind in (EventKind.FIXED, EventKind.LIMIT):
            if vkey >= ekey:
                affected = False
        elif kind is EventKind.LAST_AFFECTED and vkey > ekey:
            affected = False
    return affected


def _describe(r: Range) -> str:
    return ", ".join(f"{e.kind.value} {e.value}" for e in r.events)


def evaluate(a: Affected, version: str, key: Callable[[str], Any]) -> Hit | None:
    """Whether ``version`` is affected by ``a``; raises InvalidVersion for the installed
    version and Unevaluable for the record."""
    if a.all_versions:
        return Hit(matched="all versions", fixed=())
    vkey = key(version)
    hits: list[Range] = []
    for r in a.ranges:
        if r.type is RangeType.GIT:
            continue  # commit ranges cannot be evaluated against package versions
        if _in_range(r, vkey, key):
            hits.append(r)
    if hits:
        # The fix that applies is the lowest fixed version above the installed one in each
        # matching range (a range may hold several introduced/fixed pairs, one per branch).
        fixed = []
        for r in hits:
            above = []
            for v in r.values(EventKind.FIXED):
                try:
                    k = key(v)
                except InvalidVersion:
                    continue
                if k > vkey:
                    above.append((k, v))
            if above:
                fixed.append(min(above, key=lambda t: t[0])[1])
        return Hit(matched="; ".join(_describe(r) for r in hits), fixed=tuple(dict.fromkeys(fixed)))
    if a.versions:
        for listed in a.versions:
            if listed == version:
                return Hit(matched=f"version {listed} listed", fixed=a.fixed_versions)
        for listed in a.versions:
            try:
                if key(listed) == vkey:
                    return Hit(matched=f"version {listed} listed", fixed=a.fixed_versions)
            except InvalidVersion:
                continue
    return None
