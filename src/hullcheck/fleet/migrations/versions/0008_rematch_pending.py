"""0008: the distinct entries a delta re-match still has to match, shared by the jobs.

- ``rematch_pending``: each distinct package entry (``packages.entry_hash``) a delta
  names, with one image holding it and its purl, written by the plan in the statement that
  marks the delta's images (one pass over the named package rows). The re-match jobs of
  every worker claim them in batches (PostgreSQL: ``FOR UPDATE SKIP LOCKED``), match them
  and move them to ``rematch_entries`` in one transaction: a worker dying mid-match leaves
  its batch pending for the next claim, and the plan matches nothing itself.

Frozen once released: types are spelled out here, not imported.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "rematch_pending",
        sa.Column("build", sa.Text(), nullable=False),
        sa.Column("entry_hash", sa.Text(), nullable=False),
        sa.Column("image_digest", sa.Text(), nullable=False),
        sa.Column("purl", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("build", "entry_hash", name=op.f("pk_rematch_pending")),
    )


def downgrade() -> None:
    raise NotImplementedError("the fleet store's migrations only go forward")
