from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hullcheck import sbom
from hullcheck.errors import FormatError
from hullcheck.model import (
    DetectedLicense,
    Distro,
    ImageSource,
    Inventory,
    Layer,
    Location,
    Package,
    PackageType,
    Relationship,
    RelationshipType,
    SourcePackage,
    Supplier,
    SupplierKind,
    Unknown,
    Visibility,
)
from hullcheck.sbom import native
from tests.sbom.inventories import alpine_inventory, debian_inventory

text = st.text(max_size=12)  # any code point, lone surrogates included
texts = st.lists(text, max_size=3).map(tuple)
pairs = st.lists(st.tuples(text, text), max_size=2).map(tuple)
locations = st.builds(Location, path=text, layer=st.none() | st.integers(0, 5))
# Paths that packages share, and digests valid, malformed or of unknown algorithms.
file_paths = st.sampled_from(("/a", "/b", "b")) | text
digests = st.sampled_from((
    "md5:" + "0123456789abcdef" * 2, "sha1:" + "ab" * 20, "sha1:" + "0" * 40,
    "sha256:" + "CD" * 32, "sha224:" + "e" * 56, "sha512:" + "f" * 128, "md5:xyz", "crc:1",
)) | text
packages = st.builds(
    Package,
    type=st.sampled_from(PackageType), name=text, version=text, purl=text, found_by=text,
    locations=st.lists(locations, max_size=2).map(tuple), licenses=texts,
    detected_licenses=st.lists(st.builds(DetectedLicense, expression=text, path=text,
                                         confidence=st.none() | st.floats(0, 1)),
                               max_size=2).map(tuple),
    supplier=st.none() | st.builds(Supplier, name=text, email=text,
                                   kind=st.sampled_from(SupplierKind)),
    source=st.none() | st.builds(SourcePackage, name=text, version=text), arch=text,
    files=st.lists(file_paths, max_size=3).map(tuple),
    file_digests=st.lists(st.tuples(file_paths, digests), max_size=3).map(tuple),
    cpes=texts, visibility=st.sampled_from(Visibility), extras=pairs,
)
inventories = st.builds(
    Inventory,
    source=st.builds(ImageSource, kind=text, name=text, manifest_digest=text,
                     config_digest=text, repo_digests=texts, tags=texts, platform=text,
                     created=text, labels=pairs),
    distro=st.none() | st.builds(Distro, id=text, version_id=text, codename=text, name=text,
                                 pretty_name=text, id_like=texts),
    layers=st.lists(st.builds(Layer, index=st.integers(0, 9), digest=text, diff_id=text,
                              media_type=text, size=st.integers(0, 2**53),
                              created_by=text), max_size=3).map(tuple),
    packages=st.lists(packages, max_size=4).map(tuple),
    relationships=st.lists(st.builds(Relationship, source=text, target=text,
                                     type=st.sampled_from(RelationshipType)),
                           max_size=2).map(tuple),
    unknowns=st.lists(st.builds(Unknown, location=locations, cataloger=text, reason=text),
                      max_size=2).map(tuple),
    scope=st.sampled_from(["squashed", "all-layers"]),
)


@settings(max_examples=200, deadline=None)
@given(inventories)
def test_native_round_trip_is_lossless(inventory: Inventory) -> None:
    assert sbom.decode(sbom.encode(inventory, "json")) == inventory


@pytest.mark.parametrize("inventory", [debian_inventory(), alpine_inventory()])
def test_native_keeps_hidden_packages_files_and_unknowns(inventory: Inventory) -> None:
    data = sbom.encode(inventory, "json")
    assert json.loads(data)["hullcheckSchema"] == 1
    assert sbom.decode(data) == inventory


def test_native_keeps_hidden_packages_in_squashed_scope() -> None:
    inventory = debian_inventory("squashed")
    decoded = sbom.decode(sbom.encode(inventory, "json"))
    assert [p.name for p in decoded.hidden] == ["curl"]
    assert decoded.unknowns[0].reason == "truncated stanza"


def test_native_refuses_a_newer_schema() -> None:
    doc = json.loads(native.encode(alpine_inventory()))
    doc["hullcheckSchema"] = 2
    with pytest.raises(FormatError, match=r"^x\.json: hullcheckSchema: schema version 2"):
        sbom.decode(json.dumps(doc).encode(), name="x.json")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("packages", 0, "name"), 7, r"packages\[0\]\.name: expected a string, got a number"),
        (("packages", 0, "type"), "cobol", r"packages\[0\]\.type: unknown value 'cobol'"),
        (("packages", 0, "locations"), {}, r"packages\[0\]\.locations: expected an array"),
        (("layers", 0, "index"), True, r"layers\[0\]\.index: expected an integer, got a boolean"),
        (("source",), [], r"source: expected an object, got an array"),
        (("packages", 0, "extras"), [["k"]], r"packages\[0\]\.extras\[0\]: expected a \[key"),
    ],
)
def test_native_wrong_types_name_the_field(path: tuple, value: object, message: str) -> None:
    doc = json.loads(native.encode(alpine_inventory()))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(FormatError, match=rf"^img\.json: {message}"):
        sbom.decode(json.dumps(doc).encode(), name="img.json")
