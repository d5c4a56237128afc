"""Python package versions (PEP 440), delegated to ``packaging.version``.

Legacy (non-PEP 440) versions such as ``0.1-bulbasaur`` are refused, as modern pip refuses
them. The key is the ``packaging.version.Version`` itself: hashable and totally ordered, with
``1.0 == 1.0.0`` and local versions after their public version.
"""

from __future__ import annotations

import functools

from packaging.version import InvalidVersion as _PackagingInvalid
from packaging.version import Version

from hullcheck.versions.scheme import CACHE_SIZE, InvalidVersion, Scheme, check_text

NAME = "pep440"


@functools.lru_cache(maxsize=CACHE_SIZE)
def key(v: str) -> Version:
    check_text(NAME, v)
    try:
        return Version(v)
    except _PackagingInvalid:
        raise InvalidVersion(NAME, v, "not a PEP 440 version") from None


SCHEME = Scheme(name=NAME, key=key, summary="PyPI: PEP 440 via packaging.version")
