"""The CycloneDX JSON writer against its oracle, cyclonedx-python-lib: the same bytes for
generated inventories; and encoding time linear in packages (counted, not timed)."""

from __future__ import annotations

import json
import re
from typing import Any

from cyclonedx.model.bom import Bom
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from hypothesis import given, settings
from hypothesis import strategies as st

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
    Visibility,
)
from hullcheck.sbom import _cyclonedx_files as cdx_files
from hullcheck.sbom import cyclonedx
from tests.sbom import cyclonedx_model

VOLATILE = re.compile(r'"(timestamp|serialNumber)": "[^"]*"')


def _library(inventory: Inventory) -> str:
    """What the library's own JSON outputter writes (files nested as the encoder nests them)."""
    bom = cyclonedx_model.library_bom(inventory)
    doc = json.loads(make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6).output_as_string())
    return cdx_files.dump_json(doc, cdx_files.owned(inventory))


def _ours(inventory: Inventory) -> str:
    return cdx_files.dump_json(cyclonedx._json_document(inventory), cdx_files.owned(inventory))


def _same(a: str, b: str) -> None:
    assert VOLATILE.sub('"\\1": "X"', a) == VOLATILE.sub('"\\1": "X"', b)


names = st.sampled_from(["curl", "libssl3", "requests", "@s/pkg", "a", "A", "zlib", "", "é",
                         "x<y&z", "tab\there", "ctl\x01"])
versions = st.sampled_from(["1.0", "1.0.1", "", "2:1.2-3", "1.0", "0.9"])
licences = st.lists(st.sampled_from(["MIT", "Apache-2.0", "GPL-2.0-or-later OR MIT",
                                     "LicenseRef-x", "Custom licence", "mit", "BSD", "MIT"]),
                    max_size=3)
suppliers = st.sampled_from([
    None, Supplier(name="Debian Team", email="team@debian.org"),
    Supplier(name="Jo\tDoe", email="jo@x.org", kind=SupplierKind.PERSON),
    Supplier(name="Fedora Project"), Supplier(name="", email="only@mail.example"),
    Supplier(name="odd", email="not an address")])
types = st.sampled_from([PackageType.DEB, PackageType.NPM, PackageType.PYTHON,
                         PackageType.BINARY])


@st.composite
def packages(draw: Any) -> Package:
    t, name, version = draw(types), draw(names), draw(versions)
    texts = tuple(draw(licences))
    # Some of the licences concluded from licence text (CycloneDX acknowledgement).
    detected = tuple(DetectedLicense(expression=x, confidence=0.9, path="/copyright")
                     for x in dict.fromkeys(texts) if draw(st.booleans()))
    purl = draw(st.sampled_from([f"pkg:{t.value}/{name or 'x'}@{version or '0'}", "",
                                 "not a purl", f"pkg:{t.value}/{name or 'x'}?arch=amd64"]))
    return Package(
        type=t, name=name, version=version, purl=purl, found_by="test",
        locations=(Location(path=draw(st.sampled_from(["/a", "/b/c"])),
                            layer=draw(st.sampled_from([None, 0, 1]))),),
        licenses=texts, detected_licenses=detected, supplier=draw(suppliers),
        source=draw(st.sampled_from([None, SourcePackage(name="src", version="1")])),
        arch=draw(st.sampled_from(["", "amd64"])),
        files=tuple(draw(st.lists(st.sampled_from(["/usr/bin/x", "/etc/y", "rel/z"]),
                                  max_size=2))),
        cpes=tuple(draw(st.lists(st.sampled_from(["cpe:2.3:a:x:y:1:*:*:*:*:*:*:*"]),
                                 max_size=2))),
        visibility=draw(st.sampled_from(list(Visibility))),
        extras=tuple(draw(st.lists(st.sampled_from([("k", "v"), ("k", "w"), ("a", "v")]),
                                   max_size=3))),
    )


LAYERS = (Layer(index=0, digest="sha256:" + "d" * 64, diff_id="sha256:" + "1" * 64,
                created_by="RUN x"),
          Layer(index=1, digest="sha256:" + "e" * 64, diff_id="sha256:" + "2" * 64))


