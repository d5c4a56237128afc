"""0007: a delta re-match's findings by image and purl.

- ``findings (image_digest, package_purl, advisory_id)``: a range re-match job reads the
  stored findings of the (image, purl) pairs its delta names (to find those it fixes) by
  this index, not every open finding of its images (the unique key has the advisory id
  before the purl, so it cannot serve a purl); with the advisory id last it serves the
  job's lookups by the whole key as well as the unique key does.

Frozen once released: types are spelled out here, not imported.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_findings_image_digest_package_purl_advisory_id"), "findings",
                    ["image_digest", "package_purl", "advisory_id"])


def downgrade() -> None:
    raise NotImplementedError("the fleet store's migrations only go forward")
