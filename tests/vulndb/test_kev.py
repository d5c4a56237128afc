"""CISA's KEV catalog as hostile input: the real catalog's records (fixtures/advisories/kev),
altered one field at a time. A file that is not a catalog stops the import in one line naming
it; a bad record is rejected and counted, the others are kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hullcheck.cli.main import main
from hullcheck.errors import FormatError
from hullcheck.vulndb import kev
from hullcheck.vulndb.model import KevEntry
from tests.vulndb.conftest import FIXTURES

CATALOG = FIXTURES / "kev" / "known_exploited_vulnerabilities-subset.json"


def catalog(tmp_path: Path, change: Any = None) -> Path:
    """The real catalog with ``change(records)`` applied, written next to the test."""
    doc = json.loads(CATALOG.read_text())
    if change is not None:
        change(doc["vulnerabilities"])
    path = tmp_path / "kev.json"
    path.write_text(json.dumps(doc))
    return path


def read(path: Path) -> tuple[list[KevEntry], list[str]]:
    errors: list[FormatError] = []
    entries = list(kev.read(path, errors=errors))
    return entries, [str(e) for e in errors]


def test_the_real_catalog_reads_every_field() -> None:
    entries, errors = read(CATALOG)
    assert errors == []
    log4j = next(e for e in entries if e.cve == "CVE-2021-44228")
    assert (log4j.date_added, log4j.due_date, log4j.vendor, log4j.product) == (
        "2021-12-10", "2021-12-24", "Apache", "Log4j2")
    assert log4j.known_ransomware == "Known"
    assert log4j.name == "Apache Log4j2 Remote Code Execution Vulnerability"
    assert len(entries) == 5


def _set(index: int, field: str, value: object) -> Any:
    def change(records: list[dict[str, Any]]) -> None:
        if value is None:
            del records[index][field]
        else:
            records[index][field] = value
    return change


@pytest.mark.parametrize("change, says", [
    (_set(0, "cveID", "CVE-2025-48384\n"), "vulnerabilities[0]: missing or invalid cveID"),
    (_set(0, "cveID", "cve-2025-48384"), "vulnerabilities[0]: missing or invalid cveID"),
    (_set(0, "cveID", "CVE-2025-484"), "vulnerabilities[0]: missing or invalid cveID"),
    (_set(0, "cveID", "CVE-2025-48384/../x"), "vulnerabilities[0]: missing or invalid cveID"),
    (_set(0, "cveID", None), "vulnerabilities[0]: missing or invalid cveID"),
    (_set(0, "cveID", 2025), "vulnerabilities[0]: missing or invalid cveID"),
    (_set(1, "dateAdded", None), "CVE-2023-4966: fields must be strings; dateAdded required"),
    (_set(1, "dateAdded", ""), "CVE-2023-4966: fields must be strings; dateAdded required"),
    (_set(1, "dueDate", 20250101), "CVE-2023-4966: fields must be strings; dateAdded required"),
    (_set(1, "vendorProject", ["Citrix"]),
     "CVE-2023-4966: fields must be strings; dateAdded required"),
    (lambda records: records.__setitem__(2, "CVE-2021-3156"),
     "vulnerabilities[2]: missing or invalid cveID"),
], ids=["trailing-newline", "lower-case", "short-number", "with-path", "no-cve", "cve-number",
        "no-date", "empty-date", "due-number", "vendor-list", "record-string"])
def test_a_bad_record_is_rejected_and_the_rest_kept(tmp_path: Path, change: Any,
                                                    says: str) -> None:
    path = catalog(tmp_path, change)
    entries, errors = read(path)
    assert errors == [f"{path}: {says}"]
    assert len(entries) == 4


def test_missing_optional_fields_read_as_empty(tmp_path: Path) -> None:
    path = catalog(tmp_path, _set(3, "dueDate", None))
    entries, errors = read(path)
    assert errors == []
    assert next(e for e in entries if e.cve == "CVE-2021-44228").due_date == ""


@pytest.mark.parametrize("text", [
    '{"title": "CISA Catalog", "vulnerabilities": {"cveID": "CVE-2021-44228"}}',
    '{"title": "CISA Catalog"}',
    '[{"cveID": "CVE-2021-44228"}]',
], ids=["vulnerabilities-object", "no-vulnerabilities", "array"])
def test_not_a_catalog(tmp_path: Path, text: str) -> None:
    path = tmp_path / "kev.json"
    path.write_text(text)
    with pytest.raises(FormatError, match=r"not a KEV catalog \(no 'vulnerabilities' list\)$"):
        read(path)


def test_cli_import_counts_rejected_records_and_stops_on_a_file_that_is_not_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "vuln.db"
    path = catalog(tmp_path, _set(0, "cveID", "CVE-2025-48384\n"))
    assert main(["db", "import", "--db", str(db), "--kind", "kev", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "4 records, 1 rejected" in out + err
    assert main(["db", "status", "--db", str(db), "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["kev"] == 4

    broken = tmp_path / "broken.json"
    broken.write_text('{"vulnerabilities": [')
    assert main(["db", "import", "--db", str(db), "--kind", "kev", str(broken)]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert lines[0].startswith("hullcheck: error: ") and str(broken) in lines[0]
    assert "Traceback" not in err
    # The database it had is untouched.
    assert main(["db", "status", "--db", str(db), "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["kev"] == 4
