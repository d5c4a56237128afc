"""`hullcheck scan` as a user runs it: real advisories, exit codes, filters, VEX, SBOM input,
SARIF and CycloneDX output checked against their official schemas."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hullcheck.cli.main import main
from tests.match.support import (
    OS_RELEASE,
    SITE,
    build_fixture_db,
    build_match_db,
    dist_info,
    dpkg_status,
    npm_package,
)
from tests.sbom.support import assert_valid, cyclonedx_validator

SARIF_SCHEMA = Path(__file__).parent.parent / "fixtures" / "scan" / "sarif-schema-2.1.0.json"

PY_LAYER = {**dist_info("requests", "2.19.0"), **dist_info("urllib3", "1.24.1"),
            **dist_info("pywasm3", "0.5.0")}
DEB_LAYER = {**OS_RELEASE, **dpkg_status(
    {"Package": "libsope1", "Version": "5.8.0-1", "Source": "sope"},
    {"Package": "libtiff6", "Version": "4.5.0-6+deb12u1", "Source": "tiff"},
    {"Package": "sudo", "Version": "1.9.13p3-1"},
)}


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["scan", *args])
    out, err = capsys.readouterr()
    return code, out, err


def scan_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = scan(capsys, *args, "-o", "json")
    assert code in (0, 1), err
    return code, json.loads(out)


def found(doc: dict[str, Any], *, active: bool = True) -> set[tuple[str, str]]:
    return {(f["package"]["name"], f["id"]) for f in doc["findings"]
            if not active or f["suppressed"] is None}


@pytest.fixture(scope="module")
def match_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real fixture records plus a GHSA and tracker entries written in their real formats."""
    return build_match_db(tmp_path_factory.mktemp("scan-matchdb"))


