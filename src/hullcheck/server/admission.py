"""Kubernetes admission: AdmissionReview (admission.k8s.io/v1) in, allow / deny out.

    controller = AdmissionController(policy, resolve=..., gather=...)
    status, body = controller.handle(request_body)      # 400 for a malformed review

Pods and the workload kinds that embed a Pod template (Deployment, StatefulSet,
DaemonSet, ReplicaSet, Job, CronJob): every container, init container and ephemeral
container image is resolved to a digest, its evidence gathered (``gather``: pluggable;
``pipeline.gather_evidence`` in the real server) and judged by the policy. Decisions
the evidence is cached by digest for ``cache_ttl`` seconds (tags are resolved on every
review, since they move); the pure evaluation runs on every review, so a decision always
reflects the reference as written and today's waivers.

A registry that cannot be reached is a *failure*: denied by default (fail closed);
with ``failure_policy="ignore"`` allowed with a warning. Anything else that stops an
evaluation (a digest mismatch, a bad reference) is always denied.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from hullcheck.errors import FormatError, HullcheckError, RegistryError
from hullcheck.image import PullOptions
from hullcheck.policy import Decision, Evidence, Outcome, Policy, evaluate
from hullcheck.registry.client import RegistryClient
from hullcheck.registry.reference import Reference, parse_reference

API_VERSION = "admission.k8s.io/v1"
FAILURE_POLICIES = ("fail", "ignore")
MAX_MESSAGE = 4096
MAX_WARNING = 256

# kind -> path from the object to its PodSpec
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_FIELDS = (("initContainers", "init container"), ("containers", "container"),
                    ("ephemeralContainers", "ephemeral container"))


class BadReview(FormatError):
    default_hint = "send an admission.k8s.io/v1 AdmissionReview with a request"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerImage:
    container: str
    role: str  # "container", "init container", "ephemeral container"
    image: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Review:
    uid: str
    kind: str
    namespace: str
    name: str
    operation: str
    images: tuple[ContainerImage, ...]


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadReview(f"malformed AdmissionReview: {where} must be an object")
    return value


def parse_review(body: bytes) -> Review:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadReview(f"malformed AdmissionReview: not JSON ({exc})") from None
    doc = _obj(doc, "the document")
    if doc.get("kind") != "AdmissionReview" or doc.get("apiVersion") != API_VERSION:
        raise BadReview(f"malformed AdmissionReview: expected kind AdmissionReview, apiVersion "
                        f"{API_VERSION}; got {doc.get('kind')!r}, {doc.get('apiVersion')!r}")
    req = _obj(doc.get("request"), "request")
    uid = req.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadReview("malformed AdmissionReview: request.uid is missing")
    kind = _obj(req.get("kind"), "request.kind").get("kind", "")
    operation = str(req.get("operation") or "")
    obj = req.get("object")
    images: list[ContainerImage] = []
    if obj is not None and kind in POD_SPEC_PATHS:
        spec: Any = _obj(obj, "request.object")
        path = "request.object"
        for step in POD_SPEC_PATHS[kind]:
            path += f".{step}"
            spec = _obj(spec.get(step), path)
        for field, role in CONTAINER_FIELDS:
            containers = spec.get(field) or []
            if not isinstance(containers, list):
                raise BadReview(f"malformed AdmissionReview: {path}.{field} must be a list")
            for i, raw in enumerate(containers):
                c = _obj(raw, f"{path}.{field}[{i}]")
                image = c.get("image")
                if not isinstance(image, str) or not image:
                    raise BadReview(f"malformed AdmissionReview: {path}.{field}[{i}].image "
                                    "is missing")
                images.append(ContainerImage(container=str(c.get("name") or f"#{i}"),
                                             role=role, image=image))
    return Review(uid=uid, kind=str(kind), namespace=str(req.get("namespace") or ""),
                  name=str(req.get("name") or ""), operation=operation, images=tuple(images))


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    allowed: bool
    message: str = ""
    warnings: tuple[str, ...] = ()


Resolver = Callable[[Reference], str]  # tag -> digest, through the registry
Gatherer = Callable[[Reference], Evidence]  # digest-pinned reference -> evidence


class AdmissionController:
    def __init__(
        self,
        policy: Policy,
        *,
        resolve: Resolver,
        gather: Gatherer,
        cache_ttl: float = 300.0,
        failure_policy: str = "fail",
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        if failure_policy not in FAILURE_POLICIES:
            raise ValueError(f"failure policy {failure_policy!r}: one of {FAILURE_POLICIES}")
        self.policy = policy
        self._resolve = resolve
        self._gather = gather
        self._ttl = cache_ttl
        self._fail_open = failure_policy == "ignore"
        self._clock = clock
        self._today = today
        self._cache: dict[str, tuple[float, Evidence]] = {}
        self._lock = threading.Lock()

    # -- one image ------------------------------------------------------------------------

    def _cached(self, digest: str) -> Evidence | None:
        with self._lock:
            hit = self._cache.get(digest)
            if hit is None:
                return None
            if hit[0] <= self._clock():
                del self._cache[digest]
                return None
            return hit[1]

    def decision_for(self, ref: Reference, digest: str) -> Decision:
        """The decision for ``ref`` (as written) at ``digest``; evidence cached by digest."""
        evidence = self._cached(digest)
        if evidence is None:
            evidence = self._gather(ref.with_digest(digest))
            if self._ttl > 0:
                with self._lock:
                    self._cache[digest] = (self._clock() + self._ttl, evidence)
        evidence = replace(evidence, image=replace(evidence.image, ref=str(ref), digest=digest))
        return evaluate(evidence, self.policy, now=self._today())

    def _check(self, c: ContainerImage) -> tuple[str, str, str]:
        """(denial, warning, failure) for one image; each "" when it does not apply."""
        label = f"{c.role} {c.container!r} image {c.image}"
        try:
            ref = parse_reference(c.image)
        except HullcheckError as exc:
            return f"{label}: {exc}", "", ""
        try:
            digest = ref.digest or self._resolve(ref)
            decision = self.decision_for(ref, digest)
        except RegistryError as exc:
            return "", "", f"{label}: registry unreachable or refused: {exc}"
        except HullcheckError as exc:
            return f"{label}: cannot be evaluated: {exc}", "", ""
        where = f"{label} ({digest})"
        if decision.outcome is Outcome.FAIL:
            rules = "; ".join(f"{v.rule}: {v.message}" for v in decision.failed)
            return f"{where} fails policy {self.policy.name}: {rules}", "", ""
        if decision.outcome is Outcome.WARN:
            rules = "; ".join(f"{v.rule}: {v.message}" for v in decision.violations)
            return "", f"{where}: policy {self.policy.name} warns: {rules}", ""
        return "", "", ""

    # -- one review -----------------------------------------------------------------------

    def decide(self, review: Review) -> Verdict:
        denials: list[str] = []
        warnings: list[str] = []
        failures: list[str] = []
        for c in dict.fromkeys(review.images):
            denial, warning, failure = self._check(c)
            for text, out in ((denial, denials), (warning, warnings), (failure, failures)):
                if text:
                    out.append(text)
        if failures and not self._fail_open:
            denials.extend(f"{f} (failure policy: fail closed)" for f in failures)
        elif failures:
            warnings.extend(f"{f}; allowed by failure policy 'ignore'" for f in failures)
        if denials:
            message = "hullcheck denied: " + " | ".join(denials)
            return Verdict(allowed=False, message=_cut(message, MAX_MESSAGE),
                           warnings=tuple(_cut(w, MAX_WARNING) for w in warnings))
        return Verdict(allowed=True, warnings=tuple(_cut(w, MAX_WARNING) for w in warnings))

    def handle(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON document) for a request body."""
        try:
            review = parse_review(body)
        except BadReview as exc:
            return 400, {"error": str(exc)}
        verdict = self.decide(review)
        response: dict[str, Any] = {"uid": review.uid, "allowed": verdict.allowed}
        if not verdict.allowed:
            response["status"] = {"code": 403, "reason": "Forbidden", "message": verdict.message}
        if verdict.warnings:
            response["warnings"] = list(verdict.warnings)
        return 200, {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def controller_for(
    policy: Policy,
    *,
    client: RegistryClient,
    pull: PullOptions | None = None,
    db: Path | None = None,
    base_trust: Path | None = None,
    cache_ttl: float = 300.0,
    failure_policy: str = "fail",
) -> AdmissionController:
    """A controller that resolves tags with ``client`` and gathers what the policy needs
    through ``pipeline.gather_evidence`` (signatures verified against the registry)."""
    from hullcheck import pipeline

    pull = pull or PullOptions()

    def gather(ref: Reference) -> Evidence:
        req = pipeline.evidence_request(policy, f"{ref.name}@{ref.digest}", db=db, pull=pull,
                                        base_trust=base_trust)
        return pipeline.gather_evidence(req)

    return AdmissionController(policy, resolve=client.resolve, gather=gather,
                               cache_ttl=cache_ttl, failure_policy=failure_policy)
