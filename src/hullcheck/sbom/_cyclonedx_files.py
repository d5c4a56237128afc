"""The files each package owns, as CycloneDX file components nested in the package's component.

Nesting is CycloneDX's assembly ("a package that contains supporting files", the spec's
component-assemblies use case): the file is part of the package, which a ``dependencies``
entry (depends-on) would not say. Syft writes the same file components at the top level with
nothing tying them to their package; Docker Scout nests them as we do. A file two packages own
(a Python module shipped by a .deb) is nested in both, with a bom-ref of its own in each, as
bom-refs must be unique in the document. A file component carries the ``hashes`` its package's
database records for it (dpkg MD5, apk SHA-1, rpm file digests: the file as installed, not
computed from the image); CycloneDX has no SHA-224, so an rpm SHA-224 digest is left out.

They are added to the library's output rather than built as cyclonedx-python-lib components:
the library builds and sorts a full model object per component, which took 2.3 s for the
debootstrap image's 5,300 files (against 70 ms for the whole document without them); adding
them to the parsed JSON or XML takes a few milliseconds. In JSON they are even written by hand,
exactly as ``json.dumps(indent=2)`` would write them: its indenting encoder is pure Python and
spent ~60 ms on the debootstrap image's file components once they had hashes.
"""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring_ascii as _ascii  # as json.dumps writes a string
from typing import Any
from xml.etree import ElementTree

from hullcheck.model import Inventory, Package, file_digest
from hullcheck.sbom._common import (
    file_digests,
    group_digests,
    hashed_ids,
    owned_files,
    refs,
    shown,
)
from hullcheck.sbom._json import dump

Hashes = tuple[tuple[str, str], ...]  # (CycloneDX algorithm, hex)
# package bom-ref -> (file bom-ref, path, hashes) for each file it owns
Owned = dict[str, list[tuple[str, str, Hashes]]]

# Package.file_digests algorithm <-> CycloneDX hash algorithm
ALGORITHMS = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha384": "SHA-384",
              "sha512": "SHA-512"}
OUR_ALGORITHMS = {v: k for k, v in ALGORITHMS.items()}

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
            hashes = _hashes(p, paths) if p.file_digests else {}
            get = hashes.get
            out[ref] = [(file_ref, path, get(path, ()))
                        for file_ref, path in zip(_file_refs(ref, paths, taken), paths,
                                                  strict=True)]
    return out


def _hashes(p: Package, paths: tuple[str, ...]) -> dict[str, Hashes]:
    """Path -> the CycloneDX hashes of the package's valid digests of it: one per algorithm
    (the first; two values of one algorithm for one file cannot both be right), as SPDX
    writes them and both readers keep them."""
    found: dict[str, dict[str, str]] = {}
    group_digests(((path, algorithm, value)
                   for path, algorithm, value in file_digests(p, frozenset(paths))
                   if algorithm in ALGORITHMS), found)
    return {path: tuple((ALGORITHMS[a], v) for a, v in algorithms.items())
            for path, algorithms in found.items()}


