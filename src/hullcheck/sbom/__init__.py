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
    from hullcheck.sbom import cyclonedx, native, spdx

    if fmt == "cyclonedx-json":
        return cyclonedx.encode(inventory, files=files)
    if fmt == "cyclonedx-xml":
        return cyclonedx.encode(inventory, xml=True, files=files)
    if fmt == "spdx-json":
        return spdx.encode(inventory, files=files)
    if fmt == "json":
        return native.encode(inventory)
    raise UsageError(f"unknown SBOM format {fmt!r}; choose one of {', '.join(FORMATS)}")


def decode(data: bytes, *, name: str = "<sbom>") -> Inventory:
    """The inventory an SBOM document describes. Raises FormatError when it is not one we read."""
    from hullcheck.sbom import cyclonedx, native, spdx
    from hullcheck.sbom._reader import load_json

    if data.lstrip()[:1] == b"<":
        raise FormatError(
            f"{name}: not a CycloneDX, SPDX or hullcheck SBOM",
            hint="XML SBOMs are not read; use CycloneDX JSON, SPDX JSON or hullcheck JSON",
        )
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
