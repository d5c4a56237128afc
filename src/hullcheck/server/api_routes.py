"""The API's endpoints as data: handler, scope, intake or not, and their OpenAPI description.

Handlers parse and check the request, call the facade (``monitor.Service``) through
``call.run`` (a thread, under the request deadline) and shape the answer (``api_json``).
They decide nothing about images, findings or alerts: the monitor does.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from hullcheck.digest import parse_digest
from hullcheck.errors import HullcheckError
from hullcheck.fleet.model import Scope, TriageAction, TriageDecision, TriageScope
from hullcheck.server import api_json as out
from hullcheck.server.api import PREFIX, Call
from hullcheck.server.api_http import ApiError, json_body, json_response, sniff
from hullcheck.server.api_openapi import DIGEST, ref

JSON = dict[str, Any]
Handler = Callable[[Call], Awaitable[Response]]
MAX_TEXT = 1000  # characters of a name, reference, reason... in a request

VEX_STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
JUSTIFICATIONS = ("component_not_present", "vulnerable_code_not_present",
                  "vulnerable_code_not_in_execute_path",
                  "vulnerable_code_cannot_be_controlled_by_adversary",
                  "inline_mitigations_already_exist")


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    name: str
    description: str
    where: str = "query"
    required: bool = False
    schema: JSON | None = None

    def __post_init__(self) -> None:
        if self.schema is None:
            object.__setattr__(self, "schema", {"type": "string"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Body:
    description: str
    schema: JSON
    media: tuple[str, ...] = ("application/json",)


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    status: int
    description: str
    schema: JSON | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    method: str
    path: str  # Starlette's form, under PREFIX: /images/{digest}, /jobs/{job_id:int}
    name: str  # the OpenAPI operationId
    scope: Scope
    tag: str
    summary: str
    handler: Handler
    intake: bool = False  # counts against the token's rate
    description: str = ""
    params: tuple[Param, ...] = ()
    body: Body | None = None
    responses: tuple[Answer, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.method} {PREFIX}{self.openapi_path}"

    @property
    def openapi_path(self) -> str:
        return re.sub(r"\{(\w+):\w+\}", r"{\1}", self.path)


# -- request helpers ------------------------------------------------------------------------


def _digest(text: str, what: str = "digest") -> str:
    try:
        parse_digest(text, what=what)
    except HullcheckError:
        raise ApiError(400, f"{what} {text[:80]!r} is not sha256:<64 hex digits>") from None
    if not text.startswith("sha256:"):
        raise ApiError(400, f"{what} {text[:80]!r}: images are named by sha256 digests")
    return text


def _text(doc: JSON, key: str, what: str, *, required: bool = False) -> str:
    value = doc.get(key)
    if value is None:
        if required:
            raise ApiError(400, f"{what}: {key!r} is required")
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"{what}: {key!r} must be a string")
    if len(value) > MAX_TEXT or not value.isprintable():
        raise ApiError(400, f"{what}: {key!r} must be at most {MAX_TEXT} printable characters")
    if required and not value.strip():
        raise ApiError(400, f"{what}: {key!r} is empty")
    return value


def _choice(doc: JSON, key: str, what: str, choices: tuple[str, ...], *,
            required: bool = False) -> str:
    value = _text(doc, key, what, required=required)
    if value and value not in choices:
        raise ApiError(400, f"{what}: {key!r} must be one of {', '.join(choices)}")
    return value


def _only(doc: JSON, keys: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(doc) - set(keys))
    if unknown:
        raise ApiError(400, f"{what}: unknown field {unknown[0][:60]!r}; fields are "
                            f"{', '.join(keys)}")


def _job(job_id: int) -> JSON:
    return {"id": job_id, "status": "queued", "url": f"{PREFIX}/jobs/{job_id}"}


# -- images and jobs ------------------------------------------------------------------------


async def list_images(call: Call) -> Response:
    repository = call.query("repository", required=True)
    assert repository is not None
    limit = call.number("limit", default=100, low=1, high=500)
    after = call.query("after")
    if after is not None:
        _digest(after, "after")
    page = await call.run(call.service.images, repository, limit=limit, after=after)
    return json_response({"images": [out.summary(i) for i in page.images], "next": page.next})


async def get_image(call: Call) -> Response:
    digest = _digest(call.request.path_params["digest"])
    detail = await call.run(call.service.image, digest)
    if detail is None:
        raise ApiError(404, f"no image {digest} is known")
    decisions = await call.run(call.service.decisions, digest=digest,
                               repository=detail.repository)
    return json_response(out.image(detail, decisions))


async def submit_scan(call: Call) -> Response:
    what = "scan request"
    doc = json_body(await call.body(limit=call.api.settings.max_body, what=what), what=what)
    _only(doc, ("reference",), what)
    reference = _text(doc, "reference", what, required=True)
    job_id = await call.run(call.service.submit_scan, reference, requested_by=call.actor)
    return json_response({"job": _job(job_id)}, 202, headers={"Location": _job(job_id)["url"]})


async def get_job(call: Call) -> Response:
    job_id: int = call.request.path_params["job_id"]
    info = await call.run(call.service.job, job_id)
    if info is None:
        raise ApiError(404, f"no job {job_id}")
    return json_response(info.to_json())


# -- intake ---------------------------------------------------------------------------------


async def registry_events(call: Call) -> Response:
    what = "registry event envelope"
    body = await call.body(limit=call.api.settings.max_envelope, what=what)
    json_body(body, what=what)  # malformed JSON and nesting bombs: a 400 here, not deeper
    jobs = await call.run(call.service.ingest_registry_event, body, requested_by=call.actor)
    return json_response({"jobs": [_job(j) for j in jobs]}, 202)


async def upload(call: Call) -> Response:
    name = call.query("name", required=True)
    what = "uploaded scan result"
    body = await call.body(limit=call.api.settings.max_upload, what=what)
    sniff(body, what=what)
    digest = await call.run(call.service.ingest_push, body, name=name, requested_by=call.actor)
    return json_response({"digest": digest, "url": f"{PREFIX}/images/{digest}"}, 201)


async def upload_sbom(call: Call) -> Response:
    name = call.query("name", required=True)
    version = call.query("version", required=True)
    what = "SBOM"
    body = await call.body(limit=call.api.settings.max_upload, what=what)
    sniff(body, what=what)
    digest = await call.run(call.service.ingest_sbom, body, name=name, version=version,
                            requested_by=call.actor)
    return json_response({"digest": digest, "url": f"{PREFIX}/images/{digest}"}, 201)


async def deployments(call: Call) -> Response:
    cluster = call.query("cluster", limit=253)
    what = "deployments"
    body = await call.body(limit=call.api.settings.max_deployments, what=what)
    sniff(body, what=what)
    written = await call.run(call.service.ingest_deployments, body, cluster=cluster,
                             requested_by=call.actor)
    return json_response({"clusters": written})


# -- respond --------------------------------------------------------------------------------


async def search(call: Call) -> Response:
    purl = call.query("purl")
    advisory = call.query("advisory", limit=200)
    versions = call.query("versions", limit=200)
    limit = call.number("limit", default=1000, low=1, high=10_000)
    if (purl is None) == (advisory is None):
        raise ApiError(400, "give one of ?purl= or ?advisory=")
    if purl is not None:
        if not purl.startswith("pkg:"):
            raise ApiError(400, f"purl {purl[:80]!r} does not start with 'pkg:'")
        hits = await call.run(call.service.search_purl, purl, versions=versions, limit=limit)
    else:
        if versions is not None:
            raise ApiError(400, "?versions= narrows a ?purl= search")
        assert advisory is not None
        hits = await call.run(call.service.search_advisory, advisory, limit=limit)
    return json_response({"images": [out.hit(h) for h in hits]})


_TRIAGE_FIELDS = ("scope", "target", "advisory", "package", "action", "assignee", "vexStatus",
                  "justification", "reason", "expires")


def triage_decision(doc: JSON) -> TriageDecision:
    """A triage request checked field by field (one line per mistake)."""
    what = "triage decision"
    _only(doc, _TRIAGE_FIELDS, what)
    scope = TriageScope(_choice(doc, "scope", what, tuple(TriageScope), required=True))
    target = _text(doc, "target", what, required=True)
    if scope is TriageScope.IMAGE:
        _digest(target, "target")
    action = TriageAction(_choice(doc, "action", what, tuple(TriageAction), required=True))
    assignee = _text(doc, "assignee", what)
    status = _choice(doc, "vexStatus", what, VEX_STATUSES)
    justification = _choice(doc, "justification", what, JUSTIFICATIONS)
    if action is TriageAction.ASSIGN and not assignee:
        raise ApiError(400, f"{what}: assign needs 'assignee'")
    if action is TriageAction.VEX and not status:
        raise ApiError(400, f"{what}: vex needs 'vexStatus' ({', '.join(VEX_STATUSES)})")
    if status == "not_affected" and not justification:
        raise ApiError(400, f"{what}: not_affected needs a 'justification' "
                            f"({', '.join(JUSTIFICATIONS)})")
    if action is not TriageAction.VEX and (status or justification):
        raise ApiError(400, f"{what}: vexStatus and justification belong to action vex")
    package = _text(doc, "package", what)
    if package and not package.startswith("pkg:"):
        raise ApiError(400, f"{what}: 'package' must be a purl (pkg:...)")
    expires = _day(doc, "expires", what)
    if action is TriageAction.WAIVE and expires is None:
        raise ApiError(400, f"{what}: waive needs 'expires' (YYYY-MM-DD, within a year)")
    if action is not TriageAction.WAIVE and expires is not None:
        raise ApiError(400, f"{what}: 'expires' belongs to action waive")
    return TriageDecision(scope=scope, target=target,
                          advisory_id=_text(doc, "advisory", what, required=True),
                          action=action, package_purl=package, assignee=assignee,
                          vex_status=status, vex_justification=justification,
                          reason=_text(doc, "reason", what), expires=expires)


def _day(doc: JSON, key: str, what: str) -> dt.date | None:
    text = _text(doc, key, what)
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"{what}: '{key}' must be a date (YYYY-MM-DD)") from None


async def triage(call: Call) -> Response:
    what = "triage decision"
    doc = json_body(await call.body(limit=call.api.settings.max_body, what=what), what=what)
    decision = triage_decision(doc)
    await call.run(call.service.triage, decision, actor=call.actor)
    return json_response({"decision": out.decision(decision)}, 201)


async def list_decisions(call: Call) -> Response:
    digest = call.query("digest")
    repository = call.query("repository")
    if digest is None and repository is None:
        raise ApiError(400, "give ?digest= or ?repository= (or both)")
    if digest is not None:
        _digest(digest)
    decisions = await call.run(call.service.decisions, digest=digest, repository=repository)
    return json_response({"decisions": [out.decision(d) for d in decisions]})


async def audit_log(call: Call) -> Response:
    target = call.query("target")
    limit = call.number("limit", default=100, low=1, high=1000)
    before = call.number("before", default=0, low=0, high=2**62) or None
    entries = await call.run(call.service.audit_log, target=target, before=before, limit=limit)
    return json_response({"entries": [out.audit(e) for e in entries]})


async def vex(call: Call) -> Response:
    repository = call.query("repository", required=True)
    doc = await call.run(call.service.openvex, repository)
    return json_response(doc)


async def attest_vex(call: Call) -> Response:
    repository = call.query("repository", required=True)
    digests = await call.run(call.service.attach_openvex, repository, actor=call.actor)
    return json_response({"attested": digests}, 201)


# -- admin ----------------------------------------------------------------------------------


async def update_advisories(call: Call) -> Response:
    job_id = await call.run(call.service.update_advisories, requested_by=call.actor)
    return json_response({"job": _job(job_id)}, 202, headers={"Location": _job(job_id)["url"]})


async def dead_letters(call: Call) -> Response:
    limit = call.number("limit", default=100, low=1, high=1000)
    letters = await call.run(call.service.dead_letters, limit=limit)
    return json_response({"deliveries": [out.delivery(d) for d in letters]})


async def retry_dead_letter(call: Call) -> Response:
    delivery_id: int = call.request.path_params["delivery_id"]
    if not await call.run(call.service.retry_delivery, delivery_id, actor=call.actor):
        raise ApiError(404, f"no dead letter {delivery_id}")
    return json_response({"retried": delivery_id})


async def openapi(call: Call) -> Response:
    from hullcheck.server.api_openapi import document

    return json_response(document(ENDPOINTS, PREFIX))


# -- the table --------------------------------------------------------------------------------

_DIGEST_PARAM = {"type": "string", "pattern": DIGEST}
_LIMIT = Param(name="limit", description="at most this many", schema={"type": "integer",
                                                                        "minimum": 1})
_QUEUED = Answer(status=202, description="queued; GET the job's url to follow it",
                 schema=ref("Queued"), headers=(("Location", "the job's url"),))
_STORED = Answer(status=201, description="stored and matched", schema=ref("Stored"))

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(method="GET", path="/images", name="listImages", scope=Scope.READ, tag="images",
             summary="Images of a repository, with their tags, status and open findings by "
                     "severity", handler=list_images,
             params=(Param(name="repository", required=True,
                           description="HOST/REPO, as references name it"),
                     _LIMIT, Param(name="after", description="the 'next' cursor of the "
                                   "previous page", schema=_DIGEST_PARAM)),
             responses=(Answer(status=200, description="one page", schema=ref("ImageList")),)),
    Endpoint(method="GET", path="/images/{digest}", name="getImage", scope=Scope.READ,
             tag="images", summary="One image: tags, layers, owners, where it runs, and its "
                                   "findings as 'scan -o json' writes them, with their history",
             handler=get_image,
             params=(Param(name="digest", where="path", description="the manifest digest",
                           schema=_DIGEST_PARAM),),
             responses=(Answer(status=200, description="the image", schema=ref("Image")),
                        Answer(status=404, description="no such image",
                               schema=ref("Error")))),
    Endpoint(method="POST", path="/images", name="scanImage", scope=Scope.WRITE, tag="intake",
             intake=True, summary="Scan an image of a configured registry now",
             handler=submit_scan,
             body=Body(description="the reference to scan", schema=ref("ScanRequest")),
             responses=(_QUEUED,)),
    Endpoint(method="GET", path="/jobs/{job_id:int}", name="getJob", scope=Scope.READ,
             tag="images", summary="A job: queued, running, done or failed", handler=get_job,
             params=(Param(name="job_id", where="path", description="the job id",
                           schema={"type": "integer"}),),
             responses=(Answer(status=200, description="the job", schema=ref("Job")),
                        Answer(status=404, description="no such job", schema=ref("Error")))),
    Endpoint(method="POST", path="/registry/events", name="registryEvents",
             scope=Scope.WRITE, tag="intake", intake=True,
             summary="A registry's push notifications (CNCF distribution envelope): each "
                     "pushed manifest or index becomes a scan job",
             description="Configure the registry's notifications endpoint with this URL and "
                         "an 'Authorization: Bearer TOKEN' header. Events for a registry "
                         "not in the service's registries are refused, and nothing is queued.",
             handler=registry_events,
             body=Body(description="{\"events\": [...]}",
                       schema={"type": "object", "required": ["events"]},
                       media=("application/vnd.docker.distribution.events.v1+json",
                              "application/json")),
             responses=(Answer(status=202, description="the scan jobs queued (none for "
                                                       "pulls, deletes and blobs)",
                               schema=ref("QueuedMany")),)),
    Endpoint(method="POST", path="/uploads", name="uploadScan", scope=Scope.WRITE,
             tag="intake", intake=True,
             summary="A scan result made elsewhere ('hullcheck push'): hullcheck's native "
                     "SBOM, matched here", handler=upload,
             params=(Param(name="name", required=True, description="REPO[:TAG] to file it "
                                                                  "under"),),
             body=Body(description="hullcheck's native SBOM JSON ('hullcheck sbom -o json')",
                       schema={"type": "object"}),
             responses=(_STORED,)),
    Endpoint(method="POST", path="/sboms", name="uploadSbom", scope=Scope.WRITE, tag="intake",
             intake=True, summary="A CycloneDX or SPDX JSON SBOM from elsewhere",
             handler=upload_sbom,
             params=(Param(name="name", required=True, description="what the SBOM describes"),
                     Param(name="version", required=True, description="its version")),
             body=Body(description="CycloneDX JSON or SPDX 2.x JSON (the content decides)",
                       schema={"type": "object"},
                       media=("application/vnd.cyclonedx+json", "application/spdx+json",
                              "application/json")),
             responses=(_STORED,)),
    Endpoint(method="POST", path="/deployments", name="postDeployments", scope=Scope.WRITE,
             tag="intake", intake=True,
             summary="What runs where: replaces each cluster named", handler=deployments,
             params=(Param(name="cluster", description="the cluster of a 'kubectl get pods "
                                                       "-A -o json' document"),),
             body=Body(description="'kubectl get pods -A -o json', or a list of {cluster, "
                                   "namespace, workload, container, digest}",
                       schema={"type": ["object", "array"]}),
             responses=(Answer(status=200, description="rows written per cluster",
                               schema=ref("DeploymentsWritten")),)),
    Endpoint(method="GET", path="/search", name="search", scope=Scope.READ, tag="respond",
             summary="Blast radius: every image that ships a package or has an advisory, "
                     "with tags, deployments and owners", handler=search,
             description="A package counts whether it is visible or only in a lower layer "
                         "(then 'visible' is false).",
             params=(Param(name="purl", description="a purl: exact with a version, else every "
                                                    "version (or those ?versions= accepts)"),
                     Param(name="versions", description="with purl: a range, e.g. "
                                                        ">=5.6.0,<5.6.2"),
                     Param(name="advisory", description="an advisory id or any alias"),
                     _LIMIT),
             responses=(Answer(status=200, description="the images",
                               schema=ref("SearchResult")),)),
    Endpoint(method="POST", path="/triage", name="triage", scope=Scope.WRITE, tag="respond",
             summary="Acknowledge, assign, waive until a day or record a VEX decision on a "
                     "finding, per image or per repository (audit-logged)", handler=triage,
             body=Body(description="the decision", schema=ref("TriageRequest")),
             responses=(Answer(status=201, description="recorded",
                               schema={"type": "object", "required": ["decision"],
                                       "properties": {"decision": ref("Decision")}}),)),
    Endpoint(method="GET", path="/triage", name="listDecisions", scope=Scope.READ,
             tag="respond", summary="The triage decisions of an image or a repository",
             handler=list_decisions,
             params=(Param(name="digest", description="an image (its own and its "
                                                      "repository's decisions)",
                           schema=_DIGEST_PARAM),
                     Param(name="repository", description="a repository")),
             responses=(Answer(status=200, description="the decisions",
                               schema=ref("Decisions")),)),
    Endpoint(method="GET", path="/audit", name="auditLog", scope=Scope.READ, tag="respond",
             summary="The audit log, newest first: who, when, what, why", handler=audit_log,
             params=(Param(name="target", description="only entries about this target "
                                                      "(e.g. image:sha256:..., token:NAME)"),
                     Param(name="before", description="entries older than this id",
                           schema={"type": "integer"}), _LIMIT),
             responses=(Answer(status=200, description="the entries",
                               schema=ref("AuditLog")),)),
    Endpoint(method="GET", path="/vex", name="exportVex", scope=Scope.READ, tag="respond",
             summary="The VEX decisions of a repository as an OpenVEX document", handler=vex,
             params=(Param(name="repository", required=True, description="the product"),),
             responses=(Answer(status=200, description="OpenVEX 0.2.0",
                               schema=ref("OpenVEX")),)),
    Endpoint(method="POST", path="/vex/attestations", name="attestVex", scope=Scope.WRITE,
             tag="respond", summary="Sign the repository's OpenVEX document with the "
                                    "configured key and attach it to its current images",
             handler=attest_vex,
             params=(Param(name="repository", required=True, description="the product"),),
             responses=(Answer(status=201, description="the image digests attested",
                               schema=ref("Attested")),)),
    Endpoint(method="POST", path="/advisories/update", name="updateAdvisories",
             scope=Scope.ADMIN, tag="admin",
             summary="Update the advisories now and re-match what changed",
             handler=update_advisories, responses=(_QUEUED,)),
    Endpoint(method="GET", path="/dead-letters", name="deadLetters", scope=Scope.ADMIN,
             tag="admin", summary="Deliveries that failed for good", handler=dead_letters,
             params=(_LIMIT,),
             responses=(Answer(status=200, description="the dead letters",
                               schema=ref("Deliveries")),)),
    Endpoint(method="POST", path="/dead-letters/{delivery_id:int}/retry",
             name="retryDeadLetter", scope=Scope.ADMIN, tag="admin",
             summary="Deliver a dead letter again", handler=retry_dead_letter,
             params=(Param(name="delivery_id", where="path", description="the delivery id",
                           schema={"type": "integer"}),),
             responses=(Answer(status=200, description="queued again", schema=ref("Retried")),
                        Answer(status=404, description="no such dead letter",
                               schema=ref("Error")))),
    Endpoint(method="GET", path="/openapi.json", name="openapi", scope=Scope.READ,
             tag="meta", summary="This API's OpenAPI 3.1 document", handler=openapi,
             responses=(Answer(status=200, description="the document",
                               schema={"type": "object"}),)),
)
