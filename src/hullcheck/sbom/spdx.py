"""Inventory <-> SPDX 2.3 JSON.

Written by hand rather than with the official ``spdx-tools`` library: that library pulls in
rdflib, beartype, ply, pyparsing and more for formats we do not write, and builds and
type-checks a full object graph per element, which is slow on images with thousands of
packages. The document we write is small and fixed in shape; the tests validate every
produced document against the official SPDX 2.3 JSON schema instead.

Facts SPDX has no field for (layers, locations, visibility, found-by, scope, the count of
hidden packages left out) travel as JSON in annotations whose comment starts with
``hullcheck:package`` or ``hullcheck:document``, so our own decode restores them; other
tools' documents are read from the standard fields (purl and CPE external references,
GENERATED_FROM relationships to source packages).

The files each listed package owns are ``files`` elements, one per path whichever packages own
it, tied to their packages by CONTAINS relationships, as Syft writes them. Their checksums are
those the package database records for the file as installed (dpkg's MD5, apk's SHA1, rpm's
file digests), not computed from the image. SPDX 2.3 requires a SHA1 for every file: when the
database records none, the file gets forty zeros, Syft's value for a digest it does not have,
followed by the checksums that are known (said once in the document's creation comment). A
package that lists files has ``filesAnalyzed`` true: the spec forbids files under a package
whose files were not analysed.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from json.encoder import encode_basestring as _str  # a JSON string literal, non-ASCII kept
from typing import Any, BinaryIO

from packageurl import PackageURL

from hullcheck import untrusted
from hullcheck.ecosystem import is_os
from hullcheck.errors import FormatError
from hullcheck.licenses import LICENSE_REF
from hullcheck.model import (
    DetectedLicense,
    Distro,
    ImageSource,
    Inventory,
    Location,
    Package,
    SourcePackage,
    Supplier,
    SupplierKind,
    Unknown,
    Visibility,
    file_digest,
    split_contact,
)
from hullcheck.sbom import _json, _purl, native
from hullcheck.sbom._common import (
    TOOL,
    TOOL_VERSION,
    LayerTable,
    OwnedFiles,
    file_digests,
    group_digests,
    hashed_ids,
    image_purl,
    owned_files,
    refs,
    shown,
)
from hullcheck.sbom._license import license_ref, spdx_expression
from hullcheck.sbom._reader import Node

CATALOGER = "sbom-spdx"
NOASSERTION = "NOASSERTION"
DOC_FACTS = "hullcheck:document "
PKG_FACTS = "hullcheck:package "
IMAGE_ID = "SPDXRef-Image"
NO_SHA1 = "0" * 40  # Syft's checksum for a file whose digest it does not have
FILES_COMMENT = (
    "A package's files are those its package manager records (or the file it was found in). "
    "Their checksums are those the package database records for the file as installed (dpkg "
    "MD5, apk SHA1, rpm file digests), not computed from the image. A file checksum of SHA1 "
    f"{NO_SHA1} means the SHA1 is not known (SPDX requires one); the other checksums listed "
    "with it are the known ones."
)
# Package.file_digests algorithm <-> SPDX checksum algorithm, in the order they are written
# after the SHA1.
_SPDX_ALGORITHMS = {"sha1": "SHA1", "sha224": "SHA224", "sha256": "SHA256", "sha384": "SHA384",
                    "sha512": "SHA512", "md5": "MD5"}
_OUR_ALGORITHMS = {v: k for k, v in _SPDX_ALGORITHMS.items()}
_NOT_IDSTRING = re.compile(r"[^A-Za-z0-9.-]+")
# Trivy names an OS package's source in its sourceInfo: "built package from: glibc 2.36-9".
_BUILT_FROM = re.compile(r"built package from: (?P<name>\S+)(?: (?P<version>\S+))?")
_SOURCE_ARCH = {"deb": "source", "rpm": "src"}


def is_spdx(doc: object) -> bool:
    return isinstance(doc, dict) and str(doc.get("spdxVersion", "")).startswith("SPDX-2")


# --- writing ---------------------------------------------------------------------------------


def encode(inventory: Inventory, *, now: datetime | None = None, files: bool = True) -> bytes:
    """The inventory as an SPDX 2.3 JSON document; without its files when ``files`` is false."""
    out = io.BytesIO()
    write(inventory, out, now=now, files=files)
    return out.getvalue()


def write(inventory: Inventory, out: BinaryIO, *, now: datetime | None = None,
          files: bool = True) -> None:
    """``encode``'s document written to ``out`` piece by piece: each package's element is made
    and written in turn, and the relationships (two per owned file) are made again from the
    packages as they are written, never all held (bench/README.md: peaks)."""
    created = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    annotator = f"Tool: {TOOL}-{TOOL_VERSION}"
    packages = shown(inventory)
    owned = [owned_files(p) if files else () for p in packages]
    text = _json.Pieces(out, errors="backslashreplace")  # lone surrogates shown as escapes
    doc = _json.Document(text)
    for field, value in (("spdxVersion", "SPDX-2.3"), ("dataLicense", "CC0-1.0"),
                       ("SPDXID", "SPDXRef-DOCUMENT"), ("name", inventory.source.name or "image"),
                       ("documentNamespace", _namespace(inventory))):
        doc.field(field, value)
    creation: dict[str, Any] = {"created": created, "creators": [annotator]}
    if any(owned):
        creation["comment"] = FILES_COMMENT
    doc.field("creationInfo", creation)
    ids = [_spdx_id("Package", ref) for ref in refs(packages)]
    extracted: dict[str, str] = {}  # LicenseRef id -> text
    source_ids: dict[tuple[str, str, str], str] = {}
    file_ids = _FileIds()
    doc.start("packages")
    doc.element(_image_package(inventory))
    for p, spdx_id, its_files in zip(packages, ids, owned, strict=True):
        pkg = _package(inventory, p, spdx_id, extracted)
        pkg["filesAnalyzed"] = bool(its_files)
        pkg["annotations"] = [_annotation(PKG_FACTS, _package_facts(p), annotator, created)]
        doc.element(pkg)
        file_ids.add(its_files)
        if its_files and p.file_digests:
            file_ids.digests(file_digests(p, frozenset(its_files)))
        if p.source is not None:
            source = (p.type.value, p.source.name, p.source.version)
            if source not in source_ids:
                source_ids[source] = _spdx_id("Source", "/".join(source))
                doc.element(_source_package(p, p.source, source_ids[source]))
    doc.end()
    if file_ids:
        doc.start("files")
        for lines in file_ids.elements():
            doc.lines(lines)
        doc.end()
    doc.start("relationships")
    doc.line(_rel_line("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE_ID))
    for p, spdx_id, its_files in zip(packages, ids, owned, strict=True):
        doc.line(_rel_line(IMAGE_ID, "CONTAINS", spdx_id))
        if its_files:
            # _rel_line's text for each file, its id hex (nothing to escape)
            contains = (f'{{"spdxElementId": {_str(spdx_id)}, "relationshipType": "CONTAINS", '
                        '"relatedSpdxElement": "')
            doc.lines([f'{contains}{file_ids.id(path)}"}}' for path in its_files])
        if p.source is not None:
            made_from = source_ids[p.type.value, p.source.name, p.source.version]
            doc.line(_rel_line(spdx_id, "GENERATED_FROM", made_from))
    doc.end()
    listed = {p.purl for p in packages}
    facts = {
        "scope": inventory.scope,
        "hiddenPackages": len(inventory.hidden),
        "hiddenPackagesOmitted": len(inventory.packages) - len(packages),
        "source": native._source(inventory.source),
        "distro": native._distro(inventory.distro) if inventory.distro else None,
        "layers": [native._layer(x) for x in inventory.layers],
        "relationships": [
            {"source": r.source, "target": r.target, "type": r.type.value}
            for r in inventory.relationships if r.source in listed
        ],
    }
    doc.field("annotations", [_annotation(DOC_FACTS, facts, annotator, created)])
    if extracted:
        doc.field("hasExtractedLicensingInfos",
                  [_extracted_info(k, v) for k, v in sorted(extracted.items())])
    doc.close()
    text.flush()


def _rel_line(element: str, kind: str, related: str) -> str:
    return (f'{{"spdxElementId": {_str(element)}, "relationshipType": {_str(kind)}, '
            f'"relatedSpdxElement": {_str(related)}}}')


def _namespace(inventory: Inventory) -> str:
    """Unique per document, and naming the image digest it describes."""
    s = inventory.source
    slug = _NOT_IDSTRING.sub("-", s.name).strip("-") or "image"
    digest = s.manifest_digest.removeprefix("sha256:") or "no-digest"
    return f"https://hullcheck.invalid/spdx/{slug[:80]}/{digest}/{uuid.uuid4()}"


_FILE_ID = "SPDXRef-File-"  # _spdx_id("File", path) is this and 16 hex digits
LINES = 256  # file elements made and written at a time (~40 kB)


def _spdx_id(kind: str, ref: str) -> str:
    digest = hashlib.sha256(ref.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"SPDXRef-{kind}-{digest}"


def _checksum(algorithm: str, hexdigits: str) -> str:
    """One checksum as JSON (the algorithm is one of ours, the value validated hex)."""
    return f'{{"algorithm": "{algorithm}", "checksumValue": "{hexdigits}"}}'


class _FileIds:
    """One SPDX file element per path, whichever packages own it."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}
        self._taken: set[str] = set()
        self._digests: dict[str, dict[str, str]] = {}  # path -> algorithm -> hex

    def digests(self, found: Iterable[tuple[str, str, str]]) -> None:
        """Record (path, algorithm, hex) of what a package's database says of the content of
        the files it owns. A path two packages own keeps the first value of each algorithm
        (their databases should agree)."""
        group_digests(found, self._digests)

    def add(self, paths: Iterable[str]) -> None:
        """``id`` of each path, those new made in one comprehension (no call each, as for
        CycloneDX's file refs); in turn, as ``id`` makes them, when one is taken already."""
        ids = self._ids
        new = [path for path in dict.fromkeys(paths) if path not in ids]
        made = hashed_ids(_FILE_ID, new, self._taken)
        if made is not None:
            ids.update(zip(new, made, strict=True))
            return
        for path in new:  # a 64-bit hash collision
            self.id(path)

    def id(self, path: str) -> str:
        found = self._ids.get(path)
        if found is None:
            found, n = _spdx_id("File", path), 0
            while found in self._taken:  # a 64-bit hash collision: make the id unique anyway
                n += 1
                found = _spdx_id("File", f"{path}\0{n}")
            self._ids[path] = found
            self._taken.add(found)
        return found

    def __len__(self) -> int:
        return len(self._ids)

    def elements(self) -> Iterator[list[str]]:
        """The file elements, by path, each as one line of JSON, ``LINES`` at a time. Names are
        relative to the image root, "./usr/bin/x" as the spec asks (Syft and Trivy write
        "usr/bin/x"; the reader takes both). An id is hex: no escaping needed."""
        get = self._digests.get
        ordered = sorted(self._ids.items())
        for start in range(0, len(ordered), LINES):
            yield [f'{{"SPDXID": "{spdx_id}", "fileName": {_str("." + path)}, '
                   f'"checksums": [{_checksums(get(path))}]}}'
                   for path, spdx_id in ordered[start:start + LINES]]


