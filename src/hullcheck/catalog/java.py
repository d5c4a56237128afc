"""Java archives (jar, war, ear, Jenkins jpi/hpi): Maven coordinates from
``META-INF/maven/<group>/<artifact>/pom.properties`` (one per artifact built or shaded
into the archive), else ``pom.xml``, else ``META-INF/MANIFEST.MF`` and the file name.
Archives inside archives (Spring Boot ``BOOT-INF/lib/``, ``WEB-INF/lib/``, ear modules)
are read recursively; their location is ``/app/app.jar!/BOOT-INF/lib/x.jar``.

Archives are hostile input. Nothing trusts a declared size:

* the central directory is walked and counted before ``zipfile`` builds its objects
  (no more than ``MAX_ENTRIES`` per archive, ``MAX_TOTAL_ENTRIES`` in all);
* members are read through a bounded stream (``MAX_META`` for metadata,
  ``MAX_NESTED`` for a nested archive) and every byte read counts against
  ``MAX_TOTAL_BYTES`` for the whole top-level archive, so zip bombs and overlapping
  entries stop early;
* only stored and deflated members are read (bzip2/lzma have no bounded reads in
  ``zipfile``); nesting deeper than ``MAX_DEPTH`` (a "zip quine" too) is an error.

Every violation is a one-line ``FormatError``; the runner records an Unknown.

``pom.xml`` is parsed with ``xml.etree`` after refusing any document with a DTD: that
rules out entity expansion and external entities without a new dependency (expat
≥ 2.4 also caps expansion). The pom is only a fallback and a licence source.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from xml.etree import ElementTree

from hullcheck import ecosystem
from hullcheck.catalog.base import Env
from hullcheck.errors import FormatError
from hullcheck.filetree import FileEntry, View
from hullcheck.model import Location, Package, PackageType

SUFFIXES = (".jar", ".war", ".ear", ".jpi", ".hpi")
MAX_DEPTH = 4  # archives inside the top-level one
MAX_ENTRIES = 65_535  # per archive (the zip limit before zip64)
MAX_TOTAL_ENTRIES = 250_000
MAX_META = 1 << 20  # one pom.properties / pom.xml / MANIFEST.MF
MAX_NESTED = 32 << 20  # one nested archive
MAX_TOTAL_BYTES = 256 << 20  # all bytes decompressed for one top-level archive
_READABLE = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


@dataclass(slots=True)
class _Budget:
    """What one top-level archive may still cost (mutable, private to one parse)."""

    top: str
    entries: int = MAX_TOTAL_ENTRIES
    bytes: int = MAX_TOTAL_BYTES
    seen: list[str] = field(default_factory=list)

    def take_entries(self, n: int, where: str) -> None:
        self.entries -= n
        if self.entries < 0:
            raise FormatError(f"{where}: more than {MAX_TOTAL_ENTRIES} entries in nested archives")

    def take_bytes(self, n: int, where: str) -> None:
        self.bytes -= n
        if self.bytes < 0:
            raise FormatError(f"{where}: more than {MAX_TOTAL_BYTES} bytes decompressed in all")


class JavaArchiveCataloger:
    name = "java-archive"
    globs = tuple(f"/**/*{s}" for s in SUFFIXES)
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package]:
        budget = _Budget(top=entry.path)
        out: list[Package] = []
        _catalog(entry.content or b"", entry.path, depth=0, budget=budget, out=out,
                 found_by=self.name, top=entry.path)
        return out


# ---------------------------------------------------------------------------------------
# Bounded zip access


def count_entries(data: bytes, where: str) -> int:
    """Walk the central directory and count its records, stopping past ``MAX_ENTRIES``."""
    eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if eocd < 0 or eocd + 22 > len(data):
        raise FormatError(f"{where}: not a zip archive (no end of central directory)")
    _, _, _, declared, cd_size, _cd_off, _ = struct.unpack_from("<HHHHIIH", data, eocd + 4)
    if declared > MAX_ENTRIES:
        raise FormatError(f"{where}: {declared} entries (limit {MAX_ENTRIES})")
    if cd_size == 0xFFFFFFFF or declared == 0xFFFF:
        raise FormatError(f"{where}: zip64 archive with more than {MAX_ENTRIES} entries")
    pos = eocd - cd_size  # where the directory really is (allows a prepended launcher script)
    if pos < 0:
        raise FormatError(f"{where}: central directory of {cd_size} bytes before file start")
    end = eocd
    count = 0
    while pos + 46 <= end and data[pos:pos + 4] == b"PK\x01\x02":
        count += 1
        if count > MAX_ENTRIES:
            raise FormatError(f"{where}: more than {MAX_ENTRIES} entries")
        n, x, c = struct.unpack_from("<HHH", data, pos + 28)
        pos += 46 + n + x + c
    return count


def _open(data: bytes, where: str, budget: _Budget) -> zipfile.ZipFile:
    budget.take_entries(count_entries(data, where), where)
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise FormatError(f"{where}: corrupt zip archive ({exc})") from None


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, where: str,
          budget: _Budget) -> bytes:
    name = f"{where}!/{info.filename}"
    if info.compress_type not in _READABLE:
        raise FormatError(f"{name}: unsupported compression method {info.compress_type}")
    if info.flag_bits & 0x1:
        raise FormatError(f"{name}: encrypted entry")
    try:
        with zf.open(info) as f:
            out = f.read(limit + 1)  # decompresses incrementally: never more than asked
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError,
            NotImplementedError, RuntimeError) as exc:
        raise FormatError(f"{name}: corrupt entry ({exc})") from None
    if len(out) > limit:
        raise FormatError(f"{name}: decompresses to over {limit} bytes (zip bomb?)")
    budget.take_bytes(len(out), name)
    return out


# ---------------------------------------------------------------------------------------
# One archive


def _catalog(data: bytes, vpath: str, *, depth: int, budget: _Budget, out: list[Package],
             found_by: str, top: str) -> None:
    if depth > MAX_DEPTH:
        raise FormatError(f"{top}: archives nested deeper than {MAX_DEPTH} levels")
    with _open(data, vpath, budget) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        by_name = {i.filename: i for i in infos}
        manifest = {}
        if "META-INF/MANIFEST.MF" in by_name:
            manifest = parse_manifest(
                _read(zf, by_name["META-INF/MANIFEST.MF"], MAX_META, vpath, budget))
        props = sorted(n for n in by_name
                       if n.startswith("META-INF/maven/") and n.endswith("/pom.properties"))
        poms = sorted(n for n in by_name
                      if n.startswith("META-INF/maven/") and n.endswith("/pom.xml"))
        ctx = _Ctx(found_by=found_by, vpath=vpath, top=top, manifest=manifest)
        found = False
        for name in props:
            fields = parse_properties(_read(zf, by_name[name], MAX_META, vpath, budget))
            g, a, v = fields.get("groupId", ""), fields.get("artifactId", ""), fields.get(
                "version", "")
            if not a:
                continue
            licenses: tuple[str, ...] = ()
            pom_name = name.rsplit("/", 1)[0] + "/pom.xml"
            if pom_name in by_name:
                pom = parse_pom(_read(zf, by_name[pom_name], MAX_META, vpath, budget))
                licenses = pom.licenses if pom else ()
            out.append(_package(ctx, g, a, v, licenses=licenses, how="pom.properties"))
            found = True
        if not found:
            for name in poms:
                pom = parse_pom(_read(zf, by_name[name], MAX_META, vpath, budget))
                if pom and pom.artifact and "${" not in pom.version + pom.group:
                    out.append(_package(ctx, pom.group, pom.artifact, pom.version,
                                        licenses=pom.licenses, how="pom.xml"))
                    found = True
        if not found:
            pkg = _from_manifest(ctx)
            if pkg is not None:
                out.append(pkg)
        for info in infos:
            if info.filename.lower().endswith(SUFFIXES):
                inner = _read(zf, info, MAX_NESTED, vpath, budget)
                _catalog(inner, f"{vpath}!/{info.filename}", depth=depth + 1, budget=budget,
                         out=out, found_by=found_by, top=top)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Ctx:
    found_by: str
    vpath: str  # this archive's path, "/app.jar!/BOOT-INF/lib/x.jar" when nested
    top: str  # the image file holding it
    manifest: dict[str, str]


def _package(ctx: _Ctx, group: str, artifact: str, version: str, *,
             licenses: tuple[str, ...], how: str) -> Package:
    name = ecosystem.package_name(PackageType.MAVEN, group, artifact)
    purl = ecosystem.purl(PackageType.MAVEN, artifact, version, namespace=group)
    extras = [("identified_by", how), ("virtual_path", ctx.vpath)]
    if ctx.manifest.get("Implementation-Vendor"):
        extras.append(("vendor", ctx.manifest["Implementation-Vendor"]))
    return Package(type=PackageType.MAVEN, name=name, version=version, purl=purl,
                   found_by=ctx.found_by, locations=(Location(path=ctx.vpath),),
                   licenses=licenses, files=(ctx.top,), extras=tuple(sorted(extras)))


_FILE_VERSION = re.compile(r"^(?P<name>.+?)-(?P<version>\d[\w.\-+]*?)(?:\.\w+)$")


def _from_manifest(ctx: _Ctx) -> Package | None:
    """No Maven metadata: the file name and the manifest. The group is never guessed."""
    manifest = ctx.manifest
    base = ctx.vpath.rsplit("/", 1)[-1]
    m = _FILE_VERSION.match(base)
    artifact = m.group("name") if m else base.rsplit(".", 1)[0]
    version = (manifest.get("Implementation-Version") or manifest.get("Bundle-Version")
               or (m.group("version") if m else ""))
    group = manifest.get("Implementation-Vendor-Id", "")
    if not artifact or not version:  # "ROOT.war" with nothing else identifies nothing
        return None
    how = "manifest" if manifest else "file-name"
    return _package(ctx, group, artifact, version, licenses=(), how=how)


# ---------------------------------------------------------------------------------------
# Metadata formats


def parse_manifest(data: bytes) -> dict[str, str]:
    """The main section of a JAR manifest; continuation lines start with one space."""
    fields: dict[str, str] = {}
    last = ""
    for line in data.decode("utf-8", "replace").splitlines():
        if not line.strip():
            break  # end of the main section
        if line.startswith(" ") and last:
            fields[last] += line[1:]
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip()
            fields[last] = value.strip()
    return fields


def parse_properties(data: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for raw in data.decode("latin-1").splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        m = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)", line)
        if m:
            fields[m.group(1)] = m.group(2).strip()
    return fields


@dataclass(frozen=True, slots=True, kw_only=True)
class Pom:
    group: str
    artifact: str
    version: str
    licenses: tuple[str, ...] = ()


def parse_pom(data: bytes) -> Pom | None:
    """groupId/artifactId/version (parent as fallback) and licence names; None if unusable."""
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data.upper():
        return None  # a pom never needs a DTD; refuse rather than expand entities
    try:
        root = ElementTree.fromstring(data)  # noqa: S314 - DTDs refused above
    except ElementTree.ParseError:
        return None

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    def child(el: ElementTree.Element | None, name: str) -> ElementTree.Element | None:
        if el is None:
            return None
        for c in el:
            if local(c.tag) == name:
                return c
        return None

    def text(el: ElementTree.Element | None, name: str) -> str:
        c = child(el, name)
        return (c.text or "").strip() if c is not None else ""

    parent = child(root, "parent")
    lic_el = child(root, "licenses")
    licenses = tuple(name for lic in (list(lic_el) if lic_el is not None else [])
                     if (name := text(lic, "name")))
    return Pom(group=text(root, "groupId") or text(parent, "groupId"),
               artifact=text(root, "artifactId"),
               version=text(root, "version") or text(parent, "version"),
               licenses=licenses)
