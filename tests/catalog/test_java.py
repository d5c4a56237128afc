"""Java archives: Maven metadata, nested Spring Boot / war libraries, hostile archives."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from hullcheck import catalog
from hullcheck.catalog.java import MAX_DEPTH, JavaArchiveCataloger, count_entries, parse_manifest
from hullcheck.errors import FormatError
from hullcheck.image.writer import file
from hullcheck.model import ImageSource, Inventory, PackageType
from tests.fixtures.images import tree_of
from tests.fixtures.java.zips import deflate_bomb, jar, maven_jar, pom_properties

SOURCE = ImageSource(kind="oci", name="test")
CAT = JavaArchiveCataloger()


def run(tmp_path: Path, files: dict[str, bytes]) -> Inventory:
    tree = tree_of(tmp_path, {k: file(k.lstrip("/"), v) for k, v in files.items()},
                   globs=CAT.globs)
    return catalog.run(tree, SOURCE, catalogers=(CAT,))


def spring_boot_jar() -> bytes:
    return jar({
        "META-INF/MANIFEST.MF": "Manifest-Version: 1.0\r\nMain-Class: org.springframework.boot"
                                ".loader.launch.JarLauncher\r\nStart-Class: com.example.Demo\r\n",
        "META-INF/maven/com.example/demo/pom.properties":
            pom_properties("com.example", "demo", "0.0.1-SNAPSHOT"),
        "BOOT-INF/classes/com/example/Demo.class": b"\xca\xfe\xba\xbe",
        "BOOT-INF/lib/spring-core-6.1.2.jar": maven_jar(
            "org.springframework", "spring-core", "6.1.2",
            licenses=("Apache License, Version 2.0",)),
        # Stored, not deflated, as Spring Boot writes nested jars.
        "BOOT-INF/lib/jackson-databind-2.15.3.jar": maven_jar(
            "com.fasterxml.jackson.core", "jackson-databind", "2.15.3"),
        "BOOT-INF/lib/legacy-util-1.4.jar": jar({
            "META-INF/MANIFEST.MF": "Manifest-Version: 1.0\nImplementation-Title: legacy\n"
                                    "Implementation-Version: 1.4.2\nImplementation-Vendor-Id: "
                                    "org.legacy\n"}),
    })


def test_spring_boot_jar_with_nested_libraries(tmp_path: Path) -> None:
    inv = run(tmp_path, {"/app/app.jar": spring_boot_jar()})
    assert not inv.unknowns
    got = {p.name: p for p in inv.packages}
    assert set(got) == {"com.example:demo", "org.springframework:spring-core",
                        "com.fasterxml.jackson.core:jackson-databind", "org.legacy:legacy-util"}
    core = got["org.springframework:spring-core"]
    assert core.purl == "pkg:maven/org.springframework/spring-core@6.1.2"
    assert core.version == "6.1.2" and core.type is PackageType.MAVEN
    assert core.locations[0].path == "/app/app.jar!/BOOT-INF/lib/spring-core-6.1.2.jar"
    assert dict(core.extras)["virtual_path"] == core.locations[0].path
    assert core.licenses == ("Apache License, Version 2.0",)
    assert core.files == ("/app/app.jar",)
    demo = got["com.example:demo"]
    assert demo.purl == "pkg:maven/com.example/demo@0.0.1-SNAPSHOT"
    assert demo.locations[0].path == "/app/app.jar"
    legacy = got["org.legacy:legacy-util"]  # manifest fallback, artifact from the file name
    assert (legacy.version, dict(legacy.extras)["identified_by"]) == ("1.4.2", "manifest")
    assert legacy.purl == "pkg:maven/org.legacy/legacy-util@1.4.2"


def test_war_and_shaded_jar(tmp_path: Path) -> None:
    shaded = maven_jar("org.acme", "fat", "2.0", extra={
        "META-INF/maven/com.google.guava/guava/pom.properties":
            pom_properties("com.google.guava", "guava", "32.1.3-jre")})
    war = jar({"WEB-INF/web.xml": "<web-app/>", "WEB-INF/lib/fat-2.0.jar": shaded})
    inv = run(tmp_path, {"/usr/local/tomcat/webapps/ROOT.war": war,
                         "/opt/plugins/x.hpi": maven_jar("io.jenkins", "x", "1.0")})
    names = {(p.name, p.version, p.locations[0].path) for p in inv.packages}
    assert names == {
        ("org.acme:fat", "2.0", "/usr/local/tomcat/webapps/ROOT.war!/WEB-INF/lib/fat-2.0.jar"),
        ("com.google.guava:guava", "32.1.3-jre",
         "/usr/local/tomcat/webapps/ROOT.war!/WEB-INF/lib/fat-2.0.jar"),
        ("io.jenkins:x", "1.0", "/opt/plugins/x.hpi"),
    }


def test_pom_xml_fallback_and_hostile_dtd(tmp_path: Path) -> None:
    pom = ('<project xmlns="http://maven.apache.org/POM/4.0.0"><parent><groupId>org.p'
           '</groupId><version>3.1</version></parent><artifactId>child</artifactId></project>')
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
              '"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><project><artifactId>&lol2;'
              '</artifactId></project>')
    inv = run(tmp_path, {
        "/lib/child.jar": jar({"META-INF/maven/org.p/child/pom.xml": pom}),
        "/lib/evil-0.9.jar": jar({"META-INF/maven/e/evil/pom.xml": laughs}),
    })
    got = {p.locations[0].path: p for p in inv.packages}
    assert got["/lib/child.jar"].purl == "pkg:maven/org.p/child@3.1"
    evil = got["/lib/evil-0.9.jar"]  # the DTD is refused; the file name remains
    assert (evil.name, evil.version, dict(evil.extras)["identified_by"]) == (
        "evil", "0.9", "file-name")


def test_manifest_continuation_lines() -> None:
    m = parse_manifest(b"Manifest-Version: 1.0\r\nBundle-SymbolicName: org.very.long.na\r\n"
                       b" me.continued\r\n\r\nName: other\r\nX: y\r\n")
    assert m == {"Manifest-Version": "1.0", "Bundle-SymbolicName": "org.very.long.name.continued"}


# ---------------------------------------------------------------------------------------
# Hostile archives: one-line FormatError, recorded as an Unknown, quickly.


def _unknown(tmp_path: Path, data: bytes) -> str:
    inv = run(tmp_path, {"/app/bad.jar": data})
    assert inv.packages == ()
    assert len(inv.unknowns) == 1
    reason = inv.unknowns[0].reason
    assert "\n" not in reason and inv.unknowns[0].cataloger == "java-archive"
    return reason


def test_nested_zip_bomb(tmp_path: Path) -> None:
    """A 1 GiB nested jar of zeros (1 MiB stored), its sizes declared truthfully."""
    base = jar({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n"})
    data = _concat_zips(base, deflate_bomb("BOOT-INF/lib/zeros.jar", 1024))
    reason = _unknown(tmp_path, data)
    assert "BOOT-INF/lib/zeros.jar: decompresses to over" in reason


def _concat_zips(a: bytes, b: bytes) -> bytes:
    """Join two single-disk zips into one, rewriting offsets (raw member bytes copied)."""
    def parts(z: bytes) -> tuple[bytes, bytes, int]:
        eocd = z.rfind(b"PK\x05\x06")
        n, cd_size, cd_off = struct.unpack_from("<HII", z, eocd + 10)
        return z[:cd_off], z[cd_off:cd_off + cd_size], n
    body_a, cd_a, na = parts(a)
    body_b, cd_b, nb = parts(b)
    shifted = bytearray(cd_b)
    pos = 0
    while pos < len(shifted):
        (off,) = struct.unpack_from("<I", shifted, pos + 42)
        struct.pack_into("<I", shifted, pos + 42, off + len(body_a))
        n, x, c = struct.unpack_from("<HHH", shifted, pos + 28)
        pos += 46 + n + x + c
    cd = cd_a + bytes(shifted)
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, na + nb, na + nb, len(cd),
                       len(body_a) + len(body_b), 0)
    return body_a + body_b + cd + eocd


def test_metadata_bomb(tmp_path: Path) -> None:
    data = deflate_bomb("META-INF/maven/a/b/pom.properties", 64)
    assert "pom.properties: decompresses to over 1048576 bytes" in _unknown(tmp_path, data)


def test_deeply_nested_jar(tmp_path: Path) -> None:
    data = maven_jar("g", "leaf", "1")
    for i in range(MAX_DEPTH + 2):
        data = jar({f"lib/level{i}.jar": data}, compression=zipfile.ZIP_STORED)
    assert f"nested deeper than {MAX_DEPTH} levels" in _unknown(tmp_path, data)


def test_nesting_within_the_limit_is_read(tmp_path: Path) -> None:
    data = maven_jar("g", "leaf", "1")
    for i in range(MAX_DEPTH):
        data = jar({f"lib/level{i}.jar": data})
    inv = run(tmp_path, {"/app/ok.jar": data})
    leaf = next(p for p in inv.packages if p.name == "g:leaf")
    assert leaf.locations[0].path.count("!/") == MAX_DEPTH


def test_jar_with_100k_entries(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(100_000):
            z.writestr(f"c/{i}.class", b"")
    assert "entries" in _unknown(tmp_path, buf.getvalue())


def test_entry_count_lie_is_caught() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(66_000):
            z.writestr(f"{i}", b"")
    data = bytearray(buf.getvalue())
    # Drop the zip64 records and write a classic end record claiming 3 entries.
    cd_start = data.find(b"PK\x01\x02")
    cd_end = data.rfind(b"PK\x06\x06")
    body = bytes(data[:cd_end]) + struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 3, 3,
                                               cd_end - cd_start, cd_start, 0)
    with pytest.raises(FormatError, match="more than 65535 entries"):
        count_entries(body, "/x.jar")


def test_truncated_and_garbage_archives(tmp_path: Path) -> None:
    good = maven_jar("g", "a", "1")
    assert "not a zip archive" in _unknown(tmp_path, good[: len(good) // 2])


def test_unsupported_compression_is_refused(tmp_path: Path) -> None:
    data = jar({"META-INF/maven/g/a/pom.properties": pom_properties("g", "a", "1")},
               compression=zipfile.ZIP_BZIP2)
    assert "unsupported compression method 12" in _unknown(tmp_path, data)