_UNKNOWN_SHA1 = _checksum("SHA1", NO_SHA1)


def _checksums(known: dict[str, str] | None) -> str:
    """The checksums of a file element as JSON: the SHA1 (forty zeros when not known), then
    the other known digests."""
    if not known:
        return _UNKNOWN_SHA1
    out = [_checksum("SHA1", known["sha1"]) if "sha1" in known else _UNKNOWN_SHA1]
    out += (_checksum(name, known[a]) for a, name in _SPDX_ALGORITHMS.items()
            if a != "sha1" and a in known)
    return ", ".join(out)


def _annotation(prefix: str, facts: object, annotator: str, created: str) -> dict[str, str]:
    return {
        "annotationDate": created,
        "annotationType": "OTHER",
        "annotator": annotator,
        "comment": prefix + json.dumps(facts, ensure_ascii=False, separators=(",", ":")),
    }


def _image_package(inventory: Inventory) -> dict[str, Any]:
    s = inventory.source
    pkg: dict[str, Any] = {
        "SPDXID": IMAGE_ID,
        "name": s.name or "image",
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "primaryPackagePurpose": "CONTAINER",
    }
    if s.manifest_digest:
        pkg["versionInfo"] = s.manifest_digest
    if s.manifest_digest.startswith("sha256:"):
        pkg["checksums"] = [
            {"algorithm": "SHA256", "checksumValue": s.manifest_digest.removeprefix("sha256:")}
        ]
    if (purl := image_purl(s.kind, s.name, s.manifest_digest)) is not None:
        pkg["externalRefs"] = [_ref("PACKAGE-MANAGER", "purl", purl.to_string())]
    return pkg


