"""What the package databases record of each file's content, in the SBOMs: SPDX file checksums
(the real SHA1 when known, else the required zero SHA1 and the known algorithms), CycloneDX file
component hashes; written schema-valid, read back, and hostile values left out."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hullcheck import catalog, filetree, sbom
from hullcheck.errors import FormatError
from hullcheck.image import open_image
from hullcheck.model import Inventory, Package, PackageType, file_digest
from hullcheck.sbom._cyclonedx_files import parse_xml
from tests.fixtures.debootstrap import debootstrap_rootfs
from tests.fixtures.tools import need_command
from tests.sbom.inventories import debian_inventory
from tests.sbom.support import (
    assert_valid,
    cyclonedx_file_digests,
    cyclonedx_validator,
    spdx_file_digests,
    spdx_validator,
)
from tests.sbom.test_files import SHARED, cdx_foreign, rel, spdx_foreign, with_files

LIBSSL = "/usr/lib/x86_64-linux-gnu/libssl.so.3"
CONF = "/etc/ssl/openssl.cnf"
DOC = "/usr/share/doc/libssl3/copyright"
CONTENT = {LIBSSL: b"\x7fELF libssl", CONF: b"[openssl]\n", DOC: b"Format: ...\n"}
ZERO = "0" * 40
CDX_NS = {"c": "http://cyclonedx.org/schema/bom/1.6"}


def digest(algorithm: str, path: str) -> str:
    return f"{algorithm}:{hashlib.new(algorithm, CONTENT[path]).hexdigest()}"


def inventory(**digests: tuple[tuple[str, str], ...]) -> Inventory:
    """libssl3 owns LIBSSL, CONF and DOC; the named packages get the given digests."""
    inv = with_files(debian_inventory(), libssl3=(LIBSSL, CONF, DOC))
    return dataclasses.replace(inv, packages=tuple(
        dataclasses.replace(p, file_digests=digests.get(p.name, ()))
        for p in inv.packages))


def mixed() -> Inventory:
    """dpkg-like MD5 for the library, SHA1 and SHA256 for the config file, nothing for DOC."""
    return inventory(libssl3=tuple(sorted([
        (LIBSSL, digest("md5", LIBSSL)),
        (CONF, digest("sha1", CONF)),
        (CONF, digest("sha256", CONF)),
    ])))


def by_name(packages: tuple[Package, ...]) -> dict[str, Package]:
    return {p.name: p for p in packages}


# --- SPDX ------------------------------------------------------------------------------------


def spdx_files(inv: Inventory) -> dict[str, list[dict[str, str]]]:
    doc = json.loads(sbom.encode(inv, "spdx-json"))
    assert_valid(spdx_validator(), doc)
    return {f["fileName"]: f["checksums"] for f in doc["files"]}


def test_spdx_writes_the_real_sha1_or_the_placeholder_and_the_known_algorithms() -> None:
    files = spdx_files(mixed())
    md5 = hashlib.md5(CONTENT[LIBSSL]).hexdigest()
    assert files["." + LIBSSL] == [{"algorithm": "SHA1", "checksumValue": ZERO},
                                   {"algorithm": "MD5", "checksumValue": md5}]
    assert files["." + CONF] == [
        {"algorithm": "SHA1", "checksumValue": hashlib.sha1(CONTENT[CONF]).hexdigest()},
        {"algorithm": "SHA256", "checksumValue": hashlib.sha256(CONTENT[CONF]).hexdigest()}]
    assert files["." + DOC] == [{"algorithm": "SHA1", "checksumValue": ZERO}]


def test_spdx_comment_says_where_checksums_come_from_and_what_zeros_mean() -> None:
    comment = json.loads(sbom.encode(mixed(), "spdx-json"))["creationInfo"]["comment"]
    assert "package database records" in comment
    assert f"SHA1 {ZERO} means the SHA1 is not known" in comment


def test_spdx_round_trip_restores_the_digests() -> None:
    inv = mixed()
    (libssl,) = (p for p in sbom.decode(sbom.encode(inv, "spdx-json")).packages
                 if p.name == "libssl3")
    assert libssl.file_digests == by_name(inv.packages)["libssl3"].file_digests
    # the digests are in the file elements, not again in the package's annotation
    doc = json.loads(sbom.encode(inv, "spdx-json"))
    assert not any("fileDigests" in a["comment"] for p in doc["packages"]
                   for a in p.get("annotations", ()))


def test_spdx_every_algorithm_and_upper_case_hex() -> None:
    data = b"x"
    pairs = tuple(sorted((DOC, f"{a}:{hashlib.new(a, data).hexdigest().upper()}")
                         for a in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")))
    files = spdx_files(inventory(libssl3=pairs))
    assert [c["algorithm"] for c in files["." + DOC]] == [
        "SHA1", "SHA224", "SHA256", "SHA384", "SHA512", "MD5"]
    assert all(c["checksumValue"] == c["checksumValue"].lower() for c in files["." + DOC])
    (libssl,) = (p for p in sbom.decode(sbom.encode(inventory(libssl3=pairs), "spdx-json"))
                 .packages if p.name == "libssl3")
    assert libssl.file_digests == tuple(sorted((p, d.lower()) for p, d in pairs))


def test_spdx_a_shared_file_has_one_element_with_the_first_owners_digest() -> None:
    inv = with_files(debian_inventory(), libssl3=(LIBSSL, SHARED))
    md5_a, md5_b = "md5:" + "a" * 32, "md5:" + "b" * 32
    packages = tuple(
        dataclasses.replace(p, file_digests=((SHARED, md5_a),)) if p.name == "libssl3"
        else dataclasses.replace(p, file_digests=((SHARED, md5_b), (SHARED, "sha1:" + "c" * 40)))
        if p.name == "requests" else p
        for p in inv.packages)
    inv = dataclasses.replace(inv, packages=packages)
    files = spdx_files(inv)
    assert files["." + SHARED] == [{"algorithm": "SHA1", "checksumValue": "c" * 40},
                                   {"algorithm": "MD5", "checksumValue": "a" * 32}]
    decoded = by_name(sbom.decode(sbom.encode(inv, "spdx-json")).packages)
    assert decoded["libssl3"].file_digests == ((SHARED, md5_a), (SHARED, "sha1:" + "c" * 40))
    assert decoded["requests"].file_digests == ((SHARED, md5_a), (SHARED, "sha1:" + "c" * 40))


HOSTILE = (
    (DOC, "md5:" + "g" * 32),  # not hex
    (DOC, "md5:" + "7" * 31),  # too short
    (DOC, "sha1:" + "6" * 64),  # a SHA256's length
    (DOC, "crc32:deadbeef"),  # unknown algorithm
    (DOC, "md5"),  # no value
    (DOC, ""),
    ("/not/owned", "md5:" + "5" * 32),  # a path the package does not list
    (CONF, "md5:" + "4" * 32 + "\n"),
)


@pytest.mark.parametrize("fmt", ["spdx-json", "cyclonedx-json", "cyclonedx-xml"])
def test_malformed_digests_are_not_written(fmt: str) -> None:
    inv = inventory(libssl3=HOSTILE)
    data = sbom.encode(inv, fmt)
    for _, value in HOSTILE:
        if value.partition(":")[2]:
            assert value.partition(":")[2].encode() not in data
    if fmt == "spdx-json":
        assert_valid(spdx_validator(), json.loads(data))
        assert b'"MD5"' not in data
    elif fmt == "cyclonedx-json":
        assert_valid(cyclonedx_validator(), json.loads(data))
        assert b'"hashes"' not in data
    if fmt != "cyclonedx-xml":
        assert by_name(sbom.decode(data).packages)["libssl3"].file_digests == ()


def test_spdx_reads_syft_style_checksums() -> None:
    """Syft writes each file's SHA1 (and SHA256 when asked), zeros when it has none."""
    sha1, sha256 = hashlib.sha1(b"a").hexdigest(), hashlib.sha256(b"a").hexdigest()
    files = [
        {"SPDXID": "SPDXRef-f1", "fileName": "usr/lib/libssl.so.3",
         "checksums": [{"algorithm": "SHA1", "checksumValue": sha1},
                       {"algorithm": "SHA256", "checksumValue": sha256}]},
        {"SPDXID": "SPDXRef-f2", "fileName": "etc/ssl/openssl.cnf",
         "checksums": [{"algorithm": "SHA1", "checksumValue": ZERO}]},
        {"SPDXID": "SPDXRef-f3", "fileName": "usr/share/x",
         "checksums": [{"algorithm": "SHA3-256", "checksumValue": sha256},  # not ours
                       {"algorithm": "MD5", "checksumValue": "nothex"},
                       {"algorithm": "BLAKE3", "checksumValue": sha256}]},
        {"SPDXID": "SPDXRef-f4", "fileName": "usr/share/y"},  # no checksums at all
    ]
    data = spdx_foreign(files, [rel("SPDXRef-a", "CONTAINS", f"SPDXRef-f{i}")
                                for i in range(1, 5)])
    libssl = by_name(sbom.decode(data).packages)["libssl3"]
    assert libssl.files == ("/usr/lib/libssl.so.3", "/etc/ssl/openssl.cnf", "/usr/share/x",
                            "/usr/share/y")
    assert libssl.file_digests == (("/usr/lib/libssl.so.3", f"sha1:{sha1}"),
                                   ("/usr/lib/libssl.so.3", f"sha256:{sha256}"))


