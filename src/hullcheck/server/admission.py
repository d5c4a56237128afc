"""Kubernetes admission: AdmissionReview (admission.k8s.io/v1) in, allow / deny out.

    controller = controller_for(Admission(policy))  # pipeline.admission
    review = parse_review(body)                      # BadReview (HTTP 400) when malformed
    verdict = controller.decide(review)              # or controller.fallback(review, why)
    doc = controller.answer(review, verdict)         # the AdmissionReview response

The webhook server (``admission_http``) is the one place that answers a request body with
these: a malformed review is HTTP 400 there, a review is judged under its deadline.

Pods and the workload kinds that embed a Pod template (Deployment, StatefulSet,
DaemonSet, ReplicaSet, ReplicationController, Job, CronJob): every container, init container
and ephemeral container image is resolved to a digest, its evidence gathered and judged by
the policy, all through the pipeline (``pipeline.admission``). The evidence is cached by
digest for ``cache_ttl`` seconds (tags are resolved on every review, since they move); the
decision is made again on every review, so it always reflects the reference as written and
today's waivers.

A registry that could not be reached (connection refused, DNS failure, network timeout,
the review's deadline) is a *failure*: denied by default (fail closed); with
``failure_policy="ignore"`` allowed with a warning. A registry that *answered* (401, 403,
404, 5xx, a malformed or mismatching manifest) has answered: always denied, whatever the
failure policy, or a Pod could name a registry that answers 401 to be let through.

Registry credentials come from the Docker config (``DOCKER_CONFIG``) by host only
(``pipeline.admission.Admission``): a Pod author chooses the registry, so credentials meant
for one registry must never be offered to whatever host a Pod names.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from hullcheck import untrusted
from hullcheck.errors import DeadlineExceeded, FormatError, HullcheckError, Unreachable
from hullcheck.pipeline.admission import Admission, ImageName, image_name
from hullcheck.policy import Decision, Evidence, Outcome, Policy

API_VERSION = "admission.k8s.io/v1"
FAILURE_POLICIES = ("fail", "ignore")
MAX_MESSAGE = 4096
MAX_WARNING = 256
MAX_REASON = 1024  # each reason in the decision log

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
    # The body is the API server's, but anyone who reaches the port can send one: nesting
    # bombs and non-JSON become one-line BadReview errors (HTTP 400), never a dropped socket.
    doc = untrusted.json_object(body, what="malformed AdmissionReview", error=BadReview)
    if doc.get("kind") != "AdmissionReview" or doc.get("apiVersion") != API_VERSION:
        raise BadReview(f"malformed AdmissionReview: expected kind AdmissionReview, apiVersion "
                        f"{API_VERSION}; got {_short(doc.get('kind'))}, "
                        f"{_short(doc.get('apiVersion'))}")
    req = _obj(doc.get("request"), "request")
    uid = req.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadReview("malformed AdmissionReview: request.uid is missing")
    kind = _obj(req.get("kind"), "request.kind").get("kind", "")
    if not isinstance(kind, str):
        raise BadReview("malformed AdmissionReview: request.kind.kind must be a string")
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
    return Review(uid=uid, kind=kind, namespace=str(req.get("namespace") or ""),
                  name=str(req.get("name") or ""), operation=operation, images=tuple(images))


def _short(value: Any) -> str:
    return _cut(repr(value), 80)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageResult:
    """What happened to one image, for the decision log."""

    container: str
    role: str
    image: str
    digest: str = ""  # "" when it was not resolved
    outcome: str = "pass"  # pass, warn, deny, unreachable


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    allowed: bool
    message: str = ""
    warnings: tuple[str, ...] = ()
    images: tuple[ImageResult, ...] = ()
    reasons: tuple[str, ...] = ()  # every denial and failure, in full (for the log)
    unreachable: bool = False  # some registry could not be reached: the failure policy decided
    timed_out: bool = False  # answered at the deadline, before the evaluation finished
    busy: bool = False  # answered without evaluation: too many reviews in progress
    internal_error: bool = False


Resolver = Callable[[ImageName], str]  # tag -> digest, through the registry
Gatherer = Callable[[ImageName], Evidence]  # digest-pinned name -> evidence
# (evidence, name as written, its digest, today) -> decision
Decider = Callable[[Evidence, ImageName, str, date], Decision]


class AdmissionController:
    def __init__(
        self,
        policy: Policy,
        *,
        resolve: Resolver,
        gather: Gatherer,
        decide: Decider,
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
        self._decide = decide
        self._ttl = cache_ttl
        self.failure_policy = failure_policy
        self._clock = clock
        self._today = today
        # digest -> (expiry, evidence), in the order stored: with one TTL and a monotonic
        # clock that is expiry order, so the expired entries are always the oldest.
        self._cache: OrderedDict[str, tuple[float, Evidence]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def cached(self) -> int:
        """How many digests' evidence the cache holds."""
        return len(self._cache)

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

    def _expire(self) -> None:
        """Drop the entries past their time (the lock held): a digest no review names again
        must not be kept for ever, or Pods naming ever new digests grow the cache without end."""
        now = self._clock()
        while self._cache:
            digest, (expires, _) = next(iter(self._cache.items()))
            if expires > now:
                return
            del self._cache[digest]

    def decision_for(self, ref: ImageName, digest: str) -> Decision:
        """The decision for ``ref`` (as written) at ``digest``; evidence cached by digest."""
        evidence = self._cached(digest)
        if evidence is None:
            evidence = self._gather(ref.with_digest(digest))
            if self._ttl > 0:
                with self._lock:
                    self._expire()
                    self._cache[digest] = (self._clock() + self._ttl, evidence)
        return self._decide(evidence, ref, digest, self._today())

    def _check(self, c: ContainerImage) -> tuple[ImageResult, str]:
        """The result for one image, and its denial, warning or failure text ("" if none)."""
        label = _label(c)
        result = ImageResult(container=c.container, role=c.role, image=c.image)
        try:
            ref = image_name(c.image)
        except HullcheckError as exc:
            return replace(result, outcome="deny"), f"{label}: {exc}"
        digest = ref.digest
        try:
            digest = digest or self._resolve(ref)
            decision = self.decision_for(ref, digest)
        except (Unreachable, DeadlineExceeded) as exc:
            # No answer at all: the one case the failure policy decides.
            return (replace(result, digest=digest, outcome="unreachable"),
                    f"{label}: registry could not be reached: {exc}")
        except HullcheckError as exc:
            # An answer (401, 404, 5xx, garbage, a digest mismatch...): always a denial.
            return (replace(result, digest=digest, outcome="deny"),
                    f"{label}: cannot be evaluated: {exc}")
        result = replace(result, digest=digest)
        where = f"{label} ({digest})"
        if decision.outcome is Outcome.FAIL:
            rules = "; ".join(f"{v.rule}: {v.message}" for v in decision.failed)
            return replace(result, outcome="deny"), f"{where} fails policy {self.policy.name}: {rules}"
        if decision.outcome is Outcome.WARN:
            rules = "; ".join(f"{v.rule}: {v.message}" for v in decision.violations)
            return replace(result, outcome="warn"), f"{where}: policy {self.policy.name} warns: {rules}"
        return result, ""

    # -- one review -----------------------------------------------------------------------

    def decide(self, review: Review) -> Verdict:
        results: list[ImageResult] = []
        texts: dict[str, list[str]] = {"deny": [], "warn": [], "unreachable": []}
        for c in dict.fromkeys(review.images):
            result, text = self._check(c)
            results.append(result)
            if text:
                texts[result.outcome].append(text)
        return self._verdict(texts["deny"], texts["warn"], texts["unreachable"],
                             images=tuple(results))

    def fallback(self, review: Review, why: str, *, timed_out: bool = False,
                 busy: bool = False) -> Verdict:
        """The verdict when the evaluation could not finish in time (or did not start: the
        webhook is busy): like an unreachable registry, the failure policy decides."""
        unique = dict.fromkeys(review.images)
        images = tuple(ImageResult(container=c.container, role=c.role, image=c.image,
                                   outcome="unreachable") for c in unique)
        labels = ", ".join(_label(c) for c in unique)
        verdict = self._verdict([], [], [f"{labels}: not evaluated: {why}"], images=images)
        return replace(verdict, timed_out=timed_out, busy=busy)

    def internal_error(self, review: Review, error: BaseException) -> Verdict:
        """A bug stopped the evaluation: denied whatever the failure policy (it is not an
        unreachable registry), with the error's type named."""
        images = tuple(ImageResult(container=c.container, role=c.role, image=c.image,
                                   outcome="deny") for c in dict.fromkeys(review.images))
        detail = " ".join(str(error).split())[:200]
        reason = f"internal error in hullcheck: {type(error).__name__}" + (f": {detail}" if detail else "")
        return replace(self._verdict([reason], [], [], images=images), internal_error=True)

    def _verdict(self, denials: list[str], warnings: list[str], failures: list[str], *,
                 images: tuple[ImageResult, ...]) -> Verdict:
        if failures and self.failure_policy == "fail":
            denials = denials + [f"{f} (failure policy: fail closed)" for f in failures]
        elif failures:
            warnings = warnings + [f"{f}; allowed by failure policy 'ignore'" for f in failures]
        reasons = tuple(_cut(r, MAX_REASON) for r in (*denials, *warnings))
        cut_warnings = tuple(_cut(w, MAX_WARNING) for w in warnings)
        if denials:
            message = "hullcheck denied: " + " | ".join(denials)
            return Verdict(allowed=False, message=_cut(message, MAX_MESSAGE), warnings=cut_warnings,
                           images=images, reasons=reasons, unreachable=bool(failures))
        return Verdict(allowed=True, warnings=cut_warnings, images=images, reasons=reasons,
                       unreachable=bool(failures))

    def answer(self, review: Review, verdict: Verdict) -> dict[str, Any]:
        """The AdmissionReview document that answers ``review``."""
        response: dict[str, Any] = {"uid": review.uid, "allowed": verdict.allowed}
        if not verdict.allowed:
            response["status"] = {"code": 403, "reason": "Forbidden", "message": verdict.message}
        if verdict.warnings:
            response["warnings"] = list(verdict.warnings)
        return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def _label(c: ContainerImage) -> str:
    return f"{c.role} {c.container!r} image {c.image}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def controller_for(admission: Admission, *, cache_ttl: float = 300.0,
                   failure_policy: str = "fail") -> AdmissionController:
    """A controller that resolves, gathers and decides through ``admission``."""
    return AdmissionController(admission.policy, resolve=admission.resolve,
                               gather=admission.gather, decide=admission.decide,
                               cache_ttl=cache_ttl, failure_policy=failure_policy)
