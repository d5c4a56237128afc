"""0002: daily counts of open, new and fixed findings by severity (the trend chart).

Backfills today's row per severity from the findings already stored, so a chart drawn
right after the upgrade starts from the truth rather than from zero.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    daily = op.create_table(
        "daily_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("open", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("fixed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "severity", name=op.f("pk_daily_counts")),
    )
    findings = sa.table("findings", sa.column("severity", sa.Text), sa.column("state", sa.Text),
                        sa.column("suppressed", sa.Boolean))
    counts = op.get_bind().execute(
        sa.select(findings.c.severity, sa.func.count())
        .where(findings.c.state == "open", findings.c.suppressed == sa.false())
        .group_by(findings.c.severity)
    ).all()
    today = dt.datetime.now(dt.UTC).date()
    if counts:
        op.bulk_insert(daily, [{"day": today, "severity": severity, "open": n, "new": 0,
                                "fixed": 0} for severity, n in counts])


def downgrade() -> None:
    raise NotImplementedError("the fleet store's migrations only go forward")
