"""``GET /api/v1/openapi.json``: an OpenAPI 3.1 document generated from the route table.

The component schemas below are JSON Schema 2020-12 (OpenAPI 3.1's dialect); the tests
validate real answers of a running server against them, and check the document with
``openapi-spec-validator``. ``docs/api.md`` is rendered from this document (``markdown``)
and a test keeps it equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hullcheck import __version__
from hullcheck.server.api_json import SEVERITIES

if TYPE_CHECKING:
    from hullcheck.server.api_routes import Endpoint

JSON = dict[str, Any]
DIGEST = r"^sha256:[0-9a-f]{64}$"


def ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: JSON) -> JSON:
    return {"anyOf": [schema, {"type": "null"}]}


_STR = {"type": "string"}
_TIME = _nullable({"type": "string", "format": "date-time"})
_STRS = {"type": "array", "items": _STR}
_OBJ = {"type": "object"}


def _object(required: Iterable[str], **props: JSON) -> JSON:
    """An object with these properties (more are allowed: clients must ignore the unknown)."""
    return {"type": "object", "required": list(required), "properties": props}


SCHEMAS: dict[str, JSON] = {
    "Error": _object(["error"], error={"type": "string", "description": "one line: what and where"},
                     hint={"type": "string", "description": "how to fix it"}),
    "Counts": {"type": "object", "description": "open, unsuppressed findings by severity",
               "required": list(SEVERITIES),
               "properties": {s: {"type": "integer", "minimum": 0} for s in SEVERITIES},
               "additionalProperties": {"type": "integer", "minimum": 0}},
    "ImageSummary": _object(
        ["digest", "repository", "tags", "status", "findings"],
        digest={"type": "string", "pattern": DIGEST}, repository=_STR, tags=_STRS,
        status={"enum": ["pending", "scanned", "failed"]}, findings=ref("Counts"),
        lastScanned=_TIME),
    "ImageList": _object(["images", "next"], images={"type": "array", "items": ref("ImageSummary")},
                         next=_nullable({"type": "string", "description":
                                         "the cursor of the next page (?after=)"})),
    "Deployment": _object(["cluster", "namespace", "workload", "container"], cluster=_STR,
                          namespace=_STR, workload=_STR, container=_STR, imageDigest=_STR),
    "Package": _object(["purl", "name", "version", "visible"], purl=_STR, type=_STR,
                       ecosystem=_STR, name=_STR, version=_STR,
                       source=_nullable(_object(["name", "version"], name=_STR, version=_STR)),
                       licence=_nullable(_STR), layer=_nullable({"type": "integer"}),
                       visible={"type": "boolean", "description":
                                "false: shipped in a lower layer, deleted or replaced later"}),
    "Finding": _object(
        ["id", "aliases", "severity", "status", "package", "suppressed"],
        id=_STR, aliases=_STRS, summary=_nullable(_STR),
        severity={"enum": list(SEVERITIES)}, status=_STR, fixedVersions=_STRS,
        kev=_nullable(_OBJ), cvss=_nullable(_OBJ),
        package={"type": "object", "required": ["purl"], "properties": {"purl": _STR}},
        suppressed=_nullable(_OBJ)),
    "HistoryEntry": _object(["at", "change"], at=_TIME, change={"enum": [
        "new", "reopened", "changed", "fixed"]}, reason=_STR, details=_OBJ),
    "StoredFinding": {"allOf": [ref("Finding"), _object(
        ["state", "firstSeen", "fixedAt", "history"], state={"enum": ["open", "fixed"]},
        firstSeen=_TIME, fixedAt=_TIME,
        history={"type": "array", "items": ref("HistoryEntry")})]},
    "Decision": _object(["scope", "target", "advisory", "action"],
                        scope={"enum": ["image", "repository"]}, target=_STR, advisory=_STR,
                        package=_nullable(_STR),
                        action={"enum": ["acknowledge", "assign", "vex", "waive"]},
                        assignee=_nullable(_STR), vexStatus=_nullable(_STR),
                        vexJustification=_nullable(_STR), reason=_STR,
                        expires=_nullable({"type": "string", "format": "date",
                                           "description": "a waiver's last day"})),
    "Image": _object(
        ["digest", "repository", "tags", "status", "findings", "summary", "owners",
         "deployments", "layers"],
        digest={"type": "string", "pattern": DIGEST}, repository=_STR, tags=_STRS,
        status={"enum": ["pending", "scanned", "failed"]},
        findings={"type": "array", "items": ref("StoredFinding"),
                  "description": "every finding, open or fixed, with its history"},
        summary=ref("Counts"), owners=_STRS,
        deployments={"type": "array", "items": ref("Deployment")},
        layers={"type": "array", "items": _object(["digest", "size"], digest=_STR,
                                                  diffId=_STR, size={"type": "integer"},
                                                  createdBy=_STR)},
        tagHistory={"type": "array", "items": _OBJ}, labels=_OBJ,
        base=_nullable(_OBJ), policy=_nullable(_OBJ),
        signatures={"type": "array", "items": _OBJ},
        firstScanned=_TIME, lastScanned=_TIME,
        matchedBuild=_nullable({"type": "string", "description": "the advisory build the "
                                "findings were matched against; null while a re-match is "
                                "queued"}),
        rematchQueued=_nullable({"type": "string", "description": "the advisory build a "
                                 "queued re-match will match the image against"}),
        triage={"type": "array", "items": ref("Decision")}),
    "SearchHit": _object(["digest", "repository", "tags", "deployments", "owners"],
                         digest={"type": "string", "pattern": DIGEST}, repository=_STR,
                         tags=_STRS, deployments={"type": "array", "items": ref("Deployment")},
                         owners=_STRS, visible={"type": "boolean"},
                         packages={"type": "array", "items": ref("Package")},
                         findings={"type": "array", "items": ref("Finding")}),
    "SearchResult": _object(["images"], images={"type": "array", "items": ref("SearchHit")}),
    "Job": _object(["id", "kind", "status"], id={"type": "integer"}, kind=_STR,
                   status={"enum": ["queued", "running", "done", "failed"]},
                   attempts={"type": "integer"}, error=_nullable(_STR), args=_OBJ,
                   createdAt=_TIME, finishedAt=_TIME),
    "JobRef": _object(["id", "status", "url"], id={"type": "integer"}, status=_STR, url=_STR),
    "Queued": _object(["job"], job=ref("JobRef")),
    "QueuedMany": _object(["jobs"], jobs={"type": "array", "items": ref("JobRef")}),
    "Stored": _object(["digest", "url"], digest={"type": "string", "pattern": DIGEST}, url=_STR),
    "ScanRequest": {**_object(["reference"], reference={
        "type": "string", "maxLength": 1000,
        "description": "HOST/REPO[:TAG][@DIGEST] in one of the service's registries"}),
        "additionalProperties": False},
    "TriageRequest": {**_object(
        ["scope", "target", "advisory", "action"],
        scope={"enum": ["image", "repository"]},
        target={"type": "string", "description": "an image digest, or a repository"},
        advisory={"type": "string", "description": "an advisory id or any alias"},
        package={"type": "string", "description": "a package purl; absent: any package"},
        action={"enum": ["acknowledge", "assign", "vex", "waive"]},
        assignee={"type": "string", "description": "assign: who"},
        expires={"type": "string", "format": "date",
                 "description": "waive: the last day the risk is accepted (within a year)"},
        vexStatus={"enum": ["not_affected", "affected", "fixed", "under_investigation"]},
        justification={"enum": ["component_not_present", "vulnerable_code_not_present",
                                "vulnerable_code_not_in_execute_path",
                                "vulnerable_code_cannot_be_controlled_by_adversary",
                                "inline_mitigations_already_exist"],
                       "description": "OpenVEX justification; required for not_affected"},
        reason={"type": "string", "description": "why (kept in the audit log)"}),
        "additionalProperties": False},
    "Decisions": _object(["decisions"], decisions={"type": "array", "items": ref("Decision")}),
    "AuditEntry": _object(["id", "at", "actor", "action", "target"], id={"type": "integer"},
                          at=_TIME, actor=_STR, action=_STR, target=_STR, reason=_STR,
                          details=_OBJ),
    "AuditLog": _object(["entries"], entries={"type": "array", "items": ref("AuditEntry")}),
    "Deliveries": _object(["deliveries"], deliveries={"type": "array", "items": _object(
        ["id", "channel", "status", "attempts", "event"], id={"type": "integer"},
        channel=_STR, status={"enum": ["pending", "delivered", "dead"]},
        attempts={"type": "integer"}, lastError=_nullable(_STR), nextAttemptAt=_TIME,
        deliveredAt=_TIME, event=_object(["id", "uid", "type"], id={"type": "integer"},
                                         uid=_STR, type=_STR, imageDigest=_STR,
                                         createdAt=_TIME))}),
    "Retried": _object(["retried"], retried={"type": "integer"}),
    "DeploymentsWritten": _object(["clusters"], clusters={
        "type": "object", "additionalProperties": {"type": "integer"},
        "description": "rows written per cluster replaced"}),
    "OpenVEX": _object(["@context", "@id", "statements"], statements={
        "type": "array", "items": _OBJ}),
    "Attested": _object(["attested"], attested=_STRS),
}

_REFUSALS = {
    "400": "malformed request (parameters, JSON), or one the service does not allow (a "
           "registry it does not pull from)",
    "401": "no token, or an unknown or revoked one",
    "403": "the token's scope is not enough",
}
_BODY_REFUSALS = {
    "408": "the body did not arrive in time",
    "413": "the body is larger than the limit (counted as it arrives)",
    "415": "the body is not JSON (sniffed from its bytes; Content-Type is not trusted)",
    "422": "the document is JSON but not usable (not an SBOM, not a registry envelope, a "
           "nesting bomb...)",
}


def _error(description: str) -> JSON:
    return {"description": description,
            "content": {"application/json": {"schema": ref("Error")}}}


def operation(e: Endpoint) -> JSON:
    op: JSON = {"operationId": e.name, "summary": e.summary, "tags": [e.tag],
                "security": [{"bearer": [e.scope.value]}],
                "x-hullcheck-scope": e.scope.value}
    if e.description:
        op["description"] = e.description
    if e.params:
        op["parameters"] = [
            {"name": p.name, "in": p.where, "required": p.required or p.where == "path",
             "description": p.description, "schema": p.schema} for p in e.params]
    if e.body is not None:
        op["requestBody"] = {"required": True, "description": e.body.description,
                             "content": {m: {"schema": e.body.schema} for m in e.body.media}}
    responses: JSON = {}
    for r in e.responses:
        entry: JSON = {"description": r.description}
        if r.schema is not None:
            entry["content"] = {"application/json": {"schema": r.schema}}
        if r.headers:
            entry["headers"] = {h: {"schema": _STR, "description": d} for h, d in r.headers}
        responses[str(r.status)] = entry
    refusals = dict(_REFUSALS)
    if e.body is not None:
        refusals.update(_BODY_REFUSALS)
    if e.intake:
        refusals["429"] = "the token is over its intake rate; Retry-After says when to retry"
    refusals.setdefault("504", "the work did not finish within the request's deadline")
    for status, description in refusals.items():
        responses.setdefault(status, _error(description))
    op["responses"] = dict(sorted(responses.items()))
    return op


def document(endpoints: Iterable[Endpoint], prefix: str) -> JSON:
    paths: dict[str, JSON] = {}
    for e in endpoints:
        paths.setdefault(prefix + e.openapi_path, {})[e.method.lower()] = operation(e)
    return {
        "openapi": "3.1.0",
        "info": {"title": "hullcheck monitoring service", "version": __version__,
                 "description": "Images, findings, search (blast radius), triage and intake "
                                "of the hullcheck monitoring service. Every call needs "
                                "'Authorization: Bearer TOKEN' ('hullcheck token create'); "
                                "scopes: read < write < admin."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a token of 'hullcheck token create'"}},
        },
    }


# -- docs/api.md ---------------------------------------------------------------------------


def markdown(doc: JSON) -> str:
    """The endpoint reference of ``docs/api.md``, from the OpenAPI document."""
    lines = ["| method | path | scope | what |", "|---|---|---|---|"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            lines.append(f"| {method.upper()} | `{path}` | {op['x-hullcheck-scope']} | "
                         f"{op['summary']} |")
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            lines += ["", f"### {method.upper()} `{path}`", "", op["summary"] + "."]
            if op.get("description"):
                lines += ["", op["description"]]
            lines += ["", f"Scope: **{op['x-hullcheck-scope']}**."]
            params = op.get("parameters", [])
            if params:
                lines += ["", "| parameter | in | required | meaning |", "|---|---|---|---|"]
                lines += [f"| `{p['name']}` | {p['in']} | {'yes' if p['required'] else 'no'} | "
                          f"{p['description']} |" for p in params]
            body = op.get("requestBody")
            if body:
                lines += ["", f"Body ({', '.join(body['content'])}): {body['description']}"]
            lines += ["", "| status | meaning |", "|---|---|"]
            lines += [f"| {status} | {r['description']}{_schema_name(r)} |"
                      for status, r in op["responses"].items()]
    return "\n".join(lines) + "\n"


def _schema_name(response: JSON) -> str:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    name = schema.get("$ref", "").rpartition("/")[2]
    return f" (`{name}`)" if name and name != "Error" else ""