def _ref(category: str, kind: str, locator: str) -> dict[str, str]:
    return {"referenceCategory": category, "referenceType": kind, "referenceLocator": locator}


def _license_field(licenses: tuple[str, ...], extracted: dict[str, str]) -> str:
    """The licences as one SPDX expression (NOASSERTION when none). Text that is no expression
    gets a LicenseRef- id with the text as its extracted text; LicenseRef- ids the package
    already named get an entry saying so, as the spec asks of every LicenseRef- used."""
    parts = []
    for text in licenses:
        expr = spdx_expression(text)
        if expr is None:
            expr = license_ref(text)
            extracted[expr] = text
        else:
            for ref in LICENSE_REF.findall(expr):
                if not ref.startswith("DocumentRef-"):  # defined in that other document
                    extracted.setdefault(ref, "")
        parts.append(f"({expr})" if " " in expr and len(licenses) > 1 else expr)
    return " AND ".join(parts) or NOASSERTION


def _extracted_info(ref: str, text: str) -> dict[str, str]:
    if text:
        return {"licenseId": ref, "name": text, "extractedText": text}
    # Named by the package (a Debian copyright file's "public-domain"), text not at hand; the
    # name is the id itself, so a reader that resolves ids to names keeps it.
    return {"licenseId": ref, "name": ref,
            "extractedText": f"{ref}: a licence the package names that is not on the SPDX "
                             "licence list; its text is not in this document"}


