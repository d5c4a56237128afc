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

from hullcheck.model import FILE_DIGEST_HEX, Package, file_digest

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


def _absolute(path: str) -> str:
    return path if path.startswith("/") else "/" + path


def _valid_digests(p: Package, algorithms: frozenset[str]) -> list[tuple[str, str]]:
    """(absolute path, digest) of ``p``'s valid digests of the files it lists, in order."""
    owned = {_absolute(f) for f in p.files}
    out = []
    for path, digest in p.file_digests:
        algorithm, _, value = digest.partition(":")
        if (algorithm in algorithms and _absolute(path) in owned
                and (valid := file_digest(algorithm, value))):
            out.append((_absolute(path), valid))
    return out


def spdx_file_digests(packages: tuple[Package, ...]) -> list[tuple[tuple[str, str], ...]]:
    """Each package's file digests after an SPDX round trip: one file element per path, each
    algorithm's first valid value among the packages owning it, given to every owner; a zero
    SHA1 means unknown."""
    first: dict[tuple[str, str], str] = {}
    for p in packages:
        for path, digest in _valid_digests(p, frozenset(FILE_DIGEST_HEX)):
            first.setdefault((path, digest.partition(":")[0]), digest)
    out = []
    for p in packages:
        owned = {_absolute(f) for f in p.files}
        out.append(tuple(sorted({(path, d) for (path, _), d in first.items()
                                 if path in owned and d != "sha1:" + "0" * 40})))
    return out


def cyclonedx_file_digests(p: Package) -> tuple[tuple[str, str], ...]:
    """The package's file digests after a CycloneDX round trip: each algorithm's first valid
    value per file; CycloneDX has no SHA-224."""
    first: dict[tuple[str, str], str] = {}
    for path, digest in _valid_digests(p, frozenset(FILE_DIGEST_HEX) - {"sha224"}):
        first.setdefault((path, digest.partition(":")[0]), digest)
    return tuple(sorted({(path, d) for (path, _), d in first.items()}))
