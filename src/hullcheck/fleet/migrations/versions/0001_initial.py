"""0001: the initial fleet store.

Images (one row per manifest digest) with their SBOM, layers, tags over time and owners;
packages indexed for search and delta re-matching; findings with names and history;
deployments; triage decisions; the audit log; API tokens; the events outbox and its
deliveries; the SQLite job queue; advisory builds matched. docs/fleet.md explains them.

Frozen: a released revision is never edited (types are spelled out here, not imported).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# (table, columns...): named ix_<table>_<columns> like schema.py's naming convention.
INDEXES = (
    ('advisory_builds', 'matched_at'),
    ('audit_log', 'at'),
    ('audit_log', 'target'),
    ('deployments', 'cluster'),
    ('deployments', 'image_digest'),
    ('events', 'created_at'),
    ('events', 'image_digest'),
    ('images', 'repository'),
    ('jobs', 'status', 'run_after'),
    ('deliveries', 'status', 'next_attempt_at'),
    ('findings', 'advisory_id'),
    ('findings', 'image_digest', 'state', 'severity'),
    ('layers', 'diff_id'),
    ('owners', 'owner'),
    ('packages', 'name_key', 'ecosystem'),
    ('packages', 'source_key', 'ecosystem'),
    ('packages', 'image_digest'),
    ('packages', 'purl_base'),
    ('tags', 'image_digest'),
    ('finding_history', 'finding_id'),
    ('finding_names', 'name'),
)


def TIME() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('advisory_builds',
        sa.Column('build_id', sa.Text(), nullable=False),
        sa.Column('built_at', TIME(), nullable=True),
        sa.Column('matched_at', TIME(), nullable=False),
        sa.PrimaryKeyConstraint('build_id', name=op.f('pk_advisory_builds'))
    )
    op.create_table('audit_log',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('at', TIME(), nullable=False),
        sa.Column('actor', sa.Text(), nullable=False),
        sa.Column('action', sa.Text(), nullable=False),
        sa.Column('target', sa.Text(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
        sqlite_autoincrement=True
    )
    op.create_table('deployments',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('cluster', sa.Text(), nullable=False),
        sa.Column('namespace', sa.Text(), nullable=False),
        sa.Column('workload', sa.Text(), nullable=False),
        sa.Column('container', sa.Text(), nullable=False),
        sa.Column('image_digest', sa.Text(), nullable=False),
        sa.Column('reported_at', TIME(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_deployments'))
    )
    op.create_table('events',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('uid', sa.Text(), nullable=False),
        sa.Column('type', sa.Text(), nullable=False),
        sa.Column('image_digest', sa.Text(), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('created_at', TIME(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
        sa.UniqueConstraint('uid', name=op.f('uq_events_uid')),
        sqlite_autoincrement=True
    )
    op.create_table('images',
        sa.Column('digest', sa.Text(), nullable=False),
        sa.Column('repository', sa.Text(), nullable=False),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('error', sa.Text(), server_default='', nullable=False),
        sa.Column('media_type', sa.Text(), server_default='', nullable=False),
        sa.Column('created', TIME(), nullable=True),
        sa.Column('labels', sa.JSON(), nullable=False),
        sa.Column('base', sa.JSON(), nullable=True),
        sa.Column('policy', sa.JSON(), nullable=True),
        sa.Column('signatures', sa.JSON(), nullable=False),
        sa.Column('first_seen', TIME(), nullable=False),
        sa.Column('first_scanned', TIME(), nullable=True),
        sa.Column('last_scanned', TIME(), nullable=True),
        sa.Column('matched_build', sa.Text(), server_default='', nullable=False),
        sa.CheckConstraint("status IN ('pending', 'scanned', 'failed')", name=op.f('ck_images_status')),
        sa.PrimaryKeyConstraint('digest', name=op.f('pk_images'))
    )
    op.create_table('jobs',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('args', sa.JSON(), nullable=False),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('max_attempts', sa.Integer(), nullable=False),
        sa.Column('run_after', TIME(), nullable=False),
        sa.Column('locked_by', sa.Text(), nullable=False),
        sa.Column('locked_until', TIME(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('created_at', TIME(), nullable=False),
        sa.Column('finished_at', TIME(), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name=op.f('ck_jobs_status')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
        sqlite_autoincrement=True
    )
    op.create_table('tokens',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('scope', sa.Text(), nullable=False),
        sa.Column('token_sha256', sa.Text(), nullable=False),
        sa.Column('created_at', TIME(), nullable=False),
        sa.Column('last_used_at', TIME(), nullable=True),
        sa.Column('revoked_at', TIME(), nullable=True),
        sa.CheckConstraint("scope IN ('read', 'write', 'admin')", name=op.f('ck_tokens_scope')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tokens')),
        sa.UniqueConstraint('name', name=op.f('uq_tokens_name')),
        sa.UniqueConstraint('token_sha256', name=op.f('uq_tokens_token_sha256')),
        sqlite_autoincrement=True
    )
    op.create_table('triage',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('scope', sa.Text(), nullable=False),
        sa.Column('target', sa.Text(), nullable=False),
        sa.Column('advisory_id', sa.Text(), nullable=False),
        sa.Column('package_purl', sa.Text(), nullable=False),
        sa.Column('action', sa.Text(), nullable=False),
        sa.Column('assignee', sa.Text(), nullable=False),
        sa.Column('vex_status', sa.Text(), nullable=False),
        sa.Column('vex_justification', sa.Text(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('actor', sa.Text(), nullable=False),
        sa.Column('at', TIME(), nullable=False),
        sa.CheckConstraint("action IN ('acknowledge', 'assign', 'vex')", name=op.f('ck_triage_action')),
        sa.CheckConstraint("scope IN ('image', 'repository')", name=op.f('ck_triage_scope')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_triage')),
        sa.UniqueConstraint('scope', 'target', 'advisory_id', 'package_purl', 'action',
                            name=op.f('uq_triage_scope_target_advisory_id_package_purl_action'))
    )
    op.create_table('deliveries',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('event_id', ID, nullable=False),
        sa.Column('channel', sa.Text(), nullable=False),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', TIME(), nullable=False),
        sa.Column('locked_by', sa.Text(), nullable=False),
        sa.Column('locked_until', TIME(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('delivered_at', TIME(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'dead')", name=op.f('ck_deliveries_status')),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], ondelete='CASCADE',
                                name=op.f('fk_deliveries_event_id_events')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
        sa.UniqueConstraint('event_id', 'channel', name=op.f('uq_deliveries_event_id_channel')),
        sqlite_autoincrement=True
    )
    op.create_table('findings',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('image_digest', sa.Text(), nullable=False),
        sa.Column('advisory_id', sa.Text(), nullable=False),
        sa.Column('package_purl', sa.Text(), nullable=False),
        sa.Column('aliases', sa.JSON(), nullable=False),
        sa.Column('severity', sa.Text(), nullable=False),
        sa.Column('cvss', sa.Float(), nullable=True),
        sa.Column('kev', sa.Boolean(), nullable=False),
        sa.Column('fixed_versions', sa.JSON(), nullable=False),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('suppressed', sa.Boolean(), nullable=False),
        sa.Column('suppressed_reason', sa.Text(), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('state', sa.Text(), nullable=False),
        sa.Column('first_seen', TIME(), nullable=False),
        sa.Column('fixed_at', TIME(), nullable=True),
        sa.Column('updated_at', TIME(), nullable=False),
        sa.CheckConstraint("state IN ('open', 'fixed')", name=op.f('ck_findings_state')),
        sa.ForeignKeyConstraint(['image_digest'], ['images.digest'], ondelete='CASCADE',
                                name=op.f('fk_findings_image_digest_images')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_findings')),
        sa.UniqueConstraint('image_digest', 'advisory_id', 'package_purl',
                            name=op.f('uq_findings_image_digest_advisory_id_package_purl'))
    )
    op.create_table('layers',
        sa.Column('image_digest', sa.Text(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('digest', sa.Text(), nullable=False),
        sa.Column('diff_id', sa.Text(), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('created_by', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['image_digest'], ['images.digest'], ondelete='CASCADE',
                                name=op.f('fk_layers_image_digest_images')),
        sa.PrimaryKeyConstraint('image_digest', 'position', name=op.f('pk_layers'))
    )
    op.create_table('owners',
        sa.Column('image_digest', sa.Text(), nullable=False),
        sa.Column('owner', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['image_digest'], ['images.digest'], ondelete='CASCADE',
                                name=op.f('fk_owners_image_digest_images')),
        sa.PrimaryKeyConstraint('image_digest', 'owner', name=op.f('pk_owners'))
    )
    op.create_table('packages',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('image_digest', sa.Text(), nullable=False),
        sa.Column('purl', sa.Text(), nullable=False),
        sa.Column('purl_base', sa.Text(), nullable=False),
        sa.Column('type', sa.Text(), nullable=False),
        sa.Column('ecosystem', sa.Text(), nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('name_key', sa.Text(), nullable=False),
        sa.Column('version', sa.Text(), nullable=False),
        sa.Column('source_name', sa.Text(), nullable=False),
        sa.Column('source_key', sa.Text(), nullable=False),
        sa.Column('source_version', sa.Text(), nullable=False),
        sa.Column('licence', sa.Text(), nullable=False),
        sa.Column('layer', sa.Integer(), nullable=True),
        sa.Column('visible', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['image_digest'], ['images.digest'], ondelete='CASCADE',
                                name=op.f('fk_packages_image_digest_images')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_packages'))
    )
    op.create_table('sboms',
        sa.Column('image_digest', sa.Text(), nullable=False),
        sa.Column('encoding', sa.Text(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['image_digest'], ['images.digest'], ondelete='CASCADE',
                                name=op.f('fk_sboms_image_digest_images')),
        sa.PrimaryKeyConstraint('image_digest', name=op.f('pk_sboms'))
    )
    op.create_table('tags',
        sa.Column('repository', sa.Text(), nullable=False),
        sa.Column('tag', sa.Text(), nullable=False),
        sa.Column('image_digest', sa.Text(), nullable=False),
        sa.Column('first_seen', TIME(), nullable=False),
        sa.Column('last_seen', TIME(), nullable=False),
        sa.Column('current', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['image_digest'], ['images.digest'], ondelete='CASCADE',
                                name=op.f('fk_tags_image_digest_images')),
        sa.PrimaryKeyConstraint('repository', 'tag', 'image_digest', name=op.f('pk_tags'))
    )
    op.create_table('finding_history',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('finding_id', ID, nullable=False),
        sa.Column('at', TIME(), nullable=False),
        sa.Column('change', sa.Text(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['finding_id'], ['findings.id'], ondelete='CASCADE',
                                name=op.f('fk_finding_history_finding_id_findings')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_finding_history'))
    )
    op.create_table('finding_names',
        sa.Column('finding_id', ID, nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['finding_id'], ['findings.id'], ondelete='CASCADE',
                                name=op.f('fk_finding_names_finding_id_findings')),
        sa.PrimaryKeyConstraint('finding_id', 'name', name=op.f('pk_finding_names'))
    )
    for table, *columns in INDEXES:
        op.create_index(f"ix_{table}_{'_'.join(columns)}", table, columns)


def downgrade() -> None:
    raise NotImplementedError("the fleet store's migrations only go forward")
