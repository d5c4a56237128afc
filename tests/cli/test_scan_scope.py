"""`hullcheck scan --scope`: the findings follow the SBOM's semantics, and every format lists
the same ones.

The image is built the way `pip install` then `pip uninstall` in a later layer builds one:
urllib3's distribution (METADATA, RECORD, its module) in layer 0, deleted by layer 1's
whiteouts; requests stays, installed twice (the system site-packages and a venv).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hullcheck.cli.main import main
from hullcheck.image.writer import whiteout
from tests.match.support import SITE, build_fixture_db, dist_info

VENV = "opt/venv/lib/python3.11/site-packages"
URLLIB3 = f"{SITE}/urllib3-1.24.1.dist-info"


@pytest.fixture(scope="module")
def fixture_only_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("scope-db"))


@pytest.fixture
def uninstalled(make_image: Callable[..., str]) -> str:
    installed = {**dist_info("requests", "2.19.0"), **dist_info("urllib3", "1.24.1"),
                 **dist_info("requests", "2.19.0", site=VENV),
                 f"{SITE}/urllib3/__init__.py": "__version__ = '1.24.1'\n"}
    # `RUN pip uninstall -y urllib3`: the layer deletes the distribution and its module.
    return make_image(installed, [whiteout(URLLIB3), whiteout(f"{SITE}/urllib3")])


def _scan(capsys: pytest.CaptureFixture[str], ref: str, db: Path, fmt: str,
          *args: str) -> str:
    code = main(["scan", ref, "--db", str(db), "-o", fmt, *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def _every_format(capsys: pytest.CaptureFixture[str], ref: str, db: Path,
                  *args: str) -> dict[str, list[tuple[str, str]]]:
    """(package, vulnerability) of each finding, as each format lists them."""
    doc = json.loads(_scan(capsys, ref, db, "json", *args))
    sarif = json.loads(_scan(capsys, ref, db, "sarif", *args))
    cdx = json.loads(_scan(capsys, ref, db, "cyclonedx-json", *args))
    table = _scan(capsys, ref, db, "table", *args)
    names = {c["bom-ref"]: c["name"] for c in cdx["components"]}
    rows = [line.split() for line in table.split("\n\n")[0].splitlines()[1:]]
    return {
        "json": sorted((f["package"]["name"], f["id"]) for f in doc["findings"]),
        "sarif": sorted((r["message"]["text"].split()[0], r["ruleId"])
                        for r in sarif["runs"][0]["results"]),
        "cyclonedx": sorted((names[a["ref"]], v["id"]) for v in cdx["vulnerabilities"]
                            for a in v["affects"]),
        "table": sorted((row[0], row[4] if row[1] == "(hidden)" else row[3]) for row in rows),
    }


def test_default_scope_reports_what_the_container_sees(
        uninstalled: str, fixture_only_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(_scan(capsys, uninstalled, fixture_only_db, "json"))
    # requests twice (two installed copies), urllib3 not at all: pip removed it.
    assert sorted((f["package"]["name"], f["id"]) for f in doc["findings"]) == [
        ("requests", "CVE-2018-18074"), ("requests", "CVE-2018-18074")]
    assert all(f["package"]["visible"] for f in doc["findings"])
    s = doc["summary"]
    assert (s["scope"], s["packages"], s["hiddenPackages"], s["hiddenFindings"]) == (
        "squashed", 2, 1, 1)
    table = _scan(capsys, uninstalled, fixture_only_db, "table")
    assert "urllib3" not in table.split("\n\n")[0]
    assert ("1 package shipped but not visible" in table
            and "1 finding on it not listed; --scope all-layers lists them" in table)


def test_all_layers_adds_the_hidden_findings_marked(
        uninstalled: str, fixture_only_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(_scan(capsys, uninstalled, fixture_only_db, "json", "--scope",
                           "all-layers"))
    urllib3 = [f for f in doc["findings"] if f["package"]["name"] == "urllib3"]
    assert [(f["id"], f["package"]["visible"]) for f in urllib3] == [("CVE-2019-11324", False)]
    assert doc["summary"]["hiddenFindings"] == 1 and doc["summary"]["packages"] == 3
    sarif = json.loads(_scan(capsys, uninstalled, fixture_only_db, "sarif", "--scope",
                             "all-layers"))
    (result,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "CVE-2019-11324"]
    assert result["properties"]["visible"] is False
    assert "shipped but not visible" in result["message"]["text"]
    cdx = json.loads(_scan(capsys, uninstalled, fixture_only_db, "cyclonedx-json", "--scope",
                           "all-layers"))
    (vuln,) = [v for v in cdx["vulnerabilities"] if v["id"] == "CVE-2019-11324"]
    (comp,) = [c for c in cdx["components"] if c["bom-ref"] == vuln["affects"][0]["ref"]]
    assert {"name": "hullcheck:visibility", "value": "shipped-not-visible"} in comp["properties"]
    table = _scan(capsys, uninstalled, fixture_only_db, "table", "--scope", "all-layers")
    assert "urllib3 (hidden)" in table


@pytest.mark.parametrize("scope", ["squashed", "all-layers"])
def test_every_format_lists_the_same_findings(
        uninstalled: str, fixture_only_db: Path, capsys: pytest.CaptureFixture[str],
        scope: str) -> None:
    got = _every_format(capsys, uninstalled, fixture_only_db, "--scope", scope)
    expected = [("requests", "CVE-2018-18074")] * 2
    if scope == "all-layers":
        expected.append(("urllib3", "CVE-2019-11324"))
    assert got == {"json": expected, "sarif": expected, "cyclonedx": expected,
                   "table": expected}