@pytest.mark.parametrize(
    ("checksums", "message"),
    [
        ("SHA1", r"files\[0\]\.checksums: expected an array, got a string"),
        ([7], r"files\[0\]\.checksums\[0\]: expected an object, got a number"),
        ([{"algorithm": 1, "checksumValue": ZERO}],
         r"files\[0\]\.checksums\[0\]\.algorithm: expected a string, got a number"),
        ([{"algorithm": "SHA1", "checksumValue": None}], None),  # null is absent: ignored
    ],
)
def test_malformed_spdx_checksums_are_one_line_errors(checksums: Any, message: str | None) -> None:
    files = [{"SPDXID": "SPDXRef-f1", "fileName": "x", "checksums": checksums}]
    data = spdx_foreign(files, [rel("SPDXRef-a", "CONTAINS", "SPDXRef-f1")])
    if message is None:
        assert by_name(sbom.decode(data).packages)["libssl3"].file_digests == ()
        return
    with pytest.raises(FormatError, match=rf"^doc: {message}") as info:
        sbom.decode(data, name="doc")
    assert "\n" not in str(info.value)


# --- CycloneDX -------------------------------------------------------------------------------


def cdx_files(inv: Inventory) -> dict[str, dict[str, Any]]:
    doc = json.loads(sbom.encode(inv, "cyclonedx-json"))
    assert_valid(cyclonedx_validator(), doc)
    (libssl,) = (c for c in doc["components"] if c["name"] == "libssl3")
    return {f["name"]: f for f in libssl["components"]}


