from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings

from hullcheck import sbom
from hullcheck.model import Inventory, Package, PackageType, SourcePackage
from hullcheck.sbom import spdx
from tests.sbom.inventories import MANIFEST, alpine_inventory, debian_inventory
from tests.sbom.support import DATA, assert_valid, spdx_file_digests, spdx_validator
from tests.sbom.test_native import inventories

INVENTORIES = {
    "debian-squashed": debian_inventory("squashed"),
    "debian-all-layers": debian_inventory("all-layers"),
    "alpine": alpine_inventory(),
}


def packages_by_name(doc: dict) -> dict[str, dict]:
    return {p["name"]: p for p in doc["packages"]}


@pytest.mark.parametrize("key", INVENTORIES)
def test_spdx_validates_against_the_2_3_schema(key: str) -> None:
    doc = json.loads(sbom.encode(INVENTORIES[key], "spdx-json"))
    assert doc["spdxVersion"] == "SPDX-2.3"
    assert_valid(spdx_validator(), doc)


@settings(max_examples=40, deadline=None)
@given(inventories)
def test_spdx_is_schema_valid_and_round_trips_for_any_inventory(inventory: Inventory) -> None:
    data = sbom.encode(inventory, "spdx-json")
    assert_valid(spdx_validator(), json.loads(data))
    decoded = sbom.decode(data)
    expected = inventory.packages if inventory.scope == "all-layers" else inventory.visible
    # files come back absolute (names are relative to the image root), each once
    # and with the digests the file elements carry
    absolute = [Package(**{**{f: getattr(p, f) for f in p.__slots__},
                           "files": tuple(dict.fromkeys(
                               f if f.startswith("/") else "/" + f for f in p.files)),
                           "file_digests": digests})
                for p, digests in zip(expected, spdx_file_digests(expected), strict=True)]
    assert list(decoded.packages) == absolute
    assert decoded.source == inventory.source
    assert decoded.layers == inventory.layers


@pytest.mark.parametrize("key", INVENTORIES)
def test_spdx_round_trip_restores_packages(key: str) -> None:
    inventory = INVENTORIES[key]
    decoded = sbom.decode(sbom.encode(inventory, "spdx-json"), name="x.spdx.json")
    expected = inventory.packages if inventory.scope == "all-layers" else inventory.visible
    assert [(p.name, p.version, p.purl, p.type, p.locations, p.source, p.visibility, p.licenses)
            for p in decoded.packages] == [
        (p.name, p.version, p.purl, p.type, p.locations, p.source, p.visibility, p.licenses)
        for p in expected
    ]
    assert decoded.distro == inventory.distro
    assert decoded.layers == inventory.layers
    assert decoded.scope == inventory.scope


