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
    ``*requirements*.txt``), a literal start (``libcrypto.so*``), or failing that the
    literal directory prefix before its first wildcard (``/usr/bin/``). A path then meets
    only the few globs that can match it.
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(sorted(set(patterns)))
        self._by_name: dict[str, list[re.Pattern[str]]] = {}
        self._by_ext: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
        self._by_head: dict[str, list[re.Pattern[str]]] = {}
        generic: list[tuple[str, int, re.Pattern[str]]] = []
        for p in self.patterns:
            rx = re.compile(glob_to_regex(p) + r"\Z")
            base = p.rsplit("/", 1)[1]
            tail = base[max(base.rfind(c) for c in "*?]") + 1 :]  # literal end of the name
            head = base[: min((i for i, c in enumerate(base) if c in "*?["), default=len(base))]
            if base and not any(c in base for c in "*?["):
                self._by_name.setdefault(base, []).append(rx)
            elif "." in tail:
                self._by_ext.setdefault(tail.rsplit(".", 1)[1], []).append((tail, rx))
            elif len(head) >= 3:
                self._by_head.setdefault(head[:3], []).append(rx)
            else:
                cut = min((i for i, c in enumerate(p) if c in "*?["), default=len(p))
                # Without "**" a glob only matches paths of its own depth.
                depth = -1 if "**" in p else p.count("/")
                generic.append((p[:cut], depth, rx))
        # Generic globs filed by their first directory ("/usr/bin/*" under "usr"); those
        # with a wildcard in the first component are tried for every path.
        self._generic_any = tuple(g for g in generic if g[0].count("/") < 2)
        self._generic: dict[str, list[tuple[str, int, re.Pattern[str]]]] = {}
        for g in generic:
            if g[0].count("/") >= 2:
                self._generic.setdefault(g[0].split("/")[1], []).append(g)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def match(self, path: str) -> bool:
        base = path[path.rfind("/") + 1 :]
        for rx in self._by_name.get(base, ()):
            if rx.match(path):
                return True
        dot = base.rfind(".")
        if dot >= 0:
            for suffix, rx in self._by_ext.get(base[dot + 1 :], ()):
                if base.endswith(suffix) and rx.match(path):
                    return True
        for rx in self._by_head.get(base[:3], ()):
            if rx.match(path):
                return True
        generic = self._generic.get(path[1 : path.find("/", 1)], ())
        if generic or self._generic_any:
            depth = path.count("/")
            for prefix, want, rx in (*generic, *self._generic_any):
                if (want < 0 or want == depth) and path.startswith(prefix) and rx.match(path):
                    return True
        return False


def compile_globs(patterns: Iterable[str]) -> GlobSet | None:
    """The ``GlobSet`` of ``patterns``; None when there are none (nothing to match)."""
    found = GlobSet(patterns)
    return found if found else None
