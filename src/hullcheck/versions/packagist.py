"""Composer (Packagist) versions, ordered as PHP's ``version_compare`` (what Composer's
constraints use for concrete versions), after dropping a leading ``v``/``V``.

The version is canonicalised as PHP does (``-``, ``_`` and ``+`` become ``.``, a ``.`` is
inserted where digits and letters meet) and split on dots. Numbers compare numerically; words
by their stability: any other word < ``dev`` < ``alpha``/``a`` < ``beta``/``b`` < ``RC``/``rc``
< (a number) < ``pl``/``p`` (PHP matches words by prefix: ``patch`` counts as ``p``). When one
version has more parts, a further number makes it greater and a further word is compared with
the number position (``1.0 < 1.0.0``, ``1.0-beta < 1.0 < 1.0-patch1``).

Refused: empty versions and characters other than ``[A-Za-z0-9.+_-]``. In particular PHP's
``#`` (which equals *every* number, so no total order exists with it) is refused.
"""

from __future__ import annotations

import functools
import re

from hullcheck.versions.scheme import CACHE_SIZE, InvalidVersion, Scheme, check_text

NAME = "packagist"
_VALID = re.compile(r"[A-Za-z0-9.+_-]+")
_PARTS = re.compile(r"[0-9]+|[A-Za-z]+")
# PHP's special forms in lookup order; a word matches the first name it starts with.
_FORMS = (
    ("dev", 0), ("alpha", 1), ("a", 1), ("beta", 2), ("b", 2),
    ("RC", 3), ("rc", 3), ("pl", 5), ("p", 5),
)  # fmt: skip
_NUMBER = 4  # a number compared with a word counts as PHP's "#", order 4
_END = (_NUMBER, -1)  # running out: below any number, between rc and pl


def _word_order(word: str) -> int:
    for name, order in _FORMS:
        if word.startswith(name):
            return order
    return -1


@functools.lru_cache(maxsize=CACHE_SIZE)
def key(v: str) -> tuple[tuple[int, int], ...]:
    check_text(NAME, v)
    body = v[1:] if v[0] in "vV" else v
    if not body or not _VALID.fullmatch(body):
        raise InvalidVersion(NAME, v, "only letters, digits and . + _ - are allowed")
    out = [
        (_NUMBER, int(p)) if p[0].isdigit() else (_word_order(p), 0) for p in _PARTS.findall(body)
    ]
    if not out:
        raise InvalidVersion(NAME, v, "no version parts")
    out.append(_END)
    return tuple(out)


SCHEME = Scheme(name=NAME, key=key, summary="Packagist: PHP version_compare ordering")
