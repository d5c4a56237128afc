"""Report types of the monitoring service's pages: what puts an image at risk, and the open
findings over time. Plain values (the store's rows are converted by the server), rendered as
HTML by the pages and as inline SVG by ``report.svg``.

    risk = ImageRisk.of(digest=..., counts={"critical": 2}, kev=1, ...)
    risk.reasons          # (Reason(RiskReason.KEV, 1), ...) worst first, each a sentence
    points = trend(rows, days=30, today=today)   # one TrendPoint per day, gaps carried
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from hullcheck.model import Severity

SEVERITY_ORDER = tuple(s.value for s in Severity)  # malicious, critical, ..., unknown


class RiskReason(StrEnum):
    """Why an image is at risk, worst first (the fleet page's order)."""

    MALICIOUS = "malicious"
    KEV = "kev"
    FIXABLE = "fixable"
    POLICY = "policy"
    BASE_EOL = "base-eol"
    BASE_STALE = "base-stale"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    RiskReason.MALICIOUS: "malicious package",
    RiskReason.KEV: "known exploited (CISA KEV)",
    RiskReason.FIXABLE: "critical/high with a fix",
    RiskReason.POLICY: "policy failing",
    RiskReason.BASE_EOL: "base image end of life",
    RiskReason.BASE_STALE: "base image stale",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    kind: RiskReason
    count: int = 0  # findings behind it; 0 for the image-level reasons

    @property
    def text(self) -> str:
        return f"{self.count} {self.kind.label}" if self.count else self.kind.label


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRisk:
    """One image of the fleet page: where it is, its open findings by severity, and what
    puts it at risk."""

    digest: str
    repository: str
    tags: tuple[str, ...]
    status: str
    counts: Mapping[str, int]
    reasons: tuple[Reason, ...] = ()
    last_scanned: dt.datetime | None = None

    @classmethod
    def of(cls, *, digest: str, repository: str, tags: tuple[str, ...], status: str,
           counts: Mapping[str, int], malicious: int = 0, kev: int = 0, fixable: int = 0,
           policy_failed: bool = False, base_eol: bool = False, base_stale: bool = False,
           last_scanned: dt.datetime | None = None) -> ImageRisk:
        found = [Reason(kind=RiskReason.MALICIOUS, count=malicious) if malicious else None,
                 Reason(kind=RiskReason.KEV, count=kev) if kev else None,
                 Reason(kind=RiskReason.FIXABLE, count=fixable) if fixable else None,
                 Reason(kind=RiskReason.POLICY) if policy_failed else None,
                 Reason(kind=RiskReason.BASE_EOL) if base_eol else None,
                 Reason(kind=RiskReason.BASE_STALE) if base_stale else None]
        return cls(digest=digest, repository=repository, tags=tags, status=status,
                   counts=dict(counts), reasons=tuple(r for r in found if r is not None),
                   last_scanned=last_scanned)

    @property
    def worst(self) -> str:
        """The worst severity with an open finding ("" when none)."""
        return next((s for s in SEVERITY_ORDER if self.counts.get(s)), "")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrendPoint:
    """Open (unsuppressed) findings at the end of one day, by severity word."""

    day: dt.date
    open: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.open.values())


def trend(rows: Iterable[tuple[dt.date, str, int]], *, days: int,
          today: dt.date) -> tuple[TrendPoint, ...]:
    """One point per day of the last ``days`` (today included) from (day, severity, open)
    rows. The store writes a row only on days something changed, so a day without rows
    carries the day before; days before the first row are empty."""
    by_day: dict[dt.date, dict[str, int]] = {}
    for day, severity, n in rows:
        by_day.setdefault(day, {})[severity] = n
    start = today - dt.timedelta(days=days - 1)
    carried: dict[str, int] = {}
    for day in sorted(d for d in by_day if d < start):
        carried.update(by_day[day])
    points = []
    for i in range(days):
        day = start + dt.timedelta(days=i)
        carried = {**carried, **by_day.get(day, {})}
        points.append(TrendPoint(day=day, open={k: v for k, v in carried.items() if v}))
    return tuple(points)
