"""VEX documents and ignore files: parsing, product matching, errors with the file named."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import pytest

from hullcheck.errors import FormatError
from hullcheck.match.model import Finding, Status
from hullcheck.model import Location, Package, PackageType, Severity
from hullcheck.vex import apply, load_ignore, load_vex
from hullcheck.vulndb.severity import UNKNOWN

DIGEST = "sha256:" + "ab" * 32
REQ = Package(type=PackageType.PYTHON, name="requests", version="2.19.0",
              purl="pkg:pypi/requests@2.19.0", found_by="t", locations=(Location(path="/x"),))


def finding(pkg: Package = REQ, fid: str = "CVE-2018-18074",
            aliases: tuple[str, ...] = ("PYSEC-2018-28",)) -> Finding:
    return Finding(package=pkg, id=fid, aliases=aliases, severity=Severity.MEDIUM, score=UNKNOWN,
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
    for status in ("affected", "under_investigation"):
        st = {"vulnerability": {"name": "CVE-2018-18074"}, "status": status,
              "products": [{"@id": "pkg:pypi/requests@2.19.0"}]}
        out, notes = apply([finding()], load_vex(write(tmp_path, openvex(st))),
                           today=date(2024, 1, 1))
        assert out[0].suppressed is None and notes == []


def test_cyclonedx_bom_link_ref(tmp_path: Path) -> None:
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "vulnerabilities": [
        {"id": "CVE-2018-18074", "analysis": {"state": "false_positive", "detail": "not used"},
         "affects": [{"ref": "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#"
                             "pkg:pypi/requests@2.19.0"}]}]}
    out, _ = apply([finding()], load_vex(write(tmp_path, doc)), today=date(2024, 1, 1))
    assert out[0].suppressed is not None and out[0].suppressed.reason == "false_positive: not used"


@pytest.mark.parametrize(("doc", "message"), [
    ("not json", "not valid JSON"),
    ([], "expected a JSON object, got a list"),
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


# -- product matching: purl qualifiers (present must match, absent match anything) ------------

OPENSSL = Package(type=PackageType.DEB, name="openssl", version="3.0.11-1",
                  purl="pkg:deb/debian/openssl@3.0.11-1?arch=amd64&distro=debian-12",
                  found_by="t", locations=(Location(path="/var/lib/dpkg/status"),))


@pytest.mark.parametrize(("product", "applies"), [
    ("pkg:deb/debian/openssl@3.0.11-1", True),  # no qualifiers: any arch, any distro
    ("pkg:deb/debian/openssl", True),  # no version: any version
    ("pkg:deb/debian/openssl@3.0.11-1?arch=amd64", True),
    ("pkg:deb/debian/openssl@3.0.11-1?distro=debian-12&arch=amd64", True),
    ("pkg:deb/debian/openssl@3.0.11-1?arch=arm64", False),  # another architecture's build
    ("pkg:deb/debian/openssl@3.0.11-1?arch=amd64&distro=debian-11", False),
    ("pkg:deb/debian/openssl@3.0.11-1?arch=amd64&epoch=1", False),  # a qualifier it lacks
    ("pkg:deb/debian/openssl@3.0.11-1#usr/lib", False),  # a subpath it lacks
    ("pkg:deb/debian/openssl@3.0.11-2?arch=amd64", False),
    ("pkg:deb/ubuntu/openssl@3.0.11-1", False),
])
def test_package_products_match_by_purl_with_qualifiers(tmp_path: Path, product: str,
                                                        applies: bool) -> None:
    st = {"vulnerability": "CVE-2023-5678", "status": "not_affected",
          "justification": "vulnerable_code_not_present", "products": [product]}
    out, _ = apply([finding(OPENSSL, "CVE-2023-5678", ())],
                   load_vex(write(tmp_path, openvex(st))), today=date(2024, 1, 1))
    assert (out[0].suppressed is not None) is applies


@pytest.mark.parametrize(("subcomponent", "applies"), [
    ("pkg:deb/debian/openssl@3.0.11-1?arch=amd64", True),
    ("pkg:deb/debian/openssl@3.0.11-1?arch=arm64", False),
])
def test_subcomponent_qualifiers_inside_an_image(tmp_path: Path, subcomponent: str,
                                                 applies: bool) -> None:
    st = {"vulnerability": "CVE-2023-5678", "status": "fixed",
          "products": [{"@id": f"pkg:oci/app@{DIGEST}", "subcomponents": [subcomponent]}]}
    statements = load_vex(write(tmp_path, openvex(st)))
    out, _ = apply([finding(OPENSSL, "CVE-2023-5678", ())], statements, today=date(2024, 1, 1),
                   image_ids=[DIGEST])
    assert (out[0].suppressed is not None) is applies
    # the same statement does not reach into another image (sha256:B is not sha256:A)
    out, _ = apply([finding(OPENSSL, "CVE-2023-5678", ())], statements, today=date(2024, 1, 1),
                   image_ids=["sha256:" + "cd" * 32])
    assert out[0].suppressed is None


def test_ignore_rule_package_purl_qualifiers(tmp_path: Path) -> None:
    for package, applies in (("pkg:deb/debian/openssl?arch=arm64", False),
                             ("pkg:deb/debian/openssl?arch=amd64", True), ("openssl", True)):
        path = write(tmp_path, f"ignore:\n  - id: CVE-2023-5678\n    reason: r\n"
                               f"    package: '{package}'\n", "ignore.yaml")
        out, _ = apply([finding(OPENSSL, "CVE-2023-5678", ())], rules=load_ignore(path),
                       today=date(2024, 1, 1))
        assert (out[0].suppressed is not None) is applies, package


# -- fail safe: a statement applies only to the products it names -----------------------------

CPE = "cpe:2.3:a:python:requests:2.19.0:*:*:*:*:*:*:*"
NOTE = ("VEX: 1 statement(s) name products hullcheck cannot match to this image or its "
        "packages ({}); those products are ignored, and a statement left with none applies "
        "to nothing")


def _not_affected(**st: object) -> dict[str, object]:
    return {"vulnerability": {"name": "CVE-2018-18074"}, "status": "not_affected",
            "justification": "component_not_present", **st}


@pytest.mark.parametrize(("statement", "named"), [
    (_not_affected(products=[{"identifiers": {"cpe23": CPE}}]), CPE),
    (_not_affected(products=[CPE]), CPE),
    (_not_affected(products=[{}]), "an empty product {}"),
    (_not_affected(products=[{"@id": "https://example.invalid/product/requests"}]),
     "https://example.invalid/product/requests"),
    (_not_affected(products=[{"@id": "pkg:"}]), "pkg:"),
    (_not_affected(), "no product"),
    (_not_affected(products=[]), "no product"),
    # scoped to subcomponents that cannot be named: not widened to the whole image
    (_not_affected(products=[{"@id": f"pkg:oci/app@{DIGEST}", "subcomponents": [{}]}]),
     "an empty product {}, pkg:oci/app@" + DIGEST + " (none of its subcomponents)"),
])
def test_openvex_products_that_name_nothing_apply_to_nothing(
        tmp_path: Path, statement: dict[str, object], named: str) -> None:
    statements = load_vex(write(tmp_path, openvex(statement)))
    out, notes = apply([finding()], statements, today=date(2024, 1, 1), image_ids=[DIGEST])
    assert out[0].suppressed is None
    assert notes == [NOTE.format(named)]


@pytest.mark.parametrize(("affects", "named"), [
    ([{"ref": ""}], "an empty affects ref"),
    ([{}], "an empty affects ref"),
    ([{"ref": "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#"}],
     "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#"),
    ([{"ref": "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1"}],
     "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1"),
    ([{"ref": "no-such-component"}], "no-such-component"),
    ([{"ref": "no-purl"}], "no-purl"),  # a component without a purl
    ([], "no product"),
])
def test_cyclonedx_affects_that_name_nothing_apply_to_nothing(
        tmp_path: Path, affects: list[object], named: str) -> None:
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
           "components": [{"type": "library", "bom-ref": "no-purl", "name": "requests"}],
           "vulnerabilities": [{"id": "CVE-2018-18074", "affects": affects,
                                "analysis": {"state": "not_affected"}}]}
    out, notes = apply([finding()], load_vex(write(tmp_path, doc)), today=date(2024, 1, 1),
                       image_ids=[DIGEST])
    assert out[0].suppressed is None
    assert notes == [NOTE.format(named)]


def test_cyclonedx_refs_resolve_to_the_bom_subject_and_nested_components(tmp_path: Path) -> None:
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
           "metadata": {"component": {"type": "container", "bom-ref": "image", "name": "app",
                                      "purl": f"pkg:oci/app@{DIGEST}"}},
           "components": [{"type": "application", "bom-ref": "app", "name": "app",
                           "components": [{"type": "library", "bom-ref": "req",
                                           "name": "requests",
                                           "purl": "pkg:pypi/requests@2.19.0"}]}],
           "vulnerabilities": [
               {"id": "CVE-2018-18074", "affects": [{"ref": "req"}],
                "analysis": {"state": "resolved"}},
               {"id": "CVE-2099-1", "affects": [{"ref": "image"}],
                "analysis": {"state": "false_positive"}}]}
    statements = load_vex(write(tmp_path, doc))
    out, notes = apply([finding(), finding(fid="CVE-2099-1", aliases=())], statements,
                       today=date(2024, 1, 1), image_ids=[DIGEST])
    assert [f.suppressed is not None for f in out] == [True, True] and notes == []
    out, _ = apply([finding(fid="CVE-2099-1", aliases=())], statements, today=date(2024, 1, 1),
                   image_ids=["sha256:" + "cd" * 32])
    assert out[0].suppressed is None  # the BOM's image is not this one


def test_openvex_v0_0_statement_subcomponents_narrow_the_product(tmp_path: Path) -> None:
    # v0.0.x put subcomponents beside the products: the image is not affected *through them*
    st = {"vulnerability": "CVE-2018-18074", "status": "not_affected",
          "justification": "component_not_present", "products": [f"pkg:oci/app@{DIGEST}"],
          "subcomponents": ["pkg:pypi/urllib3"]}
    out, notes = apply([finding()], load_vex(write(tmp_path, openvex(st))),
                       today=date(2024, 1, 1), image_ids=[DIGEST])
    assert out[0].suppressed is None and notes == []


def test_image_named_by_openvex_hash_or_repo_digest(tmp_path: Path) -> None:
    for product in ({"@id": "https://example.invalid/app", "hashes": {"sha-256": "ab" * 32}},
                    f"registry.invalid/app@{DIGEST}"):
        st = _not_affected(products=[product])
        out, notes = apply([finding()], load_vex(write(tmp_path, openvex(st))),
                           today=date(2024, 1, 1), image_ids=[DIGEST])
        assert out[0].suppressed is not None and notes == [], product


def test_one_note_counts_every_statement_that_names_nothing(tmp_path: Path) -> None:
    sts = [_not_affected(products=[{}]), _not_affected(products=[CPE]),
           {**_not_affected(products=[{}]), "vulnerability": "CVE-2000-1"}]
    _, notes = apply([finding()], load_vex(write(tmp_path, openvex(*sts))),
                     today=date(2024, 1, 1))
    assert notes == [NOTE.format(f"an empty product {{}}, {CPE}").replace("1 statement", "3 "
                                                                             "statement")]


@pytest.mark.parametrize(("affected_at", "suppressed"), [("2024-06-01", False),
                                                          ("2023-06-01", True)])
def test_latest_statement_wins_across_a_findings_ids(tmp_path: Path, affected_at: str,
                                                     suppressed: bool) -> None:
    product = ["pkg:pypi/requests@2.19.0"]
    sts: list[dict[str, object]] = [
        {"vulnerability": {"name": "CVE-2018-18074", "aliases": ["PYSEC-2018-28"]},
         "status": "not_affected", "justification": "component_not_present",
         "products": product, "timestamp": "2024-01-01T00:00:00Z"},
        {"vulnerability": "PYSEC-2018-28", "status": "affected", "products": product,
         "timestamp": f"{affected_at}T00:00:00Z"}]
    out, _ = apply([finding()], load_vex(write(tmp_path, openvex(*sts))), today=date(2024, 7, 1))
    assert (out[0].suppressed is not None) is suppressed


def test_cyclonedx_affects_versions_narrow_never_widen(tmp_path: Path) -> None:
    """``affects[].versions`` names the versions the analysis covers: a statement for
    requests 2.19.0 does not suppress requests 2.20.0; a vers range is not evaluated, so it
    names nothing (with a note); a version marked affected is not covered."""
    import dataclasses

    newer = dataclasses.replace(REQ, version="2.20.0", purl="pkg:pypi/requests@2.20.0")
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
           "components": [{"type": "library", "bom-ref": "req", "name": "requests",
                           "purl": "pkg:pypi/requests"}],
           "vulnerabilities": [
               {"id": "CVE-2018-18074", "analysis": {"state": "not_affected"},
                "affects": [{"ref": "req", "versions": [{"version": "2.19.0", "status": "unaffected"},
                                                        {"version": "2.20.0", "status": "affected"},
                                                        {"range": "vers:pypi/<3"}]}]}]}
    statements = load_vex(write(tmp_path, doc))
    out, notes = apply([finding(REQ), finding(newer)], statements, today=date(2024, 1, 1))
    assert out[0].suppressed is not None
    assert out[1].suppressed is None
    assert any("vers:pypi/<3" in n for n in notes)
