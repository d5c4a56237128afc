"""0003: what the web pages need: browser sessions, waivers, and indexes for the fleet page.

- ``sessions``: a signed-in browser. The cookie holds a random session id; the store keeps
  its SHA-256 (as for tokens), the token it acts as, and when it ends. Revoking the token
  or logging out ends it; ``ON DELETE CASCADE`` removes it with its token.
- ``triage.expires`` and the action ``waive``: a waiver accepts a finding's risk until a
  date, after which the finding counts again.
- ``finding_history(at, change)``: what changed in the last day or week, counted from the
  index alone.
- ``findings(state, suppressed, image_digest, severity, kev, status)``: the fleet's open
  findings per image (by severity, in KEV, with a fix) read from the index alone, in image
  order: the fleet page ranks images at risk from it.

Frozen once released: types are spelled out here, not imported.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id_sha256", sa.Text(), nullable=False),
        sa.Column("token_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["token_id"], ["tokens.id"], ondelete="CASCADE",
                                name=op.f("fk_sessions_token_id_tokens")),
        sa.PrimaryKeyConstraint("id_sha256", name=op.f("pk_sessions")),
    )
    op.create_index(op.f("ix_sessions_expires_at"), "sessions", ["expires_at"])
    op.create_index(op.f("ix_sessions_token_id"), "sessions", ["token_id"])
    # SQLite cannot alter a CHECK constraint: batch mode copies the table there (it is small);
    # PostgreSQL alters it in place ("auto": a copy would restart the id sequence at 1).
    with op.batch_alter_table("triage", recreate="auto") as batch:
        batch.add_column(sa.Column("expires", sa.Date(), nullable=True))
        batch.drop_constraint(op.f("ck_triage_action"), type_="check")
        batch.create_check_constraint(
            op.f("ck_triage_action"), "action IN ('acknowledge', 'assign', 'vex', 'waive')")
    op.create_index(op.f("ix_finding_history_at_change"), "finding_history", ["at", "change"])
    op.create_index(op.f("ix_findings_state_suppressed_image_digest_severity_kev_status"),
                    "findings", ["state", "suppressed", "image_digest", "severity", "kev",
                                 "status"])


def downgrade() -> None:
    raise NotImplementedError("the fleet store's migrations only go forward")
