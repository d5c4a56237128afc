"""Inventory <-> CycloneDX 1.6.

Both are written here as cyclonedx-python-lib would write them, byte for byte (its output is
the oracle of tests/sbom/test_cyclonedx_linear.py, over generated inventories): the library
builds and sorts a model object per component and property, ~1 ms a package, and its
dependency registration scans every dependency for each one, quadratic (5 s of 11 for 3,000
npm packages); a plain document costs a few µs a package. The library is not imported here
(~0.1 s, and a second SPDX licence table built on import): its model of the same document
(``_cyclonedx_model``) is the tests' oracle. Reading is by hand over the parsed JSON with
``_reader.Node``: the library's deserialiser is strict about documents other tools write and
reports failures as library exceptions, while we want to keep going past what we do not
understand and name the JSON path of what is malformed.

What hullcheck knows that CycloneDX has no field for travels in ``hullcheck:`` properties
(see ``_props``); Syft's and Trivy's properties are read too.
"""

from __future__ import annotations

import datetime
import functools
import importlib.util
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from packageurl import PackageURL

from hullcheck.model import Inventory, Package, Supplier
from hullcheck.sbom import _cyclonedx_files as cdx_files
from hullcheck.sbom import _props as P
from hullcheck.sbom import native
from hullcheck.sbom._common import TOOL, TOOL_VERSION, image_purl, refs, shown
from hullcheck.sbom._cyclonedx_read import decode, is_cyclonedx
from hullcheck.sbom._license import spdx_expression

__all__ = ["decode", "encode", "is_cyclonedx"]

# The library's values of the enums the document uses (ComponentType, LicenseAcknowledgement).
LIBRARY, CONTAINER, OPERATING_SYSTEM, APPLICATION = (
    "library", "container", "operating-system", "application")
DECLARED, CONCLUDED = "declared", "concluded"  # concluded: detected from licence text
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+")

Prop = tuple[str, str]  # (name, value) of a CycloneDX property


@functools.cache
def _spdx_ids() -> dict[str, str]:
    """The library's SPDX licence ids by lower-case id, read from its own schema file
    without importing it (``cyclonedx.spdx`` builds a licence table on import), so an id
    is written exactly as the library's ``fixup_id`` would write it."""
    spec = importlib.util.find_spec("cyclonedx")  # finds the package, does not import it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("cyclonedx-python-lib is not installed")
    schema = Path(spec.submodule_search_locations[0], "schema", "_res",
                  "spdx.SNAPSHOT.schema.json")
    ids = json.loads(schema.read_bytes()).get("enum", [])
    return {i.lower(): i for i in ids}


def fixup_id(value: str) -> str | None:
    """``cyclonedx.spdx.fixup_id``: the SPDX id ``value`` names in any case, else None."""
    return _spdx_ids().get(value.lower())


def encode(inventory: Inventory, *, xml: bool = False, files: bool = True) -> bytes:
    """The inventory as a CycloneDX 1.6 JSON (or XML) document, each package's files nested
    in its component (see ``_cyclonedx_files``) unless ``files`` is false."""
    owned = cdx_files.owned(inventory) if files else {}
    if xml:
        text = cdx_files.dump_xml(_xml_root(_json_document(inventory)), owned)
        # Lone surrogates (undecodable paths) cannot be UTF-8; keep them visible as escapes.
        return text.encode("utf-8", "backslashreplace") + b"\n"
    # JSON escapes every character outside ASCII, lone surrogates included.
    return cdx_files.json_bytes(_json_document(inventory), owned)


# -- JSON, as the library writes it -----------------------------------------------------
Json = dict[str, Any]


def _json_document(inventory: Inventory) -> Json:
    """The document the library's JSON outputter makes of ``_bom(inventory)``: keys in
    its (alphabetical) order, components, properties, licences and dependencies sorted as
    its model sorts them, duplicates dropped as its sets drop them."""
    packages = shown(inventory)
    image = _json_image(inventory)
    components = [_json_component(inventory, p, ref)
                  for p, ref in zip(packages, refs(packages), strict=True)]
    _json_relationships(inventory, packages, components)
    if (d := inventory.distro) is not None:
        components.append(_json_sparse({
            "bom-ref": f"hullcheck:os:{d.release}", "description": d.pretty_name or None,
            "name": d.id, "type": OPERATING_SYSTEM,
            "version": d.version_id or None}))
    components.sort(key=_component_order)
    listed = sorted(c["bom-ref"] for c in components)
    dependencies: list[Json] = [{"ref": ref} for ref in listed]
    dependencies.append(_json_sparse({"dependsOn": listed, "ref": image["bom-ref"]}))
    dependencies.sort(key=lambda d: d["ref"])
    metadata = {
        "component": image,
        "properties": _json_properties(_metadata_properties(inventory, len(packages))),
        "timestamp": datetime.datetime.now(tz=datetime.UTC).isoformat(),
        "tools": {"components": [{"name": TOOL, "type": APPLICATION,
                                  "version": TOOL_VERSION}]},
    }
    doc: Json = {"components": components, "dependencies": dependencies,
                 "metadata": _json_sparse(metadata), "serialNumber": f"urn:uuid:{uuid.uuid4()}",
                 "version": 1}
    if not components:
        del doc["components"]
    doc.update({"$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
                "bomFormat": "CycloneDX", "specVersion": "1.6"})
    return doc


