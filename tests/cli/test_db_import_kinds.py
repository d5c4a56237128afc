"""`db import` of a folder that mixes kinds reads each file as what it is; adding a source
does not read the others again (they may be gone); `db status` lines its columns up."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hullcheck.cli.main import main

FIXTURES = Path(__file__).parent.parent / "fixtures" / "advisories"
# A Node.js security working group advisory, in its own format (nodejs/security-wg vuln/npm/1.json
# as published, shortened): not a format hullcheck reads, so it must be named, not rejected quietly.
NODEJS_WG = {"id": 1, "created_at": "2015-10-17", "updated_at": "2016-04-28",
             "title": "Arbitrary JavaScript Execution", "module_name": "bassmaster",
             "publish_date": "2014-09-27", "cves": ["CVE-2014-7205"],
             "vulnerable_versions": "<=1.5.1", "patched_versions": ">=1.5.2"}


def mixed_folder(root: Path) -> Path:
    """OSV records, an Alpine secdb, a Wolfi secdb, a Debian tracker export and a KEV catalog
    side by side, with a README, an OSV index (a list of ids) and one advisory in a format
    hullcheck does not read."""
    shutil.copytree(FIXTURES / "osv" / "pypa", root / "osv" / "pypa")
    shutil.copy(FIXTURES / "distro" / "alpine-secdb-v3.15-main-sample.yaml", root / "main.yaml")
    shutil.copy(FIXTURES / "distro" / "wolfi-secdb-security-sample.json", root / "security.json")
    shutil.copy(FIXTURES / "distro" / "debian-tracker-json-sample.json", root / "debian.json")
    shutil.copy(FIXTURES / "kev" / "known_exploited_vulnerabilities-subset.json", root / "kev.json")
    shutil.copy(FIXTURES / "distro" / "chainguard-osv" / "all.json", root / "all.json")
    (root / "README.md").write_text("advisories collected for the build\n")
    (root / "nodejs").mkdir()
    (root / "nodejs" / "1.json").write_text(json.dumps(NODEJS_WG))
    return root


def status(capsys: pytest.CaptureFixture[str], db: Path) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["db", "--db", str(db), "status", "-o", "json"]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr()[0])
    return doc


def test_a_folder_mixing_kinds_reads_each_file_as_its_kind(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, db = mixed_folder(tmp_path / "feeds"), tmp_path / "vuln.db"
    assert main(["db", "--db", str(db), "import", str(folder)]) == 0
    err = capsys.readouterr()[1]
    assert "skipped 2 files that hold no advisory data hullcheck reads:\n" \
           f"  {folder / 'all.json'}: a JSON list, not advisory data hullcheck reads (an " \
           f"index?)\n  {folder / 'nodejs' / '1.json'}: cannot tell what advisory format " \
           "this is\n" in err
    doc = status(capsys, db)
    by_kind = {s["kind"]: s for s in doc["sources"]}
    assert set(by_kind) == {"osv", "alpine", "wolfi", "debian", "kev"}
    assert all(s["errors"] == 0 and s["records"] > 0 for s in by_kind.values())
    pypa = len(list((FIXTURES / "osv" / "pypa").glob("*.json")))
    assert by_kind["osv"]["records"] == pypa
    assert by_kind["osv"]["locations"] == [str(p) for p in sorted(
        (folder / "osv" / "pypa").glob("*.json"))]
    assert doc["kev"] > 0
    assert {"Alpine:v3.15", "Wolfi", "PyPI"} <= set(doc["ecosystems"])
    assert any(e.startswith("Debian:") for e in doc["ecosystems"])


def test_a_folder_of_one_kind_stays_one_source(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "vuln.db"
    assert main(["db", "--db", str(db), "import", str(FIXTURES / "distro" / "alpine")]) == 0
    (source,) = status(capsys, db)["sources"]
    assert (source["kind"], source["errors"]) == ("alpine", 0)
    assert source["locations"] == [str(FIXTURES / "distro" / "alpine")]


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute(sql).fetchall())


def test_adding_a_source_does_not_read_the_others_again(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pypa = tmp_path / "pypa"
    shutil.copytree(FIXTURES / "osv" / "pypa", pypa)
    kev = FIXTURES / "kev" / "known_exploited_vulnerabilities-subset.json"
    alpine = FIXTURES / "distro" / "alpine"
    added, built = tmp_path / "added.db", tmp_path / "built.db"
    assert main(["db", "--db", str(added), "import", str(pypa)]) == 0
    shutil.rmtree(pypa)  # gone: only a rebuild would need it
    assert main(["db", "--db", str(added), "import", str(alpine)]) == 0
    assert main(["db", "--db", str(added), "import", str(kev)]) == 0
    assert "(added; the other sources were not read again)" in capsys.readouterr()[1]
    # The same database as one built from all three at once.
    shutil.copytree(FIXTURES / "osv" / "pypa", pypa)
    assert main(["db", "--db", str(built), "import", str(pypa), str(alpine), str(kev)]) == 0
    for sql in ("SELECT id, source, kind, modified, aliases, severity, payload FROM advisories",
                "SELECT ecosystem, package_key, records FROM packages",
                "SELECT ecosystem, keys FROM package_keys", "SELECT * FROM kev",
                "SELECT name, kind, records, errors, duplicates FROM sources"):
        assert _rows(added, sql) == _rows(built, sql), sql
    one, other = status(capsys, added), status(capsys, built)
    for key in ("advisories", "affected", "kev", "ecosystems"):
        assert one[key] == other[key]
    # Scanning reads the appended database (its indexes are back).
    with sqlite3.connect(added) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"advisories_id", "aliases_name"} <= names


def test_importing_a_source_again_still_rebuilds(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    db, kev = tmp_path / "vuln.db", FIXTURES / "kev" / "known_exploited_vulnerabilities-subset.json"
    assert main(["db", "--db", str(db), "import", str(FIXTURES / "osv" / "pypa")]) == 0
    assert main(["db", "--db", str(db), "import", str(kev)]) == 0
    assert main(["db", "--db", str(db), "import", str(kev)]) == 0  # same name: replaced
    err = capsys.readouterr()[1]
    assert err.count("not read again") == 1
    assert [s["kind"] for s in status(capsys, db)["sources"]] == ["osv", "kev"]


def test_db_status_lines_up_its_columns(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "vuln.db"
    assert main(["db", "--db", str(db), "import", "--name",
                 "a-source-name-longer-than-twenty-two-characters",
                 str(FIXTURES / "osv" / "pypa")]) == 0
    assert main(["db", "--db", str(db), "import", str(FIXTURES / "distro" / "alpine")]) == 0
    capsys.readouterr()
    assert main(["db", "--db", str(db), "status"]) == 0
    out = capsys.readouterr()[0]
    rows = out.split("sources:\n", 1)[1].splitlines()
    assert rows[0].split() == ["NAME", "KIND", "RECORDS", "REJECTED"]
    assert len({len(r) for r in rows}) == 1  # every row as wide: the counts right-aligned
    kinds = {r.rindex(f"  {w} ") for r, w in zip(rows, ("KIND", "osv", "alpine"), strict=True)}
    assert len(kinds) == 1  # the KIND column starts at one place
    assert "1 KEV entries" not in out and "advisories," in out
