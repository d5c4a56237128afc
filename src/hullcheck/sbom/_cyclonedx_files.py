"""The files each package owns, as CycloneDX file components nested in the package's component.

Nesting is CycloneDX's assembly ("a package that contains supporting files", the spec's
component-assemblies use case): the file is part of the package, which a ``dependencies``
entry (depends-on) would not say. Syft writes the same file components at the top level with
nothing tying them to their package; Docker Scout nests them as we do. A file two packages own
(a Python module shipped by a .deb) is nested in both, with a bom-ref of its own in each, as
bom-refs must be unique in the document.

They are added to the library's output rather than built as cyclonedx-python-lib components:
the library builds and sorts a full model object per component, which took 2.3 s for the
debootstrap image's 5,300 files (against 70 ms for the whole document without them); adding
them to the parsed JSON or XML takes a few milliseconds.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from xml.etree import ElementTree

from hullcheck.model import Inventory
from hullcheck.sbom._common import owned_files, refs, shown

# package bom-ref -> (file bom-ref, path) for each file it owns
Owned = dict[str, list[tuple[str, str]]]

XML_NS = "http://cyclonedx.org/schema/bom/1.6"
_NS = f"{{{XML_NS}}}"
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Elements the 1.6 XSD puts after <components> inside a <component> (its content is a sequence).
_AFTER_COMPONENTS = frozenset(
    {"evidence", "releaseNotes", "modelCard", "data", "cryptoProperties", "signature"})


def owned(inventory: Inventory) -> Owned:
    """The listed packages' files, keyed by the bom-ref of the package's component."""
    packages = shown(inventory)
    taken: set[str] = set()
    out: Owned = {}
    for p, ref in zip(packages, refs(packages), strict=True):
        if paths := owned_files(p):
            out[ref] = [(_file_ref(ref, path, taken), path) for path in paths]
    return out


def _file_ref(owner: str, path: str, taken: set[str]) -> str:
    """``hullcheck:file:`` and 16 hex digits naming (owner, path): the same on every run."""
    seed, n = f"{owner}\0{path}", 0
    while True:
        ref = "hullcheck:file:" + hashlib.sha256(
            seed.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        if ref not in taken:
            taken.add(ref)
            return ref
        n += 1  # a 64-bit hash collision: make the ref unique anyway
        seed = f"{owner}\0{path}\0{n}"


def nest_json(doc: dict[str, Any], files: Owned) -> None:
    """Give each package component of the parsed document its file components."""
    components = doc.get("components", [])
    for i, comp in enumerate(components):
        pairs = files.get(comp.get("bom-ref", ""))
        if pairs:
            nested = [{"bom-ref": ref, "name": path, "type": "file"} for ref, path in pairs]
            components[i] = _insert_sorted(comp, "components", nested)


def _insert_sorted(obj: dict[str, Any], key: str, value: object) -> dict[str, Any]:
    """``obj`` with ``key`` placed where the library's alphabetical key order puts it."""
    items = list(obj.items())
    at = next((i for i, (k, _) in enumerate(items) if k > key), len(items))
    items.insert(at, (key, value))
    return dict(items)


def parse_xml(data: bytes) -> ElementTree.Element:
    """The library's XML document, its elements named without the CycloneDX namespace, which
    the root declares as the default (ElementTree would write an ``ns0:`` prefix on every
    element otherwise; registering the namespace instead changes a process-wide table)."""
    root = ElementTree.fromstring(data)  # noqa: S314 -- our serialiser's output, no DTD
    for element in root.iter():
        if element.tag.startswith(_NS):
            element.tag = element.tag[len(_NS):]
    root.attrib = {"xmlns": XML_NS, **root.attrib}
    return root


def nest_xml(root: ElementTree.Element, files: Owned) -> None:
    """Give each package <component> of the parsed document its file components."""
    for comp in root.iterfind("components/component"):
        pairs = files.get(comp.get("bom-ref", ""))
        if pairs:
            at = next((i for i, c in enumerate(comp) if c.tag in _AFTER_COMPONENTS), len(comp))
            comp.insert(at, _xml_files(pairs))


def _xml_files(pairs: list[tuple[str, str]]) -> ElementTree.Element:
    wrapper = ElementTree.Element("components")
    for ref, path in pairs:
        comp = ElementTree.SubElement(wrapper, "component", {"type": "file", "bom-ref": ref})
        # XML 1.0 cannot carry most control characters: as in the rest of the document.
        ElementTree.SubElement(comp, "name").text = XML_INVALID.sub("\ufffd", path)
    return wrapper
