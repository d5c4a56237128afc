"""Every field of an OpenVEX and a CycloneDX VEX statement, read back whole: which ids, products
and texts a statement carries into a finding's mark and the report, which timestamp and order
decide between statements, and the one-line messages for wrong types. Found open by mutation
testing (``make mutate``): each assertion here fails with a mutant of ``vex/documents.py``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hullcheck.errors import FormatError
from hullcheck.vex import load_vex
from hullcheck.vex.model import Product, Statement

IMAGE = "sha256:" + "ab" * 32
PURL = "pkg:deb/debian/openssl@3.0.11-1?arch=amd64"


def write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "vex.json"
    path.write_text(json.dumps(doc))
    return path


def test_openvex_statements_keep_every_field(tmp_path: Path) -> None:
    path = write(tmp_path, {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "timestamp": "2024-01-01T00:00:00Z",
        "statements": [
            {"vulnerability": {"name": "CVE-2024-1", "@id": "https://nvd.example/CVE-2024-1",
                               "aliases": ["GHSA-xxxx", "CVE-2024-1"]},
             "products": [{"@id": f"pkg:oci/app@{IMAGE}",
                           "subcomponents": [{"identifiers": {"purl": PURL}},
                                             {"identifiers": {"cpe23": "cpe:2.3:a:x:y:1"}}]}],
             "status": "not_affected", "impact_statement": "the code is never loaded",
             "status_notes": "not shown: the impact statement says more",
             "timestamp": "2024-02-02T00:00:00Z"},
            {"vulnerability": "CVE-2024-2",
             "products": [{"hashes": {"sha-256": "AB" * 32}}],
             "status": "affected", "status_notes": "upgrade pending"},
            {"vulnerability": "CVE-2024-3",
             "products": [{"identifiers": {"cpe22": "cpe:/a:x:y:1"}}, {}],
             "status": "fixed"},
        ],
    })
    assert load_vex(path) == [
        Statement(vulnerability=("CVE-2024-1", "https://nvd.example/CVE-2024-1", "GHSA-xxxx"),
                  products=(Product(id=f"pkg:oci/app@{IMAGE}", subcomponents=(PURL,)),),
                  ignored=("cpe:2.3:a:x:y:1",), status="not_affected",
                  detail="the code is never loaded", source=str(path),
                  timestamp="2024-02-02T00:00:00Z", order=0),
        # No timestamp of its own: the document's.
        Statement(vulnerability=("CVE-2024-2",), products=(Product(id=IMAGE),),
                  status="affected", detail="upgrade pending", source=str(path),
                  timestamp="2024-01-01T00:00:00Z", order=1),
        Statement(vulnerability=("CVE-2024-3",), products=(),
                  ignored=("cpe:/a:x:y:1", "an empty product {}"), status="fixed",
                  source=str(path), timestamp="2024-01-01T00:00:00Z", order=2),
    ]


def test_openvex_subcomponents_beside_the_products_narrow_each(tmp_path: Path) -> None:
    # v0.0.x: subcomponents listed beside the products; one cannot be named.
    path = write(tmp_path, {"statements": [{
        "vulnerability": "CVE-2024-1", "status": "fixed",
        "products": [IMAGE, "pkg:oci/other@" + IMAGE.replace("ab", "cd")],
        "subcomponents": [PURL, "cpe:2.3:a:x:y:1"]}]})
    (st,) = load_vex(path)
    assert st.products == (Product(id=IMAGE, subcomponents=(PURL,)),
                           Product(id="pkg:oci/other@" + IMAGE.replace("ab", "cd"),
                                   subcomponents=(PURL,)))
    assert st.ignored == ("cpe:2.3:a:x:y:1", "cpe:2.3:a:x:y:1")


def test_cyclonedx_statements_keep_every_field(tmp_path: Path) -> None:
    path = write(tmp_path, {
        "bomFormat": "CycloneDX", "specVersion": "1.6",
        "metadata": {"component": {"bom-ref": "app", "purl": f"pkg:oci/app@{IMAGE}"}},
        "components": [{"bom-ref": "no-purl"}, {"purl": PURL},
                       {"bom-ref": "ssl", "purl": PURL}],
        "vulnerabilities": [
            {"id": "CVE-2024-1", "references": [{"id": "GHSA-xxxx"}, {"id": "CVE-2024-1"}],
             "analysis": {"state": "not_affected", "justification": "code_not_reachable",
                          "detail": "never called"},
             "affects": [{"ref": "ssl"}, {"ref": "no-purl"}]},
            {"id": "CVE-2024-2"},  # no analysis: a finding, not a statement
            {"id": "CVE-2024-3", "analysis": {"state": "resolved"},
             "affects": [{"ref": "app"}]},
        ],
    })
    assert load_vex(path) == [
        Statement(vulnerability=("CVE-2024-1", "GHSA-xxxx"), products=(Product(id=PURL),),
                  ignored=("no-purl",), status="not_affected",
                  justification="code_not_reachable", detail="never called",
                  source=str(path), order=0),
        Statement(vulnerability=("CVE-2024-3",), products=(Product(id=f"pkg:oci/app@{IMAGE}"),),
                  status="resolved", source=str(path), order=2),
    ]


def test_cyclonedx_affects_versions_narrow_and_skip(tmp_path: Path) -> None:
    base = "pkg:deb/debian/openssl?arch=amd64"
    path = write(tmp_path, {"bomFormat": "CycloneDX", "vulnerabilities": [{
        "id": "CVE-2024-1", "analysis": {"state": "not_affected", "justification": "x"},
        "affects": [
            {"ref": "cpe:2.3:a:x:y:1"},
            {"ref": base, "versions": [{"version": "3.0.11-1"},
                                       {"version": "3.0.12-1", "status": "affected"},
                                       {"range": "vers:deb/>3.0"}, {}]},
            {"ref": "pkg:npm/left-pad", "versions": [{"version": "1.3.0"}]},
            {},  # no ref: names nothing, even beside a component that has no bom-ref
        ]}], "components": [{"purl": "pkg:npm/other@1.0.0"}]})
    (st,) = load_vex(path)
    assert st.products == (Product(id="pkg:deb/debian/openssl@3.0.11-1?arch=amd64"),
                           Product(id="pkg:npm/left-pad@1.3.0"))
    assert st.ignored == ("cpe:2.3:a:x:y:1", f"{base} vers:deb/>3.0", f"{base} an empty version",
                          "an empty affects ref")


@pytest.mark.parametrize("doc, says", [
    ({"statements": [True]}, "statements[0] must be an object, not a boolean"),
    ({"statements": [None]}, "statements[0] must be an object, not null"),
    ({"statements": [{"vulnerability": "CVE-1", "status": "maybe"}]},
     "statements[0]: unknown status 'maybe'; one of not_affected, affected, fixed, "
     "under_investigation"),
    ({"statements": [{"vulnerability": "CVE-1", "status": "fixed", "timestamp": 7}]},
     "statements[0]: timestamp must be a string, not a number"),
    ({"timestamp": ["2024"], "statements": []}, "timestamp must be a string, not a list"),
    ({"statements": [{"vulnerability": {"name": "CVE-1", "@id": False}, "status": "fixed"}]},
     "statements[0]: @id must be a string, not a boolean"),
    ({"statements": [{"vulnerability": "CVE-1", "status": "fixed",
                      "products": [{"hashes": {"sha-256": 5}}]}]},
     "statements[0]: sha-256 must be a string, not a number"),
    ({"statements": [{"vulnerability": "CVE-1", "status": "fixed",
                      "products": [{"identifiers": {"cpe22": {}}}]}]},
     "statements[0]: cpe22 must be a string, not an object"),
    ({"statements": [{"vulnerability": "CVE-1", "status": "fixed",
                      "products": [{"identifiers": {"cpe23": 2.3}}]}]},
     "statements[0]: cpe23 must be a string, not a number"),
    ({"statements": [{"vulnerability": "CVE-1", "status": "not_affected",
                      "impact_statement": 1}]},
     "statements[0]: impact_statement must be a string, not a number"),
    ({"bomFormat": "CycloneDX", "vulnerabilities": [None]},
     "vulnerabilities[0] must be an object, not null"),
    ({"bomFormat": "CycloneDX", "vulnerabilities": [{"id": "CVE-1", "analysis": {"state": "x"}}]},
     "vulnerabilities[0]: unknown analysis state 'x'; one of resolved, resolved_with_pedigree, "
     "exploitable, in_triage, false_positive, not_affected"),
    ({"bomFormat": "CycloneDX", "vulnerabilities": [
        {"id": "CVE-1", "analysis": {"state": "resolved"}, "references": [True]}]},
     "vulnerabilities[0]: references[0] must be an object, not a boolean"),
    ({"bomFormat": "CycloneDX", "vulnerabilities": [
        {"id": "CVE-1", "analysis": {"state": "resolved"}, "references": [{"id": 3}]}]},
     "vulnerabilities[0]: references[0]: id must be a string, not a number"),
    ({"bomFormat": "CycloneDX", "vulnerabilities": [
        {"id": "CVE-1", "analysis": {"state": "resolved", "justification": 1}}]},
     "vulnerabilities[0]: analysis: justification must be a string, not a number"),
    ({"bomFormat": "CycloneDX", "components": [None], "vulnerabilities": []},
     "a component must be an object, not null"),
    ({"bomFormat": "CycloneDX", "vulnerabilities": [
        {"id": "CVE-1", "analysis": {"state": "resolved"},
         "affects": [{"ref": PURL, "versions": [{"version": 1}]}]}]},
     "vulnerabilities[0]: affects[0].versions[0]: version must be a string, not a number"),
    ({"bomFormat": "CycloneDX", "vulnerabilities": [
        {"id": "CVE-1", "analysis": {"state": "resolved"},
         "affects": [{"ref": PURL, "versions": {"version": "1"}}]}]},
     "vulnerabilities[0]: affects[0]: versions must be a list, not an object"),
], ids=["statement-bool", "statement-null", "status", "timestamp-number", "doc-timestamp",
        "at-id", "hash-number", "cpe22-object", "cpe23-number", "impact-number", "vuln-null", "state",
        "reference-bool", "reference-id", "justification", "component-null", "affects-version",
        "affects-versions-object"])
def test_wrong_fields_are_one_line_naming_file_and_place(tmp_path: Path, doc: dict[str, Any],
                                                        says: str) -> None:
    path = write(tmp_path, doc)
    with pytest.raises(FormatError) as exc:
        load_vex(path)
    assert str(exc.value) == f"{path}: {says}"