@pytest.fixture(scope="module")
def fixture_only_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only the real records of tests/fixtures/advisories."""
    return build_fixture_db(tmp_path_factory.mktemp("scan-fixdb"))


@pytest.fixture
def py_image(make_image: Callable[..., str]) -> str:
    return make_image(PY_LAYER)


def test_requests_urllib3_image(py_image: str, fixture_only_db: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = scan_json(capsys, py_image, "--db", str(fixture_only_db))
    assert code == 0
    assert found(doc) == {("requests", "CVE-2018-18074"), ("urllib3", "CVE-2019-11324"),
                          ("pywasm3", "CVE-2025-6272")}
    by_id = {f["id"]: f for f in doc["findings"]}
    assert by_id["CVE-2018-18074"]["fixedVersions"] == ["2.20.0"]
    assert by_id["CVE-2018-18074"]["summary"].startswith("The Requests package before 2.20.0")
    assert "PYSEC-2018-28" in by_id["CVE-2018-18074"]["aliases"]
    assert by_id["CVE-2019-11324"]["fixedVersions"] == ["1.24.2"]
    assert "PYSEC-2019-133" in by_id["CVE-2019-11324"]["aliases"]
    ev = by_id["CVE-2019-11324"]["evidence"][0]
    assert (ev["advisory"], ev["ecosystem"], ev["via"]) == ("PYSEC-2019-133", "PyPI", "direct")
    assert by_id["CVE-2019-11324"]["package"]["layer"]["index"] == 0
    assert doc["database"]["advisories"] > 0 and doc["summary"]["packages"] == 3


def test_malicious_npm_package_in_image(make_image: Callable[..., str], fixture_only_db: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    ref = make_image({**npm_package("algo-svnlook", "1.0.4"), **npm_package("left-pad", "1.3.0")})
    code, doc = scan_json(capsys, ref, "--db", str(fixture_only_db), "--fail-on", "critical")
    assert code == 1  # malicious is above critical
    (f,) = doc["findings"]
    assert (f["id"], f["severity"], f["status"]) == ("MAL-2023-1547", "malicious", "malicious")


def test_debian_image_via_source_package_table(make_image: Callable[..., str], match_db: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    ref = make_image(DEB_LAYER)
    code, doc = scan_json(capsys, ref, "--db", str(match_db))
    assert found(doc) == {("libsope1", "CVE-2025-53603"), ("libtiff6", "CVE-2023-52356")}
    sope = next(f for f in doc["findings"] if f["id"] == "CVE-2025-53603")
    assert sope["evidence"][0]["via"] == "source-package"
    assert sope["evidence"][0]["searchedName"] == "sope"
    assert sope["fixedVersions"] == ["5.8.0-1+deb12u1"]
    tiff = next(f for f in doc["findings"] if f["id"] == "CVE-2023-52356")
    assert tiff["status"] == "not-fixed"
    code, out, _ = scan(capsys, ref, "--db", str(match_db), "-o", "table")
    assert code == 0 and "CVE-2025-53603" in out and "5.8.0-1+deb12u1" in out


@pytest.mark.parametrize(("threshold", "code"), [("critical", 0), ("high", 1), ("HIGH", 1),
                                                 ("unknown", 1)])
def test_fail_on_exit_codes(py_image: str, match_db: Path, capsys: pytest.CaptureFixture[str],
                            threshold: str, code: int) -> None:
    # requests' GHSA record scores 7.5 (high); nothing is critical
    got, _, _ = scan(capsys, py_image, "--db", str(match_db), "--fail-on", threshold, "-o", "json")
    assert got == code


def test_fail_on_bad_word_is_usage_error(py_image: str, match_db: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = scan(capsys, py_image, "--db", str(match_db), "--fail-on", "severe")
    assert code == 2 and "--fail-on" in err and "critical" in err


def test_no_database_says_how_to_get_one(py_image: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = scan(capsys, py_image, "--db", str(tmp_path / "none.db"))
    assert code == 2 and out == ""
    assert "no vulnerability database" in err and "hullcheck db update" in err


def test_only_fixed(py_image: str, fixture_only_db: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    _, doc = scan_json(capsys, py_image, "--db", str(fixture_only_db), "--only-fixed")
    assert found(doc) == {("requests", "CVE-2018-18074"), ("urllib3", "CVE-2019-11324")}


def test_ignore_rules_with_expiry(py_image: str, fixture_only_db: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    past = (date.today() - timedelta(days=1)).isoformat()
    future = (date.today() + timedelta(days=30)).isoformat()
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text(
        "ignore:\n"
        "  - id: PYSEC-2018-28\n    reason: requests never follows redirects here\n"
        f"    expires: {future}\n"
        "  - id: CVE-2019-11324\n    reason: old waiver\n"
        f"    expires: {past}\n")
    _, doc = scan_json(capsys, py_image, "--db", str(fixture_only_db), "--ignore", str(ignore))
    sup = {f["id"]: f["suppressed"] for f in doc["findings"]}
    assert sup["CVE-2018-18074"]["reason"] == "requests never follows redirects here"
    assert sup["CVE-2018-18074"]["expires"] == future
    assert sup["CVE-2019-11324"] is None  # expired: no longer applies
    assert any("CVE-2019-11324" in n and "expired" in n for n in doc["notes"])
    assert doc["summary"]["suppressed"] == 1
    code, out, _ = scan(capsys, py_image, "--db", str(fixture_only_db), "--ignore", str(ignore),
                        "-o", "table")
    assert code == 0 and "expired" in out and "CVE-2018-18074" not in out.split("\n\n")[0]


def _image_digest(doc: dict[str, Any]) -> str:
    return str(doc["source"]["manifestDigest"])


def test_openvex_v020_image_and_subcomponent(py_image: str, fixture_only_db: Path,
                                             tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _, doc = scan_json(capsys, py_image, "--db", str(fixture_only_db))
    digest = _image_digest(doc)
    image_purl = f"pkg:oci/app@{digest.replace(':', '%3A')}?repository_url=registry.invalid/app"

    def vex(product: str) -> Path:
        path = tmp_path / f"vex-{len(list(tmp_path.iterdir()))}.json"
        path.write_text(json.dumps({
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": "https://example.invalid/vex/1",
            "author": "Security Team",
            "timestamp": "2024-05-01T12:00:00Z",
            "version": 1,
            "statements": [{
                "vulnerability": {"name": "CVE-2018-18074", "aliases": ["GHSA-x84v-xcm2-53pg"]},
                "products": [{"@id": product,
                              "subcomponents": [{"@id": "pkg:pypi/requests@2.19.0"}]}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
                "impact_statement": "no redirects are followed",
            }],
        }))
        return path

    _, doc = scan_json(capsys, py_image, "--db", str(fixture_only_db), "--vex", str(vex(image_purl)))
    sup = {f["id"]: f["suppressed"] for f in doc["findings"]}
    assert sup["CVE-2018-18074"]["reason"] == ("vulnerable_code_not_in_execute_path: "
                                              "no redirects are followed")
    assert sup["CVE-2018-18074"]["by"].startswith("vex:")
    assert sup["CVE-2019-11324"] is None
    # the same statement about another image does not apply here
    other = "pkg:oci/app@sha256%3A" + "0" * 64
    _, doc = scan_json(capsys, py_image, "--db", str(fixture_only_db), "--vex", str(vex(other)))
    assert all(f["suppressed"] is None for f in doc["findings"])


def test_openvex_later_affected_statement_wins(py_image: str, fixture_only_db: Path,
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    st = {"vulnerability": {"name": "CVE-2018-18074"},
          "products": [{"@id": "pkg:pypi/requests@2.19.0"}]}
    path = tmp_path / "vex.json"
    path.write_text(json.dumps({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.invalid/vex/2",
        "author": "a", "timestamp": "2024-01-01T00:00:00Z", "version": 2,
        "statements": [
            {**st, "status": "affected", "action_statement": "upgrade",
             "timestamp": "2024-06-01T00:00:00Z"},
            {**st, "status": "not_affected", "justification": "component_not_present",
             "timestamp": "2024-02-01T00:00:00Z"},
        ]}))
    _, doc = scan_json(capsys, py_image, "--db", str(fixture_only_db), "--vex", str(path))
    assert all(f["suppressed"] is None for f in doc["findings"])


def test_cyclonedx_vex(py_image: str, fixture_only_db: Path, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vex.cdx.json"
    path.write_text(json.dumps({
        "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
        "components": [{"type": "library", "bom-ref": "urllib3-ref", "name": "urllib3",
                        "version": "1.24.1", "purl": "pkg:pypi/urllib3@1.24.1"}],
        "vulnerabilities": [{
            "id": "CVE-2019-11324",
            "source": {"name": "NVD", "url": "https://nvd.nist.gov/vuln/detail/CVE-2019-11324"},
            "analysis": {"state": "not_affected", "justification": "code_not_reachable",
                         "detail": "custom CA bundles are not used"},
            "affects": [{"ref": "urllib3-ref"}],
        }],
    }))
    assert_valid(cyclonedx_validator(), json.loads(path.read_text()))
    _, doc = scan_json(capsys, py_image, "--db", str(fixture_only_db), "--vex", str(path))
    sup = {f["id"]: f["suppressed"] for f in doc["findings"]}
    assert sup["CVE-2019-11324"]["reason"] == "code_not_reachable: custom CA bundles are not used"
    assert sup["CVE-2018-18074"] is None


def test_bad_vex_is_an_input_error(py_image: str, fixture_only_db: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "vex.json"
    path.write_text(json.dumps({"statements": [{"vulnerability": "CVE-1", "status": "fine"}]}))
    code, _, err = scan(capsys, py_image, "--db", str(fixture_only_db), "--vex", str(path))
    assert code == 2 and "unknown status 'fine'" in err


@pytest.mark.parametrize("fmt", ["cyclonedx-json", "spdx-json", "json"])
def test_scanning_an_sbom_gives_the_image_findings(
    fmt: str, make_image: Callable[..., str], match_db: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = make_image(DEB_LAYER, {**PY_LAYER, **npm_package("algo-svnlook", "1.0.4")})
    _, from_image = scan_json(capsys, ref, "--db", str(match_db))
    sbom = tmp_path / f"sbom.{fmt}.json"
    assert main(["sbom", ref, "-o", fmt, "--file", str(sbom)]) == 0
    capsys.readouterr()
    _, from_sbom = scan_json(capsys, str(sbom), "--db", str(match_db))

    def key(doc: dict[str, Any]) -> set[tuple[str, str, str, str, tuple[str, ...]]]:
        return {(f["package"]["name"], f["package"]["version"], f["id"], f["status"],
                 tuple(f["fixedVersions"])) for f in doc["findings"]}

    assert len(from_image["findings"]) == 6
    assert key(from_sbom) == key(from_image)


def test_sbom_file_with_byte_order_mark(make_image: Callable[..., str], fixture_only_db: Path,
                                        tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    ref = make_image(PY_LAYER)
    sbom = tmp_path / "bom.json"
    assert main(["sbom", ref, "-o", "cyclonedx-json", "--file", str(sbom)]) == 0
    sbom.write_bytes(b"\xef\xbb\xbf\n  " + sbom.read_bytes())
    capsys.readouterr()
    _, doc = scan_json(capsys, str(sbom), "--db", str(fixture_only_db))
    assert ("requests", "CVE-2018-18074") in found(doc)


def test_scan_reads_the_cyclonedx_xml_sbom_writes(
        make_image: Callable[..., str], fixture_only_db: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    ref = make_image({**OS_RELEASE, **PY_LAYER})
    xml, js = tmp_path / "bom.xml", tmp_path / "bom.json"
    assert main(["sbom", ref, "-o", f"cyclonedx-xml={xml}", "-o", f"cyclonedx-json={js}"]) == 0
    capsys.readouterr()
    _, from_xml = scan_json(capsys, str(xml), "--db", str(fixture_only_db))
    _, from_json = scan_json(capsys, str(js), "--db", str(fixture_only_db))
    assert ("requests", "CVE-2018-18074") in found(from_xml)
    assert from_xml["findings"] == from_json["findings"]
    assert from_xml["summary"] == from_json["summary"]


@pytest.mark.parametrize(("text", "message"), [
    ('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
     "an XML document that is not a CycloneDX BOM; scan reads CycloneDX (JSON or XML)"),
    ('<?xml version="1.0"?><!DOCTYPE bom [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
     '<bom xmlns="http://cyclonedx.org/schema/bom/1.6">&b;</bom>', "not well-formed XML"),
    ('<!-- cyclonedx.org/schema/bom --><bom xmlns="urn:example"/>',
     "not a CycloneDX, SPDX or hullcheck SBOM (XML, but not a CycloneDX BOM)"),
    ('<bom xmlns="http://cyclonedx.org/schema/bom/1.6"><components><component',
     "not well-formed XML"),
    ('<bom xmlns="http://cyclonedx.org/schema/bom/1.6"><components><component type="nope">'
     "<name>x</name></component></components></bom>", "not a CycloneDX XML BOM hullcheck can "
     "read"),
])
def test_a_bad_xml_sbom_is_one_line(fixture_only_db: Path, tmp_path: Path, text: str,
                                    message: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bom.xml"
    path.write_text(text)
    code, out, err = scan(capsys, str(path), "--db", str(fixture_only_db))
    assert code == 2 and out == ""
    assert err.startswith(f"hullcheck: error: {path}: ") and message in err.splitlines()[0], err


# -- SARIF and CycloneDX output ----------------------------------------------------------


def _sarif_validator() -> jsonschema.Validator:
    schema = json.loads(SARIF_SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def test_sarif_is_valid_and_github_ready(make_image: Callable[..., str], match_db: Path,
                                         tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    ref = make_image(DEB_LAYER, {**PY_LAYER, **npm_package("algo-svnlook", "1.0.4")})
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text("ignore:\n  - id: CVE-2023-52356\n    reason: not reachable\n")
    code, out, _ = scan(capsys, ref, "--db", str(match_db), "-o", "sarif", "--ignore", str(ignore))
    assert code == 0
    doc = json.loads(out)
    assert_valid(_sarif_validator(), doc)
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "hullcheck"
    rule_ids = [r["id"] for r in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    assert {"CVE-2018-18074", "MAL-2023-1547", "CVE-2025-53603"} <= set(rule_ids)
    for rule in driver["rules"]:
        sev = rule["properties"]["security-severity"]
        assert isinstance(sev, str) and 0.0 <= float(sev) <= 10.0
        assert rule["shortDescription"]["text"]
    for res in run["results"]:
        assert res["ruleId"] in rule_ids and driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["message"]["text"]
        uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri and not uri.startswith("/")
    mal = next(r for r in driver["rules"] if r["id"] == "MAL-2023-1547")
    assert mal["properties"]["security-severity"] == "10.0"
    req = next(r for r in driver["rules"] if r["id"] == "CVE-2018-18074")
    assert req["properties"]["security-severity"] == "7.5"
    assert req["fullDescription"]["text"] == "Insufficiently Protected Credentials in Requests"
    tiff = next(r for r in run["results"] if r["ruleId"] == "CVE-2023-52356")
    assert tiff["suppressions"][0]["justification"] == "not reachable"


def test_cyclonedx_output_is_valid_with_vulnerabilities(
    make_image: Callable[..., str], match_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = make_image(DEB_LAYER, PY_LAYER)
    code, out, _ = scan(capsys, ref, "--db", str(match_db), "-o", "cyclonedx-json")
    assert code == 0
    doc = json.loads(out)
    assert_valid(cyclonedx_validator(), doc)
    vulns = {v["id"]: v for v in doc["vulnerabilities"]}
    assert {"CVE-2018-18074", "CVE-2019-11324", "CVE-2025-53603"} <= set(vulns)
    refs = {c["bom-ref"]: c for c in doc["components"]}
    (aff,) = vulns["CVE-2019-11324"]["affects"]
    assert refs[aff["ref"]]["purl"] == "pkg:pypi/urllib3@1.24.1"
    assert vulns["CVE-2018-18074"]["ratings"][0]["score"] == 7.5


def test_cyclonedx_report_names_packages_without_their_files(
    make_image: Callable[..., str], match_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The SBOM nests each package's files; the vulnerability report need not carry them
    (tens of thousands on a large image)."""
    record = f"{SITE}/urllib3-1.24.1.dist-info/RECORD"
    layer = {**PY_LAYER, f"{SITE}/urllib3/__init__.py": "x = 1\n",
             record: "urllib3/__init__.py,,\nurllib3-1.24.1.dist-info/METADATA,,\n"}
    ref = make_image(layer)
    code, sbom_out, _ = run_cli(capsys, "sbom", ref, "-o", "cyclonedx-json")
    assert code == 0
    assert any(c.get("components") for c in json.loads(sbom_out)["components"])
    code, out, _ = scan(capsys, ref, "--db", str(match_db), "-o", "cyclonedx-json")
    doc = json.loads(out)
    assert "CVE-2019-11324" in {v["id"] for v in doc["vulnerabilities"]}
    assert not any("components" in c for c in doc["components"])
