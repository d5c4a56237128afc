"""Go module versions, as ``golang.org/x/mod/semver`` orders them.

``vMAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``; ``vMAJOR`` and ``vMAJOR.MINOR`` are shorthands
for ``.0``. The ``v`` is optional here because OSV's Go ranges omit it (``1.2.3``, ``0``).
Numbers have no leading zeros and no size limit. Build metadata, including ``+incompatible``,
is ignored. Pseudo-versions (``v0.0.0-20191109021931-daa7c04131f5``,
``v1.2.4-0.20191109021931-daa7c04131f5``) are ordinary pre-releases and sort as such.
"""

from __future__ import annotations

import functools
import re

from hullcheck.versions.scheme import CACHE_SIZE, InvalidVersion, Scheme, check_text
from hullcheck.versions.semver import RELEASE, prerelease_key

NAME = "go"
_NUM = r"0|[1-9][0-9]*"
_PRE_ID = rf"(?:{_NUM}|[0-9]*[A-Za-z-][A-Za-z0-9-]*)"
_FULL = re.compile(
    rf"v?({_NUM})(?:\.({_NUM})(?:\.({_NUM})"
    rf"(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?)?)?"
)


@functools.lru_cache(maxsize=CACHE_SIZE)
def key(v: str) -> tuple[int, int, int, tuple[object, ...]]:
    check_text(NAME, v)
    m = _FULL.fullmatch(v)
    if m is None:
        raise InvalidVersion(NAME, v, "not a Go module version (vMAJOR.MINOR.PATCH[-PRE][+BUILD])")
    major, minor, patch, pre = m.group(1), m.group(2), m.group(3), m.group(4)
    return (
        int(major),
        int(minor or 0),
        int(patch or 0),
        prerelease_key(pre.split(".")) if pre else RELEASE,
    )


SCHEME = Scheme(name=NAME, key=key, summary="Go modules: semver, +incompatible, pseudo-versions")
