from __future__ import annotations

import json

import pytest

from hullcheck import sbom
from hullcheck.errors import FormatError, UsageError
from hullcheck.sbom import _reader
from tests.sbom.inventories import alpine_inventory

NOT_SBOM = r"^doc: not a CycloneDX, SPDX or hullcheck SBOM"


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\xff\xfe", b"[]", b'{"hello": 1}', b'"CycloneDX"', b"<bom/>", b"{",
     b'{"bomFormat": "SWID"}', b'{"spdxVersion": "SPDX-3.0"}'],
)
def test_anything_else_is_not_an_sbom(data: bytes) -> None:
    with pytest.raises(FormatError, match=NOT_SBOM):
        sbom.decode(data, name="doc")


def test_deep_nesting_is_a_format_error_not_a_crash() -> None:
    with pytest.raises(FormatError, match=NOT_SBOM + r": nested more than 128 levels deep$"):
        sbom.decode(b"[" * 100_000 + b"]" * 100_000, name="doc")


def test_oversized_documents_are_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_reader, "MAX_DOCUMENT_BYTES", 10)
    with pytest.raises(FormatError, match=r"^doc: document is 11 bytes, more than the limit"):
        sbom.decode(b"{}" + b" " * 9, name="doc")


def test_limit_is_512_mib() -> None:
    assert _reader.MAX_DOCUMENT_BYTES == 512 * 1024 * 1024


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"bomFormat": "CycloneDX", "components": {}}, r"components: expected an array, got an object"),
        ({"bomFormat": "CycloneDX", "components": [7]}, r"components\[0\]: expected an object"),
        ({"bomFormat": "CycloneDX", "components": [{"type": "library", "purl": 5}]},
         r"components\[0\]\.purl: expected a string, got a number"),
        ({"bomFormat": "CycloneDX", "metadata": {"properties": [{"value": "x"}]}},
         r"metadata\.properties\[0\]: missing required field 'name'"),
        ({"bomFormat": "CycloneDX", "components": [
            {"type": "library", "name": "a", "purl": "pkg:npm/a@1",
             "properties": [{"name": "hullcheck:package:type", "value": "npm"},
                            {"name": "hullcheck:location:0:path", "value": "/a"},
                            {"name": "hullcheck:location:0:layer-index", "value": "-1"}]}]},
         r"components\[0\]: property 'hullcheck:location:0:layer-index' is not a non-negative"),
        ({"bomFormat": "CycloneDX", "components": [
            {"type": "library", "name": "a", "purl": "pkg:npm/a@1",
             "properties": [{"name": "hullcheck:visibility", "value": "maybe"}]}]},
         r"components\[0\]: property 'hullcheck:visibility' has unknown value 'maybe'"),
        ({"bomFormat": "CycloneDX", "components": [
            {"type": "library", "name": "a", "purl": "pkg:npm/a@1",
             "licenses": [{"license": {"id": ["MIT"]}}]}]},
         r"components\[0\]\.licenses\[0\]\.license\.id: expected a string, got an array"),
        ({"spdxVersion": "SPDX-2.3", "packages": "none"}, r"packages: expected an array"),
        ({"spdxVersion": "SPDX-2.3", "packages": [{"SPDXID": 1}]},
         r"packages\[0\]\.SPDXID: expected a string"),
        ({"spdxVersion": "SPDX-2.3", "annotations": [
            {"comment": "hullcheck:document [1]"}]},
         r"annotations\[0\]: hullcheck:document annotation is not a JSON object"),
    ],
)
def test_wrong_types_are_format_errors_naming_the_field(doc: object, message: str) -> None:
    with pytest.raises(FormatError, match=rf"^doc: {message}"):
        sbom.decode(json.dumps(doc).encode(), name="doc")


def test_message_is_one_line_with_a_hint() -> None:
    with pytest.raises(FormatError) as info:
        sbom.decode(b"not\njson", name="doc")
    assert "\n" not in str(info.value)
    assert info.value.hint


def test_unknown_format_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown SBOM format 'spdx-tag'"):
        sbom.encode(alpine_inventory(), "spdx-tag")


def test_formats_are_the_agreed_ones() -> None:
    assert sbom.FORMATS == ("cyclonedx-json", "cyclonedx-xml", "spdx-json", "json")
