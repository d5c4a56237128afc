"""0005: the layer cache shared by the service's workers (PostgreSQL mode).

- ``layer_cache``: one row per cache entry, keyed by the layer's blob digest and the
  entry's variant (the SHA-256 of the rest of its key: what was looked for and the hullcheck
  version, so a new version's entries sit beside the old ones until those age out). The
  payload is the whole entry as ``hullcheck.layercache`` writes it (magic, header, data) and
  is checked the same way when read; ``size`` and ``last_used`` drive the least recently
  used eviction (``fleet.layers``).

Frozen once released: types are spelled out here, not imported.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "layer_cache",
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("variant", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("last_used", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", "variant", name=op.f("pk_layer_cache")),
    )
    op.create_index(op.f("ix_layer_cache_last_used"), "layer_cache", ["last_used"])


def downgrade() -> None:
    raise NotImplementedError("the fleet store's migrations only go forward")
