"""Inventory <-> SBOM documents: CycloneDX 1.6 (JSON, XML), SPDX 2.3 JSON, native JSON.

    encode(inventory, fmt) -> bytes      fmt in FORMATS
    decode(data, name=...) -> Inventory  CycloneDX JSON, SPDX 2.x JSON or native JSON

CycloneDX and SPDX list the packages of the inventory's scope ("squashed": the visible
ones, and how many hidden ones were left out; "all-layers": all, hidden ones marked), and
the files each of them owns: CycloneDX file components nested in the package's component,
SPDX file elements with package CONTAINS file relationships. Decoding gives the packages
their files back; file entries are never packages. The native format always holds
everything and decodes to an equal Inventory.
"""

from __future__ import annotations

from hullcheck.errors import FormatError, UsageError
from hullcheck.model import Inventory

# The codecs are imported when used: cyclonedx-python-lib alone takes ~100 ms to import,
# which a `hullcheck sbom -o json` run should not pay.

FORMATS = ("cyclonedx-json", "cyclonedx-xml", "spdx-json", "json")

__all__ = ["FORMATS", "decode", "encode"]


def encode(inventory: Inventory, fmt: str, *, files: bool = True) -> bytes:
    """``files``: list each package's files in CycloneDX and SPDX (as Syft does by default);
    the native format always holds them."""
    if fmt in ("cyclonedx-json", "cyclonedx-xml"):
        from hullcheck.sbom import cyclonedx  # only its format pays for its imports

        return cyclonedx.encode(inventory, xml=fmt == "cyclonedx-xml", files=files)
    if fmt == "spdx-json":
        from hullcheck.sbom import spdx

        return spdx.encode(inventory, files=files)
    if fmt == "json":
        from hullcheck.sbom import native

        return native.encode(inventory)
    raise UsageError(f"unknown SBOM format {fmt!r}; choose one of {', '.join(FORMATS)}")


def decode(data: bytes, *, name: str = "<sbom>") -> Inventory:
    """The inventory an SBOM document describes. Raises FormatError when it is not one we read."""
    from hullcheck.sbom import cyclonedx, native, spdx
    from hullcheck.sbom._reader import load_json

    if data.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"<":
        return cyclonedx.decode(_cyclonedx_xml(data, name), name)
    doc = load_json(data, name)
    if native.is_native(doc):
        return native.decode(doc, name)
    if cyclonedx.is_cyclonedx(doc):
        return cyclonedx.decode(doc, name)
    if spdx.is_spdx(doc):
        return spdx.decode(doc, name)
    raise FormatError(
        f"{name}: not a CycloneDX, SPDX or hullcheck SBOM",
        hint="hullcheck reads CycloneDX JSON, SPDX 2.x JSON and its own JSON",
    )


CYCLONEDX_XMLNS = "http://cyclonedx.org/schema/bom/"


def _cyclonedx_xml(data: bytes, name: str) -> object:
    """A CycloneDX XML document as the JSON form the CycloneDX reader takes: parsed with
    defusedxml (no DTD, no entity expansion), read by cyclonedx-python-lib's model and
    written back as CycloneDX 1.6 JSON, so one reader checks both."""
    from xml.etree.ElementTree import ParseError

    from cyclonedx.model.bom import Bom
    from cyclonedx.output.json import JsonV1Dot6
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    from hullcheck.sbom._reader import load_json

    try:
        root = fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise FormatError(f"{name}: not well-formed XML ({exc})") from None
    if not (root.tag.startswith("{" + CYCLONEDX_XMLNS) and root.tag.endswith("}bom")):
        raise FormatError(f"{name}: not a CycloneDX, SPDX or hullcheck SBOM (XML, but not "
                          "a CycloneDX BOM)",
                          hint="hullcheck reads CycloneDX JSON or XML, SPDX 2.x JSON and its "
                               "own JSON")
    try:
        bom = Bom.from_xml(root)  # type: ignore[attr-defined]
        text = JsonV1Dot6(bom).output_as_string()
    except RecursionError:
        raise FormatError(f"{name}: CycloneDX XML nested too deeply") from None
    except Exception as exc:  # the library's errors have no common base: any is a bad BOM
        detail = " ".join(str(exc).split())[:200]
        raise FormatError(f"{name}: not a CycloneDX XML BOM hullcheck can read "
                          f"({type(exc).__name__}: {detail})") from None
    return load_json(text.encode(), name)