def _supplier(s: Supplier) -> str:
    """``Person: NAME (EMAIL)`` or ``Organization: NAME (EMAIL)`` (SPDX 2.3 section 7.5)."""
    kind = "Person" if s.kind is SupplierKind.PERSON else "Organization"
    return f"{kind}: {s.name or s.email}" + (f" ({s.email})" if s.email else "")


def _package(
    inventory: Inventory, p: Package, spdx_id: str, extracted: dict[str, str]
) -> dict[str, Any]:
    refs_ = [_ref("PACKAGE-MANAGER", "purl", p.purl)] if _purl.parse(p.purl) else []
    refs_ += [
        _ref("SECURITY", "cpe22Type" if cpe.startswith("cpe:/") else "cpe23Type", cpe)
        for cpe in p.cpes if " " not in cpe
    ]
    pkg: dict[str, Any] = {
        "SPDXID": spdx_id,
        "name": p.name,
        "versionInfo": p.version,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        # Declared: the package's metadata says so. Concluded: detected in licence text.
        "licenseConcluded": _license_field(
            tuple(d.expression for d in p.detected_licenses), extracted),
        "licenseDeclared": _license_field(p.declared_licenses, extracted),
        "copyrightText": NOASSERTION,
        "primaryPackagePurpose": "LIBRARY",
        "externalRefs": refs_,
    }
    if info := _source_info(inventory, p):
        pkg["sourceInfo"] = info
    if p.supplier is not None:
        pkg["supplier"] = _supplier(p.supplier)
    return pkg


