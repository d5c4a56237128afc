"""Golden files for a small inventory in every format. UPDATE_GOLDEN=1 rewrites them."""

from __future__ import annotations

import pytest

from hullcheck import sbom
from hullcheck.model import ImageSource, Inventory
from tests.sbom.inventories import LAYERS, MANIFEST, debian_inventory
from tests.sbom.support import assert_golden, redact

EXTENSIONS = {"cyclonedx-json": "cdx.json", "cyclonedx-xml": "cdx.xml",
              "spdx-json": "spdx.json", "json": "hullcheck.json"}


def small() -> Inventory:
    full = debian_inventory("all-layers")
    return Inventory(
        source=ImageSource(kind="registry", name="docker.io/library/debian:12",
                           manifest_digest=MANIFEST),
        distro=full.distro, layers=LAYERS[:2],
        packages=tuple(p for p in full.packages if p.name in ("libssl3", "curl")),
        scope="all-layers",
    )


@pytest.mark.parametrize("fmt", sbom.FORMATS)
def test_golden(fmt: str) -> None:
    assert_golden(f"small.{EXTENSIONS[fmt]}", sbom.encode(small(), fmt))


def test_redaction_hides_volatile_values() -> None:
    text = redact('"urn:uuid:0b3a3c3e-1111-4222-8333-444455556666" "2024-01-02T03:04:05Z" '
                  '"https://hullcheck.invalid/spdx/x/y/0b3a3c3e-1111-4222-8333-444455556666"')
    assert text == '"urn:uuid:REDACTED" "TIMESTAMP" "https://hullcheck.invalid/spdx/x/y/UUID"'
