"""Reading CycloneDX JSON (ours, Syft's, Trivy's, anyone's) back into an Inventory."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace

from packageurl import PackageURL

from hullcheck import untrusted
from hullcheck.ecosystem import is_os
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
    split_contact,
)
from hullcheck.sbom import _cyclonedx_files as cdx_files
from hullcheck.sbom import _props as P
from hullcheck.sbom import _purl, native
from hullcheck.sbom._common import LayerTable, OwnedFiles, absolute
from hullcheck.sbom._reader import Node

CATALOGER = "sbom-cyclonedx"
_INDEX = re.compile(r"([0-9]{1,6}):(.+)")
_Props = dict[str, list[str]]


def is_cyclonedx(doc: object) -> bool:
    return isinstance(doc, dict) and doc.get("bomFormat") == "CycloneDX"


def decode(doc: object, name: str) -> Inventory:
    root = Node(name, "", doc)
    root.obj()
    meta = root.get("metadata")
    mprops = _properties(meta) if meta else {}
    layers = LayerTable(_layers(meta, mprops) if meta else ())
    packages: list[Package] = []
    # JSON path of each package's component -> its files' paths and digests: one entry per
    # package, in order
    files: dict[str, OwnedFiles] = {}
    unknowns: list[Unknown] = []
    relationships: list[Relationship] = []
    os_component: Node | None = None
    for comp, parent in _walk(root):
        ctype = comp.str("type")
        if ctype == "operating-system":
            os_component = os_component or comp
            continue
        if ctype == "file" and not comp.has("purl"):
            # A file, not a package to scan; nested in a package's component, the package owns it.
            if parent in files and (name := comp.str("name")):
                files[parent].add(absolute(name), _file_hashes(comp))
            continue
        props = _properties(comp)
        pkg = _package(comp, props, layers)
        if isinstance(pkg, str):
            unknowns.append(
                Unknown(location=Location(path=name), cataloger=CATALOGER,
                        reason=f"{comp.path}: {pkg}")
            )
            continue
        packages.append(pkg)
        files[comp.path] = OwnedFiles()
        relationships += _relationships(pkg.purl, props)
    packages = [
        replace(p, files=owned.files(), file_digests=owned.digests()) if owned.paths else p
        for p, owned in zip(packages, files.values(), strict=True)
    ]
    return Inventory(
        source=_source(meta.get("component") if meta else None, mprops),
        distro=_distro(mprops, os_component, packages),
        layers=tuple(layers.layers),
        packages=tuple(packages),
        relationships=tuple(relationships),
        unknowns=tuple(unknowns),
        scope=_first(mprops, P.SCOPE) or "squashed",
        files_total=_count(_first(mprops, P.FILES_TOTAL)),
        files_owned=_count(_first(mprops, P.FILES_OWNED)),
    )


def _file_hashes(comp: Node) -> tuple[str, ...]:
    if not comp.has("hashes"):
        return ()
    return cdx_files.read_hashes([h.fields("alg", "content") for h in comp.list("hashes")])


def _count(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 16 else 0


def _walk(root: Node) -> Iterator[tuple[Node, str]]:
    """Every component, nested ones included, without recursion, with the JSON path of the
    component it is nested in ("" at the top)."""
    stack = [(c, "") for c in reversed(root.list("components"))]
    while stack:
        comp, parent = stack.pop()
        comp.obj()
        yield comp, parent
        stack += ((c, comp.path) for c in reversed(comp.list("components")))


def _properties(node: Node) -> _Props:
    out: defaultdict[str, list[str]] = defaultdict(list)
    for prop in node.list("properties"):
        out[prop.req("name").as_str()].append(prop.str("value"))
    return dict(out)


def _first(props: _Props, key: str) -> str:
    values = props.get(key)
    return values[0] if values else ""


def _pairs(props: _Props, prefix: str) -> tuple[tuple[str, str], ...]:
    """Sorted (key, value) pairs from ``prefix`` + key properties."""
    return tuple(sorted(
        (k[len(prefix):], v) for k, values in props.items() if k.startswith(prefix)
        for v in values
    ))


def _indexed(props: _Props, prefix: str) -> dict[int, dict[str, str]]:
    """``prefix`` + ``N:field`` properties, grouped by N."""
    out: defaultdict[int, dict[str, str]] = defaultdict(dict)
    for key, values in props.items():
        if key.startswith(prefix) and (m := _INDEX.fullmatch(key[len(prefix):])):
            out[int(m.group(1))][m.group(2)] = values[0]
    return dict(out)


def _int(node: Node, key: str, text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,20}", text):
        node.fail(f"property {key!r} is not a non-negative integer: {text[:40]!r}")
    return int(text)


def _layers(meta: Node, props: _Props) -> list[Layer]:
    return [
        Layer(
            index=index, digest=f.get("digest", ""), diff_id=f.get("diff-id", ""),
            media_type=f.get("media-type", ""),
            size=_int(meta, f"{P.LAYER}{index}:size", f["size"]) if "size" in f else 0,
            created_by=f.get("created-by", ""),
        )
        for index, f in sorted(_indexed(props, P.LAYER).items())
    ]


def _source(comp: Node | None, props: _Props) -> ImageSource:
    name = comp.str("name") if comp else ""
    version = comp.str("version") if comp else ""
    return ImageSource(
        kind=_first(props, P.IMAGE_KIND) if P.IMAGE_KIND in props else "sbom",
        name=_first(props, P.IMAGE_NAME) if P.IMAGE_NAME in props else name,
        manifest_digest=_first(props, P.IMAGE_DIGEST)
        or (version if version.startswith("sha256:") else ""),
        config_digest=_first(props, P.IMAGE_CONFIG),
        repo_digests=tuple(props.get(P.IMAGE_REPO_DIGEST, ())),
        tags=tuple(props.get(P.IMAGE_TAG, ())),
        platform=_first(props, P.IMAGE_PLATFORM),
        created=_first(props, P.IMAGE_CREATED),
        labels=_pairs(props, P.IMAGE_LABEL),
    )


def _distro(props: _Props, os_comp: Node | None, packages: list[Package]) -> Distro | None:
    if distro_id := _first(props, P.DISTRO + "id"):
        return Distro(
            id=distro_id, version_id=_first(props, P.DISTRO + "version-id"),
            codename=_first(props, P.DISTRO + "codename"), name=_first(props, P.DISTRO + "name"),
            pretty_name=_first(props, P.DISTRO + "pretty-name"),
            id_like=tuple(_first(props, P.DISTRO + "id-like").split()),
        )
    if os_comp is not None and os_comp.str("name"):
        return Distro(id=os_comp.str("name").lower(), version_id=os_comp.str("version"))
    for p in packages:
        purl = _purl.parse(p.purl)
        if purl is not None and (d := _purl.distro(purl)) is not None:
            return d
    return None


def _package(comp: Node, props: _Props, layers: LayerTable) -> Package | str:
    """The package a component describes, or why it was skipped."""
    purl_text = comp.str("purl") or _first(props, P.PURL_UNPARSED)
    purl = _purl.parse(purl_text)
    type_text = _first(props, P.PACKAGE_TYPE)
    ptype = _purl.PURL_TYPES.get(type_text) or (_purl.package_type(purl) if purl else None)
    if ptype is None:
        if purl is not None:
            return f"purl type {purl.type!r} is not supported"
        return f"no usable purl ({purl_text[:80]!r})" if purl_text else "no purl"
    ours = P.PACKAGE_TYPE in props
    name = comp.str("name") if ours or purl is None else _purl.package_name(purl)
    version = comp.str("version") or (_purl.package_version(purl) if purl else "")
    visibility = _first(props, P.VISIBILITY) or Visibility.VISIBLE.value
    if visibility not in {v.value for v in Visibility}:
        comp.fail(f"property {P.VISIBILITY!r} has unknown value {visibility[:40]!r}")
    numbered = sorted(
        (int(k[len(P.CPE):]), v[0]) for k, v in props.items()
        if k.startswith(P.CPE) and re.fullmatch(r"[0-9]{1,6}", k[len(P.CPE):])
    )
    cpes = ([comp.str("cpe")] if comp.str("cpe") else []) + [v for _, v in numbered]
    return Package(
        type=ptype,
        name=name,
        version=version,
        purl=purl_text,
        found_by=_first(props, P.FOUND_BY) if ours
        else _first(props, P.SYFT_FOUND_BY) or CATALOGER,
        locations=_locations(comp, props, layers),
        licenses=_licenses(comp, props),
        detected_licenses=_detected(comp, props),
        supplier=_supplier(comp, props),
        source=_source_package(props, ptype, version, purl),
        arch=_first(props, P.ARCH) or (_purl.qualifier(purl, "arch") if purl else ""),
        cpes=tuple(cpes),
        visibility=Visibility(visibility),
        owned_by=_first(props, P.OWNED_BY),
        extras=_pairs(props, P.EXTRA),
    )


def _locations(comp: Node, props: _Props, layers: LayerTable) -> tuple[Location, ...]:
    if ours := _indexed(props, P.LOCATION):
        return tuple(
            Location(
                path=f.get("path", ""),
                layer=_int(comp, f"{P.LOCATION}{i}:layer-index", f["layer-index"])
                if "layer-index" in f else None,
            )
            for i, f in sorted(ours.items())
        )
    if syft := _indexed(props, P.SYFT_LOCATION):
        return tuple(
            Location(path=f.get("path", ""), layer=layers.index(diff_id=f.get("layerID", "")))
            for _, f in sorted(syft.items())
        )
    path, diff_id = _first(props, P.TRIVY_PATH), _first(props, P.TRIVY_DIFF_ID)
    if path or diff_id:
        return (Location(path=path, layer=layers.index(diff_id=diff_id)),)
    return ()


def _licenses(comp: Node, props: _Props) -> tuple[str, ...]:
    if recorded := _first(props, P.LICENSES):
        try:
            values = untrusted.json_document(recorded, what=P.LICENSES)
        except FormatError:
            values = None
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            comp.fail(f"property {P.LICENSES!r} is not a JSON list of strings")
        return tuple(values)
    out = []
    for choice in comp.list("licenses"):
        if choice.has("expression"):
            out.append(choice.req("expression").as_str())
        elif (lic := choice.get("license")) is not None:
            text = lic.str("id") or lic.str("name")
            if text:
                out.append(text)
    return tuple(out)


def _detected(comp: Node, props: _Props) -> tuple[DetectedLicense, ...]:
    """Our property when present (confidence and file); else each licence the document says
    was concluded, not declared (CycloneDX 1.6 ``acknowledgement``)."""
    if recorded := _first(props, P.LICENSES_DETECTED):
        try:
            values = untrusted.json_document(recorded, what=P.LICENSES_DETECTED)
        except FormatError as exc:
            comp.fail(f"property {P.LICENSES_DETECTED!r}: {exc}")
        node = Node(comp.doc, f"{comp.path}.properties[{P.LICENSES_DETECTED}]", values)
        return tuple(native.read_detected(n) for n in node.items())
    out = []
    for choice in comp.list("licenses"):
        lic = choice if choice.has("expression") else choice.get("license")
        if lic is None or lic.str("acknowledgement") != "concluded":
            continue
        text = choice.str("expression") or lic.str("id") or lic.str("name")
        if text:
            out.append(DetectedLicense(expression=text))
    return tuple(out)


def _supplier(comp: Node, props: _Props) -> Supplier | None:
    """The component's supplier: its name and first contact's email (Trivy writes the
    maintainer's "Name <address>" as the name); a person when our property says so."""
    node = comp.get("supplier")
    if node is None:
        return None
    name = node.str("name")
    email = next((c.str("email") for c in node.list("contact") if c.str("email")), "")
    if not email:
        name, email = split_contact(name)
    if not name and not email:
        return None
    kind = _first(props, P.SUPPLIER_KIND) or SupplierKind.ORGANIZATION.value
    if kind not in {k.value for k in SupplierKind}:
        comp.fail(f"property {P.SUPPLIER_KIND!r} has unknown value {kind[:40]!r}")
    return Supplier(name=name or email, email=email, kind=SupplierKind(kind))


def _source_package(
    props: _Props, ptype: PackageType, version: str, purl: PackageURL | None
) -> SourcePackage | None:
    if P.SOURCE_NAME in props:
        return SourcePackage(name=_first(props, P.SOURCE_NAME),
                             version=_first(props, P.SOURCE_VERSION))
    if name := _first(props, P.SYFT_SOURCE):
        src_version = _first(props, P.SYFT_SOURCE_VERSION)
    elif name := _first(props, P.TRIVY_SRC_NAME):
        src_version = _first(props, P.TRIVY_SRC_VERSION)
        if src_version and (release := _first(props, P.TRIVY_SRC_RELEASE)):
            src_version = f"{src_version}-{release}"
        if src_version and (epoch := _first(props, P.TRIVY_SRC_EPOCH)) and epoch != "0":
            src_version = f"{epoch}:{src_version}"
    elif purl is not None and (upstream := _purl.qualifier(purl, "upstream")):
        name, _, src_version = upstream.partition("@")
    else:
        return None
    if not is_os(ptype):
        return None
    # A binary package whose source field names no version was built from its own version.
    return SourcePackage(name=name, version=src_version or version)


def _relationships(source: str, props: _Props) -> list[Relationship]:
    out = []
    for key, targets in props.items():
        if key.startswith(P.RELATIONSHIP):
            try:
                rtype = RelationshipType(key[len(P.RELATIONSHIP):])
            except ValueError:
                continue
            out += [Relationship(source=source, target=t, type=rtype) for t in targets]
    return out
