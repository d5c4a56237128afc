"""Schema validators and golden-file comparison for the SBOM tests."""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

SCHEMAS = Path(__file__).parent.parent / "fixtures" / "schemas"
GOLDEN = Path(__file__).parent.parent / "golden" / "sbom"
DATA = Path(__file__).parent / "data"


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


@cache
def cyclonedx_validator() -> jsonschema.Validator:
    """CycloneDX 1.6, with spdx.schema.json and jsf resolved locally (no network)."""
    bom = _schema("bom-1.6.schema.json")
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s))
        for s in (bom, _schema("spdx.schema.json"), _schema("jsf-0.82.schema.json"))
    )
    cls = jsonschema.validators.validator_for(bom)
    return cls(bom, registry=registry, format_checker=cls.FORMAT_CHECKER)


@cache
def spdx_validator() -> jsonschema.Validator:
    schema = _schema("spdx-2.3.schema.json")
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def assert_valid(validator: jsonschema.Validator, doc: Any) -> None:
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors)


_REDACT = [
    (re.compile(r"urn:uuid:[0-9a-f-]{36}"), "urn:uuid:REDACTED"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"), "TIMESTAMP"),
    (re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "/UUID"),
    (re.compile(r"hullcheck-\d+\.\d+\.\d+[^\"<]*"), "hullcheck-VERSION"),
    (re.compile(r'("name": "hullcheck",\s*"type": "application",\s*"version": ")[^"]+'),
     r"\1VERSION"),
    (re.compile(r"(<name>hullcheck</name>\s*<version>)[^<]+"), r"\1VERSION"),
]


def redact(text: str) -> str:
    for pattern, replacement in _REDACT:
        text = pattern.sub(replacement, text)
    return text


def assert_golden(name: str, data: bytes) -> None:
    """Compare with tests/golden/sbom/NAME; UPDATE_GOLDEN=1 rewrites the file instead."""
    path = GOLDEN / name
    text = redact(data.decode("utf-8"))
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing; run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"
