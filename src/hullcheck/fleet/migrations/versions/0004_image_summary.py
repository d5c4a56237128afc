"""0004: each image's risk summary, so the fleet page reads a page, not the fleet.

``image_summary`` holds one row per image: its open, unsuppressed findings by severity, in
KEV, critical or high with a fix; policy failing, base stale, base end of life (from the
images' JSON); and ``risk_rank``, the sort key of an image at risk (NULL when it is not),
indexed with the digest. The store refreshes a row in the transaction of every write that
changes its inputs (``fleet/summary.py``); this revision backfills it from the rows there.

Frozen once released: types are spelled out, and the backfill's rules are written here, not
imported (the rank key: the reasons as bits, malicious 16, KEV 8, fixable 4, policy 2,
base 1; then critical and high counts, each capped at 2**21 - 1).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

SEVERITIES = ("malicious", "critical", "high", "medium", "low", "negligible", "unknown")
BITS = 21
CAP = (1 << BITS) - 1
BATCH = 1000


def upgrade() -> None:
    summary = op.create_table(
        "image_summary",
        sa.Column("image_digest", sa.Text(), nullable=False),
        *[sa.Column(word, sa.Integer(), nullable=False)
          for word in (*SEVERITIES, "kev", "fixable")],
        sa.Column("policy_failed", sa.Boolean(), nullable=False),
        sa.Column("base_stale", sa.Boolean(), nullable=False),
        sa.Column("base_eol", sa.Boolean(), nullable=False),
        sa.Column("risk_rank", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["image_digest"], ["images.digest"], ondelete="CASCADE",
                                name=op.f("fk_image_summary_image_digest_images")),
        sa.PrimaryKeyConstraint("image_digest", name=op.f("pk_image_summary")),
    )
    op.create_index(op.f("ix_image_summary_risk_rank_image_digest"), "image_summary",
                    ["risk_rank", "image_digest"])
    _backfill(op.get_bind(), summary)


def _backfill(conn: sa.Connection, summary: sa.Table) -> None:
    """One row per image already stored: the findings counted in one pass over 0003's
    covering index, the images' JSON read in Python (the same on both backends)."""
    f = sa.table("findings", sa.column("image_digest", sa.Text), sa.column("severity", sa.Text),
                 sa.column("kev", sa.Boolean), sa.column("status", sa.Text),
                 sa.column("state", sa.Text), sa.column("suppressed", sa.Boolean)).c
    images = sa.table("images", sa.column("digest", sa.Text), sa.column("base", sa.JSON),
                      sa.column("policy", sa.JSON))

    def n(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        return sa.func.sum(sa.case((cond, 1), else_=0))

    counts = {digest: [int(v or 0) for v in values] for digest, *values in conn.execute(
        sa.select(f.image_digest, *[n(f.severity == w) for w in SEVERITIES], n(f.kev.is_(True)),
                  n(sa.and_(f.severity.in_(("critical", "high")), f.status == "fixed")))
        .where(f.state == "open", f.suppressed == sa.false()).group_by(f.image_digest))}
    rows = []
    for digest, base, policy in conn.execute(
            sa.select(images.c.digest, images.c.base, images.c.policy)):
        rows.append(_row(digest, counts.get(digest, [0] * (len(SEVERITIES) + 2)), base, policy))
        if len(rows) >= BATCH:
            conn.execute(summary.insert(), rows)
            rows = []
    if rows:
        conn.execute(summary.insert(), rows)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _row(digest: str, values: list[int], base: Any, policy: Any) -> dict[str, Any]:
    by = dict(zip(SEVERITIES, values, strict=False))
    kev, fixable = values[-2], values[-1]
    failed = _dict(policy).get("outcome") == "fail"
    stale = _dict(_dict(base).get("freshness")).get("upToDate") is False
    eol = _dict(_dict(base).get("eol")).get("state") == "end-of-life"
    reasons = ((16 if by["malicious"] else 0) | (8 if kev else 0) | (4 if fixable else 0)
               | (2 if failed else 0) | (1 if stale or eol else 0))
    rank = None if not reasons else (
        (31 - reasons) << 2 * BITS | (CAP - min(by["critical"], CAP)) << BITS
        | (CAP - min(by["high"], CAP)))
    return {"image_digest": digest, **by, "kev": kev, "fixable": fixable,
            "policy_failed": failed, "base_stale": stale, "base_eol": eol, "risk_rank": rank}


def downgrade() -> None:
    raise NotImplementedError("the fleet store's migrations only go forward")
