"""VEX documents and ignore files: parsing, product matching, errors with the file named."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import pytest

from hullcheck.errors import FormatError
from hullcheck.match.model import Finding, Level, Status
from hullcheck.model import Location, Package, PackageType
from hullcheck.vex import apply, load_ignore, load_vex
from hullcheck.vulndb.severity import UNKNOWN

DIGEST = "sha256:" + "ab" * 32
REQ = Package(type=PackageType.PYTHON, name="requests", version="2.19.0",
              purl="pkg:pypi/requests@2.19.0", found_by="t", locations=(Location(path="/x"),))


def finding(pkg: Package = REQ, fid: str = "CVE-2018-18074",
            aliases: tuple[str, ...] = ("PYSEC-2018-28",)) -> Finding:
    return Finding(package=pkg, id=fid, aliases=aliases, level=Level.MEDIUM, severity=UNKNOWN,
                   status=Status.FIXED, fixed_versions=("2.20.0",))


def write(tmp: Path, doc: object, name: str = "vex.json") -> Path:
    p = tmp / name
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return p


def openvex(*statements: Mapping[str, object]) -> dict[str, object]:
    return {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.invalid/v",
            "author": "a", "timestamp": "2024-01-01T00:00:00Z", "version": 1,
            "statements": list(statements)}


def test_openvex_identifiers_purl_and_alias_match(tmp_path: Path) -> None:
    st = {"vulnerability": {"name": "PYSEC-2018-28"}, "status": "not_affected",
          "justification": "inline_mitigations_already_exist",
          "products": [{"@id": "https://example.invalid/image",
                        "identifiers": {"purl": f"pkg:oci/app@{DIGEST.replace(':', '%3A')}"},
                        "subcomponents": [{"identifiers": {"purl": "pkg:pypi/requests"}}]}]}
    (stmt,) = load_vex(write(tmp_path, openvex(st)))
    out, _ = apply([finding()], [stmt], today=date(2024, 1, 1), image_ids=[DIGEST])
    assert out[0].suppressed is not None
    assert out[0].suppressed.reason == "inline_mitigations_already_exist"
    # the image is named by a repo digest NAME@sha256:...
    out, _ = apply([finding()], [stmt], today=date(2024, 1, 1),
                   image_ids=[f"registry.invalid/app@{DIGEST}"])
    assert out[0].suppressed is not None
    # another image: not this statement's product
    out, _ = apply([finding()], [stmt], today=date(2024, 1, 1), image_ids=["sha256:" + "0" * 64])
    assert out[0].suppressed is None


def test_statement_for_another_package_version_does_not_apply(tmp_path: Path) -> None:
    st = {"vulnerability": {"name": "CVE-2018-18074"}, "status": "not_affected",
          "justification": "component_not_present", "products": [{"@id": "pkg:pypi/requests@2.20.0"}]}
    out, _ = apply([finding()], load_vex(write(tmp_path, openvex(st))), today=date(2024, 1, 1))
    assert out[0].suppressed is None


def test_affected_and_under_investigation_do_not_suppress(tmp_path: Path) -> None:
    sts: list[dict[str, object]] = [{"vulnerability": {"name": "CVE-2018-18074"}, "status": s, "products": []}
           for s in ("affected", "under_investigation")]
    out, _ = apply([finding()], load_vex(write(tmp_path, openvex(*sts))), today=date(2024, 1, 1))
    assert out[0].suppressed is None


def test_cyclonedx_bom_link_ref(tmp_path: Path) -> None:
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "vulnerabilities": [
        {"id": "CVE-2018-18074", "analysis": {"state": "false_positive", "detail": "not used"},
         "affects": [{"ref": "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#"
                             "pkg:pypi/requests@2.19.0"}]}]}
    out, _ = apply([finding()], load_vex(write(tmp_path, doc)), today=date(2024, 1, 1))
    assert out[0].suppressed is not None and out[0].suppressed.reason == "false_positive: not used"


@pytest.mark.parametrize(("doc", "message"), [
    ("not json", "not valid JSON"),
    ([], "must be a JSON object"),
    ({"hello": 1}, "neither an OpenVEX nor a CycloneDX VEX"),
    ({"statements": [{"vulnerability": "CVE-1", "status": "not_affected"}]},
     "needs a justification or impact_statement"),
    ({"statements": [{"vulnerability": "CVE-1", "status": "fixed",
                      "products": [{"@id": "x", "subcomponents": "y"}]}]},
     "subcomponents must be a list"),
])
def test_bad_vex_documents(tmp_path: Path, doc: object, message: str) -> None:
    with pytest.raises(FormatError, match=message) as exc:
        load_vex(write(tmp_path, doc))
    assert str(tmp_path) in str(exc.value)


def test_ignore_rules_package_scoping_and_expiry(tmp_path: Path) -> None:
    path = write(tmp_path, "ignore:\n"
                 "  - id: CVE-2018-18074\n    reason: only urllib3\n    package: urllib3\n"
                 "  - id: PYSEC-2018-28\n    reason: accepted\n    package: pkg:pypi/requests\n"
                 "    expires: 2024-06-30\n", "ignore.yaml")
    rules = load_ignore(path)
    out, notes = apply([finding()], rules=rules, today=date(2024, 6, 30))
    assert out[0].suppressed is not None and out[0].suppressed.reason == "accepted"
    assert out[0].suppressed.expires == "2024-06-30" and notes == []
    out, notes = apply([finding()], rules=rules, today=date(2024, 7, 1))
    assert out[0].suppressed is None
    assert notes == [f"ignore rule for PYSEC-2018-28 expired on 2024-06-30 ({path}); "
                     "it no longer applies"]


@pytest.mark.parametrize(("text", "message"), [
    ("ignore:\n  - id: X\n", "'id' and 'reason' are required"),
    ("ignore:\n  - id: X\n    reason: r\n    expires: someday\n", "not a YYYY-MM-DD date"),
    ("ignore:\n  - id: X\n    reason: r\n    until: 2024-01-01\n", "unknown field"),
    ("ignore: [\n", "not valid YAML"),
])
def test_bad_ignore_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        load_ignore(write(tmp_path, text, "ignore.yaml"))