def _package_facts(p: Package) -> dict[str, Any]:
    """Our lossless record of the package, without the file list (only its length)."""
    facts = native._package(p)
    facts["files"] = []
    facts["filesCount"] = len(p.files)
    del facts["fileDigests"]  # in the file elements' checksums
    return facts


def _source_info(inventory: Inventory, p: Package) -> str:
    if not p.locations:
        return ""
    loc = p.locations[0]
    text = f"acquired package info from {loc.path}"
    layer = next((x for x in inventory.layers if x.index == loc.layer), None)
    if layer is not None:
        text += f" in layer {layer.index} ({layer.diff_id or layer.digest})"
        if layer.created_by:
            text += f" created by: {layer.created_by}"
    if p.visibility is Visibility.HIDDEN:
        text += "; not visible in the final file system (deleted or replaced by a later layer)"
    return text


def _source_package(p: Package, src: SourcePackage, spdx_id: str) -> dict[str, Any]:
    pkg: dict[str, Any] = {
        "SPDXID": spdx_id,
        "name": src.name,
        "versionInfo": src.version,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "primaryPackagePurpose": "SOURCE",
    }
    binary = _purl.parse(p.purl)
    if binary is not None and src.name:
        qualifiers = {k: v for k, v in (binary.qualifiers or {}).items() if k == "distro"}
        if arch := _SOURCE_ARCH.get(binary.type):
            qualifiers["arch"] = arch
        purl = PackageURL(type=binary.type, namespace=binary.namespace, name=src.name,
                          version=src.version or None, qualifiers=qualifiers)
        pkg["externalRefs"] = [_ref("PACKAGE-MANAGER", "purl", purl.to_string())]
    return pkg


# --- reading ---------------------------------------------------------------------------------


def decode(doc: object, name: str) -> Inventory:
    root = Node(name, "", doc)
    root.obj()
    facts = _facts(root, DOC_FACTS)
    facts_node = Node(name, "annotations[hullcheck:document]", facts or {})
    layers = LayerTable(native._read_layer(n) for n in facts_node.list("layers"))
    spdx_packages = {n.str("SPDXID"): n for n in root.list("packages")}
    rels = [rel.fields("spdxElementId", "relationshipType", "relatedSpdxElement")
            for rel in root.list("relationships")]
    generated_from: dict[str, str] = {}
    for elem, kind, related in rels:
        if kind == "GENERATED_FROM":
            generated_from.setdefault(elem, related)
    described = {related for _, kind, related in rels if kind == "DESCRIBES"}
    described.update(elem for elem, kind, _ in rels if kind == "DESCRIBED_BY")
    described.update(root.strs("documentDescribes"))
    owned = _owned_files(root, spdx_packages, rels)
    sources = {
        t for t in generated_from.values()
        if t in spdx_packages and spdx_packages[t].str("primaryPackagePurpose") == "SOURCE"
    }
    licence_names = {
        n.str("licenseId"): n.str("name") or n.str("extractedText")
        for n in root.list("hasExtractedLicensingInfos")
    }
    packages: list[Package] = []
    unknowns: list[Unknown] = []
    image: Node | None = None
    for spdx_id, node in spdx_packages.items():
        if spdx_id in sources:
            continue
        if spdx_id in described and (
            node.str("primaryPackagePurpose") == "CONTAINER" or _purls(node) == []
        ):
            image = image or node
            continue
        src_node = spdx_packages.get(generated_from.get(spdx_id, ""))
        pkg = _read_package(node, src_node, layers, licence_names)
        if isinstance(pkg, str):
            unknowns.append(
                Unknown(location=Location(path=name), cataloger=CATALOGER,
                        reason=f"{node.path}: {pkg}")
            )
        else:
            files = owned.get(spdx_id)
            packages.append(replace(pkg, files=files.files(), file_digests=files.digests())
                            if files is not None else pkg)
    source = facts_node.get("source")
    distro = facts_node.get("distro")
    return Inventory(
        source=native._read_source(source) if source else _image_source(image),
        distro=native._read_distro(distro) if distro else _guess_distro(packages),
        layers=tuple(layers.layers),
        packages=tuple(packages),
        relationships=tuple(
            native._read_relationship(n) for n in facts_node.list("relationships")
        ),
        unknowns=tuple(unknowns),
        scope=facts_node.str("scope", "squashed"),
    )