def test_document_shape() -> None:
    now = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    doc = json.loads(spdx.encode(debian_inventory(), now=now))
    assert doc["creationInfo"]["created"] == "2024-05-06T07:08:09Z"
    assert doc["documentNamespace"].startswith(
        "https://hullcheck.invalid/spdx/docker.io-library-debian-12/" + "a" * 64 + "/"
    )
    other = json.loads(spdx.encode(debian_inventory(), now=now))
    assert other["documentNamespace"] != doc["documentNamespace"]
    rels = {(r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
            for r in doc["relationships"]}
    assert ("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image") in rels
    pkgs = packages_by_name(doc)
    image = pkgs["docker.io/library/debian:12"]
    assert image["primaryPackagePurpose"] == "CONTAINER"
    assert image["versionInfo"] == MANIFEST
    libssl = pkgs["libssl3"]
    assert ("SPDXRef-Image", "CONTAINS", libssl["SPDXID"]) in rels
    source = next(p for p in doc["packages"] if p.get("primaryPackagePurpose") == "SOURCE")
    assert (source["name"], source["versionInfo"]) == ("openssl", "3.0.11-1~deb12u2")
    assert (libssl["SPDXID"], "GENERATED_FROM", source["SPDXID"]) in rels
    assert {r["referenceType"]: r["referenceCategory"] for r in libssl["externalRefs"]} == {
        "purl": "PACKAGE-MANAGER", "cpe23Type": "SECURITY"}
    assert libssl["licenseDeclared"] == "Apache-2.0"
    assert "layer 1 (sha256:2222" in libssl["sourceInfo"]
    assert "apt-get install" in libssl["sourceInfo"]
    assert "curl" not in pkgs  # hidden, squashed scope
    facts = json.loads(doc["annotations"][0]["comment"].removeprefix("hullcheck:document "))
    assert (facts["hiddenPackages"], facts["hiddenPackagesOmitted"]) == (1, 1)


def test_invalid_licence_text_becomes_a_license_ref() -> None:
    doc = json.loads(sbom.encode(debian_inventory(), "spdx-json"))
    node = packages_by_name(doc)["@types/node"]
    expr = node["licenseDeclared"]
    assert expr.startswith("(MIT OR Apache-2.0) AND LicenseRef-BSD-style-")
    ref = expr.split(" AND ")[1]
    assert {"licenseId": ref, "name": "BSD-style", "extractedText": "BSD-style"} in doc[
        "hasExtractedLicensingInfos"]


def test_all_layers_lists_hidden_packages_with_their_visibility() -> None:
    inv = sbom.decode(sbom.encode(debian_inventory("all-layers"), "spdx-json"))
    (curl,) = inv.hidden
    assert curl.name == "curl"
    assert curl.source == SourcePackage(name="curl", version="7.88.1-10+deb12u5")


def test_official_spdx_example_decodes() -> None:
    data = (DATA / "SPDXJSONExample-v2.3.spdx.json").read_bytes()
    assert_valid(spdx_validator(), json.loads(data))
    inv = sbom.decode(data, name="example.spdx.json")
    (jena,) = inv.packages
    assert (jena.type, jena.name, jena.version) == (
        PackageType.MAVEN, "org.apache.jena:apache-jena", "3.12.0")
    assert jena.purl == "pkg:maven/org.apache.jena/apache-jena@3.12.0"
    assert jena.found_by == "sbom-spdx"
    # the described package without a purl is the subject, not a package
    assert inv.source.name == "glibc"
    # packages without a purl are recorded, not dropped silently
    assert sorted(u.reason for u in inv.unknowns) == [
        "packages[1]: no purl", "packages[3]: no purl"]
    assert all(u.location.path == "example.spdx.json" for u in inv.unknowns)


def test_foreign_spdx_package_reads_standard_fields() -> None:
    doc = {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": "x", "documentNamespace": "https://example.org/x",
        "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": ["Tool: other"]},
        "hasExtractedLicensingInfos": [
            {"licenseId": "LicenseRef-1", "name": "Custom", "extractedText": "..."}],
        "packages": [
            {"SPDXID": "SPDXRef-a", "name": "libssl3", "versionInfo": "3.0.11-1",
             "downloadLocation": "NOASSERTION", "licenseDeclared": "LicenseRef-1",
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                               "referenceLocator":
                               "pkg:deb/debian/libssl3@3.0.11-1?arch=arm64&distro=debian-12"}]},
            {"SPDXID": "SPDXRef-s", "name": "openssl", "versionInfo": "3.0.11-1",
             "downloadLocation": "NOASSERTION", "primaryPackagePurpose": "SOURCE"},
        ],
        "relationships": [{"spdxElementId": "SPDXRef-a", "relationshipType": "GENERATED_FROM",
                           "relatedSpdxElement": "SPDXRef-s"}],
    }
    assert_valid(spdx_validator(), doc)
    inv = sbom.decode(json.dumps(doc).encode())
    (p,) = inv.packages
    assert p.source == SourcePackage(name="openssl", version="3.0.11-1")
    assert (p.arch, p.licenses) == ("arm64", ("Custom",))
    assert inv.distro is not None
    assert (inv.distro.id, inv.distro.version_id) == ("debian", "12")


@pytest.mark.parametrize(("text", "expected"), [
    ("GPL", None),  # license-expression alone: GPL-1.0-or-later
    ("LicenseRef-MIT-TC", "LicenseRef-MIT-TC"),  # license-expression alone: MIT
    ("mit and LicenseRef-x", "mit and LicenseRef-x"),
    ("gpl-2.0+", "GPL-2.0-or-later"),
    ("LicenseRef-a AND BOGUS", None),
    # not SPDX license-refs at all (idstring is [A-Za-z0-9.-]+, the prefix is as written)
    ("LicenseRef-a_b", None), ("LicenseRef-", None), ("DocumentRef-foo", None),
    ("licenseref-lower", None), ("MIT AND LicenseRef-café", None),
    ("DocumentRef-d:LicenseRef-y", "DocumentRef-d:LicenseRef-y"),
])
def test_licence_aliases_are_not_resolved(text: str, expected: str | None) -> None:
    from hullcheck.sbom._license import spdx_expression

    assert spdx_expression(text) == expected
