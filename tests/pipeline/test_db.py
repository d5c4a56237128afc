"""The advisory database's orchestration in the pipeline: the CLI only parses and prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from hullcheck import pipeline
from hullcheck.errors import UsageError
from tests.vulndb.conftest import FIXTURES

KEV = FIXTURES / "kev" / "known_exploited_vulnerabilities-subset.json"
PYPA = FIXTURES / "osv" / "pypa"


def test_import_update_status_and_export_return_results_and_print_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "vuln.db"
    done = pipeline.import_advisories(pipeline.ImportRequest(items=(str(PYPA), str(KEV)), db=db))
    assert done.path == db and done.bundle is None and done.build is not None
    assert sorted(s.name for s in done.build.sources) == ["kev-known_exploited_vulnerabilities-subset",
                                                          "osv-pypa"]
    status = pipeline.database_status(db)
    assert status.advisories == done.build.advisories > 0
    bundle = pipeline.export_database(db, tmp_path / "vuln.tar.gz")
    again = pipeline.import_advisories(pipeline.ImportRequest(items=(str(bundle.bundle),),
                                                              db=tmp_path / "copy.db"))
    assert again.build is None and again.bundle is not None
    assert again.bundle.advisories == status.advisories
    assert capsys.readouterr() == ("", "")


def test_stale_temporary_files_are_reported_through_the_callback(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    stale = tmp_path / "vuln.db.tmp-0123456789ab"
    stale.write_bytes(b"half written")
    told: list[tuple[Path, ...]] = []
    pipeline.import_advisories(pipeline.ImportRequest(items=(str(KEV),), db=db), told.append)
    assert told == [(stale,)] and not stale.exists()


def test_a_bundle_is_imported_on_its_own(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    pipeline.import_advisories(pipeline.ImportRequest(items=(str(KEV),), db=db))
    bundle = pipeline.export_database(db, tmp_path / "vuln.tar.gz").bundle
    with pytest.raises(UsageError, match="a database bundle must be imported on its own"):
        pipeline.import_advisories(pipeline.ImportRequest(items=(str(bundle), str(KEV)),
                                                          db=tmp_path / "other.db"))