_File = tuple[str, tuple[str, ...]]  # a file element's path and digests


def _owned_files(
    root: Node, spdx_packages: dict[str, Node], rels: list[tuple[str, str, str]]
) -> dict[str, OwnedFiles]:
    """Package id -> the paths of the files it owns, in document order, each once, with the
    digests their file elements give: from ``hasFiles``, package CONTAINS file and file
    CONTAINED_BY package. Only package-file edges count: ids naming nothing, or other elements
    (package cycles included), are ignored."""
    files = _read_files(root)
    owned: defaultdict[str, OwnedFiles] = defaultdict(OwnedFiles)
    seen: set[tuple[str, str]] = set()  # (package, file) edges: a repeat costs nothing

    def own(package_id: str, file_id: str) -> None:
        if (package_id, file_id) not in seen:
            seen.add((package_id, file_id))
            owned[package_id].add(*files[file_id])

    for spdx_id, node in spdx_packages.items():
        for file_id in node.strs("hasFiles"):
            if file_id in files:
                own(spdx_id, file_id)
    for elem, kind, related in rels:
        if kind == "CONTAINS" and related in files and elem in spdx_packages:
            own(elem, related)
        elif kind == "CONTAINED_BY" and elem in files and related in spdx_packages:
            own(related, elem)
    return owned


def _read_files(root: Node) -> dict[str, _File]:
    """File element id -> the absolute path its name gives ("./usr/bin/x", Syft's and
    Trivy's "usr/bin/x" and "/usr/bin/x" all give "/usr/bin/x"), and its checksums as
    Package.file_digests: a SHA1 of zeros (unknown), other algorithms and malformed values
    are left out."""
    out: dict[str, _File] = {}
    for node in root.list("files"):
        spdx_id, name = node.fields("SPDXID", "fileName")
        if spdx_id and name and spdx_id not in out:
            out[spdx_id] = (_path(name), _file_digests(node))
    return out


def _file_digests(node: Node) -> tuple[str, ...]:
    out = []
    for checksum in node.list("checksums"):
        algorithm, value = checksum.fields("algorithm", "checksumValue")
        ours = _OUR_ALGORITHMS.get(algorithm)
        if ours is not None and value != NO_SHA1 and (d := file_digest(ours, value)):
            out.append(d)
    return tuple(out)


def _path(name: str) -> str:
    if name.startswith("./"):
        return name[1:]
    return name if name.startswith("/") else "/" + name


def _facts(node: Node, prefix: str) -> dict[str, Any] | None:
    """The JSON our annotation with ``prefix`` carries, if the element has one."""
    for ann in node.list("annotations"):
        comment = ann.str("comment")
        if comment.startswith(prefix):
            try:
                value = untrusted.json_document(
                    comment[len(prefix):], what=f"{prefix.strip()} annotation")
            except FormatError as exc:
                ann.fail(str(exc))
            if not isinstance(value, dict):
                ann.fail(f"{prefix.strip()} annotation is not a JSON object")
            return value
    return None


def _purls(node: Node) -> list[str]:
    return [
        r.str("referenceLocator") for r in node.list("externalRefs")
        if r.str("referenceType") == "purl"
    ]


