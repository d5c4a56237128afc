"""0006: exact grouping of a delta re-match, and the matches it shares between workers.

- ``packages.entry_hash``: the SHA-256 of everything in the package's SBOM entry its
  findings depend on (the whole entry, the distro, its layer, whether a Go standard library
  shares its path: ``monitor.convert.package_rows``). Images holding the same entry hash get
  the same findings for it, exactly. Rows stored before this revision keep NULL: "match
  this image on its own, from its SBOM" (correct, only slower), until it is scanned again.
- ``rematch_entries`` / ``rematch_findings``: the finding rows of each distinct entry a
  delta re-match visits, matched once per advisory build (by the planning step, or by a job
  meeting one not matched yet), so the re-match jobs of every worker only diff in SQL.
  ``rank`` orders an entry's findings as the matcher does (worst first); ``names`` are the
  upper-cased names each finding answers to (``finding_names``).

Frozen once released: types are spelled out here, not imported.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("packages", sa.Column("entry_hash", sa.Text(), nullable=True))
    op.create_table(
        "rematch_entries",
        sa.Column("build", sa.Text(), nullable=False),
        sa.Column("entry_hash", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("build", "entry_hash", name=op.f("pk_rematch_entries")),
    )
    op.create_table(
        "rematch_findings",
        sa.Column("build", sa.Text(), nullable=False),
        sa.Column("entry_hash", sa.Text(), nullable=False),
        sa.Column("advisory_id", sa.Text(), nullable=False),
        sa.Column("package_purl", sa.Text(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("cvss", sa.Float(), nullable=True),
        sa.Column("kev", sa.Boolean(), nullable=False),
        sa.Column("fixed_versions", sa.JSON(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.Column("suppressed_reason", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("build", "entry_hash", "advisory_id", "package_purl",
                                name=op.f("pk_rematch_findings")),
    )


def downgrade() -> None:
    raise NotImplementedError("the fleet store's migrations only go forward")
