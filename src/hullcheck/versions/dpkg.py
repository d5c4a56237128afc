"""Debian package versions: ``[epoch:]upstream[-revision]`` (Policy 5.6.12, verrevcmp).

Upstream and revision are compared as alternating runs of non-digits and digits. Non-digit
runs compare character by character with ``~`` before the end of the run, the end before
letters, letters before everything else; digit runs compare as integers. A missing revision
equals ``0``. Validation follows dpkg's ``parseversion``: an epoch is a non-negative integer,
upstream starts with a digit and holds only ``[A-Za-z0-9.+~-:]``, the revision only
``[A-Za-z0-9.+~]`` and is not empty when a ``-`` is present.
"""

from __future__ import annotations

import functools
import re

from hullcheck.versions.scheme import CACHE_SIZE, InvalidVersion, Scheme, check_text

NAME = "dpkg"
_EPOCH_MAX = 2**31 - 1
_UPSTREAM_OK = re.compile(r"[A-Za-z0-9.+~:-]*")
_REVISION_OK = re.compile(r"[A-Za-z0-9.+~]*")
_RUNS = re.compile(r"([^0-9]*)([0-9]*)")

Part = tuple[tuple[tuple[int, ...], int], ...]
Key = tuple[int, Part, Part]


def _weight(c: str) -> int:
    if c == "~":
        return -1
    if c.isascii() and c.isalpha():
        return ord(c)
    return ord(c) + 256


# The end of a string compares like a non-digit run "" followed by the number 0.
_END = ((0,), 0)


def _part(s: str) -> Part:
    pairs = []
    for m in _RUNS.finditer(s):
        text, digits = m.group(1), m.group(2)
        if not text and not digits:
            continue
        pairs.append(((*(_weight(c) for c in text), 0), int(digits) if digits else 0))
    # Trailing pairs equal to the padding carry no information; one sentinel ends the part.
    while pairs and pairs[-1] == _END:
        pairs.pop()
    pairs.append(_END)
    return tuple(pairs)


@functools.lru_cache(maxsize=CACHE_SIZE)
def key(v: str) -> Key:
    check_text(NAME, v)
    epoch = 0
    rest = v
    if ":" in v:
        head, rest = v.split(":", 1)
        if not head:
            raise InvalidVersion(NAME, v, "epoch is empty")
        if not head.isascii() or not head.isdigit():
            raise InvalidVersion(NAME, v, "epoch is not a number")
        epoch = int(head)
        if epoch > _EPOCH_MAX:
            raise InvalidVersion(NAME, v, "epoch is too big")
        if not rest:
            raise InvalidVersion(NAME, v, "nothing after the colon")
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    elif not revision:
        raise InvalidVersion(NAME, v, "revision is empty")
    if not upstream:
        raise InvalidVersion(NAME, v, "upstream version is empty")
    if not ("0" <= upstream[0] <= "9"):
        raise InvalidVersion(NAME, v, "upstream version does not start with a digit")
    if not _UPSTREAM_OK.fullmatch(upstream):
        raise InvalidVersion(NAME, v, "invalid character in upstream version")
    if not _REVISION_OK.fullmatch(revision):
        raise InvalidVersion(NAME, v, "invalid character in revision")
    return (epoch, _part(upstream), _part(revision))


SCHEME = Scheme(name=NAME, key=key, summary="Debian dpkg: epoch, upstream, revision, ~")
