"""RPM versions: ``[epoch:]version[-release]`` compared with rpmvercmp.

Following rpm (``rpmverParse``/``rpmverCmp``/``rpmvercmp``): an epoch is the leading digits
before a ``:`` (otherwise the colon is part of the version) and defaults to 0; the release is
what follows the last ``-``. Each field is split into alphabetic and numeric segments (ASCII
only; every other character separates). Numeric segments compare as integers and beat
alphabetic ones; ``~`` sorts before everything including the end, ``^`` after the end but
before any segment. Unlike ``rpmverCmp`` for dependency ranges, a missing release is *not*
ignored: it sorts before any release (``1.0 < 1.0-0 ``), so that keys are a total order.
"""

from __future__ import annotations

import functools
import re

from hullcheck.versions.scheme import CACHE_SIZE, Scheme, check_text

NAME = "rpm"
_TOKENS = re.compile(r"(~)|(\^)|([0-9]+)|([A-Za-z]+)")

_TILDE = (0,)
_END = (1,)
_CARET = (2,)
# alphabetic segment -> (3, text); numeric -> (4, value)

Field = tuple[tuple[object, ...], ...]
Key = tuple[int, Field, tuple[object, ...]]


def vercmp_key(s: str) -> Field:
    """The rpmvercmp order of one field as a tuple; ``vercmp(a, b)`` == cmp of these keys."""
    out: list[tuple[object, ...]] = []
    for m in _TOKENS.finditer(s):
        if m.group(1):
            out.append(_TILDE)
        elif m.group(2):
            out.append(_CARET)
        elif m.group(3):
            out.append((4, int(m.group(3))))
        else:
            out.append((3, m.group(4)))
    out.append(_END)
    return tuple(out)


@functools.lru_cache(maxsize=CACHE_SIZE)
def key(v: str) -> Key:
    check_text(NAME, v)
    i = 0
    while i < len(v) and "0" <= v[i] <= "9":
        i += 1
    epoch = 0
    rest = v
    if i < len(v) and v[i] == ":":
        epoch = int(v[:i]) if i else 0
        rest = v[i + 1 :]
    version, dash, release = rest.rpartition("-")
    if not dash:
        return (epoch, vercmp_key(rest), (0,))
    return (epoch, vercmp_key(version), (1, vercmp_key(release)))


SCHEME = Scheme(name=NAME, key=key, summary="RPM: epoch:version-release, rpmvercmp with ~ and ^")