def test_cyclonedx_file_components_carry_hashes() -> None:
    files = cdx_files(mixed())
    assert files[LIBSSL]["hashes"] == [
        {"alg": "MD5", "content": hashlib.md5(CONTENT[LIBSSL]).hexdigest()}]
    assert files[CONF]["hashes"] == [
        {"alg": "SHA-1", "content": hashlib.sha1(CONTENT[CONF]).hexdigest()},
        {"alg": "SHA-256", "content": hashlib.sha256(CONTENT[CONF]).hexdigest()}]
    assert "hashes" not in files[DOC]
    # keys in the library's (alphabetical) order
    assert list(files[CONF]) == ["bom-ref", "hashes", "name", "type"]


def test_cyclonedx_algorithm_names_and_no_sha224() -> None:
    pairs = tuple(sorted((DOC, f"{a}:{hashlib.new(a, b'x').hexdigest()}")
                         for a in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")))
    files = cdx_files(inventory(libssl3=pairs))
    assert [h["alg"] for h in files[DOC]["hashes"]] == [
        "MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512"]


def test_cyclonedx_round_trip_restores_the_digests() -> None:
    inv = mixed()
    decoded = by_name(sbom.decode(sbom.encode(inv, "cyclonedx-json")).packages)
    assert decoded["libssl3"].file_digests == by_name(inv.packages)["libssl3"].file_digests


def test_cyclonedx_xml_puts_hashes_after_the_name() -> None:
    root = ElementTree.fromstring(sbom.encode(mixed(), "cyclonedx-xml"))
    files = {f.findtext("c:name", namespaces=CDX_NS): f for f in root.iterfind(
        "c:components/c:component/c:components/c:component", CDX_NS)}
    conf = files[CONF]
    assert [child.tag.split("}")[1] for child in conf] == ["name", "hashes"]
    assert [(h.get("alg"), h.text) for h in conf.iterfind("c:hashes/c:hash", CDX_NS)] == [
        ("SHA-1", hashlib.sha1(CONTENT[CONF]).hexdigest()),
        ("SHA-256", hashlib.sha256(CONTENT[CONF]).hexdigest())]
    assert [child.tag.split("}")[1] for child in files[DOC]] == ["name"]


def test_cyclonedx_reads_foreign_hashes_and_leaves_out_what_it_cannot_use() -> None:
    sha1 = hashlib.sha1(b"z").hexdigest()
    data = cdx_foreign(
        {"type": "library", "name": "libz", "purl": "pkg:deb/debian/zlib1g@1.2.13",
         "components": [
             {"type": "file", "name": "/usr/lib/libz.so.1",
              "hashes": [{"alg": "SHA-1", "content": sha1.upper()},
                         {"alg": "SHA3-256", "content": "a" * 64},  # not one of ours
                         {"alg": "MD5", "content": "a" * 40},  # wrong length
                         {"alg": "MD5"}]},  # no content
             {"type": "file", "name": "/usr/lib/libz.so.1",  # again: digests merged
              "hashes": [{"alg": "MD5", "content": "b" * 32}]},
         ]},
        {"type": "file", "name": "/orphan", "hashes": [{"alg": "MD5", "content": "c" * 32}]},
    )
    inv = sbom.decode(data)
    (libz,) = inv.packages
    assert libz.files == ("/usr/lib/libz.so.1",)
    assert libz.file_digests == (("/usr/lib/libz.so.1", "md5:" + "b" * 32),
                                 ("/usr/lib/libz.so.1", f"sha1:{sha1}"))
    assert not inv.unknowns


@pytest.mark.parametrize(
    ("hashes", "message"),
    [
        ({"alg": "MD5"}, r"components\[0\]\.components\[0\]\.hashes: expected an array"),
        (["MD5"], r"components\[0\]\.components\[0\]\.hashes\[0\]: expected an object"),
        ([{"alg": "MD5", "content": 5}],
         r"components\[0\]\.components\[0\]\.hashes\[0\]\.content: expected a string"),
    ],
)
def test_malformed_cyclonedx_hashes_are_one_line_errors(hashes: Any, message: str) -> None:
    data = cdx_foreign({"type": "library", "name": "libz", "purl": "pkg:deb/debian/zlib1g@1",
                        "components": [{"type": "file", "name": "/x", "hashes": hashes}]})
    with pytest.raises(FormatError, match=rf"^doc: {message}") as info:
        sbom.decode(data, name="doc")
    assert "\n" not in str(info.value)


# --- any files, any digests ------------------------------------------------------------------

PATHS = st.sampled_from((LIBSSL, CONF, DOC, SHARED, "usr/lib/rel", "/usr/lib/rel"))
VALUES = st.sampled_from((
    "md5:" + "0123456789abcdef" * 2, "md5:" + "A" * 32, "sha1:" + "ab" * 20, "sha1:" + ZERO,
    "sha224:" + "e" * 56, "sha256:" + "cd" * 32, "sha384:" + "9" * 96, "sha512:" + "f" * 128,
    "md5:xyz", "sha1:" + "a" * 39, "crc:1", "",
))
FILES = st.lists(PATHS, max_size=4).map(tuple)
DIGESTS = st.lists(st.tuples(PATHS, VALUES), max_size=6).map(lambda x: tuple(sorted(set(x))))


@settings(max_examples=60, deadline=None)
@given(FILES, DIGESTS, FILES, DIGESTS)
def test_round_trips_for_any_files_and_digests(
        files_a: tuple[str, ...], digests_a: tuple[tuple[str, str], ...],
        files_b: tuple[str, ...], digests_b: tuple[tuple[str, str], ...]) -> None:
    inv = with_files(debian_inventory(), libssl3=files_a, requests=files_b)
    inv = dataclasses.replace(inv, packages=tuple(
        dataclasses.replace(p, file_digests=digests_a) if p.name == "libssl3"
        else dataclasses.replace(p, file_digests=digests_b) if p.name == "requests" else p
        for p in inv.packages))
    shown = inv.visible
    spdx_data = sbom.encode(inv, "spdx-json")
    assert_valid(spdx_validator(), json.loads(spdx_data))
    decoded = sbom.decode(spdx_data).packages
    assert [p.file_digests for p in decoded] == spdx_file_digests(shown)
    cdx_data = sbom.encode(inv, "cyclonedx-json")
    assert_valid(cyclonedx_validator(), json.loads(cdx_data))
    decoded_cdx = by_name(sbom.decode(cdx_data).packages)
    for p in shown:
        assert decoded_cdx[p.name].file_digests == cyclonedx_file_digests(p)
    ElementTree.fromstring(sbom.encode(inv, "cyclonedx-xml"))
    assert sbom.decode(sbom.encode(inv, "json")) == inv
    assert all(file_digest(*d.partition(":")[::2]) for p in decoded for _, d in p.file_digests)


@pytest.mark.parametrize("inv", [mixed(), debian_inventory("all-layers"), inventory(libssl3=(
    (LIBSSL, "sha512:" + "f" * 128), (CONF, "md5:" + "1" * 32)))])
def test_cyclonedx_json_files_are_written_as_json_dumps_would(inv: Inventory) -> None:
    """File components are rendered by hand (json.dumps' indenting encoder is slow): the text
    is exactly what json.dumps(indent=2) writes, hostile names included."""
    weird = ('/a "quoted" \\ back\nslash', "/ü\u2028\udc80", "/\x00hullcheck-files-x", "rel")
    inv = with_files(inv, requests=weird)
    data = sbom.encode(inv, "cyclonedx-json")
    assert data == json.dumps(json.loads(data), indent=2).encode() + b"\n"
    assert [f["name"] for c in json.loads(data)["components"] if c["name"] == "requests"
            for f in c["components"]] == [*weird[:3], "/rel"]


@pytest.mark.slow
def test_debootstrap_sboms_carry_md5sum_of_the_real_files() -> None:
    """The real bookworm minbase tree, catalogued, written and read back: SPDX and CycloneDX
    carry for /bin/bash the MD5 that md5sum computes, and validate against their schemas."""
    root = debootstrap_rootfs()
    md5sum = need_command("md5sum", "coreutils")
    image = open_image(f"dir:{root}")
    inv = catalog.run(filetree.build(image, catalog.globs_for()), image.source)
    bash_md5 = subprocess.run([md5sum, f"{root}/bin/bash"], capture_output=True, text=True,
                              check=True).stdout.split()[0]
    spdx_doc = json.loads(sbom.encode(inv, "spdx-json"))
    assert_valid(spdx_validator(), spdx_doc)
    (bash_file,) = (f for f in spdx_doc["files"] if f["fileName"] == "./bin/bash")
    assert bash_file["checksums"] == [{"algorithm": "SHA1", "checksumValue": ZERO},
                                      {"algorithm": "MD5", "checksumValue": bash_md5}]
    cdx_doc = json.loads(sbom.encode(inv, "cyclonedx-json"))
    assert_valid(cyclonedx_validator(), cdx_doc)
    (bash,) = (c for c in cdx_doc["components"] if c["name"] == "bash")
    (bash_component,) = (f for f in bash["components"] if f["name"] == "/bin/bash")
    assert bash_component["hashes"] == [{"alg": "MD5", "content": bash_md5}]
    for fmt in ("spdx-json", "cyclonedx-json"):
        decoded = by_name(sbom.decode(sbom.encode(inv, fmt)).packages)
        for p in inv.visible:
            if p.type is PackageType.DEB:
                assert decoded[p.name].file_digests == p.file_digests, (fmt, p.name)
    assert sum(len(p.file_digests) for p in inv.packages) > 4000


@pytest.mark.parametrize("inv", [mixed(), debian_inventory("all-layers")])
def test_cyclonedx_xml_files_are_written_as_element_tree_would(inv: Inventory) -> None:
    """File components are rendered by hand in XML too: the text is exactly what indenting
    and serialising the whole tree with ElementTree gives, hostile names included."""
    # (no CR: a parser reads it back as LF, so re-serialising would differ, for ElementTree too)
    weird = ('/a "quoted" & <tag> \\ back\nslash\ttab', "/ü\u2028", "/c\x01d", "rel")
    inv = with_files(inv, requests=weird)
    data = sbom.encode(inv, "cyclonedx-xml")
    root = parse_xml(data)
    ElementTree.indent(root)
    again = ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
    assert data.decode() == again
    names = [e.text for e in ElementTree.fromstring(data).iterfind(
        "c:components/c:component/c:components/c:component/c:name", CDX_NS)]
    assert names[-4:] == ['/a "quoted" & <tag> \\ back\nslash\ttab', "/ü\u2028",
                          "/c\ufffdd", "/rel"]
