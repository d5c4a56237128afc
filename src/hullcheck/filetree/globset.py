"""Catalogers declare absolute-path globs; a ``GlobSet`` matches a path against all of
them at once."""

from __future__ import annotations

import re
from collections.abc import Iterable

from hullcheck import globs


def glob_to_regex(pattern: str) -> str:
    """``/**/`` matches any number of directories, ``*`` and ``?`` stay within one."""
    if not pattern.startswith("/"):
        raise ValueError(f"glob must be absolute: {pattern!r}")
    return globs.translate(pattern)


class GlobSet:
    """Many absolute-path globs matched at once, fast: rather than trying one regex of
    every glob on each of an image's many paths, each glob is filed under what its last
    component must be: a literal name (``METADATA``), a literal ending (``*.jar``,
    ``*requirements*.txt``), a literal start (``libcrypto.so*``), or failing that with the
    other globs of no such part (``/usr/bin/*``). A path then meets only the few globs that
    can match it, as one regex per file (their alternation: one call into ``re``).
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(sorted(set(patterns)))
        by_name: dict[str, list[str]] = {}
        by_ext: dict[str, list[str]] = {}
        by_head: dict[str, list[str]] = {}
        generic: list[str] = []
        for p in self.patterns:
            rx = glob_to_regex(p) + r"\Z"
            base = p.rsplit("/", 1)[1]
            tail = base[max(base.rfind(c) for c in "*?]") + 1 :]  # literal end of the name
            head = base[: min((i for i, c in enumerate(base) if c in "*?["), default=len(base))]
            if base and not any(c in base for c in "*?["):
                by_name.setdefault(base, []).append(rx)
            elif "." in tail:
                by_ext.setdefault(tail.rsplit(".", 1)[1], []).append(rx)
            elif len(head) >= 3:
                by_head.setdefault(head[:3], []).append(rx)
            else:
                generic.append(rx)
        self._by_name = {k: _either(v) for k, v in by_name.items()}
        self._by_ext = {k: _either(v) for k, v in by_ext.items()}
        self._by_head = {k: _either(v) for k, v in by_head.items()}
        # The others (a literal directory, then a wildcard name: "/usr/bin/*", "/*") start
        # with their directories, where the regex fails at once for most paths.
        self._generic = _either(generic).match if generic else None

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def match(self, path: str) -> bool:
        base = path[path.rfind("/") + 1 :]
        rx = self._by_name.get(base)
        if rx is not None and rx.match(path):
            return True
        dot = base.rfind(".")
        if dot >= 0:
            rx = self._by_ext.get(base[dot + 1 :])
            if rx is not None and rx.match(path):
                return True
        rx = self._by_head.get(base[:3])
        if rx is not None and rx.match(path):
            return True
        generic = self._generic
        return generic is not None and generic(path) is not None


def _either(sources: list[str]) -> re.Pattern[str]:
    """One regex matching where any of ``sources`` (each anchored at its end) does."""
    return re.compile("|".join(f"(?:{s})" for s in sources))


def compile_globs(patterns: Iterable[str]) -> GlobSet | None:
    """The ``GlobSet`` of ``patterns``; None when there are none (nothing to match)."""
    found = GlobSet(patterns)
    return found if found else None
