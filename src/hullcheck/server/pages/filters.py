"""Template filters: times, sizes, digests and severity words as the pages write them."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote, urlencode

from hullcheck.report.fleet import SEVERITY_ORDER, RiskReason

SHORT_DIGEST = 12  # hex digits shown of a digest


def when(at: dt.datetime | dt.date | None) -> str:
    if at is None:
        return "—"
    if isinstance(at, dt.datetime):
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return at.isoformat()


def iso(at: dt.datetime | dt.date | None) -> str:
    """Machine-readable time for ``<time datetime=…>``."""
    if at is None:
        return ""
    if isinstance(at, dt.datetime):
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return at.isoformat()


def size(n: int | None) -> str:
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # unreachable: the loop returns at GB


def short(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:SHORT_DIGEST]}" if hexpart else digest[:SHORT_DIGEST + 7]


def path_part(text: str) -> str:
    """Text as one URL path segment (a digest, an advisory id)."""
    return quote(text, safe=":@")


def query(values: dict[str, Any] | None = None, **more: Any) -> str:
    """``?a=1&b=2`` of the non-empty values."""
    items = {**(values or {}), **more}
    pairs = [(k, str(v)) for k, v in items.items() if v not in (None, "", 0)]
    return "?" + urlencode(pairs) if pairs else ""


def severity_class(word: str) -> str:
    return f"sev-{word}" if word in SEVERITY_ORDER else "sev-unknown"


FILTERS = {"when": when, "iso": iso, "size": size, "short": short, "path_part": path_part,
           "sevclass": severity_class}
GLOBALS = {"SEVERITIES": SEVERITY_ORDER, "query": query, "RiskReason": RiskReason}
