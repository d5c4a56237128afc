"""RubyGems versions, ordered as ``Gem::Version#<=>``.

Valid: ``[0-9]+(\\.[0-9A-Za-z]+)*(-[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?``; a ``-`` reads as
``.pre.``. Segments are runs of digits (integers) or letters (strings); any letter makes a
pre-release. Trailing zeros of the numeric prefix and of the rest are dropped
(``1.0.a == 1.a``), missing segments are 0, a string sorts before any number and strings
compare by bytes (case-sensitive).
"""

from __future__ import annotations

import functools
import re

from hullcheck.versions.scheme import CACHE_SIZE, InvalidVersion, Scheme, check_text

NAME = "rubygems"
_VALID = re.compile(r"[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")
_SEGMENT = re.compile(r"[0-9]+|[a-zA-Z]+")

# Key elements: the segment after `z` zero segments. Strings (0, z, s) sort before the end of
# the version (1,), which sorts before numbers (2, -z, n): a version that stops where the other
# goes on with zeros and then a string is the greater one; with zeros and a number, the lesser.
_END = (1,)


def _strip_zeros(segs: list[int | str]) -> list[int | str]:
    while segs and segs[-1] == 0:
        segs.pop()
    return segs


@functools.lru_cache(maxsize=CACHE_SIZE)
def key(v: str) -> tuple[tuple[object, ...], ...]:
    check_text(NAME, v)
    if not _VALID.fullmatch(v):
        raise InvalidVersion(NAME, v, "not a Gem::Version")
    segs: list[int | str] = [
        int(s) if s[0].isdigit() else s for s in _SEGMENT.findall(v.replace("-", ".pre."))
    ]
    first_str = next((i for i, s in enumerate(segs) if isinstance(s, str)), len(segs))
    canonical = _strip_zeros(segs[:first_str]) + _strip_zeros(segs[first_str:])
    out: list[tuple[object, ...]] = []
    zeros = 0
    for s in canonical:
        if s == 0:
            zeros += 1
        elif isinstance(s, str):
            out.append((0, zeros, s))
            zeros = 0
        else:
            out.append((2, -zeros, s))
            zeros = 0
    out.append(_END)  # trailing zeros cannot remain: both parts were stripped
    return tuple(out)


SCHEME = Scheme(name=NAME, key=key, summary="RubyGems: Gem::Version segments")
