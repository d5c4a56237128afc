"""The store's read path: one query per batch of names, none for names without advisories,
and records that come back exactly as they were built (every shape of ``affected``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hullcheck.errors import FormatError
from hullcheck.vulndb import (
    Advisory,
    Affected,
    DistroStatus,
    Event,
    EventKind,
    Kind,
    Range,
    RangeType,
    Source,
    SourceKind,
    VulnStore,
    build,
)
from hullcheck.vulndb.build import Source as BuildSource
from hullcheck.vulndb.model import SeverityScore

IN, FX, LA, LIM = EventKind.INTRODUCED, EventKind.FIXED, EventKind.LAST_AFFECTED, EventKind.LIMIT


def ids(records: tuple) -> list[str]:
    return [r.advisory_id for r in records]


def queries(store: VulnStore, table: str) -> list[str]:
    """Start recording the statements that read ``table`` (a trace on the store's
    connection: how many queries a lookup costs is this test's subject)."""
    seen: list[str] = []
    store._conn.set_trace_callback(
        lambda sql: seen.append(sql) if f"FROM {table} " in sql + " " else None)
    return seen


def test_lookup_many_agrees_with_lookup(fixture_db: Path) -> None:
    names = ["Requests", "requests", "URLLIB3", "plone", "no-such-package", "ultralytics"]
    with VulnStore.open(fixture_db) as store:
        many = store.lookup_many("PyPI", names)
        with_withdrawn = store.lookup_many("PyPI", names, include_withdrawn=True)
    with VulnStore.open(fixture_db) as fresh:
        assert many == {n: fresh.lookup("PyPI", n) for n in names}
        assert with_withdrawn == {n: fresh.lookup("PyPI", n, include_withdrawn=True)
                                  for n in names}
    assert ids(many["Requests"]) == ids(many["requests"]) == ["PYSEC-2018-28"]
    assert many["plone"] == () and ids(with_withdrawn["plone"]) == ["PYSEC-2006-10"]
    assert many["no-such-package"] == ()


def test_names_without_advisories_cost_no_query(fixture_db: Path) -> None:
    with VulnStore.open(fixture_db) as store:
        assert ids(store.lookup("PyPI", "requests")) == ["PYSEC-2018-28"]
        seen = queries(store, "packages")
        for i in range(50):
            assert store.lookup("PyPI", f"not-vulnerable-{i}") == ()
        assert store.lookup("npm", "requests") == ()  # another ecosystem's key list
        assert seen == []


def test_a_batch_of_names_is_one_query(fixture_db: Path) -> None:
    with VulnStore.open(fixture_db) as store:
        seen = queries(store, "packages")
        got = store.lookup_many("PyPI", ["requests", "urllib3", "ultralytics", "unknown"])
        assert [len(seen), *map(len, got.values())] == [1, 1, 1, 1, 0]
        store.lookup_many("PyPI", ["requests", "urllib3"])  # cached: no query
        assert len(seen) == 1


def test_kev_unknown_cve(fixture_db: Path) -> None:
    with VulnStore.open(fixture_db) as store:
        assert store.kev("CVE-1999-0001") is None
        entry = store.kev("CVE-2021-44228")
        assert entry is not None and store.kev("CVE-2021-44228") == entry


def _ev(*pairs: tuple[EventKind, str]) -> tuple[Event, ...]:
    return tuple(Event(kind=k, value=v) for k, v in pairs)


# Every shape an ``affected`` entry takes, in one record: the store keeps them in a compact
# positional form, so each field must come back as it went in.
SHAPES = Advisory(
    id="OSV-TEST-1",
    source="shapes",
    aliases=("CVE-2099-0001", "GHSA-test-test-test"),
    summary="every shape",
    modified="2024-01-01T00:00:00Z",
    severities=(SeverityScore(type="CVSS_V3",
                              score="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),),
    affected=(
        Affected(ecosystem="PyPI", package="Shape_Pkg", purl="pkg:pypi/shape-pkg",
                 ranges=(Range(type=RangeType.ECOSYSTEM,
                               events=_ev((IN, "0"), (FX, "1.0"), (IN, "2.0"), (LA, "2.1"))),
                         Range(type=RangeType.GIT, repo="https://example.org/r.git",
                               events=_ev((IN, "abc"), (LIM, "def")))),
                 versions=("0.9", "", "2.0\nodd")),  # a newline in a version: kept as is
        Affected(ecosystem="PyPI", package="shape.pkg", versions=("0.1", "0.2")),
        Affected(ecosystem="npm", package="shape", all_versions=True,
                 ranges=(Range(type=RangeType.SEMVER, events=_ev((IN, "0"))),)),
        Affected(ecosystem="Debian:12", package="shape", status=DistroStatus.NO_DSA,
                 urgency="low**",
                 ranges=(Range(type=RangeType.ECOSYSTEM, events=_ev((IN, "0"))),)),
        Affected(ecosystem="Go", package="example.org/shape", versions=("",)),
    ),
)
OLDER = Advisory(id="OSV-TEST-2", source="shapes", modified="2023-01-01T00:00:00Z",
                 kind=Kind.MALICIOUS, withdrawn="2023-06-01T00:00:00Z",
                 affected=(Affected(ecosystem="PyPI", package="shape-pkg", versions=("9",)),))
NEWER = Advisory(id="OSV-TEST-2", source="shapes", modified="2024-02-01T00:00:00Z",
                 kind=Kind.MALICIOUS,
                 affected=(Affected(ecosystem="npm", package="shape", all_versions=True),))


@pytest.fixture(scope="module")
def shapes_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def importer(src: BuildSource, errors: list[FormatError]) -> Iterator[Advisory]:
        yield from (OLDER, SHAPES, NEWER)

    path = tmp_path_factory.mktemp("shapes") / "vuln.db"
    build(path, [Source(name="shapes", kind=SourceKind.OSV, locations=())],
          importers={SourceKind.OSV: importer})
    return path


def test_every_affected_shape_comes_back_unchanged(shapes_db: Path) -> None:
    with VulnStore.open(shapes_db) as store:
        pypi = store.lookup("PyPI", "shape-pkg")
        assert [r.affected for r in pypi] == list(SHAPES.affected[:2])
        assert {r.advisory_id for r in pypi} == {"OSV-TEST-1"}
        assert pypi[0].aliases == SHAPES.aliases and pypi[0].severity == SHAPES.severity
        assert pypi[0].kind is Kind.VULNERABILITY and pypi[0].source == "shapes"
        (go,) = store.lookup("Go", "example.org/shape")
        assert go.affected.versions == ("",)
        (deb,) = store.lookup("Debian:12", "shape")
        assert deb.affected == SHAPES.affected[3]
        assert store.advisory("OSV-TEST-1") == SHAPES


def test_a_replaced_record_leaves_no_trace(shapes_db: Path) -> None:
    with VulnStore.open(shapes_db) as store:
        # the older OSV-TEST-2 was about PyPI shape-pkg and withdrawn; the newer one is not
        assert ids(store.lookup("PyPI", "shape-pkg", include_withdrawn=True)) == ["OSV-TEST-1"] * 2
        npm = store.lookup("npm", "shape")
        assert ids(npm) == ["OSV-TEST-1", "OSV-TEST-2"]
        assert npm[1].malicious and npm[1].affected == NEWER.affected[0]
        assert store.advisory("OSV-TEST-2") == NEWER