def _json_sparse(obj: Json) -> Json:
    """``obj`` without its None and empty members (the library leaves them out)."""
    return {k: v for k, v in obj.items() if v is not None and v not in ([], {})}


def _component_order(c: Json) -> tuple[object, ...]:
    # The library's order: type, group (none here), name, version (a missing one after
    # any), bom-ref; bom-refs are unique, so nothing further decides.
    version = c.get("version")
    return (c["type"], c["name"], version is None, version or "", c["bom-ref"])


def _json_properties(props: Iterable[Prop]) -> list[Json]:
    """Properties as the library's sorted set of them writes: by name then value, once."""
    return [{"name": n, "value": v} for n, v in sorted(set(props))]


def _json_image(inventory: Inventory) -> Json:
    s = inventory.source
    purl = image_purl(s.kind, s.name, s.manifest_digest)
    return _json_sparse({
        "bom-ref": purl.to_string() if purl else "hullcheck:image", "name": s.name or "image",
        "purl": purl.to_string() if purl else None, "type": CONTAINER,
        "version": s.manifest_digest or None})


def _json_component(inventory: Inventory, p: Package, ref: str) -> Json:
    purl = _purl(p.purl)
    licenses, licenses_prop = _licence_parts(p.licenses, _detected_set(p))
    return _json_sparse({
        "bom-ref": ref, "cpe": p.cpes[0] if p.cpes else None,
        "licenses": _json_licenses(licenses), "name": p.name or "(unnamed)",
        "properties": _json_properties(_package_properties(inventory, p, purl, licenses_prop)),
        "purl": purl.to_string() if purl is not None else None,
        "supplier": _json_supplier(p.supplier) if p.supplier else None,
        "type": LIBRARY, "version": p.version or None})


def _json_supplier(s: Supplier) -> Json:
    """As ``_supplier``'s organisational entity is written."""
    contact = [{"email": s.email}] if _EMAIL.fullmatch(s.email) else None
    return _json_sparse({"contact": contact, "name": s.name or s.email or None})


def _licence_order(part: tuple[str, str, str]) -> tuple[object, ...]:
    # The library's: an expression before any licence (we write one at most); licences by
    # acknowledgement, id, name, a missing one after any.
    kind, value, ack = part
    if kind == "expression":
        return (0,)
    return (1, ack == "", ack, kind == "name", value)


def _json_licenses(licenses: list[tuple[str, str, str]]) -> list[Json]:
    """As the library's sorted set writes them (``_licence_order``), each once; the
    acknowledgement as its JSON writes it (before the id or name, alphabetical)."""
    out: list[Json] = []
    for kind, value, ack in sorted(set(licenses), key=_licence_order):
        if kind == "expression":
            out.append(_json_sparse({"acknowledgement": ack or None, "expression": value}))
        else:
            out.append({"license": _json_sparse({"acknowledgement": ack or None, kind: value})})
    return out


def _json_relationships(inventory: Inventory, packages: tuple[Package, ...],
                        components: list[Json]) -> None:
    """As ``_attach_relationships``: relationship properties on the source's component."""
    by_purl: dict[str, Json] = {}
    for p, c in zip(packages, components, strict=True):
        by_purl.setdefault(p.purl, c)
    grouped: defaultdict[str, list[Prop]] = defaultdict(list)
    for r in inventory.relationships:
        if r.source in by_purl:
            grouped[r.source].append(_prop(P.RELATIONSHIP + r.type.value, r.target))
    for purl, props in grouped.items():
        c = by_purl[purl]
        had = [(x["name"], x["value"]) for x in c.get("properties", ())]
        c["properties"] = _json_properties([*had, *props])
        ordered = sorted(c.items())  # "properties" may be new: keys in order again
        c.clear()
        c.update(ordered)


