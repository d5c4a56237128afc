"""The SQLite store: lookups, advisories, aliases, KEV, status; schema checks; atomic builds."""

from __future__ import annotations

import shutil
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullcheck.errors import DatabaseError, FormatError
from hullcheck.vulndb import (
    DistroStatus,
    Kind,
    Rating,
    Source,
    SourceKind,
    VulnStore,
    build,
)
from hullcheck.vulndb.build import IMPORTERS
from hullcheck.vulndb.model import Advisory, KevEntry
from hullcheck.vulndb.store import SCHEMA_VERSION
from tests.vulndb.conftest import FIXTURES, fixture_sources


def ids(records: tuple) -> list[str]:
    return [r.advisory_id for r in records]


def test_lookup_pypi_normalises_names(fixture_db: Path) -> None:
    with VulnStore.open(fixture_db) as store:
        recs = store.lookup("PyPI", "Requests")
        assert ids(recs) == ["PYSEC-2018-28"]
        assert recs[0].affected.fixed_versions == ("2.20.0",)
        assert "CVE-2018-18074" in recs[0].aliases
        assert ids(store.lookup("PyPI", "URLLIB3")) == ["PYSEC-2019-133"]
        assert store.lookup("npm", "requests") == ()
        assert store.lookup("PyPI", "ultralytics")[0].severity.rating is Rating.HIGH


def test_lookup_leaves_out_withdrawn_unless_asked(fixture_db: Path) -> None:
    with VulnStore.open(fixture_db) as store:
        assert store.lookup("PyPI", "plone") == ()
        (rec,) = store.lookup("PyPI", "plone", include_withdrawn=True)
        assert rec.advisory_id == "PYSEC-2006-10" and rec.withdrawn
        assert store.lookup("crates.io", "spin") == ()


def test_lookup_malicious_and_distro(fixture_db: Path) -> None:
    with VulnStore.open(fixture_db) as store:
        (mal,) = store.lookup("npm", "algo-svnlook")
        assert mal.malicious and mal.kind is Kind.MALICIOUS and mal.affected.all_versions
        (deb,) = store.lookup("Debian:10", "chromium")
        assert deb.advisory_id == "DEBIAN-CVE-2022-0456"
        assert deb.affected.status is DistroStatus.END_OF_LIFE
        zlib = store.lookup("Alpine:v3.15", "zlib")
        assert "ALPINE-CVE-2018-25032" in ids(zlib)


def test_advisory_round_trip(fixture_db: Path) -> None:
    from hullcheck.vulndb import osv

    errors: list[FormatError] = []
    (original,) = osv.read(
        FIXTURES / "osv" / "pypa" / "PYSEC-2018-28.json", source="osv-pypa", errors=errors
    )
    with VulnStore.open(fixture_db) as store:
        assert store.advisory("PYSEC-2018-28") == original
        assert store.advisory("PYSEC-1999-1") is None


def test_aliases_and_kev(fixture_db: Path) -> None:
    with VulnStore.open(fixture_db) as store:
        assert store.aliases("PYSEC-2018-28") == ("CVE-2018-18074", "GHSA-x84v-xcm2-53pg")
        assert store.aliases("CVE-2018-18074") == ("GHSA-x84v-xcm2-53pg", "PYSEC-2018-28")
        assert store.advisories_for("CVE-2008-7220") == ("DEBIAN-CVE-2008-7220",)
        entry = store.kev("CVE-2021-44228")
        assert entry is not None and entry.ransomware and entry.date_added == "2021-12-10"
        assert store.kev("CVE-2018-18074") is None


def test_status_counts(fixture_db: Path) -> None:
    with VulnStore.open(fixture_db) as store:
        st = store.status()
    assert st.schema_version == SCHEMA_VERSION and st.kev == 5
    by_name = {s.name: s for s in st.sources}
    assert by_name["osv-pypa"].records == 5 and by_name["osv-malicious"].records == 3
    assert by_name["cisa-kev"].records == 5 and by_name["debian-tracker"].records == 7
    assert dict(st.ecosystems)["PyPI"] == 5
    assert st.advisories == sum(s.records for s in st.sources if s.kind != "kev")