def read_hashes(pairs: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """(alg, content) of a file component's hashes as Package.file_digests digests; other
    algorithms and malformed values are left out."""
    out = []
    for alg, content in pairs:
        ours = OUR_ALGORITHMS.get(alg)
        if ours is not None and (digest := file_digest(ours, content)):
            out.append(digest)
    return tuple(out)


def _file_refs(owner: str, paths: tuple[str, ...], taken: set[str]) -> list[str]:
    """``_file_ref`` of each of one package's paths, at once (``hashed_ids``: the big bench
    image's 48,000 refs, 43 ms one call each, 35 ms so, of which the hashes 28); when one
    collides, each is made in turn as ``_file_ref`` makes it."""
    seed = owner + "\0"
    made = hashed_ids(_REF, [seed + path for path in paths], taken)
    return made if made is not None else [_file_ref(owner, path, taken) for path in paths]


_REF = "hullcheck:file:"


def _file_ref(owner: str, path: str, taken: set[str]) -> str:
    """``hullcheck:file:`` and 16 hex digits naming (owner, path): the same on every run."""
    seed, n = f"{owner}\0{path}", 0
    while True:
        ref = _REF + hashlib.sha256(
            seed.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        if ref not in taken:
            taken.add(ref)
            return ref
        n += 1  # a 64-bit hash collision: make the ref unique anyway
        seed = f"{owner}\0{path}\0{n}"


def dump_json(doc: dict[str, Any], files: Owned) -> str:
    """``json_bytes`` as text, without its last newline."""
    return json_bytes(doc, files)[:-1].decode("ascii")


def json_bytes(doc: dict[str, Any], files: Owned) -> bytes:
    """The parsed document, each package component given its file components, as
    ``json.dumps(doc, indent=2)`` writes it, and a newline. Written piece by piece into one
    buffer (the pieces of a 3,000-package document, joined then encoded, held four times its
    size), the file components by hand as each package's turn comes."""
    components = doc.get("components", [])
    for i, comp in enumerate(components):
        pairs = files.get(comp.get("bom-ref", ""))
        if pairs:
            components[i] = _insert_sorted(comp, "components", _Files(pairs))
    out = io.BytesIO()
    write = out.write
    _dump(doc, "\n", lambda piece: write(piece.encode("ascii")))
    write(b"\n")
    return out.getvalue()


class _Files:
    """A package's file components, in the document ``json_bytes`` writes."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, str, Hashes]]) -> None:
        self.pairs = pairs


def dumps_indented(obj: object) -> str:
    """``json.dumps(obj, indent=2)`` for strings, ints, booleans, None, lists and dicts with
    string keys, several times faster: the json module indents in pure Python through
    layers of generators (half of a 10,000-package CycloneDX document's encoding time);
    this writes each piece once, each string escaped by the json module's own C function."""
    out: list[str] = []
    _dump(obj, "\n", out.append)
    return "".join(out)


def _dump(o: object, nl: str, write: Callable[[str], object]) -> None:
    """``json.dumps(o, indent=2)``'s text (ASCII), a package's ``_Files`` written by hand."""
    dump(o, nl, write, _ascii, _files_text)


def _files_text(o: object) -> str | None:
    return _json_files(o.pairs) if isinstance(o, _Files) else None


def _splice(document: str, mark: str, texts: list[str]) -> str:
    """``document`` with its placeholders, in order, replaced by ``texts``."""
    parts = document.split(mark)
    if len(parts) != len(texts) + 1:
        raise AssertionError("file component placeholders lost")  # cannot happen
    out = [parts[0]]
    for text, part in zip(texts, parts[1:], strict=True):
        out += (text, part)
    return "".join(out)


# A package component's "components" array, at the depth json.dumps(indent=2) puts it: the
# document's "components" (2 spaces), a component (4), its members (6), its files (8).
# Each file's text made in one comprehension, a bom-ref (``_file_ref``: ASCII letters, digits
# and colons) written as it is (the big bench image's 48,000 files: 31 ms a call each, 24 so).
def _json_files(pairs: list[tuple[str, str, Hashes]]) -> str:
    items = ",\n".join([
        f'        {{\n          "bom-ref": "{ref}",\n{_json_hashes(hashes) if hashes else ""}'
        f'          "name": {_ascii(path)},\n          "type": "file"\n        }}'
        for ref, path, hashes in pairs])
    return f"[\n{items}\n      ]"


def _json_hashes(hashes: Hashes) -> str:
    # Our algorithm names and validated hex (``_hashes``): nothing to escape.
    each = ",\n".join([f'            {{\n              "alg": "{alg}",\n'
                       f'              "content": "{hexdigits}"\n            }}'
                       for alg, hexdigits in hashes])
    return f'          "hashes": [\n{each}\n          ],\n'


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


def dump_xml(root: ElementTree.Element, files: Owned) -> str:
    """The parsed document, each package <component> given its file components, indented and
    serialised as ElementTree writes it. As in JSON, the file components are rendered by hand:
    each package gets an empty <components> holding a placeholder (a fresh UUID) while the rest
    is indented and serialised (both pure Python, and the files are most of the elements),
    then the placeholders are replaced in one pass."""
    mark = f"hullcheck-files-{uuid.uuid4().hex}"
    texts = []
    for comp in root.iterfind("components/component"):
        pairs = files.get(comp.get("bom-ref", ""))
        if pairs:
            at = next((i for i, c in enumerate(comp) if c.tag in _AFTER_COMPONENTS), len(comp))
            placeholder = ElementTree.Element("components")
            placeholder.text = mark
            comp.insert(at, placeholder)
            texts.append(_xml_files(pairs))
    ElementTree.indent(root)
    return _splice(ElementTree.tostring(root, encoding="unicode", xml_declaration=True), mark,
                   texts)


# A package component's <components>, at the depth ElementTree.indent puts it: <bom> (0),
# <components> (2 spaces), a <component> (4), its children (6), its files (8).
# As for JSON, each file's text is made in one comprehension: a bom-ref (``_file_ref``) needs no
# escaping, and a path only when it is not printable (every character XML cannot carry is
# not) or holds one of "&<>" (checked inline; the big bench image's 48,000 files: 75 ms with a
# regex and seven replaces for each, 28 so).
def _xml_files(pairs: list[tuple[str, str, Hashes]]) -> str:
    names = [path if path.isprintable() and not ("&" in path or "<" in path or ">" in path)
             else _xml_name(path) for _, path, _ in pairs]
    items = "".join([
        f'\n        <component type="file" bom-ref="{ref}">\n          <name>{name}</name>'
        f'{_xml_hashes(hashes) if hashes else ""}\n        </component>'
        for (ref, _, hashes), name in zip(pairs, names, strict=True)])
    return f"{items}\n      "


def _xml_name(path: str) -> str:
    # XML 1.0 cannot carry most control characters: as in the rest of the document.
    return _xml_text(XML_INVALID.sub("\ufffd", path))


def _xml_hashes(hashes: Hashes) -> str:
    listed = "".join(f'\n            <hash alg="{alg}">{hexdigits}</hash>'
                     for alg, hexdigits in hashes)  # our algorithm names, validated hex
    return f"\n          <hashes>{listed}\n          </hashes>"  # after <name> in the XSD


def _xml_text(text: str) -> str:
    """As ElementTree escapes element text."""
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text

