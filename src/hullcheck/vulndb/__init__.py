"""The advisory database: model, importers, SQLite store, atomic build, update and bundles.

    build(path, [Source(name="osv-PyPI", kind=SourceKind.OSV, locations=("all.zip",))])
    update(db_path())                                   # fetch the public sources, rebuild
    with VulnStore.open(db_path()) as store:
        for rec in store.lookup("PyPI", "requests"): rec.advisory_id, rec.affected.ranges
    export(db_path(), "vuln.tar.zst");  import_bundle("vuln.tar.zst", db_path())

Every function takes plain arguments and returns a result object with counts, so the
CLI only parses and renders.
"""

from hullcheck.vulndb.build import (
    BuildResult,
    Source,
    SourceKind,
    SourceResult,
    build,
)
from hullcheck.vulndb.bundle import BundleResult, export, import_bundle
from hullcheck.vulndb.model import (
    Advisory,
    Affected,
    DistroStatus,
    Event,
    EventKind,
    KevEntry,
    Kind,
    Range,
    RangeType,
    Reference,
    SeverityScore,
)
from hullcheck.vulndb.paths import db_path
from hullcheck.vulndb.severity import Rating, Score
from hullcheck.vulndb.store import (
    SCHEMA_VERSION,
    AffectedRecord,
    DbStatus,
    FetchInfo,
    SourceStatus,
    VulnStore,
    package_key,
)
from hullcheck.vulndb.update import (
    DEFAULT_SOURCES,
    Fetch,
    FetchState,
    UpdateResult,
    load_sources,
    parse_sources,
    resolve_sources,
    update,
)

__all__ = [
    "DEFAULT_SOURCES",
    "SCHEMA_VERSION",
    "Advisory",
    "Affected",
    "AffectedRecord",
    "BuildResult",
    "BundleResult",
    "DbStatus",
    "DistroStatus",
    "Event",
    "EventKind",
    "Fetch",
    "FetchInfo",
    "FetchState",
    "KevEntry",
    "Kind",
    "Range",
    "RangeType",
    "Rating",
    "Reference",
    "Score",
    "SeverityScore",
    "Source",
    "SourceKind",
    "SourceResult",
    "SourceStatus",
    "UpdateResult",
    "VulnStore",
    "build",
    "db_path",
    "export",
    "import_bundle",
    "load_sources",
    "package_key",
    "parse_sources",
    "resolve_sources",
    "update",
]
