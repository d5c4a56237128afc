"""The store's tables as the newest migration leaves them (SQLAlchemy Core).

The migrations in ``migrations/versions/`` create and change the database; this module is
what the queries are written against. A test compares the two after migrating an empty
database (alembic's ``compare_metadata``), so they cannot drift. docs/fleet.md explains
each table and index.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out. SQLite keeps them as naive UTC text (which sorts and
    compares correctly), PostgreSQL as ``timestamptz``."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store takes aware datetimes")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Text(sa.TypeDecorator[str]):
    """Text that may come from hostile images: NUL becomes U+FFFD on the way in, on both
    backends (PostgreSQL's text cannot hold NUL; one store must not differ from the other)."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return value.replace("\x00", "\ufffd") if value is not None and "\x00" in value else value


# Row ids: BIGSERIAL in PostgreSQL, the rowid in SQLite.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = UTCDateTime


def _id() -> sa.Column[int]:
    return sa.Column("id", Id, primary_key=True, autoincrement=True)


def _digest_fk(name: str = "image_digest", *, index: bool = False) -> sa.Column[str]:
    return sa.Column(name, Text, sa.ForeignKey("images.digest", ondelete="CASCADE"),
                     nullable=False, index=index)


images = sa.Table(
    "images", metadata,
    sa.Column("digest", Text, primary_key=True),
    sa.Column("repository", Text, nullable=False, index=True),
    sa.Column("status", Text, nullable=False),
    sa.Column("error", Text, nullable=False, server_default=""),
    sa.Column("media_type", Text, nullable=False, server_default=""),
    sa.Column("created", Time, nullable=True),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("base", sa.JSON, nullable=True),
    sa.Column("policy", sa.JSON, nullable=True),
    sa.Column("signatures", sa.JSON, nullable=False),
    sa.Column("first_seen", Time, nullable=False),
    sa.Column("first_scanned", Time, nullable=True),
    sa.Column("last_scanned", Time, nullable=True),
    sa.Column("matched_build", Text, nullable=False, server_default=""),
    sa.CheckConstraint("status IN ('pending', 'scanned', 'failed')", name="status"),
)

sboms = sa.Table(
    "sboms", metadata,
    sa.Column("image_digest", Text, sa.ForeignKey("images.digest", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("encoding", Text, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

layers = sa.Table(
    "layers", metadata,
    _digest_fk(),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("digest", Text, nullable=False),
    sa.Column("diff_id", Text, nullable=False, index=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_by", Text, nullable=False),
    sa.PrimaryKeyConstraint("image_digest", "position"),
)

tags = sa.Table(
    "tags", metadata,
    sa.Column("repository", Text, nullable=False),
    sa.Column("tag", Text, nullable=False),
    _digest_fk(index=True),
    sa.Column("first_seen", Time, nullable=False),
    sa.Column("last_seen", Time, nullable=False),
    sa.Column("current", sa.Boolean, nullable=False),
    sa.PrimaryKeyConstraint("repository", "tag", "image_digest"),
)

owners = sa.Table(
    "owners", metadata,
    _digest_fk(),
    sa.Column("owner", Text, nullable=False, index=True),
    sa.PrimaryKeyConstraint("image_digest", "owner"),
)

packages = sa.Table(
    "packages", metadata,
    _id(),
    _digest_fk(index=True),
    sa.Column("purl", Text, nullable=False),
    sa.Column("purl_base", Text, nullable=False, index=True),  # without version and qualifiers
    sa.Column("type", Text, nullable=False),
    sa.Column("ecosystem", Text, nullable=False),
    sa.Column("name", Text, nullable=False),
    sa.Column("name_key", Text, nullable=False),
    sa.Column("version", Text, nullable=False),
    sa.Column("source_name", Text, nullable=False),
    sa.Column("source_key", Text, nullable=False),
    sa.Column("source_version", Text, nullable=False),
    sa.Column("licence", Text, nullable=False),
    sa.Column("layer", sa.Integer, nullable=True),
    sa.Column("visible", sa.Boolean, nullable=False),
    # 0006: the SHA-256 of what the package's findings depend on (its SBOM entry, distro,
    # layer): equal hashes, equal findings. NULL (rows from before): match the image alone.
    sa.Column("entry_hash", Text, nullable=True),
    # Name first: serves (ecosystem, name) lookups of a delta and name-only searches.
    sa.Index(None, "name_key", "ecosystem"),
    sa.Index(None, "source_key", "ecosystem"),
)

findings = sa.Table(
    "findings", metadata,
    _id(),
    _digest_fk(),
    sa.Column("advisory_id", Text, nullable=False, index=True),
    sa.Column("package_purl", Text, nullable=False),
    sa.Column("aliases", sa.JSON, nullable=False),
    sa.Column("severity", Text, nullable=False),
    sa.Column("cvss", sa.Float, nullable=True),
    sa.Column("kev", sa.Boolean, nullable=False),
    sa.Column("fixed_versions", sa.JSON, nullable=False),
    sa.Column("status", Text, nullable=False),
    sa.Column("suppressed", sa.Boolean, nullable=False),
    sa.Column("suppressed_reason", Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("state", Text, nullable=False),
    sa.Column("first_seen", Time, nullable=False),
    sa.Column("fixed_at", Time, nullable=True),
    sa.Column("updated_at", Time, nullable=False),
    sa.UniqueConstraint("image_digest", "advisory_id", "package_purl"),
    sa.Index(None, "image_digest", "state", "severity"),
    # 0003: the fleet's open findings per image (by severity, KEV, with a fix) from the index
    # alone, in image order: the fleet page's ranking of images at risk.
    sa.Index(None, "state", "suppressed", "image_digest", "severity", "kev", "status"),
    # 0007: an image's findings on the purls a delta names (the fixed ones of a re-match).
    sa.Index(None, "image_digest", "package_purl", "advisory_id"),
    sa.CheckConstraint("state IN ('open', 'fixed')", name="state"),
)

# Every name a finding answers to (its id and its aliases), for search by any alias.
finding_names = sa.Table(
    "finding_names", metadata,
    sa.Column("finding_id", Id, sa.ForeignKey("findings.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", Text, nullable=False, index=True),
    sa.PrimaryKeyConstraint("finding_id", "name"),
)

finding_history = sa.Table(
    "finding_history", metadata,
    _id(),
    sa.Column("finding_id", Id, sa.ForeignKey("findings.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("at", Time, nullable=False),
    sa.Column("change", Text, nullable=False),
    sa.Column("reason", Text, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Index(None, "at", "change"),  # 0003: what changed lately, counted from the index
)

# What runs where; not a foreign key: a cluster may run an image not scanned yet.
deployments = sa.Table(
    "deployments", metadata,
    _id(),
    sa.Column("cluster", Text, nullable=False, index=True),
    sa.Column("namespace", Text, nullable=False),
    sa.Column("workload", Text, nullable=False),
    sa.Column("container", Text, nullable=False),
    sa.Column("image_digest", Text, nullable=False, index=True),
    sa.Column("reported_at", Time, nullable=False),
)

triage = sa.Table(
    "triage", metadata,
    _id(),
    sa.Column("scope", Text, nullable=False),
    sa.Column("target", Text, nullable=False),
    sa.Column("advisory_id", Text, nullable=False),
    sa.Column("package_purl", Text, nullable=False),  # "" = any package
    sa.Column("action", Text, nullable=False),
    sa.Column("assignee", Text, nullable=False),
    sa.Column("vex_status", Text, nullable=False),
    sa.Column("vex_justification", Text, nullable=False),
    sa.Column("reason", Text, nullable=False),
    sa.Column("actor", Text, nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Column("expires", sa.Date, nullable=True),  # 0003: a waiver's last day
    sa.UniqueConstraint("scope", "target", "advisory_id", "package_purl", "action"),
    sa.CheckConstraint("scope IN ('image', 'repository')", name="scope"),
    sa.CheckConstraint("action IN ('acknowledge', 'assign', 'vex', 'waive')", name="action"),
)

audit_log = sa.Table(
    "audit_log", metadata,
    _id(),
    sa.Column("at", Time, nullable=False, index=True),
    sa.Column("actor", Text, nullable=False),
    sa.Column("action", Text, nullable=False),
    sa.Column("target", Text, nullable=False, index=True),
    sa.Column("reason", Text, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sqlite_autoincrement=True,
)

tokens = sa.Table(
    "tokens", metadata,
    _id(),
    sa.Column("name", Text, nullable=False, unique=True),
    sa.Column("scope", Text, nullable=False),
    sa.Column("token_sha256", Text, nullable=False, unique=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("last_used_at", Time, nullable=True),
    sa.Column("revoked_at", Time, nullable=True),
    sa.CheckConstraint("scope IN ('read', 'write', 'admin')", name="scope"),
    sqlite_autoincrement=True,
)

events = sa.Table(
    "events", metadata,
    _id(),
    sa.Column("uid", Text, nullable=False, unique=True),
    sa.Column("type", Text, nullable=False),
    sa.Column("image_digest", Text, nullable=False, index=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", Time, nullable=False, index=True),
    sqlite_autoincrement=True,
)

deliveries = sa.Table(
    "deliveries", metadata,
    _id(),
    sa.Column("event_id", Id, sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    sa.Column("channel", Text, nullable=False),
    sa.Column("status", Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Time, nullable=False),
    sa.Column("locked_by", Text, nullable=False),
    sa.Column("locked_until", Time, nullable=True),
    sa.Column("last_error", Text, nullable=False),
    sa.Column("delivered_at", Time, nullable=True),
    sa.UniqueConstraint("event_id", "channel"),
    sa.Index(None, "status", "next_attempt_at"),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="status"),
    sqlite_autoincrement=True,
)

jobs = sa.Table(
    "jobs", metadata,
    _id(),
    sa.Column("kind", Text, nullable=False),
    sa.Column("args", sa.JSON, nullable=False),
    sa.Column("status", Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("run_after", Time, nullable=False),
    sa.Column("locked_by", Text, nullable=False),
    sa.Column("locked_until", Time, nullable=True),
    sa.Column("last_error", Text, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("finished_at", Time, nullable=True),
    sa.Index(None, "status", "run_after"),
    sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
    sqlite_autoincrement=True,
)

# 0003: a signed-in browser (the web pages): the SHA-256 of its cookie's session id, the
# token it acts as, and when it ends.
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("id_sha256", Text, primary_key=True),
    sa.Column("token_id", Id, sa.ForeignKey("tokens.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False, index=True),
)

# 0004: each image's risk summary, kept in the transaction of every write that changes it
# (fleet/summary.py): open, unsuppressed findings by severity, in KEV, critical or high with
# a fix; policy failing, base stale or end of life; the rank key of an image at risk (NULL
# when it is not), whose index makes "images at risk, worst first" and any page of them an
# index range scan.
image_summary = sa.Table(
    "image_summary", metadata,
    sa.Column("image_digest", Text, sa.ForeignKey("images.digest", ondelete="CASCADE"),
              primary_key=True),
    *[sa.Column(word, sa.Integer, nullable=False)
      for word in ("malicious", "critical", "high", "medium", "low", "negligible", "unknown",
                   "kev", "fixable")],
    sa.Column("policy_failed", sa.Boolean, nullable=False),
    sa.Column("base_stale", sa.Boolean, nullable=False),
    sa.Column("base_eol", sa.Boolean, nullable=False),
    sa.Column("risk_rank", sa.BigInteger, nullable=True),
    sa.Index(None, "risk_rank", "image_digest"),
)

# 0006: the finding rows of each distinct package entry (``packages.entry_hash``) a delta
# re-match visits, matched once per advisory build and shared by every worker's jobs, which
# diff them against the stored findings in SQL. ``rank``: the matcher's order (worst first).
rematch_entries = sa.Table(
    "rematch_entries", metadata,
    sa.Column("build", Text, nullable=False),
    sa.Column("entry_hash", Text, nullable=False),
    sa.PrimaryKeyConstraint("build", "entry_hash"),
)

rematch_findings = sa.Table(
    "rematch_findings", metadata,
    sa.Column("build", Text, nullable=False),
    sa.Column("entry_hash", Text, nullable=False),
    sa.Column("advisory_id", Text, nullable=False),
    sa.Column("package_purl", Text, nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("aliases", sa.JSON, nullable=False),
    sa.Column("severity", Text, nullable=False),
    sa.Column("cvss", sa.Float, nullable=True),
    sa.Column("kev", sa.Boolean, nullable=False),
    sa.Column("fixed_versions", sa.JSON, nullable=False),
    sa.Column("status", Text, nullable=False),
    sa.Column("suppressed", sa.Boolean, nullable=False),
    sa.Column("suppressed_reason", Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("names", sa.JSON, nullable=False),
    sa.PrimaryKeyConstraint("build", "entry_hash", "advisory_id", "package_purl"),
)

# 0008: the distinct entries a delta re-match has still to match (one image holding each,
# and its purl), written by the plan; the jobs claim, match and move them to the tables above.
rematch_pending = sa.Table(
    "rematch_pending", metadata,
    sa.Column("build", Text, nullable=False),
    sa.Column("entry_hash", Text, nullable=False),
    sa.Column("image_digest", Text, nullable=False),
    sa.Column("purl", Text, nullable=False),
    sa.PrimaryKeyConstraint("build", "entry_hash"),
)

# Which advisory database builds were matched (delta re-matching diffs against the last).
advisory_builds = sa.Table(
    "advisory_builds", metadata,
    sa.Column("build_id", Text, primary_key=True),
    sa.Column("built_at", Time, nullable=True),
    sa.Column("matched_at", Time, nullable=False, index=True),
)

# 0002: open / new / fixed findings per day and severity, for the trend chart.
daily_counts = sa.Table(
    "daily_counts", metadata,
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("severity", Text, nullable=False),
    sa.Column("open", sa.Integer, nullable=False),
    sa.Column("new", sa.Integer, nullable=False),
    sa.Column("fixed", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("day", "severity"),
)

# 0004: the layer cache the workers share in PostgreSQL mode (``fleet.layers``): each entry
# as ``hullcheck.layercache`` writes it, by the layer's blob digest and the entry's variant.
layer_cache = sa.Table(
    "layer_cache", metadata,
    sa.Column("digest", Text, nullable=False),
    sa.Column("variant", Text, nullable=False),
    sa.Column("version", Text, nullable=False),
    sa.Column("label", Text, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("last_used", Time, nullable=False, index=True),
    sa.PrimaryKeyConstraint("digest", "variant"),
)