# -- XML, as the library writes it --------------------------------------------------------
def _xml_root(doc: Json) -> ElementTree.Element:
    """The element tree ``_library_xml_root`` gives (the library's XML of the same BOM,
    parsed), built from the JSON document: elements in the schema's order."""
    root = ElementTree.Element("bom", {"xmlns": cdx_files.XML_NS,
                                       "serialNumber": doc["serialNumber"], "version": "1"})
    meta = doc["metadata"]
    m = _sub(root, "metadata")
    _leaf(m, "timestamp", meta["timestamp"])
    tool = _sub(_sub(_sub(m, "tools"), "components"), "component", type="application")
    _leaf(tool, "name", TOOL)
    _leaf(tool, "version", TOOL_VERSION)
    _xml_component(m, meta["component"])
    _xml_properties(m, meta.get("properties", ()))
    if doc.get("components"):
        components = _sub(root, "components")
        for c in doc["components"]:
            _xml_component(components, c)
    deps = _sub(root, "dependencies")
    for d in doc["dependencies"]:
        dep = _sub(deps, "dependency", ref=d["ref"])
        for ref in d.get("dependsOn", ()):
            _sub(dep, "dependency", ref=ref)
    return root


def _xml_component(parent: ElementTree.Element, c: Json) -> None:
    e = _sub(parent, "component", type=c["type"], **{"bom-ref": c["bom-ref"]})
    if "supplier" in c:
        _xml_supplier(e, c["supplier"])
    for key in ("name", "version", "description"):
        if key in c:
            _leaf(e, key, _normalized(c[key]))
    if c.get("licenses"):
        licences = _sub(e, "licenses")
        for lic in c["licenses"]:
            if "expression" in lic:
                ack = {"acknowledgement": lic["acknowledgement"]} if "acknowledgement" in lic else {}
                _leaf(licences, "expression", _normalized(lic["expression"]), **ack)
            else:
                one = dict(lic["license"])
                ack = {"acknowledgement": one.pop("acknowledgement")} \
                    if "acknowledgement" in one else {}
                ((kind, value),) = one.items()
                _leaf(_sub(licences, "license", **ack), kind,
                      _normalized(value) if kind == "name" else value)
    for key in ("cpe", "purl"):
        if key in c:
            _leaf(e, key, c[key])
    _xml_properties(e, c.get("properties", ()))


def _xml_supplier(parent: ElementTree.Element, supplier: Json) -> None:
    e = _sub(parent, "supplier")
    if "name" in supplier:
        _leaf(e, "name", _normalized(supplier["name"]))
    for contact in supplier.get("contact", ()):
        _leaf(_sub(e, "contact"), "email", _normalized(contact["email"]))


def _xml_properties(parent: ElementTree.Element, props: Iterable[Json]) -> None:
    props = list(props)
    if props:
        e = _sub(parent, "properties")
        for p in props:
            _leaf(e, "property", _normalized(p["value"]), name=p["name"])


_NOT_NORMAL = re.compile(r"\r\n|\t|\n|\r")


def _normalized(text: str) -> str:
    """An XML schema normalizedString, as the library writes the fields of that type
    (names, versions, descriptions, property values, licence names and expressions)."""
    return _NOT_NORMAL.sub(" ", text)


def _sub(parent: ElementTree.Element, tag: str, **attrib: str) -> ElementTree.Element:
    return ElementTree.SubElement(parent, tag, {k: _xml_clean(v) for k, v in attrib.items()})


def _leaf(parent: ElementTree.Element, tag: str, text: str, **attrib: str) -> None:
    _sub(parent, tag, **attrib).text = _xml_clean(text) or None


