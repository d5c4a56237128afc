"""Each image's risk summary (revision 0004): its open, unsuppressed findings by severity,
in CISA's KEV and critical or high with a fix; whether its policy fails and its base is
stale or past its end of life; and the rank key the fleet page sorts images at risk by.

The fleet page reads one page of ``image_summary`` by its ``(risk_rank, image_digest)``
index instead of ranking every image on each request. It is never stale: every write that
changes an input refreshes the image's row in the same transaction (``scans.record_scan``,
``apply_rematch`` when it changed something, ``set_assessment``; ``record_pending`` adds a
zero row), and a removed image's row goes with it (``ON DELETE CASCADE``). ``compute``
derives the same rows from scratch: the consistency tests compare the two.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from hullcheck.fleet import schema as t
from hullcheck.fleet.model import FindingState
from hullcheck.fleet.sql import chunks

SEVERITIES = ("malicious", "critical", "high", "medium", "low", "negligible", "unknown")
# What puts an image at risk, worst first: each is one bit of the rank key, so comparing
# keys compares these in order (as the tuple of booleans the page ranked by before 0004).
MALICIOUS, KEV, FIXABLE, POLICY, BASE = 16, 8, 4, 2, 1
_COUNT_BITS = 21
CAP = (1 << _COUNT_BITS) - 1  # critical or high counts above this rank as this many

s_ = t.image_summary.c
f_ = t.findings.c
i_ = t.images.c


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """One image's row of ``image_summary``."""

    counts: dict[str, int] = field(default_factory=dict)  # by severity word, no zeros
    kev: int = 0
    fixable: int = 0  # critical or high with a fixed version
    policy_failed: bool = False
    base_stale: bool = False
    base_eol: bool = False

    @property
    def reasons(self) -> int:
        """The bits of what puts the image at risk (0: not at risk)."""
        return ((MALICIOUS if self.counts.get("malicious") else 0) | (KEV if self.kev else 0)
                | (FIXABLE if self.fixable else 0) | (POLICY if self.policy_failed else 0)
                | (BASE if self.base_stale or self.base_eol else 0))

    @property
    def rank(self) -> int | None:
        """The sort key of an image at risk (None when not at risk), smallest worst: its
        reasons, then more critical, then more high findings; the digest breaks ties."""
        reasons = self.reasons
        if not reasons:
            return None
        critical = min(self.counts.get("critical", 0), CAP)
        high = min(self.counts.get("high", 0), CAP)
        return ((31 - reasons) << 2 * _COUNT_BITS | (CAP - critical) << _COUNT_BITS
                | (CAP - high))

    def row(self, digest: str) -> dict[str, Any]:
        return {"image_digest": digest, **{w: self.counts.get(w, 0) for w in SEVERITIES},
                "kev": self.kev, "fixable": self.fixable, "policy_failed": self.policy_failed,
                "base_stale": self.base_stale, "base_eol": self.base_eol,
                "risk_rank": self.rank}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def image_flags(base: Any, policy: Any) -> tuple[bool, bool, bool]:
    """(policy failing, base behind its tag, base past its end of life) from the stored
    JSON, read field by field: a value of another shape counts as absent."""
    return (_dict(policy).get("outcome") == "fail",
            _dict(_dict(base).get("freshness")).get("upToDate") is False,
            _dict(_dict(base).get("eol")).get("state") == "end-of-life")


