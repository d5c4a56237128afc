"""Fixtures for the advisory database tests: real records under tests/fixtures/advisories."""

from __future__ import annotations

from pathlib import Path

import pytest

from hullcheck.vulndb import Source, SourceKind, build

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "advisories"


def fixture_sources() -> list[Source]:
    return [
        Source(name="osv-pypa", kind=SourceKind.OSV, locations=(str(FIXTURES / "osv" / "pypa"),)),
        Source(name="osv-go", kind=SourceKind.OSV, locations=(str(FIXTURES / "osv" / "go"),)),
        Source(
            name="osv-rustsec", kind=SourceKind.OSV, locations=(str(FIXTURES / "osv" / "rustsec"),)
        ),
        Source(
            name="osv-malicious",
            kind=SourceKind.OSV,
            locations=(str(FIXTURES / "osv" / "malicious"), str(FIXTURES / "osv" / "withdrawn")),
        ),
        Source(
            name="debian-tracker",
            kind=SourceKind.DEBIAN,
            locations=(str(FIXTURES / "distro" / "debian-tracker-json-sample.json"),),
        ),
        Source(
            name="alpine-secdb",
            kind=SourceKind.ALPINE,
            locations=(
                str(FIXTURES / "distro" / "alpine"),
                str(FIXTURES / "distro" / "alpine-secdb-v3.15-main-sample.yaml"),
            ),
        ),
        Source(
            name="cisa-kev",
            kind=SourceKind.KEV,
            locations=(str(FIXTURES / "kev" / "known_exploited_vulnerabilities-subset.json"),),
        ),
    ]


@pytest.fixture(scope="session")
def fixture_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database built once from every fixture source (read-only use)."""
    path = tmp_path_factory.mktemp("vulndb") / "vuln.db"
    build(path, fixture_sources())
    return path
