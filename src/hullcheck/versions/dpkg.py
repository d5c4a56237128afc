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

Part = tuple[tuple[int, ...], ...]
Key = tuple[int, Part, Part]


def _weight(c: str) -> int:
    if c == "~":
        return -1
    if c.isascii() and c.isalpha():
        return ord(c)
    return ord(c) + 256


@functools.lru_cache(maxsize=4096)
def _run(text: str) -> tuple[int, ...]:
    """Weights of a non-digit run and its end (0); runs like ``.`` and ``+deb`` repeat a lot."""
    return (*(_weight(c) for c in text), 0)


_END = (1,)


def _part(s: str) -> Part:
    """verrevcmp as a tuple.

    Written out as integers (each non-digit run's weights, 0 for its end, then the digit run's
    value), verrevcmp compares two strings as sequences padded with zeros forever. A zero may
    be followed by a negative weight (``~``), so plain tuple order would be wrong at the end;
    instead each non-zero entry is keyed with the count of zeros before it: negatives
    ``(0, zeros, x)`` < end ``(1,)`` < positives ``(2, -zeros, x)``.
    """
    flat: list[int] = []
    for m in _RUNS.finditer(s):
        text, digits = m.group(1), m.group(2)
        if not text and not digits:
            continue
        flat.extend(_run(text))
        flat.append(int(digits) if digits else 0)
    out: list[tuple[int, ...]] = []
    zeros = 0
    for x in flat:
        if x == 0:
            zeros += 1
        else:
            out.append((0, zeros, x) if x < 0 else (2, -zeros, x))
            zeros = 0
    out.append(_END)
    return tuple(out)


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