def _counts(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """Per image with open, unsuppressed findings (of those ``where`` names): counts by
    severity, in KEV, critical or high with a fix."""
    def n(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        # untyped: plain ints as the driver gives them, no result processing per cell
        return sa.type_coerce(sa.func.sum(sa.case((cond, 1), else_=0)), sa.types.NullType())

    return (sa.select(f_.image_digest, *[n(f_.severity == w) for w in SEVERITIES],
                      n(f_.kev.is_(True)),
                      n(sa.and_(f_.severity.in_(("critical", "high")), f_.status == "fixed")))
            .where(f_.state == FindingState.OPEN, f_.suppressed == sa.false(), *where)
            .group_by(f_.image_digest))


def _summaries(counted: Iterable[Any], images: Iterable[Any]) -> dict[str, Summary]:
    """Summaries from rows of ``_counts`` and rows (digest, base, policy) of the images."""
    found: dict[str, tuple[dict[str, int], int, int]] = {}
    for digest, *values in counted:
        counts = {w: int(v) for w, v in zip(SEVERITIES, values, strict=False) if v}
        found[digest] = (counts, int(values[-2]), int(values[-1]))
    out = {}
    for digest, base, policy in images:
        counts, kev, fixable = found.get(digest, ({}, 0, 0))
        p, stale, eol = image_flags(base, policy)
        out[digest] = Summary(counts=counts, kev=kev, fixable=fixable, policy_failed=p,
                              base_stale=stale, base_eol=eol)
    return out


def compute(conn: Connection, digests: Collection[str] | None = None) -> dict[str, Summary]:
    """The summaries of ``digests`` (None: every image), derived from the findings and the
    images' stored JSON: what ``image_summary`` must hold."""
    images = sa.select(i_.digest, i_.base, i_.policy)
    if digests is None:
        return _summaries(conn.execute(_counts()), conn.execute(images))
    return _summaries(conn.execute(_counts(f_.image_digest.in_(digests))),
                      conn.execute(images.where(i_.digest.in_(digests))))


@functools.cache
def _statements(dialect: str) -> tuple[Any, Any, Any, Any]:
    """The statements of a refresh, built once per dialect (building Core statements costs
    more than running these): one image's counts, its JSON, the upsert of its row; and the
    insert of a new image's row."""
    digest = sa.bindparam("digest", type_=t.Text())
    table = t.image_summary
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    upsert = insert.on_conflict_do_update(
        index_elements=["image_digest"],
        set_={c.name: insert.excluded[c.name] for c in table.c if c.name != "image_digest"})
    return (_counts(f_.image_digest == digest),
            sa.select(i_.digest, i_.base, i_.policy).where(i_.digest == digest), upsert,
            insert.on_conflict_do_nothing(index_elements=["image_digest"]))


def refresh(conn: Connection, digest: str) -> None:
    """Recompute the image's row in the caller's transaction: its findings by the
    ``findings(image_digest, ...)`` index, the cost of one image, not of the fleet."""
    counted, image, upsert, _ = _statements(conn.dialect.name)
    found = _summaries(conn.execute(counted, {"digest": digest}),
                       conn.execute(image, {"digest": digest}))
    if digest in found:  # else the image is gone, and its row with it
        conn.execute(upsert, found[digest].row(digest))


def refresh_many(conn: Connection, digests: Collection[str]) -> None:
    """``refresh`` of many images, a few statements per thousand (bulk loads, re-matches)."""
    upsert = _statements(conn.dialect.name)[2]
    for batch in chunks(sorted(set(digests))):
        found = compute(conn, batch)
        if found:
            conn.execute(upsert, [found[d].row(d) for d in batch if d in found])


def add(conn: Connection, digest: str) -> None:
    """A new image's row, all zero (an image already summarised keeps its row)."""
    conn.execute(_statements(conn.dialect.name)[3], Summary().row(digest))


def rebuild(conn: Connection) -> int:
    """Every row again from scratch (after loading rows by hand, as the bench does); the
    number of images."""
    conn.execute(t.image_summary.delete())
    rows = [summary.row(d) for d, summary in compute(conn).items()]
    for batch in chunks(rows):
        conn.execute(t.image_summary.insert(), batch)
    return len(rows)


def stored(conn: Connection) -> dict[str, dict[str, Any]]:
    """The rows as ``image_summary`` holds them, as ``Summary.row`` writes them (the
    consistency tests' other side)."""
    return {r["image_digest"]: dict(r) for r in conn.execute(sa.select(t.image_summary))
            .mappings()}


def of_row(r: Any) -> Summary:
    """A ``Summary`` from a row (a mapping) of ``image_summary``."""
    return Summary(counts={w: int(r[w]) for w in SEVERITIES if r[w]}, kev=int(r["kev"]),
                   fixable=int(r["fixable"]), policy_failed=bool(r["policy_failed"]),
                   base_stale=bool(r["base_stale"]), base_eol=bool(r["base_eol"]))