def _image_source(image: Node | None) -> ImageSource:
    if image is None:
        return ImageSource(kind="sbom", name="")
    version = image.str("versionInfo")
    return ImageSource(
        kind="sbom", name=image.str("name"),
        manifest_digest=version if version.startswith("sha256:") else "",
    )


def _guess_distro(packages: list[Package]) -> Distro | None:
    for p in packages:
        purl = _purl.parse(p.purl)
        if purl is not None and (d := _purl.distro(purl)) is not None:
            return d
    return None


def _read_package(
    node: Node, src_node: Node | None, layers: LayerTable, licence_names: dict[str, str]
) -> Package | str:
    facts = _facts(node, PKG_FACTS)
    if facts is not None:
        facts.pop("filesCount", None)
        return native._read_package(Node(node.doc, f"{node.path}.annotations", facts))
    purl_text = next(iter(_purls(node)), "")
    purl = _purl.parse(purl_text)
    if purl is None:
        return f"no usable purl ({purl_text[:80]!r})" if purl_text else "no purl"
    ptype = _purl.package_type(purl)
    if ptype is None:
        return f"purl type {purl.type!r} is not supported"
    version = node.str("versionInfo") or _purl.package_version(purl)
    licenses, detected = _read_licenses(node, licence_names)
    source = None
    if src_node is not None and src_node.str("name"):
        source = SourcePackage(name=src_node.str("name"),
                               version=src_node.str("versionInfo") or version)
    elif is_os(ptype) and (upstream := _purl.qualifier(purl, "upstream")):
        src_name, _, src_version = upstream.partition("@")
        source = SourcePackage(name=src_name, version=src_version or version)
    elif is_os(ptype) and (
        built := _BUILT_FROM.fullmatch(node.str("sourceInfo"))
    ):
        source = SourcePackage(name=built["name"], version=built["version"] or version)
    return Package(
        type=ptype,
        name=_purl.package_name(purl),
        version=version,
        purl=purl_text,
        found_by=CATALOGER,
        locations=(),
        licenses=licenses,
        detected_licenses=detected,
        supplier=_read_supplier(node),
        source=source,
        arch=_purl.qualifier(purl, "arch"),
        cpes=tuple(
            r.str("referenceLocator") for r in node.list("externalRefs")
            if r.str("referenceType") in ("cpe23Type", "cpe22Type")
        ),
    )


def _read_licenses(node: Node, licence_names: dict[str, str]) -> tuple[
        tuple[str, ...], tuple[DetectedLicense, ...]]:
    """The declared licence; and the concluded one when it says something else, as detected
    (Trivy writes the declared expression in both fields)."""
    declared, concluded = (_license_value(node.str(k), licence_names)
                           for k in ("licenseDeclared", "licenseConcluded"))
    if not concluded or concluded == declared:
        return ((declared,) if declared else ()), ()
    return (*((declared,) if declared else ()), concluded), (DetectedLicense(expression=concluded),)


def _license_value(text: str, licence_names: dict[str, str]) -> str:
    if not text or text in (NOASSERTION, "NONE"):
        return ""
    return licence_names.get(text) or text


_SUPPLIER = re.compile(r"(?P<kind>Person|Organization):\s*(?P<rest>.*)", re.S)
_EMAIL_SUFFIX = re.compile(r"(?P<name>.*?)\s*\((?P<email>[^()\s]*@[^()\s]*)\)\s*\Z", re.S)


def _read_supplier(node: Node) -> Supplier | None:
    """``Person: NAME (EMAIL)`` / ``Organization: NAME (EMAIL)``; None for NOASSERTION."""
    m = _SUPPLIER.fullmatch(node.str("supplier").strip())
    if m is None:
        return None
    rest = " ".join(m.group("rest").split())
    e = _EMAIL_SUFFIX.fullmatch(rest)
    name, email = (e.group("name"), e.group("email")) if e else split_contact(rest)
    if not name and not email:
        return None
    kind = SupplierKind.PERSON if m.group("kind") == "Person" else SupplierKind.ORGANIZATION
    return Supplier(name=name or email, email=email, kind=kind)