def _set_schema(path: Path, version: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    conn.commit()
    conn.close()


def test_newer_and_older_schemas_are_refused(fixture_db: Path, tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    shutil.copy(fixture_db, newer)
    _set_schema(newer, "99")
    with pytest.raises(DatabaseError, match="schema 99, newer than this hullcheck reads") as exc:
        VulnStore.open(newer)
    assert "upgrade hullcheck" in exc.value.hint
    older = tmp_path / "older.db"
    shutil.copy(fixture_db, older)
    _set_schema(older, "0")
    with pytest.raises(DatabaseError, match="old database schema 0") as exc:
        VulnStore.open(older)
    assert "hullcheck db update" in exc.value.hint


def test_missing_and_corrupt_databases(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no vulnerability database at") as exc:
        VulnStore.open(tmp_path / "nope.db")
    assert "hullcheck db update" in exc.value.hint
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError, match="corrupt or not a hullcheck vulnerability database"):
        VulnStore.open(junk)


# ----------------------------------------------------------------- atomic builds


def _small_sources(tmp_path: Path) -> list[Source]:
    return [s for s in fixture_sources() if s.name in ("osv-pypa", "cisa-kev")]


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


def test_importer_failing_halfway_leaves_the_old_database(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    build(db, _small_sources(tmp_path))
    before = db.read_bytes()

    def exploding(src: Source, errors: list[FormatError]) -> Iterator[Advisory | KevEntry]:
        for n, adv in enumerate(IMPORTERS[SourceKind.OSV](src, errors)):
            if n == 2:
                raise RuntimeError("importer crashed")
            yield adv

    with pytest.raises(RuntimeError, match="importer crashed"):
        build(db, fixture_sources(), importers={SourceKind.OSV: exploding})
    assert db.read_bytes() == before
    assert _leftovers(tmp_path) == []
    with VulnStore.open(db) as store:
        assert ids(store.lookup("PyPI", "requests")) == ["PYSEC-2018-28"]
        assert store.lookup("Go", "github.com/gin-gonic/gin") == ()


@pytest.mark.parametrize("hostile", ["traversal", "truncated", "all-junk"])
def test_hostile_source_leaves_the_old_database(tmp_path: Path, hostile: str) -> None:
    db = tmp_path / "vuln.db"
    build(db, _small_sources(tmp_path))
    before = db.read_bytes()
    bad = tmp_path / "in"
    bad.mkdir()
    if hostile == "traversal":
        loc = bad / "all.zip"
        with zipfile.ZipFile(loc, "w") as zf:
            zf.write(FIXTURES / "osv" / "go" / "GO-2020-0001.json", "GO-2020-0001.json")
            zf.writestr("../../evil.json", "{}")
        match = "escapes the archive root"
    elif hostile == "truncated":
        loc = bad / "all.zip"
        with zipfile.ZipFile(loc, "w") as zf:
            zf.write(FIXTURES / "osv" / "go" / "GO-2020-0001.json", "GO-2020-0001.json")
        loc.write_bytes(loc.read_bytes()[:100])
        match = "not a readable zip archive"
    else:
        loc = bad
        (bad / "a.json").write_text("not json")
        (bad / "b.json").write_text('{"id": "GO-1", "affected": [{"package": 3}]}')
        match = r"source osv-bad: no usable records \(2 rejected"
    sources = [*_small_sources(tmp_path), Source(name="osv-bad", kind=SourceKind.OSV,
                                                  locations=(str(loc),))]
    with pytest.raises(FormatError, match=match):
        build(db, sources)
    assert db.read_bytes() == before
    assert _leftovers(tmp_path) == [] and not (tmp_path.parent / "evil.json").exists()


def test_reader_keeps_its_handle_across_a_rebuild(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    build(db, _small_sources(tmp_path))
    old = VulnStore.open(db)
    try:
        build(db, fixture_sources())
        with VulnStore.open(db) as new:
            assert ids(new.lookup("Go", "github.com/gin-gonic/gin")) == ["GO-2020-0001"]
        # The old handle still reads the old file, fully (not a cached answer).
        assert old.lookup("Go", "github.com/gin-gonic/gin") == ()
        assert ids(old.lookup("PyPI", "urllib3")) == ["PYSEC-2019-133"]
        assert old.status().advisories == 5
    finally:
        old.close()


def test_duplicate_ids_first_source_wins(tmp_path: Path) -> None:
    pypa = str(FIXTURES / "osv" / "pypa")
    result = build(
        tmp_path / "vuln.db",
        [
            Source(name="first", kind=SourceKind.OSV, locations=(pypa,)),
            Source(name="second", kind=SourceKind.OSV, locations=(pypa,)),
        ],
    )
    assert [(s.name, s.records, s.duplicates) for s in result.sources] == [
        ("first", 5, 0), ("second", 0, 5),
    ]
    with VulnStore.open(tmp_path / "vuln.db") as store:
        (rec,) = store.lookup("PyPI", "requests")
        assert rec.source == "first"
        assert store.status().affected == result.affected == 5


def test_per_record_errors_are_counted_not_fatal(tmp_path: Path) -> None:
    tree = tmp_path / "osv"
    shutil.copytree(FIXTURES / "osv" / "go", tree)
    (tree / "bad.json").write_text("{")
    result = build(tmp_path / "vuln.db", [Source(name="go", kind=SourceKind.OSV,
                                                  locations=(str(tree),))])
    (src,) = result.sources
    assert (src.records, src.errors) == (2, 1)
    assert "bad.json: not valid JSON (Expecting property name" in str(src.first_errors[0])
