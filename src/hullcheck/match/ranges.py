"""OSV ``affected`` evaluation for one installed version, under one version scheme.

OSV's algorithm: a range's events are sorted by version and walked in order;
``introduced`` opens (``"0"`` is below every version), ``fixed`` / ``limit`` close at
their version, ``last_affected`` closes just after it. The version is affected when the
last event at or below it (strictly below, for ``last_affected``) opened the range. At a
tie, ``introduced`` sorts first, so ``introduced: X, fixed: X`` covers nothing.

A range is *compiled* once per (record, scheme): event versions are turned into sort keys
up front, so evaluating a package version is a few comparisons. Any event version the
scheme cannot read makes that range unevaluable: we report it (``Unevaluable``) rather
than guess — unless the record's explicit ``versions`` list settles the question.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hullcheck.versions import InvalidVersion
from hullcheck.vulndb.model import Affected, EventKind, Range, RangeType

_OPEN, _CLOSE_AT, _CLOSE_AFTER = 0, 1, 2
_KIND = {EventKind.INTRODUCED: _OPEN, EventKind.FIXED: _CLOSE_AT, EventKind.LIMIT: _CLOSE_AT,
         EventKind.LAST_AFFECTED: _CLOSE_AFTER}
_TIE = {_OPEN: 0, _CLOSE_AFTER: 1, _CLOSE_AT: 2}


class Unevaluable(Exception):
    """The record cannot be evaluated for this version (unreadable version in a range)."""


@dataclass(frozen=True, slots=True)
class Hit:
    matched: str  # human-readable description of what matched
    fixed: tuple[str, ...]  # fixed versions above the installed one, from the matched ranges


class _Compiled:
    """One range with its event versions turned into sort keys (built once, read-only)."""

    __slots__ = ("error", "events", "fixed", "range")

    def __init__(self, r: Range, events: tuple[tuple[bool, Any, int], ...],
                 fixed: tuple[tuple[Any, str], ...], error: str) -> None:
        self.range = r
        # (is_zero, key, kind) sorted; is_zero marks introduced "0" (below everything)
        self.events = events
        self.fixed = fixed  # (key, text) of the fixed events, sorted by key
        self.error = error  # non-empty: the range cannot be evaluated, and why

    @property
    def description(self) -> str:  # only needed for a hit: not built up front
        return _describe(self.range)

    def contains(self, vkey: Any) -> bool:
        affected = False
        for zero, ekey, kind in self.events:
            if kind == _OPEN:
                if zero or vkey >= ekey:
                    affected = True
                else:
                    break  # sorted: nothing later can apply
            elif kind == _CLOSE_AT:
                if vkey >= ekey:
                    affected = False
                else:
                    break
            elif vkey > ekey:
                affected = False
            else:
                break
        return affected

    def fixed_above(self, vkey: Any) -> str:
        for k, text in self.fixed:
            if k > vkey:
                return text
        return ""


def _describe(r: Range) -> str:
    return ", ".join(f"{e.kind.value} {e.value}" for e in r.events)


def _tie_order(ev: tuple[bool, Any, int]) -> tuple[Any, int]:
    return ev[1], _TIE[ev[2]]


def compile_range(r: Range, key: Callable[[str], Any]) -> _Compiled:
    events: list[tuple[bool, Any, int]] = []
    fixed: list[tuple[Any, str]] = []
    zeros = 0
    for e in r.events:
        kind = _KIND[e.kind]
        if kind == _OPEN and e.value == "0":
            events.append((True, None, kind))
            zeros += 1
            continue
        try:
            k = key(e.value)
        except InvalidVersion:
            return _Compiled(r, (), (), f"{e.kind.value} version {e.value!r} is not readable")
        events.append((False, k, kind))
        if kind == _CLOSE_AT and e.kind is EventKind.FIXED:
            fixed.append((k, e.value))
    try:
        if zeros:
            ordered = (*(ev for ev in events if ev[0]),
                       *sorted((ev for ev in events if not ev[0]), key=_tie_order))
        else:
            ordered = tuple(sorted(events, key=_tie_order))
        if len(fixed) > 1:
            fixed.sort(key=_first)
    except TypeError:  # keys of one scheme always compare; be safe anyway
        return _Compiled(r, (), (), "range versions cannot be ordered")
    return _Compiled(r, ordered, tuple(fixed), "")


def _first(t: tuple[Any, str]) -> Any:
    return t[0]


class CompiledAffected:
    """One ``Affected`` entry ready to evaluate many versions of one scheme.

    Listed versions are compared by text first; their sort keys (to find ``1.0`` listed
    when ``1.0.0`` is installed) are computed on first need, and only for entries without
    an evaluable range: a record with ranges lists the versions those ranges cover.
    """

    __slots__ = ("_key", "_listed", "_listed_keys", "_versions", "all_versions", "fixed",
                 "ranges")

    def __init__(self, *, all_versions: bool, ranges: tuple[_Compiled, ...],
                 versions: tuple[str, ...], fixed: tuple[tuple[Any, str], ...],
                 key: Callable[[str], Any]) -> None:
        self.all_versions = all_versions
        self.ranges = ranges
        self._listed = versions
        self._versions: frozenset[str] | None = None if versions else frozenset()
        self.fixed = fixed  # every fixed version of the entry, as (key, text) sorted by key
        self._key = key
        self._listed_keys: tuple[tuple[Any, str], ...] | None = None
        if not versions or any(not r.error for r in ranges):
            self._listed_keys = ()

    @property
    def versions(self) -> frozenset[str]:
        """The listed versions, as a set built on first need (a hit by range never needs it)."""
        if self._versions is None:
            self._versions = frozenset(self._listed)
        return self._versions

    @property
    def listed_keys(self) -> tuple[tuple[Any, str], ...]:
        if self._listed_keys is None:
            listed = []
            for v in self.versions:
                try:
                    listed.append((self._key(v), v))
                except InvalidVersion:
                    continue  # an unreadable listed version still matches by its exact text
            self._listed_keys = tuple(listed)
        return self._listed_keys

    def evaluate(self, version: str, vkey: Any) -> Hit | None:
        """Whether ``version`` (with sort key ``vkey``) is affected; Unevaluable when a range
        cannot be read and the explicit versions list does not settle it."""
        if self.all_versions:
            return Hit(matched="all versions", fixed=())
        hits: list[_Compiled] = []
        broken = ""
        for r in self.ranges:
            if r.error:
                broken = broken or r.error
            elif r.contains(vkey):
                hits.append(r)
        if hits:
            # The fix that applies is the lowest fixed version above the installed one in
            # each matching range (a range may hold several introduced/fixed pairs).
            fixed = tuple(dict.fromkeys(f for r in hits if (f := r.fixed_above(vkey))))
            return Hit(matched="; ".join(r.description for r in hits), fixed=fixed)
        if version in self.versions or any(k == vkey for k, _ in self.listed_keys):
            listed = version if version in self.versions else next(
                t for k, t in self.listed_keys if k == vkey)
            above = tuple(t for k, t in self.fixed if k > vkey)
            return Hit(matched=f"version {listed} listed", fixed=above[:1])
        if broken:
            raise Unevaluable(broken)
        return None


def compile_affected(a: Affected, key: Callable[[str], Any]) -> CompiledAffected:
    ranges = tuple(compile_range(r, key) for r in a.ranges if r.type is not RangeType.GIT)
    # Deduplicated in the record's order, then sorted by version (stable): of two spellings of
    # one fix, the record's first is offered (a set's order changed with the hash seed).
    fixed = sorted(dict.fromkeys((k, t) for r in ranges for k, t in r.fixed), key=_first)
    return CompiledAffected(all_versions=a.all_versions, ranges=ranges, versions=a.versions,
                            fixed=tuple(fixed), key=key)


def evaluate(a: Affected, version: str, key: Callable[[str], Any]) -> Hit | None:
    """Whether ``version`` is affected by ``a``; raises InvalidVersion for the installed
    version and Unevaluable for the record."""
    return compile_affected(a, key).evaluate(version, key(version))
