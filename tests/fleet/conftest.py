"""Fixtures for the fleet store: the same tests run on SQLite (a file in tmp_path) and on the
real PostgreSQL server of tests/fixtures/postgres.py (a fresh database per test)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hullcheck import fleet
from hullcheck.fleet import schema, summary
from hullcheck.fleet.model import FindingRow, ImageRecord, LayerRecord, PackageRow
from tests.fixtures.postgres import PostgresServer

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the test moves: leases expire because the test says so, not by waiting."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend."""
    if request.param == "sqlite":
        return fleet.data_dir_url(tmp_path / "data")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def migrated_template(postgres_server: PostgresServer) -> str:
    """A PostgreSQL database migrated to head once, copied for each test that needs one."""
    name = postgres_server.create_database()
    fleet.open(postgres_server.url(name)).close()
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each backend migrated to head (PostgreSQL: copied from the template)."""
    if request.param == "sqlite":
        yield fleet.data_dir_url(tmp_path / "data")
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database(template=request.getfixturevalue("migrated_template"))
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(store_url: str, clock: Clock) -> Iterator[fleet.Store]:
    with fleet.open(store_url, clock=clock) as s:
        yield s


# -- builders -------------------------------------------------------------------------------

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
DIGEST_C = "sha256:" + "c" * 64


def image(digest: str = DIGEST_A, repository: str = "registry.example/app",
          tags: tuple[str, ...] = ("1.0",), **kw: object) -> ImageRecord:
    fields: dict[str, object] = {
        "media_type": "application/vnd.oci.image.manifest.v1+json",
        "labels": {"org.opencontainers.image.source": "https://git.example/app"},
        "layers": (LayerRecord(digest="sha256:" + "1" * 64, diff_id="sha256:" + "2" * 64,
                               size=1234, created_by="ADD rootfs.tar /"),),
        "sbom": b"\x28\xb5\x2f\xfdsbom",
    }
    return ImageRecord(digest=digest, repository=repository, tags=tags,
                       **(fields | kw))  # type: ignore[arg-type]


def deb(name: str, version: str, *, source: str = "", layer: int = 0,
        visible: bool = True) -> PackageRow:
    return PackageRow(
        purl=f"pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12", type="deb",
        ecosystem="Debian:12", name=name, version=version, source_name=source or name,
        source_version=version, licence="GPL-2.0-only", layer=layer, visible=visible)


def pypi(name: str, version: str) -> PackageRow:
    return PackageRow(purl=f"pkg:pypi/{name.lower()}@{version}", type="python",
                      ecosystem="PyPI", name=name, version=version, licence="MIT", layer=1)


def finding(advisory: str, package: PackageRow, *, severity: str = "high",
            aliases: tuple[str, ...] = (), kev: bool = False,
            fixed: tuple[str, ...] = (), status: str = "not-fixed", suppressed: bool = False,
            cvss: float | None = 7.5) -> FindingRow:
    data = {"id": advisory, "aliases": list(aliases), "severity": severity, "status": status,
            "fixedVersions": list(fixed), "kev": {"dateAdded": "2024-01-01"} if kev else None,
            "package": {"name": package.name, "version": package.version, "purl": package.purl},
            "suppressed": {"by": "vex", "reason": "not reachable"} if suppressed else None}
    return FindingRow(advisory_id=advisory, package_purl=package.purl, aliases=aliases,
                      severity=severity, cvss=cvss, kev=kev, fixed_versions=fixed,
                      status=status, suppressed=suppressed,
                      suppressed_reason="not reachable" if suppressed else "", data=data)


# -- checks ---------------------------------------------------------------------------------


def consistent(store: fleet.Store) -> dict[str, dict[str, Any]]:
    """Assert the stored summary is one row per image, each as computed from scratch."""
    with store.read() as conn:
        kept = summary.stored(conn)
        fresh = {d: s.row(d) for d, s in summary.compute(conn).items()}
        images = set(conn.execute(sa.select(schema.images.c.digest)).scalars())
    assert set(kept) == images
    assert kept == fresh
    return kept
