"""Licence lists over SPDX expressions (``license-expression``).

A package's expression is acceptable when some choice of its ``OR`` branches uses
only acceptable licences: ``MIT OR GPL-3.0-only`` passes a deny list holding
``GPL-3.0-only``; ``MIT AND GPL-3.0-only`` does not. Several expressions on one
package all apply (``AND``). An expression that cannot be parsed cannot be judged:
the caller reports it, never guesses.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from license_expression import ExpressionError

from hullcheck.licenses import licensing as _licensing


def normalise_id(text: str) -> str:
    """The canonical SPDX id for ``text`` (``gpl-3.0`` → ``GPL-3.0-only``); ValueError when
    it is not a known SPDX licence id (``LicenseRef-...`` ids are kept as written)."""
    text = text.strip()
    if text.startswith("LicenseRef-"):
        return text
    try:
        expr = _licensing().parse(text, validate=True)
    except ExpressionError as exc:
        raise ValueError(f"{text!r} is not a known SPDX licence id ({exc})") from None
    key = getattr(expr, "key", None)
    if not isinstance(key, str):
        raise ValueError(f"{text!r} is an expression; list single SPDX licence ids")
    return key


@lru_cache(maxsize=4096)
def parse(expression: str) -> Any:
    """The parsed expression; ValueError when it cannot be read."""
    try:
        expr = _licensing().parse(expression)
    except ExpressionError as exc:
        raise ValueError(f"licence expression {expression!r} cannot be read ({exc})") from None
    if expr is None:
        raise ValueError(f"licence expression {expression!r} is empty")
    return expr


def _keys(sym: Any) -> tuple[str, ...]:
    base = getattr(sym, "license_symbol", None)
    if base is not None:  # "X WITH exception": judged as X, and as the whole
        return (str(getattr(base, "key", base)), str(sym))
    return (str(getattr(sym, "key", sym)),)


def satisfiable(expr: Any, ok: Callable[[tuple[str, ...]], bool]) -> bool:
    """Whether ``expr`` can be met using only licences for which ``ok(keys)`` holds; the
    keys of a licence are its SPDX id (and, for ``X WITH exception``, the whole)."""
    from license_expression import AND, OR

    if isinstance(expr, AND):
        return all(satisfiable(a, ok) for a in expr.args)
    if isinstance(expr, OR):
        return any(satisfiable(a, ok) for a in expr.args)
    return ok(_keys(expr))

