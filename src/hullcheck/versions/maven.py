"""Maven versions, ordered as ``org.apache.maven.artifact.versioning.ComparableVersion`` (3.x).

The version is lower-cased and split into items at ``.``, at ``-`` and where digits and
letters meet; a ``-`` or a digit/letter transition opens a nested list. Numbers compare as
integers; qualifiers order ``alpha`` (``a1``) < ``beta`` (``b1``) < ``milestone`` (``m1``) <
``rc`` = ``cr`` < ``snapshot`` < ``""`` = ``ga`` = ``final`` = ``release`` < ``sp`` < any other
word (alphabetically). Trailing "null" items (0, release qualifiers, empty lists) are dropped,
so ``1 == 1.0 == 1-ga``. Kinds order: qualifier < nested list < number.

Every non-empty string is a Maven version. The key is a small object ordered by that
comparison (Maven's order does not flatten into a tuple); equal keys hash equally.
"""

from __future__ import annotations

import functools
from typing import TypeAlias

from hullcheck.versions.scheme import CACHE_SIZE, Scheme, check_text

NAME = "maven"
_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}
_RELEASE = str(_QUALIFIERS.index(""))

# An item is an int (number), a str (comparable form of a qualifier) or a tuple (nested list).
Item: TypeAlias = "int | str | tuple[Item, ...]"


def _qualifier(word: str, followed_by_digit: bool) -> str:
    if followed_by_digit and word in _SHORT:
        word = _SHORT[word]
    word = _ALIASES.get(word, word)
    try:
        return str(_QUALIFIERS.index(word))
    except ValueError:
        return f"{len(_QUALIFIERS)}-{word}"


def _is_null(item: Item) -> bool:
    if isinstance(item, int):
        return item == 0
    if isinstance(item, str):
        return item == _RELEASE
    return not item


def _normalize(items: list[Item]) -> tuple[Item, ...]:
    for i in range(len(items) - 1, -1, -1):
        if _is_null(items[i]):
            del items[i]
        elif not isinstance(items[i], tuple):
            break
    return tuple(items)


def _cmp_null(a: Item) -> int:
    """Compare an item with a missing one (the shorter version's padding)."""
    if isinstance(a, int):
        return 0 if a == 0 else 1
    if isinstance(a, str):
        return (a > _RELEASE) - (a < _RELEASE)
    # A whole list against padding, item by item, as Maven does since MNG-6964 (3.8+); older
    # Maven looked at the first item only, which made "a0" equal "a0.1" and broke
    # transitivity.
    for item in a:
        r = _cmp_null(item)
        if r:
            return r
    return 0


_KIND = {int: 2, tuple: 1, str: 0}


def _cmp(a: Item, b: Item) -> int:
    ka, kb = _KIND[type(a)], _KIND[type(b)]
    if ka != kb:
        return 1 if ka > kb else -1
    if isinstance(a, tuple):
        assert isinstance(b, tuple)
        for i in range(max(len(a), len(b))):
            if i >= len(a):
                r = -_cmp_null(b[i])
            elif i >= len(b):
                r = _cmp_null(a[i])
            else:
                r = _cmp(a[i], b[i])
            if r:
                return r
        return 0
    return (a > b) - (a < b)  # type: ignore[operator]


def _parse(version: str) -> tuple[Item, ...]:
    v = version.lower()
    root: list[Item] = []
    stack: list[list[Item]] = [root]
    cur = root
    parents: dict[int, tuple[list[Item], int]] = {}  # id(sublist) -> (parent, index)
    is_digit = False
    start = 0

    def item(text: str, digit: bool, followed_by_digit: bool = False) -> Item:
        return int(text) if digit else _qualifier(text, followed_by_digit)

    def open_list() -> list[Item]:
        new: list[Item] = []
        parents[id(new)] = (cur, len(cur))
        cur.append(())  # placeholder, replaced by the normalised tuple
        stack.append(new)
        return new

    for i, c in enumerate(v):
        if c in ".-":
            cur.append(0 if i == start else item(v[start:i], is_digit))
            start = i + 1
            if c == "-":
                cur = open_list()
        elif c.isdecimal():
            if not is_digit and i > start:
                cur.append(item(v[start:i], False, followed_by_digit=True))
                start = i
                cur = open_list()
            is_digit = True
        else:
            if is_digit and i > start:
                cur.append(item(v[start:i], True))
                start = i
                cur = open_list()
            is_digit = False
    if len(v) > start:
        cur.append(item(v[start:], is_digit))
    # Normalise innermost lists first, writing each result into its parent's slot.
    while len(stack) > 1:
        lst = stack.pop()
        parent, index = parents[id(lst)]
        parent[index] = _normalize(lst)
    return _normalize(root)


@functools.total_ordering
class MavenKey:
    """Sort key for one Maven version."""

    __slots__ = ("items",)

    def __init__(self, items: tuple[Item, ...]) -> None:
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MavenKey) and _cmp(self.items, other.items) == 0

    def __lt__(self, other: MavenKey) -> bool:
        return _cmp(self.items, other.items) < 0

    def __hash__(self) -> int:
        return hash(self.items)

    def __repr__(self) -> str:
        return f"MavenKey({self.items!r})"


@functools.lru_cache(maxsize=CACHE_SIZE)
def key(v: str) -> MavenKey:
    check_text(NAME, v)
    return MavenKey(_parse(v))


SCHEME = Scheme(name=NAME, key=key, summary="Maven ComparableVersion ordering")
