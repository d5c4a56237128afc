"""The files each package owns, in CycloneDX (nested file components) and SPDX (files and
CONTAINS relationships): written, schema-valid, read back, and hostile input."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hullcheck import sbom
from hullcheck.errors import FormatError
from hullcheck.model import Inventory, Package
from tests.sbom.inventories import debian_inventory
from tests.sbom.support import DATA, assert_valid, cyclonedx_validator, spdx_validator

SHARED = "/usr/lib/python3/dist-packages/requests/api.py"
CDX_NS = {"c": "http://cyclonedx.org/schema/bom/1.6"}


def with_files(inv: Inventory, **files: tuple[str, ...]) -> Inventory:
    """``inv`` with the files of the named packages replaced."""
    packages = tuple(
        dataclasses.replace(p, files=files[p.name]) if p.name in files else p
        for p in inv.packages
    )
    return dataclasses.replace(inv, packages=packages)


def shared_inventory() -> Inventory:
    """libssl3 and requests both own SHARED (a Python module shipped by a .deb)."""
    inv = debian_inventory()
    requests = next(p for p in inv.packages if p.name == "requests")
    return with_files(inv, libssl3=("/usr/lib/x86_64-linux-gnu/libssl.so.3", SHARED),
                      requests=requests.files)


def many_files_inventory(count: int) -> Inventory:
    inv = debian_inventory()
    return with_files(inv, libssl3=tuple(f"/usr/lib/x/f{i}.so" for i in range(count)))


def by_name(packages: tuple[Package, ...]) -> dict[str, Package]:
    return {p.name: p for p in packages}


# --- SPDX ------------------------------------------------------------------------------------


def spdx_doc(inv: Inventory) -> dict[str, Any]:
    return json.loads(sbom.encode(inv, "spdx-json"))


def test_spdx_lists_each_file_once_with_contains_relationships() -> None:
    doc = spdx_doc(shared_inventory())
    assert_valid(spdx_validator(), doc)
    names = [f["fileName"] for f in doc["files"]]
    assert names == sorted(set(names))
    assert f".{SHARED}" in names
    ids = {f["fileName"]: f["SPDXID"] for f in doc["files"]}
    pkgs = {p["name"]: p["SPDXID"] for p in doc["packages"]}
    contains = {(r["spdxElementId"], r["relatedSpdxElement"]) for r in doc["relationships"]
                if r["relationshipType"] == "CONTAINS"}
    # one file element, two owners
    assert (pkgs["libssl3"], ids[f".{SHARED}"]) in contains
    assert (pkgs["requests"], ids[f".{SHARED}"]) in contains
    assert len({f["SPDXID"] for f in doc["files"]}) == len(doc["files"])


def test_spdx_files_carry_the_zero_sha1_and_the_document_says_why() -> None:
    inv = debian_inventory()
    inv = dataclasses.replace(inv, packages=tuple(
        dataclasses.replace(p, file_digests=()) for p in inv.packages))
    doc = spdx_doc(inv)
    assert {json.dumps(f["checksums"]) for f in doc["files"]} == {
        json.dumps([{"algorithm": "SHA1", "checksumValue": "0" * 40}])}
    assert f"SHA1 {'0' * 40} means the SHA1 is not known" in doc["creationInfo"]["comment"]
    assert all(f["fileName"].startswith("./") for f in doc["files"])


def test_spdx_files_analyzed_only_where_files_are_listed() -> None:
    doc = spdx_doc(debian_inventory())
    analyzed = {p["name"]: p["filesAnalyzed"] for p in doc["packages"]}
    assert analyzed["libssl3"] is True
    assert analyzed["@types/node"] is False  # owns no file
    assert analyzed["docker.io/library/debian:12"] is False  # the image
    assert analyzed["openssl"] is True
    source = next(p for p in doc["packages"] if p.get("primaryPackagePurpose") == "SOURCE")
    assert source["filesAnalyzed"] is False


def test_spdx_without_files_has_no_files_section() -> None:
    inv = debian_inventory()
    inv = dataclasses.replace(
        inv, packages=tuple(dataclasses.replace(p, files=()) for p in inv.packages))
    doc = spdx_doc(inv)
    assert "files" not in doc
    assert "comment" not in doc["creationInfo"]
    assert_valid(spdx_validator(), doc)


def test_spdx_squashed_scope_leaves_out_the_hidden_packages_files() -> None:
    doc = spdx_doc(debian_inventory("squashed"))
    assert "./usr/share/doc/curl/copyright" not in {f["fileName"] for f in doc["files"]}
    doc = spdx_doc(debian_inventory("all-layers"))
    assert "./usr/share/doc/curl/copyright" in {f["fileName"] for f in doc["files"]}


def test_spdx_round_trip_gives_each_package_its_files_again() -> None:
    inv = shared_inventory()
    decoded = by_name(sbom.decode(sbom.encode(inv, "spdx-json")).packages)
    for p in inv.visible:
        assert decoded[p.name].files == p.files
    # file elements are not packages, nor unknowns
    assert len(decoded) == len(inv.visible)


def test_spdx_file_ids_are_deterministic() -> None:
    a, b = spdx_doc(shared_inventory()), spdx_doc(shared_inventory())
    assert a["files"] == b["files"]
    assert a["relationships"] == b["relationships"]


def test_spdx_lines_are_valid_json_for_hostile_paths() -> None:
    weird = ('/a "quoted" \\ back\nslash', "/tab\there", "relative/x", "", "/ü\u2028\udc80")
    inv = with_files(debian_inventory(), libssl3=weird)
    data = sbom.encode(inv, "spdx-json")
    assert_valid(spdx_validator(), json.loads(data))
    (libssl,) = (p for p in sbom.decode(data).packages if p.name == "libssl3")
    assert libssl.files == ('/a "quoted" \\ back\nslash', "/tab\there", "/relative/x", "/",
                            "/ü\u2028\udc80")


def spdx_foreign(files: list[Any], relationships: list[Any], **package: Any) -> bytes:
    doc = {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": "x", "documentNamespace": "https://example.org/x",
        "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": ["Tool: other"]},
        "packages": [
            {"SPDXID": "SPDXRef-a", "name": "libssl3", "versionInfo": "3.0.11-1",
             "downloadLocation": "NOASSERTION", **package,
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                               "referenceLocator": "pkg:deb/debian/libssl3@3.0.11-1"}]},
            {"SPDXID": "SPDXRef-b", "name": "zlib1g", "versionInfo": "1.2.13",
             "downloadLocation": "NOASSERTION",
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                               "referenceLocator": "pkg:deb/debian/zlib1g@1.2.13"}]},
        ],
        "files": files,
        "relationships": relationships,
    }
    return json.dumps(doc).encode()


def rel(a: str, kind: str, b: str) -> dict[str, str]:
    return {"spdxElementId": a, "relationshipType": kind, "relatedSpdxElement": b}


def sha1_file(spdx_id: str, name: str) -> dict[str, Any]:
    return {"SPDXID": spdx_id, "fileName": name,
            "checksums": [{"algorithm": "SHA1", "checksumValue": "1" * 40}]}


def test_syft_style_spdx_file_names_and_the_other_ways_to_say_contains() -> None:
    files = [sha1_file("SPDXRef-f1", "usr/lib/libssl.so.3"),  # Syft, Trivy
             sha1_file("SPDXRef-f2", "/etc/ssl/openssl.cnf"),
             sha1_file("SPDXRef-f3", "./usr/share/doc/libssl3/copyright"),
             sha1_file("SPDXRef-f4", "usr/lib/libz.so.1")]
    data = spdx_foreign(
        files,
        [rel("SPDXRef-a", "CONTAINS", "SPDXRef-f1"),
         rel("SPDXRef-f2", "CONTAINED_BY", "SPDXRef-a"),
         rel("SPDXRef-b", "CONTAINS", "SPDXRef-f4")],
        hasFiles=["SPDXRef-f3"],
    )
    assert_valid(spdx_validator(), json.loads(data))
    inv = sbom.decode(data)
    pkgs = by_name(inv.packages)
    assert pkgs["libssl3"].files == (
        "/usr/share/doc/libssl3/copyright", "/usr/lib/libssl.so.3", "/etc/ssl/openssl.cnf")
    assert pkgs["zlib1g"].files == ("/usr/lib/libz.so.1",)
    assert not inv.unknowns


def test_spdx_relationships_to_unknown_ids_and_cycles_are_ignored() -> None:
    files = [sha1_file("SPDXRef-f1", "usr/lib/libssl.so.3")]
    data = spdx_foreign(files, [
        rel("SPDXRef-a", "CONTAINS", "SPDXRef-nowhere"),
        rel("SPDXRef-ghost", "CONTAINS", "SPDXRef-f1"),
        rel("SPDXRef-f1", "CONTAINS", "SPDXRef-a"),  # a file containing a package
        rel("SPDXRef-a", "CONTAINS", "SPDXRef-b"),  # a package cycle
        rel("SPDXRef-b", "CONTAINS", "SPDXRef-a"),
        rel("SPDXRef-a", "CONTAINS", "SPDXRef-a"),
        rel("SPDXRef-a", "CONTAINED_BY", "SPDXRef-f1"),
        rel("SPDXRef-a", "CONTAINS", "SPDXRef-f1"),
        rel("SPDXRef-a", "CONTAINS", "SPDXRef-f1"),  # twice: listed once
    ], hasFiles=["SPDXRef-nowhere", "SPDXRef-b"])
    pkgs = by_name(sbom.decode(data).packages)
    assert pkgs["libssl3"].files == ("/usr/lib/libssl.so.3",)
    assert pkgs["zlib1g"].files == ()


def test_spdx_files_without_an_id_or_a_name_are_skipped() -> None:
    data = spdx_foreign([{"SPDXID": "SPDXRef-f1"}, {"fileName": "x"},
                         {"SPDXID": "SPDXRef-f2", "fileName": ""}],
                        [rel("SPDXRef-a", "CONTAINS", "SPDXRef-f1"),
                         rel("SPDXRef-a", "CONTAINS", "SPDXRef-f2")])
    assert by_name(sbom.decode(data).packages)["libssl3"].files == ()


@pytest.mark.parametrize(
    ("files", "package", "message"),
    [
        ({"SPDXRef-f1": "x"}, {}, r"files: expected an array, got an object"),
        ([7], {}, r"files\[0\]: expected an object, got a number"),
        ([{"SPDXID": "SPDXRef-f1", "fileName": ["x"]}], {},
         r"files\[0\]\.fileName: expected a string, got an array"),
        ([], {"hasFiles": "SPDXRef-f1"}, r"packages\[0\]\.hasFiles: expected an array"),
        ([], {"hasFiles": [1]}, r"packages\[0\]\.hasFiles\[0\]: expected a string"),
    ],
)
def test_malformed_spdx_files_are_one_line_errors(
        files: Any, package: dict[str, Any], message: str) -> None:
    with pytest.raises(FormatError, match=rf"^doc: {message}") as info:
        sbom.decode(spdx_foreign(files, [], **package), name="doc")
    assert "\n" not in str(info.value)


# --- CycloneDX -------------------------------------------------------------------------------


def cdx_doc(inv: Inventory) -> dict[str, Any]:
    return json.loads(sbom.encode(inv, "cyclonedx-json"))


def nested(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {c["name"]: c.get("components", []) for c in doc["components"]}


def test_cyclonedx_nests_file_components_in_their_package() -> None:
    doc = cdx_doc(shared_inventory())
    assert_valid(cyclonedx_validator(), doc)
    files = nested(doc)
    assert [f["name"] for f in files["libssl3"]] == ["/usr/lib/x86_64-linux-gnu/libssl.so.3",
                                                      SHARED]
    assert {f["type"] for f in files["libssl3"]} == {"file"}
    assert files["@types/node"] == []
    # a file two packages own is in both, each with its own bom-ref
    (in_libssl,) = (f for f in files["libssl3"] if f["name"] == SHARED)
    (in_requests,) = (f for f in files["requests"] if f["name"] == SHARED)
    assert in_libssl["bom-ref"] != in_requests["bom-ref"]
    refs = [c["bom-ref"] for c in doc["components"]] + [
        f["bom-ref"] for fs in files.values() for f in fs]
    assert len(refs) == len(set(refs))
    # files are parts of their package, not dependencies of the image
    image = doc["metadata"]["component"]["bom-ref"]
    (deps,) = (d for d in doc["dependencies"] if d["ref"] == image)
    assert not set(deps["dependsOn"]) & {f["bom-ref"] for fs in files.values() for f in fs}


def test_cyclonedx_file_refs_are_deterministic() -> None:
    assert nested(cdx_doc(shared_inventory())) == nested(cdx_doc(shared_inventory()))


def test_cyclonedx_round_trip_gives_each_package_its_files_again() -> None:
    inv = shared_inventory()
    decoded = sbom.decode(sbom.encode(inv, "cyclonedx-json"))
    pkgs = by_name(decoded.packages)
    for p in inv.visible:
        assert pkgs[p.name].files == p.files
    assert len(pkgs) == len(inv.visible)
    assert not decoded.unknowns


def test_cyclonedx_xml_nests_files_after_the_properties() -> None:
    data = sbom.encode(shared_inventory(), "cyclonedx-xml")
    root = ElementTree.fromstring(data)
    (libssl,) = (c for c in root.findall("c:components/c:component", CDX_NS)
                 if c.findtext("c:name", namespaces=CDX_NS) == "libssl3")
    tags = [child.tag.split("}")[1] for child in libssl]
    assert tags[-2:] == ["properties", "components"]
    files = libssl.findall("c:components/c:component", CDX_NS)
    assert [f.get("type") for f in files] == ["file", "file"]
    assert files[1].findtext("c:name", namespaces=CDX_NS) == SHARED
    json_refs = [f["bom-ref"] for f in nested(cdx_doc(shared_inventory()))["libssl3"]]
    assert [f.get("bom-ref") for f in files] == json_refs


def test_cyclonedx_xml_file_names_with_control_characters() -> None:
    inv = with_files(debian_inventory(), libssl3=("/a\x01b", "/c<&>\"d"))
    root = ElementTree.fromstring(sbom.encode(inv, "cyclonedx-xml"))
    names = [e.text for e in root.iterfind(
        "c:components/c:component/c:components/c:component/c:name", CDX_NS)]
    assert "/a\ufffdb" in names
    assert '/c<&>"d' in names


def test_syft_top_level_file_components_are_neither_packages_nor_unknowns() -> None:
    inv = sbom.decode((DATA / "syft-like.cdx.json").read_bytes())
    assert "/usr/lib/x86_64-linux-gnu/libssl.so.3" not in {p.name for p in inv.packages}
    assert [u.reason for u in inv.unknowns] == [
        "components[2]: purl type 'swift' is not supported"]
    # nothing in Syft's document ties a file to its package
    assert all(p.files == () for p in inv.packages)


def cdx_foreign(*components: dict[str, Any]) -> bytes:
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6",
                       "components": list(components)}).encode()


def test_foreign_nested_files_and_what_is_not_a_file() -> None:
    jar = {"type": "file", "name": "/app/lib/a.jar", "purl": "pkg:maven/org.x/a@1.0",
           "components": [{"type": "file", "name": "/app/lib/a.jar!/META-INF/MANIFEST.MF"}]}
    data = cdx_foreign(
        {"type": "library", "name": "libz", "purl": "pkg:deb/debian/zlib1g@1.2.13",
         "components": [
             {"type": "file", "name": "/usr/lib/libz.so.1"},
             {"type": "file", "name": "usr/lib/libz.so.1.2.13"},  # relative: from the root
             {"type": "file", "name": "/usr/lib/libz.so.1"},  # twice: listed once
             {"type": "file"},  # no name: skipped
             {"type": "file", "name": "/etc/x", "components": [
                 {"type": "file", "name": "/etc/x/inner"}]},  # a file's part: not the package's
             jar,  # a file with a purl is a package, as before
         ]},
        {"type": "file", "name": "/orphan"},
    )
    inv = sbom.decode(data)
    pkgs = by_name(inv.packages)
    assert pkgs["zlib1g"].files == ("/usr/lib/libz.so.1", "/usr/lib/libz.so.1.2.13", "/etc/x")
    assert pkgs["org.x:a"].files == ("/app/lib/a.jar!/META-INF/MANIFEST.MF",)
    assert not inv.unknowns


@pytest.mark.parametrize(
    ("component", "message"),
    [
        ({"type": "file", "name": 7}, r"components\[0\]\.components\[0\]\.name: expected a string"),
        ([], r"components\[0\]\.components\[0\]: expected an object, got an array"),
    ],
)
def test_malformed_cyclonedx_files_are_one_line_errors(component: Any, message: str) -> None:
    data = cdx_foreign({"type": "library", "name": "libz", "purl": "pkg:deb/debian/zlib1g@1",
                        "components": [component]})
    with pytest.raises(FormatError, match=rf"^doc: {message}") as info:
        sbom.decode(data, name="doc")
    assert "\n" not in str(info.value)


# --- size and speed --------------------------------------------------------------------------


def test_a_hundred_thousand_files_decode() -> None:
    """A hostile (or just large) file list: bounded by the document size, no quadratic step."""
    files = [{"type": "file", "name": f"/f/{i}"} for i in range(100_000)]
    data = cdx_foreign({"type": "library", "name": "libz", "purl": "pkg:deb/debian/zlib1g@1",
                        "components": files})
    (p,) = sbom.decode(data).packages
    assert len(p.files) == 100_000
    spdx_files = [sha1_file(f"SPDXRef-f{i}", f"f/{i}") for i in range(100_000)]
    data = spdx_foreign(spdx_files, [rel("SPDXRef-a", "CONTAINS", f"SPDXRef-f{i}")
                                     for i in range(100_000)])
    assert len(by_name(sbom.decode(data).packages)["libssl3"].files) == 100_000


@pytest.mark.parametrize("fmt", ["cyclonedx-json", "cyclonedx-xml", "spdx-json"])
def test_ten_thousand_files_are_each_written_once(fmt: str) -> None:
    """(What encoding them costs is bench/sbom.py's business: files bypass
    cyclonedx-python-lib's model, which took 2.3 s for 5,300 files.)"""
    data = sbom.encode(many_files_inventory(10_000), fmt)
    assert data.count(b"/usr/lib/x/f9999.so") == 1
    assert data.count(b"/usr/lib/x/f") == 10_000


@pytest.mark.parametrize("fmt", ["cyclonedx-json", "cyclonedx-xml", "spdx-json"])
def test_files_can_be_left_out(fmt: str) -> None:
    inv = shared_inventory()
    data = sbom.encode(inv, fmt, files=False)
    assert SHARED.encode() not in data
    assert sbom.encode(inv, fmt, files=True).count(SHARED.encode()) >= 1
    if fmt == "spdx-json":
        doc = json.loads(data)
        assert "files" not in doc
        assert not any(p["filesAnalyzed"] for p in doc["packages"])
        assert_valid(spdx_validator(), doc)
    elif fmt == "cyclonedx-json":
        doc = json.loads(data)
        assert all("components" not in c for c in doc["components"])
        assert_valid(cyclonedx_validator(), doc)


def test_spdx_repeated_edges_and_checksums_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile document repeating one CONTAINS edge and one file's checksums thousands of
    times: each (package, file) edge is taken once, one digest per algorithm (the first)."""
    from hullcheck.sbom import _common

    calls: list[str] = []
    real_add = _common.OwnedFiles.add

    def add(self: _common.OwnedFiles, path: str, digests: Iterable[str]) -> None:
        calls.append(path)
        real_add(self, path, digests)

    monkeypatch.setattr(_common.OwnedFiles, "add", add)
    md5s = [{"algorithm": "MD5", "checksumValue": f"{i:032x}"} for i in range(1, 3001)]
    data = spdx_foreign(
        [{"SPDXID": "SPDXRef-f", "fileName": "./a", "checksums": md5s}],
        [rel("SPDXRef-a", "CONTAINS", "SPDXRef-f")] * 3000, hasFiles=["SPDXRef-f"] * 50)
    pkg = by_name(sbom.decode(data).packages)["libssl3"]
    assert pkg.files == ("/a",)
    assert pkg.file_digests == (("/a", f"md5:{1:032x}"),)
    assert calls == ["/a"]


def test_cyclonedx_repeated_file_components_keep_one_digest_per_algorithm() -> None:
    comps = [{"type": "file", "name": "/a",
              "hashes": [{"alg": "MD5", "content": f"{i:032x}"},
                         {"alg": "SHA-1", "content": f"{i:040x}"}]} for i in range(1, 2001)]
    data = cdx_foreign({"type": "library", "name": "libz", "purl": "pkg:deb/debian/zlib1g@1",
                        "components": comps})
    (p,) = sbom.decode(data).packages
    assert p.files == ("/a",)
    assert p.file_digests == (("/a", f"md5:{1:032x}"), ("/a", f"sha1:{1:040x}"))


# --- ids made a package at a time (the parent's tail: bench/README.md) ------------------------
def _counted(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    one = getattr(module, name)

    def counted(*args: Any) -> Any:
        calls.append(args)
        return one(*args)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_file_refs_and_ids_are_made_without_a_call_per_file(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from hullcheck.sbom import _common, _cyclonedx_files, spdx

    inv = many_files_inventory(300)
    before = {fmt: sbom.encode(inv, fmt) for fmt in ("cyclonedx-json", "spdx-json")}
    refs = _counted(monkeypatch, _cyclonedx_files, "_file_ref")
    ids = _counted(monkeypatch, spdx, "_spdx_id")
    made_absolute = _counted(monkeypatch, _common, "absolute")
    cdx = json.loads(sbom.encode(inv, "cyclonedx-json"))
    doc = json.loads(sbom.encode(inv, "spdx-json"))
    assert not refs and not made_absolute  # 300+ calls each before
    assert not [args for args in ids if args[0] == "File"]
    # the same documents, but for the serial number, namespace and time
    assert nested(cdx) == nested(json.loads(before["cyclonedx-json"]))
    old = json.loads(before["spdx-json"])
    assert (doc["files"], doc["relationships"]) == (old["files"], old["relationships"])
    assert len(doc["files"]) == len({f["SPDXID"] for f in doc["files"]}) >= 300


def test_a_taken_file_ref_or_id_is_made_again_as_one_by_one() -> None:
    from hullcheck.sbom import _cyclonedx_files as cdx
    from hullcheck.sbom import spdx

    owner, paths = "pkg:deb/debian/x@1", ("/a", "/b", "/c")
    taken = {cdx._file_ref(owner, "/b", set())}  # as if a 64-bit hash of /b collided
    alone = set(taken)
    expected = [cdx._file_ref(owner, path, alone) for path in paths]
    assert cdx._file_refs(owner, paths, taken) == expected
    assert taken == alone and len(taken) == 4
    assert expected[1] != cdx._file_ref(owner, "/b", set())  # made unique
    fresh: set[str] = set()
    assert cdx._file_refs(owner, paths, fresh) == [cdx._file_ref(owner, p, set()) for p in paths]
    assert len(fresh) == 3

    ids, one_by_one = spdx._FileIds(), spdx._FileIds()
    ids._taken.add(spdx._spdx_id("File", "/b"))
    one_by_one._taken.add(spdx._spdx_id("File", "/b"))
    ids.add(["/a", "/b"])
    ids.add(["/b", "/c", "/c"])
    assert [ids.id(p) for p in paths] == [one_by_one.id(p) for p in paths]
    assert len(ids) == 3 and ids.id("/b") != spdx._spdx_id("File", "/b")


def test_owned_files_are_absolute_and_each_once() -> None:
    from hullcheck.sbom._common import owned_files

    p = debian_inventory().packages[0]
    assert owned_files(dataclasses.replace(p, files=("/a", "a", "/b", "b", "/a"))) == ("/a", "/b")
    assert owned_files(dataclasses.replace(p, files=("/a", "/b", "/a"))) == ("/a", "/b")
    assert owned_files(dataclasses.replace(p, files=())) == ()


_PATHS = st.text(alphabet=st.characters(codec=None, exclude_categories=()) | st.sampled_from(
    ["&", "<", ">", '"', "\\", "\t", "\n", "\x00", "\x1f", "\x7f", "\ufffe", "\uffff", "é",
     "\udcff", "\u2028", "/"]), max_size=12)
_HASHES = st.lists(st.sampled_from([("MD5", "a" * 32), ("SHA-1", "b" * 40),
                                    ("SHA-256", "c" * 64)]), max_size=2, unique=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_PATHS, _HASHES), max_size=5))
def test_file_components_are_written_as_json_and_elementtree_write_them(
        files: list[tuple[str, list[tuple[str, str]]]]) -> None:
    """The hand-written file components against json.dumps(indent=2) and ElementTree at the
    depth a package's files have in the document."""
    from hullcheck.sbom import _cyclonedx_files as cdx

    pairs = [(f"hullcheck:file:{i:016x}", "/" + path, tuple(hashes))  # owned_files: absolute
             for i, (path, hashes) in enumerate(files)]
    if not pairs:
        return
    as_json = [{"bom-ref": ref, **({"hashes": [{"alg": a, "content": c} for a, c in hashes]}
                                   if hashes else {}), "name": path, "type": "file"}
               for ref, path, hashes in pairs]
    expected = json.dumps({"a": [{"components": as_json}]}, indent=2)
    assert expected.split('"components": ', 1)[1].rsplit("\n    }", 1)[0] == \
        cdx._json_files(pairs)

    holder = ElementTree.Element("component")
    for ref, path, hashes in pairs:
        comp = ElementTree.SubElement(holder, "component", {"type": "file", "bom-ref": ref})
        ElementTree.SubElement(comp, "name").text = cdx.XML_INVALID.sub("\ufffd", path)
        if hashes:
            listed = ElementTree.SubElement(comp, "hashes")
            for alg, content in hashes:
                ElementTree.SubElement(listed, "hash", {"alg": alg}).text = content
    root = ElementTree.Element("bom")
    ElementTree.SubElement(ElementTree.SubElement(root, "components"), "component").append(holder)
    ElementTree.indent(root)
    text = ElementTree.tostring(holder, encoding="unicode")
    assert text.removeprefix("<component>").rsplit("</component>", 1)[0] == \
        cdx._xml_files(pairs)


def test_xml_file_names_are_cleaned_only_when_they_need_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from hullcheck.sbom import _cyclonedx_files as cdx

    class Counted:
        def __init__(self) -> None:
            self.calls = 0

        def sub(self, repl: str, text: str) -> str:
            self.calls += 1
            return str(pattern.sub(repl, text))

    pattern, counted = cdx.XML_INVALID, Counted()
    monkeypatch.setattr(cdx, "XML_INVALID", counted)
    plain = many_files_inventory(200)
    sbom.encode(plain, "cyclonedx-xml", files=False)
    without = counted.calls
    sbom.encode(plain, "cyclonedx-xml")
    assert counted.calls == 2 * without  # none for the 200 printable names (one each before)
    odd = with_files(debian_inventory(), libssl3=("/a\x01b", "/c&d", "/e"))
    data = sbom.encode(odd, "cyclonedx-xml").decode()
    assert "<name>/a\ufffdb</name>" in data and "<name>/c&amp;d</name>" in data
