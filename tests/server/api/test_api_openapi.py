"""openapi.json is a valid OpenAPI 3.1 document that names exactly the app's routes, is
served by the running service, and docs/api.md is rendered from it."""

from __future__ import annotations

from pathlib import Path

from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from starlette.routing import Route

from hullcheck.server.api import PREFIX, create_app
from hullcheck.server.api_openapi import document, markdown
from hullcheck.server.api_routes import ENDPOINTS
from tests.server.api.support import Running

DOCS = Path(__file__).resolve().parents[3] / "docs" / "api.md"
BEGIN = "<!-- BEGIN GENERATED: endpoints (tests/server/api/test_api_openapi.py) -->"
END = "<!-- END GENERATED -->"


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document(ENDPOINTS, PREFIX)
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema


def test_the_validator_refuses_a_broken_document() -> None:
    """The check above can fail: a response without a description is not OpenAPI."""
    doc = document(ENDPOINTS, PREFIX)
    del doc["paths"][f"{PREFIX}/images"]["get"]["responses"]["200"]["description"]
    try:
        validate(doc)
    except OpenAPIValidationError:
        return
    raise AssertionError("a broken document passed")


def test_the_document_describes_exactly_the_routes_the_app_serves(api: Running) -> None:
    app = create_app(api.service)
    served = {(m, r.path) for r in app.routes if isinstance(r, Route)
              for m in (r.methods or ()) if m != "HEAD"}
    doc = document(ENDPOINTS, PREFIX)
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    # Starlette's paths keep their convertors ({job_id:int}); OpenAPI's do not.
    assert {(m, p.replace(":int", "")) for m, p in served} == described
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["security"] == [{"bearer": [op["x-hullcheck-scope"]]}]
            assert {"401", "403"} <= set(op["responses"])


def test_the_service_serves_the_document(api: Running) -> None:
    r = api.get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == document(ENDPOINTS, PREFIX)


def test_docs_api_md_is_rendered_from_the_document() -> None:
    text = DOCS.read_text()
    assert BEGIN in text and END in text, "docs/api.md lost its generated section"
    generated = text.split(BEGIN, 1)[1].split(END, 1)[0]
    expected = markdown(document(ENDPOINTS, PREFIX))
    assert generated.strip() == expected.strip(), (
        "docs/api.md is out of date: replace its generated section with "
        "hullcheck.server.api_openapi.markdown(document(ENDPOINTS, PREFIX))")
