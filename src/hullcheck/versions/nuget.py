"""NuGet versions, ordered as ``NuGet.Versioning.VersionComparer.Default`` orders them.

``N[.N[.N[.N]]][-LABEL[.LABEL]...][+METADATA]``: one to four numeric parts (missing parts are
0, leading zeros allowed, each at most 2**31-1 as in .NET's ``int``), SemVer 2 pre-release
labels of ``[0-9A-Za-z-]`` compared case-insensitively (numeric labels numerically and before
alphanumeric ones), metadata ignored. A leading ``v`` is refused, as NuGet refuses it.
"""

from __future__ import annotations

import functools
import re

from hullcheck.versions.scheme import CACHE_SIZE, InvalidVersion, Scheme, check_text
from hullcheck.versions.semver import RELEASE, prerelease_key

NAME = "nuget"
_INT_MAX = 2**31 - 1
_ID = r"[0-9A-Za-z-]+"
_FULL = re.compile(
    rf"([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:\.([0-9]+))?"
    rf"(?:-({_ID}(?:\.{_ID})*))?(?:\+({_ID}(?:\.{_ID})*))?"
)


@functools.lru_cache(maxsize=CACHE_SIZE)
def key(v: str) -> tuple[int, int, int, int, tuple[object, ...]]:
    check_text(NAME, v)
    m = _FULL.fullmatch(v)
    if m is None:
        raise InvalidVersion(NAME, v, "not N[.N[.N[.N]]][-LABEL...][+METADATA]")
    a, b, c, d = (int(g) if g else 0 for g in m.group(1, 2, 3, 4))
    if max(a, b, c, d) > _INT_MAX:
        raise InvalidVersion(NAME, v, "version part larger than 2**31-1")
    pre = m.group(5)
    return (a, b, c, d, prerelease_key(pre.split("."), fold=True) if pre else RELEASE)


SCHEME = Scheme(name=NAME, key=key, summary="NuGet: 4-part SemVer 2, case-insensitive labels")