def _xml_clean(text: str) -> str:
    """As the library's output is cleaned: characters XML 1.0 cannot carry become U+FFFD,
    lone surrogates (undecodable paths) backslash escapes."""
    text = cdx_files.XML_INVALID.sub("\ufffd", text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _prop(name: str, value: object) -> Prop:
    return (name, str(value))


def _metadata_properties(inventory: Inventory, listed: int) -> list[Prop]:
    s, hidden = inventory.source, len(inventory.hidden)
    out = [
        _prop(P.SCOPE, inventory.scope),
        _prop(P.HIDDEN_COUNT, hidden),
        _prop(P.HIDDEN_OMITTED, len(inventory.packages) - listed),
        _prop(P.FILES_TOTAL, inventory.files_total),
        _prop(P.FILES_OWNED, inventory.files_owned),
        _prop(P.IMAGE_KIND, s.kind),
        _prop(P.IMAGE_NAME, s.name),
        *(_prop(P.IMAGE_REPO_DIGEST, x) for x in s.repo_digests),
        *(_prop(P.IMAGE_TAG, x) for x in s.tags),
        *(_prop(P.IMAGE_LABEL + k, v) for k, v in s.labels),
    ]
    optional = [
        (P.IMAGE_DIGEST, s.manifest_digest), (P.IMAGE_CONFIG, s.config_digest),
        (P.IMAGE_PLATFORM, s.platform), (P.IMAGE_CREATED, s.created),
    ]
    if (d := inventory.distro) is not None:
        optional += [
            (P.DISTRO + "id", d.id), (P.DISTRO + "version-id", d.version_id),
            (P.DISTRO + "codename", d.codename), (P.DISTRO + "name", d.name),
            (P.DISTRO + "pretty-name", d.pretty_name), (P.DISTRO + "id-like", " ".join(d.id_like)),
        ]
    for x in inventory.layers:
        optional += [
            (f"{P.LAYER}{x.index}:digest", x.digest), (f"{P.LAYER}{x.index}:diff-id", x.diff_id),
            (f"{P.LAYER}{x.index}:media-type", x.media_type),
            (f"{P.LAYER}{x.index}:size", str(x.size) if x.size else ""),
            (f"{P.LAYER}{x.index}:created-by", x.created_by),
        ]
    return out + [_prop(k, v) for k, v in optional if v]


def _package_properties(inventory: Inventory, p: Package, purl: PackageURL | None,
                        licenses_prop: str) -> list[Prop]:
    always = [
        _prop(P.PACKAGE_TYPE, p.type.value),  # also marks the component as written by us
        _prop(P.FOUND_BY, p.found_by),
        _prop(P.VISIBILITY, p.visibility.value),
    ]
    if p.source is not None:
        always += [_prop(P.SOURCE_NAME, p.source.name), _prop(P.SOURCE_VERSION, p.source.version)]
    if p.owned_by:
        always.append(_prop(P.OWNED_BY, p.owned_by))
    props: list[tuple[str, str]] = [
        (P.ARCH, p.arch),
        (P.FILES_COUNT, str(len(p.files)) if p.files else ""),
        (P.LICENSES, licenses_prop),
        (P.LICENSES_DETECTED, _detected(p)),
        (P.SUPPLIER_KIND, p.supplier.kind.value if p.supplier else ""),
        (P.PURL_UNPARSED, p.purl if purl is None else ""),
    ]
    for i, loc in enumerate(p.locations):
        always.append(_prop(f"{P.LOCATION}{i}:path", loc.path))
        if loc.layer is not None:
            props.append((f"{P.LOCATION}{i}:layer-index", str(loc.layer)))
    layer = next((x for x in inventory.layers if x.index == p.layer), None)
    if layer is not None:
        props += [(P.LAYER_DIFF_ID, layer.diff_id), (P.LAYER_CREATED_BY, layer.created_by)]
    props += [(f"{P.CPE}{i}", cpe) for i, cpe in enumerate(p.cpes[1:], start=1)]
    return (always + [_prop(k, v) for k, v in props if v]
            + [_prop(P.EXTRA + k, v) for k, v in p.extras])


def _purl(text: str) -> PackageURL | None:
    try:
        return PackageURL.from_string(text) if text else None
    except ValueError:
        return None


def _detected_set(p: Package) -> set[str]:
    return {d.expression for d in p.detected_licenses}


def _licence_parts(texts: tuple[str, ...], detected: set[str], *,
                   fixup: Callable[[str], str | None] = fixup_id,
                   ) -> tuple[list[tuple[str, str, str]], str]:
    """The licences for the texts as (id | name | expression, value, acknowledgement): each
    declared, or concluded when ``detected`` (from licence text), "" when an expression
    joins both; and the JSON list to record when they cannot all be said in the licence
    field (the schema allows either licences or one expression). ``fixup``: the library's
    own, for the tests' oracle."""
    singles: list[tuple[str, str, str]] = []
    expressions: list[str] = []
    acks: set[str] = set()
    texts = tuple(t for t in texts if t.strip())
    for text in texts:
        ack = CONCLUDED if text in detected else DECLARED
        acks.add(ack)
        spdx_id = fixup(text)
        if spdx_id is not None:
            singles.append(("id", spdx_id, ack))
        elif (expr := spdx_expression(text)) is not None:
            expressions.append(expr)
        else:
            singles.append(("name", text, ack))
    if not expressions:
        return singles, ""
    # One expression, or several licences with a compound one among them: one AND-ed
    # expression of the valid ones (acknowledged when all are alike), and the full list in a
    # property so our own reader restores them.
    ack_all = next(iter(acks)) if len(acks) == 1 else ""
    if len(expressions) == 1 and not singles:
        return [("expression", expressions[0], ack_all)], ""
    valid = [t for t in (spdx_expression(x) for x in texts) if t]
    combined = " AND ".join(f"({t})" if " " in t else t for t in valid)
    return [("expression", combined, ack_all)], json.dumps(list(texts), ensure_ascii=False)


def _detected(p: Package) -> str:
    """The detected licences with their confidence and file, for our own reader (CycloneDX
    says only "concluded")."""
    if not p.detected_licenses:
        return ""
    return json.dumps([native._detected(d) for d in p.detected_licenses], ensure_ascii=False)
