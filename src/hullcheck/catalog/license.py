"""Licences as catalogers find them → SPDX expressions where valid, the text otherwise.

One place for the catalogers' licence normalisation (``license-expression``'s SPDX
table): ``spdx("mit")`` is ``"MIT"``, ``normalise("Apache 2.0")`` is ``"Apache-2.0"``
(well-known names, ``licenses.alias``), unknown text is kept as text,
``expression_or_words`` reads the space-separated lists some package managers write.
"""

from __future__ import annotations

from collections.abc import Iterable

from hullcheck import licenses

MAX_TEXT = 1000  # a licence "name" longer than this is licence text: kept, cut to this
MAX_EXPRESSION = 10_000  # never hand the parser more than this


def spdx(text: str) -> str | None:
    """``text`` as a normalised SPDX expression, or None when it is not one."""
    if not text or len(text) > MAX_EXPRESSION or not licenses.only_spdx_ids(text):
        return None
    info = licenses.validate(text)
    return None if info is None or info.errors else str(info.normalized_expression)


def normalise(text: str) -> str | None:
    """One declared licence: its SPDX expression, else the text (whitespace folded, cut to
    ``MAX_TEXT``); None when empty. A single pair of outer parentheses is dropped."""
    folded = " ".join(text.split())
    if not folded:
        return None
    if folded.startswith("(") and folded.endswith(")") and folded.count("(") == 1:
        folded = folded[1:-1].strip()
    return spdx(folded) or licenses.alias(folded) or folded[:MAX_TEXT]


def normalise_all(values: Iterable[object]) -> tuple[str, ...]:
    """Each string of ``values`` normalised; non-strings and empties skipped, order kept,
    duplicates dropped."""
    out: list[str] = []
    for value in values:
        if isinstance(value, str):
            one = normalise(value)
            if one is not None:
                out.append(one)
    return tuple(dict.fromkeys(out))


def expression_or_words(field: str) -> tuple[str, ...]:
    """A whole SPDX expression when ``field`` is one, else each space-separated word
    (apk's ``L:`` field: ``"MIT BSD"`` lists two licences)."""
    text = " ".join(field.split())
    if not text:
        return ()
    whole = spdx(text)
    if whole is not None:
        return (whole,)
    return tuple(dict.fromkeys(spdx(w) or w for w in text.split()))
