"""Answers checked against the API's own OpenAPI document (JSON Schema 2020-12)."""

from __future__ import annotations

from typing import Any

import jsonschema

from hullcheck.server.api import PREFIX
from hullcheck.server.api_openapi import document
from hullcheck.server.api_routes import ENDPOINTS

DOC = document(ENDPOINTS, PREFIX)


def check(answer: Any, schema: str) -> Any:
    """``answer`` (returned) when it is a valid ``schema`` of the document, else fails."""
    jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": DOC["components"]}
    ).validate(answer)
    return answer