@st.composite
def inventories(draw: Any) -> Inventory:
    pkgs = tuple(draw(st.lists(packages(), max_size=8)))
    rels = tuple(Relationship(source=p.purl, target="pkg:deb/x@1", type=RelationshipType.OWNED_BY)
                 for p in pkgs[:draw(st.integers(0, 2))])
    distro = draw(st.sampled_from([None, Distro(id="debian", version_id="12",
                                                pretty_name="Debian 12"),
                                   Distro(id="alpine")]))
    source = draw(st.sampled_from([
        ImageSource(kind="oci", name="img", manifest_digest="sha256:" + "a" * 64),
        ImageSource(kind="registry", name="docker.io/library/debian:12"),
        ImageSource(kind="dir", name="")]))
    return Inventory(source=source, distro=distro, layers=LAYERS, packages=pkgs,
                     relationships=rels, scope=draw(st.sampled_from(["squashed", "all-layers"])))


@settings(max_examples=150, deadline=None)
@given(inventories())
def test_json_is_the_librarys_byte_for_byte(inventory: Inventory) -> None:
    _same(_ours(inventory), _library(inventory))


XML_VOLATILE = re.compile(r'(serialNumber="|<timestamp>)[^"<]*')


@settings(max_examples=150, deadline=None)
@given(inventories())
def test_xml_is_the_librarys_byte_for_byte(inventory: Inventory) -> None:
    owned = cdx_files.owned(inventory)
    ours = cdx_files.dump_xml(cyclonedx._xml_root(cyclonedx._json_document(inventory)), owned)
    library = cdx_files.dump_xml(cyclonedx_model.library_xml_root(inventory), owned)
    assert XML_VOLATILE.sub(r"\1X", ours) == XML_VOLATILE.sub(r"\1X", library)


def _many(n: int) -> Inventory:
    pkgs = tuple(Package(type=PackageType.NPM, name=f"p{i}", version="1.0", purl=f"pkg:npm/p{i}@1.0",
                         found_by="npm-package", locations=(Location(path=f"/n/p{i}/package.json",
                                                                     layer=0),), licenses=("MIT",))
                 for i in range(n))
    return Inventory(source=ImageSource(kind="oci", name="x"), layers=LAYERS[:1], packages=pkgs)


def test_the_oracles_model_registers_dependencies_linearly(monkeypatch: Any) -> None:
    """The library's registration compares a ref with every dependency registered so far:
    counted here through BomRef equality, which it calls for each comparison."""
    from cyclonedx.model.bom_ref import BomRef

    calls = {"eq": 0}
    real_eq = BomRef.__eq__

    def counting(self: BomRef, other: object) -> bool:
        calls["eq"] += 1
        return real_eq(self, other)

    monkeypatch.setattr(BomRef, "__eq__", counting)
    counts = []
    for n in (200, 800):
        calls["eq"] = 0
        cyclonedx_model.library_xml_root(_many(n))
        counts.append(calls["eq"])
    # Linear: four times the packages, about four times the comparisons (the library's own
    # registration made sixteen times as many: n² / 2 each time it is called).
    assert counts[1] < 6 * counts[0], counts


def test_large_inventories_match_and_are_written_without_the_model(monkeypatch: Any) -> None:
    inventory = _many(300)
    expected = _library(inventory)
    owned = cdx_files.owned(inventory)
    expected_xml = cdx_files.dump_xml(cyclonedx_model.library_xml_root(inventory), owned)

    def refuse(*_a: Any, **_k: Any) -> None:
        raise AssertionError("the encoder built the library's model")

    monkeypatch.setattr(Bom, "__init__", refuse)
    _same(cyclonedx.encode(inventory).decode().rstrip("\n"), expected)
    xml = cyclonedx.encode(inventory, xml=True).decode().rstrip("\n")
    assert XML_VOLATILE.sub(r"\1X", xml) == XML_VOLATILE.sub(r"\1X", expected_xml)


def _nested(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(children, max_size=4),
                     st.dictionaries(st.text(), children, max_size=4))


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(), _nested,
                           max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_the_fast_indenter_writes_what_json_dumps_writes(value: Any) -> None:
    assert cdx_files.dumps_indented(value) == json.dumps(value, indent=2)


def test_spdx_ids_are_fixed_up_as_the_library_fixes_them_up() -> None:
    """The encoder reads the library's SPDX id list from its schema file instead of importing
    ``cyclonedx.spdx``: every id, in any case, and names that are no id, as the library says."""
    from cyclonedx import spdx

    ids = sorted(cyclonedx._spdx_ids().values())
    assert len(ids) > 500 and "Apache-2.0" in ids
    words = [*ids, *(i.lower() for i in ids), *(i.upper() for i in ids),
             "BSD", "GPL", "Custom licence", "", "MIT OR Apache-2.0", "LicenseRef-x"]
    assert [cyclonedx.fixup_id(w) for w in words] == [spdx.fixup_id(w) for w in words]
