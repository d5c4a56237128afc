"""npm / crates.io versions, with node-semver's strict parsing and ordering (SemVer 2.0.0).

Decisions (node-semver ``new SemVer(v)`` without ``loose``):
- accepted: ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`` with an optional leading ``v``;
- refused: partial or extended forms (``1.2``, ``1``, ``1.2.3.4``), leading zeros in numbers
  and in numeric pre-release identifiers, ``=``-prefixes and surrounding spaces (those are
  ``loose``/range syntax, not versions), numbers above 2**53-1 and strings over 256 chars.
Build metadata is ignored for ordering (``1.0.0+a == 1.0.0+b``), as ``semver.compare`` does.
A pre-release sorts before its release; identifiers compare numerically when both are numeric,
numeric before alphanumeric, alphanumerics by ASCII order, and a shorter prefix first.
"""

from __future__ import annotations

import functools
import re

from hullcheck.versions.scheme import CACHE_SIZE, InvalidVersion, Scheme, check_text

NAME = "semver"
MAX_LENGTH = 256
MAX_SAFE_INTEGER = 2**53 - 1
_NUM = r"0|[1-9][0-9]*"
_PRE_ID = rf"(?:{_NUM}|[0-9]*[A-Za-z-][A-Za-z0-9-]*)"
_FULL = re.compile(
    rf"v?({_NUM})\.({_NUM})\.({_NUM})"
    rf"(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)

PreKey = tuple[object, ...]
Key = tuple[int, int, int, PreKey]
RELEASE: PreKey = (1,)  # sorts after every (0, identifiers...) pre-release key


def prerelease_key(ids: list[str], *, fold: bool = False) -> PreKey:
    """SemVer 2 pre-release precedence as a tuple (``fold`` compares letters case-insensitively)."""
    out: list[tuple[int, object]] = []
    for ident in ids:
        if ident.isdigit() and ident.isascii():
            out.append((0, int(ident)))
        else:
            out.append((1, ident.upper() if fold else ident))
    return (0, tuple(out))


@functools.lru_cache(maxsize=CACHE_SIZE)
def key(v: str) -> Key:
    check_text(NAME, v)
    if len(v) > MAX_LENGTH:
        raise InvalidVersion(NAME, v[:40] + "...", f"longer than {MAX_LENGTH} characters")
    m = _FULL.fullmatch(v)
    if m is None:
        raise InvalidVersion(
            NAME, v, "not MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (node-semver strict)"
        )
    major, minor, patch = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if max(major, minor, patch) > MAX_SAFE_INTEGER:
        raise InvalidVersion(NAME, v, "number larger than 2**53-1")
    pre = m.group(4)
    return (major, minor, patch, prerelease_key(pre.split(".")) if pre else RELEASE)


SCHEME = Scheme(name=NAME, key=key, summary="SemVer 2, node-semver strict (npm, crates)")
