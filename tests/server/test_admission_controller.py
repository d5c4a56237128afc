"""The admission controller in-process, without the HTTP server: the AdmissionReview field
checks and their one-line errors, the answer the API server reads (uid, allowed, status,
warnings), what the decision log records of each image (digest, outcome), the fail-safe
verdicts (timeout, busy, a bug), the length caps, the evidence cache's lifetime and the
day waivers are judged on. Images come from the real registry fixture, failing registries
are real servers on 127.0.0.1 (``tests/server/wire.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hullcheck.pipeline.admission import Admission, ImageName
from hullcheck.policy import Evidence, Policy, loads
from hullcheck.registry import RegistryClient
from hullcheck.server.admission import (
    MAX_MESSAGE,
    MAX_REASON,
    MAX_WARNING,
    AdmissionController,
    BadReview,
    ContainerImage,
    ImageResult,
    Review,
    Verdict,
    controller_for,
    parse_review,
)
from hullcheck.sign import keys
from tests.server.wire import FAKE_DIGEST, answers, hostile_registry, pod, review

DEAD = "127.0.0.1:9"  # the discard port: connection refused, no answer at all
SIGNED = "  - id: signed\n    type: signatures\n    keys: [{{path: {key}}}]\n"


def policy_of(rules: str, release_key: tuple[keys.SigningKey, Path], waivers: str = "") -> Policy:
    text = ("apiVersion: hullcheck/v1\nkind: Policy\nmetadata: {name: gate}\nrules:\n"
            + rules.format(key=release_key[1]) + waivers)
    return loads(text, name="gate.yaml")


def cel(rule_id: str, expression: str, message: str, action: str = "fail") -> str:
    return (f"  - id: {rule_id}\n    type: cel\n    expression: \"{expression}\"\n"
            f"    message: {message}\n    action: {action}\n")


@pytest.fixture
def client() -> Iterator[RegistryClient]:
    with RegistryClient() as c:
        yield c


@pytest.fixture
def signed_only(release_key: tuple[keys.SigningKey, Path]) -> Policy:
    return policy_of(SIGNED, release_key)


def body(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def parsed(doc: dict[str, Any]) -> Review:
    return parse_review(body(doc))


def label(image: str, container: str = "c0", role: str = "container") -> str:
    return f"{role} {container!r} image {image}"


# -- the AdmissionReview's fields ----------------------------------------------------------------

BAD_KIND = "malformed AdmissionReview: expected kind AdmissionReview, apiVersion admission.k8s.io/v1; got "


def _request(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": fields}


def _object(obj: Any, kind: str = "Pod") -> dict[str, Any]:
    return _request(uid="u", kind={"kind": kind}, object=obj)


@pytest.mark.parametrize("doc, error", [
    # An older API version is refused, not read as v1: the API server would not understand
    # the v1 answer.
    ({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"},
     BAD_KIND + "'AdmissionReview', 'admission.k8s.io/v1beta1'"),
    ({"apiVersion": "admission.k8s.io/v1", "kind": "Pod"}, BAD_KIND + "'Pod', 'admission.k8s.io/v1'"),
    ({"apiVersion": "admission.k8s.io/v1", "kind": "K" * 100},
     BAD_KIND + "'" + "K" * 76 + "..., 'admission.k8s.io/v1'"),
    ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
     "malformed AdmissionReview: request must be an object"),
    (_request(kind={"kind": "Pod"}), "malformed AdmissionReview: request.uid is missing"),
    (_request(uid="", kind={"kind": "Pod"}), "malformed AdmissionReview: request.uid is missing"),
    (_request(uid=7, kind={"kind": "Pod"}), "malformed AdmissionReview: request.uid is missing"),
    (_request(uid="u", kind="Pod"), "malformed AdmissionReview: request.kind must be an object"),
    (_request(uid="u", kind={"kind": 5}),
     "malformed AdmissionReview: request.kind.kind must be a string"),
    (_object("nginx"), "malformed AdmissionReview: request.object must be an object"),
    (_object({"metadata": {}}), "malformed AdmissionReview: request.object.spec must be an object"),
    (_object({"spec": {}}, kind="Deployment"),
     "malformed AdmissionReview: request.object.spec.template must be an object"),
    (_object({"spec": {"jobTemplate": {"spec": {"template": []}}}}, kind="CronJob"),
     "malformed AdmissionReview: request.object.spec.jobTemplate.spec.template must be an object"),
    (_object({"spec": {"containers": "nginx"}}),
     "malformed AdmissionReview: request.object.spec.containers must be a list"),
    (_object({"spec": {"containers": ["nginx"]}}),
     "malformed AdmissionReview: request.object.spec.containers[0] must be an object"),
    (_object({"spec": {"containers": [{"name": "a", "image": ""}]}}),
     "malformed AdmissionReview: request.object.spec.containers[0].image is missing"),
    (_object({"spec": {"initContainers": [{"name": "a", "image": "a:1"}, {"image": 5}]}}),
     "malformed AdmissionReview: request.object.spec.initContainers[1].image is missing"),
], ids=["v1beta1", "kind-pod", "long-kind", "no-request", "no-uid", "empty-uid", "number-uid",
        "kind-string", "kind-number", "object-string", "no-spec", "no-template", "cronjob-list",
        "containers-string", "container-string", "empty-image", "number-image"])
def test_each_malformed_review_names_what_and_where(doc: dict[str, Any], error: str) -> None:
    with pytest.raises(BadReview) as caught:
        parsed(doc)
    assert str(caught.value) == error


def test_fields_a_review_leaves_out_are_empty_and_it_names_no_image() -> None:
    # The decision log shows these fields: absent is "", never a made-up value.
    r = parsed(_request(uid="u-1", kind={}))
    assert r == Review(uid="u-1", kind="", namespace="", name="", operation="", images=())


def test_a_review_is_read_field_by_field() -> None:
    doc = review(pod("a:1", init=("b:1",)), uid="u-2")
    doc["request"]["object"]["spec"]["containers"].append({"image": "c:1"})
    r = parsed(doc)
    assert r == Review(uid="u-2", kind="Pod", namespace="shop", name="web", operation="CREATE",
                       images=(ContainerImage(container="init0", role="init container", image="b:1"),
                               ContainerImage(container="c0", role="container", image="a:1"),
                               ContainerImage(container="#1", role="container", image="c:1")))


# -- what the API server reads -----------------------------------------------------------------


def test_a_malformed_image_reference_is_denied_and_logged_as_denied(signed_only: Policy,
                                                                    client: RegistryClient) -> None:
    controller = controller_for(Admission(signed_only, client=client), failure_policy="ignore")
    r = parsed(review(pod("Example.com/App:1", "no spaces allowed:1")))
    verdict = controller.decide(r)
    assert verdict.allowed is False and not verdict.unreachable
    assert verdict.images == (
        ImageResult(container="c0", role="container", image="Example.com/App:1", outcome="deny"),
        ImageResult(container="c1", role="container", image="no spaces allowed:1", outcome="deny"))
    first, second = verdict.reasons
    assert first.startswith(label("Example.com/App:1") + ": ")
    assert second.startswith(label("no spaces allowed:1", "c1") + ": ")
    # Every denial, in order, after one prefix: the API server shows this to the user.
    assert verdict.message == f"hullcheck denied: {first} | {second}"
    assert verdict.warnings == ()


def test_a_denial_answer_is_a_403_forbidden_status(signed_only: Policy,
                                                   client: RegistryClient) -> None:
    controller = controller_for(Admission(signed_only, client=client))
    r = parsed(review(pod("Example.com/App:1"), uid="u-403"))
    verdict = controller.decide(r)
    assert controller.answer(r, verdict) == {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "response": {"uid": "u-403", "allowed": False,
                     "status": {"code": 403, "reason": "Forbidden", "message": verdict.message}}}


def test_two_failed_rules_and_a_warning_in_one_answer(
        release_key: tuple[keys.SigningKey, Path], client: RegistryClient,
        images: dict[str, str]) -> None:
    rules = SIGNED + cel("retired", "!image.ref.endsWith(':v1')", "v1 is retired") \
        + cel("quay", "image.ref.startsWith('quay.io/')", "not on quay", action="warn")
    controller = controller_for(Admission(policy_of(rules, release_key), client=client))
    r = parsed(review(pod(images["unsigned"]), uid="u-two"))
    verdict = controller.decide(r)
    denial = (f"{label(images['unsigned'])} ({images['unsigned@']}) fails policy gate: "
              f"signed: not signed by any required key ({release_key[1]}); retired: v1 is retired")
    assert verdict.message == f"hullcheck denied: {denial}"
    assert verdict.images == (ImageResult(container="c0", role="container", image=images["unsigned"],
                                          digest=images["unsigned@"], outcome="deny"),)

    # A denied image and a warned one: the answer carries both the denial and the warning.
    warn_rules = SIGNED + cel("retired", "!image.ref.endsWith(':v1')", "v1 is retired",
                              action="warn") \
        + cel("quay", "image.ref.startsWith('quay.io/')", "not on quay", action="warn")
    controller = controller_for(Admission(policy_of(warn_rules, release_key), client=client))
    r = parsed(review(pod(images["unsigned"], images["good"]), uid="u-both"))
    verdict = controller.decide(r)
    warning = (f"{label(images['good'], 'c1')} ({images['good@']}): policy gate warns: "
               "retired: v1 is retired; quay: not on quay")
    assert verdict.allowed is False
    assert verdict.warnings == (warning,)
    assert verdict.reasons[-1] == warning
    assert controller.answer(r, verdict)["response"]["warnings"] == [warning]
    assert [i.outcome for i in verdict.images] == ["deny", "warn"]


def test_warnings_alone_allow_and_are_logged_as_reasons(
        release_key: tuple[keys.SigningKey, Path], client: RegistryClient,
        images: dict[str, str]) -> None:
    rules = SIGNED + cel("retired", "!image.ref.endsWith(':v1')", "v1 is retired", action="warn")
    controller = controller_for(Admission(policy_of(rules, release_key), client=client))
    r = parsed(review(pod(images["good"]), uid="u-warn"))
    verdict = controller.decide(r)
    warning = f"{label(images['good'])} ({images['good@']}): policy gate warns: retired: v1 is retired"
    assert verdict == Verdict(allowed=True, warnings=(warning,), reasons=(warning,), images=(
        ImageResult(container="c0", role="container", image=images["good"],
                    digest=images["good@"], outcome="warn"),))
    assert controller.answer(r, verdict) == {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "response": {"uid": "u-warn", "allowed": True, "warnings": [warning]}}


def test_a_rule_sees_the_digest_the_tag_resolved_to(
        release_key: tuple[keys.SigningKey, Path], client: RegistryClient,
        images: dict[str, str]) -> None:
    digest = images["good@"]
    rules = cel("exact", f"image.digest == '{digest}'", "another digest")
    controller = controller_for(Admission(policy_of(rules, release_key), client=client))
    verdict = controller.decide(parsed(review(pod(images["good"]))))
    assert verdict.allowed is True, verdict.message
    assert verdict.images[0].digest == digest


def test_waivers_are_judged_on_the_controllers_day_every_review(
        release_key: tuple[keys.SigningKey, Path], client: RegistryClient,
        images: dict[str, str]) -> None:
    waiver = ("waivers:\n  - rule: signed\n    reason: signing rolls out in June\n"
              "    expires: 2026-06-30\n")
    gate = policy_of(SIGNED, release_key, waivers=waiver)
    admission = Admission(gate, client=client)
    day = [date(2026, 6, 30)]
    controller = AdmissionController(gate, resolve=admission.resolve, gather=admission.gather,
                                     decide=admission.decide, today=lambda: day[0])
    r = parsed(review(pod(images["unsigned"])))
    assert controller.decide(r).allowed is True  # the expiry day is inclusive
    day[0] = date(2026, 7, 1)
    verdict = controller.decide(r)  # the same evidence, cached; the day has moved on
    assert verdict.allowed is False
    assert "signed: not signed by any required key" in verdict.message


# -- registries that do not answer, or answer no ----------------------------------------------


@pytest.mark.parametrize("make", ["controller", "controller_for"])
def test_the_failure_policy_is_fail_closed_by_default(make: str, signed_only: Policy,
                                                      client: RegistryClient) -> None:
    admission = Admission(signed_only, client=client)
    controller = (controller_for(admission) if make == "controller_for" else
                  AdmissionController(signed_only, resolve=admission.resolve,
                                      gather=admission.gather, decide=admission.decide))
    image = f"{DEAD}/app/web@{FAKE_DIGEST}"
    verdict = controller.decide(parsed(review(pod(image))))
    assert verdict.allowed is False and verdict.unreachable
    # The digest the Pod pinned is logged even though nothing could be fetched.
    assert verdict.images == (ImageResult(container="c0", role="container", image=image,
                                          digest=FAKE_DIGEST, outcome="unreachable"),)
    assert verdict.message.startswith(f"hullcheck denied: {label(image)}: registry could not be "
                                      "reached: ")
    assert verdict.message.endswith(" (failure policy: fail closed)")


def test_an_unknown_failure_policy_is_refused_by_name(signed_only: Policy) -> None:
    def never(*_: Any) -> Any:
        raise AssertionError("not called")

    with pytest.raises(ValueError) as caught:
        AdmissionController(signed_only, resolve=never, gather=never, decide=never,
                            failure_policy="open")
    assert str(caught.value) == "failure policy 'open': one of ('fail', 'ignore')"


def test_a_registry_that_answers_404_for_a_pinned_digest_is_logged_with_it(
        signed_only: Policy, client: RegistryClient) -> None:
    controller = controller_for(Admission(signed_only, client=client), failure_policy="ignore")
    with hostile_registry(answers(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')) as hostile:
        image = f"{hostile.host}/app/web@{FAKE_DIGEST}"
        verdict = controller.decide(parsed(review(pod(image))))
    assert verdict.allowed is False and not verdict.unreachable
    assert verdict.images == (ImageResult(container="c0", role="container", image=image,
                                          digest=FAKE_DIGEST, outcome="deny"),)
    assert verdict.message.startswith(f"hullcheck denied: {label(image)}: cannot be evaluated: ")


# -- the fail-safe verdicts --------------------------------------------------------------------

TWO = review(pod("a.example/app:1", "b.example/app:1"))
TWO_LABELS = f"{label('a.example/app:1')}, {label('b.example/app:1', 'c1')}"
TWO_UNREACHABLE = (ImageResult(container="c0", role="container", image="a.example/app:1",
                               outcome="unreachable"),
                   ImageResult(container="c1", role="container", image="b.example/app:1",
                               outcome="unreachable"))


def test_fallback_is_neither_a_timeout_nor_busy_unless_told(signed_only: Policy,
                                                            client: RegistryClient) -> None:
    # The metrics count timeouts and busy answers from these flags.
    controller = controller_for(Admission(signed_only, client=client))
    r = parsed(TWO)
    reason = f"{TWO_LABELS}: not evaluated: the registry is slow (failure policy: fail closed)"
    assert controller.fallback(r, "the registry is slow") == Verdict(
        allowed=False, message=f"hullcheck denied: {reason}", images=TWO_UNREACHABLE,
        reasons=(reason,), unreachable=True)
    timed_out = controller.fallback(r, "late", timed_out=True)
    assert (timed_out.timed_out, timed_out.busy) == (True, False)
    busy = controller.fallback(r, "busy", busy=True)
    assert (busy.timed_out, busy.busy) == (False, True)


def test_fallback_under_failure_policy_ignore_allows_with_a_warning(
        signed_only: Policy, client: RegistryClient) -> None:
    controller = controller_for(Admission(signed_only, client=client), failure_policy="ignore")
    warning = f"{TWO_LABELS}: not evaluated: late; allowed by failure policy 'ignore'"
    assert controller.fallback(parsed(TWO), "late", timed_out=True) == Verdict(
        allowed=True, warnings=(warning,), images=TWO_UNREACHABLE, reasons=(warning,),
        unreachable=True, timed_out=True)


@pytest.mark.parametrize("error, reason", [
    (RuntimeError("boom\n  at   line 3"), "internal error in hullcheck: RuntimeError: boom at line 3"),
    (KeyError(), "internal error in hullcheck: KeyError"),
    (ValueError("x" * 300), "internal error in hullcheck: ValueError: " + "x" * 200),
], ids=["spaces", "no-detail", "long"])
@pytest.mark.parametrize("failure_policy", ["fail", "ignore"])
def test_a_bug_is_denied_whatever_the_failure_policy(
        signed_only: Policy, client: RegistryClient, error: BaseException, reason: str,
        failure_policy: str) -> None:
    controller = controller_for(Admission(signed_only, client=client), failure_policy=failure_policy)
    assert controller.internal_error(parsed(TWO), error) == Verdict(
        allowed=False, message=f"hullcheck denied: {reason}", reasons=(reason,),
        images=tuple(ImageResult(container=i.container, role=i.role, image=i.image, outcome="deny")
                     for i in TWO_UNREACHABLE),
        internal_error=True)


# -- length caps -------------------------------------------------------------------------------


def _why(length: int, around: str) -> str:
    """A reason that makes ``around`` (with {why} in it) exactly ``length`` characters."""
    return "w" * (length - len(around.format(why="")))


@pytest.mark.parametrize("over", [0, 1, 500])
def test_the_message_is_cut_to_its_cap(signed_only: Policy, client: RegistryClient,
                                       over: int) -> None:
    controller = controller_for(Admission(signed_only, client=client))
    r = parsed(review(pod("a.example/app:1")))
    whole = "hullcheck denied: " + label("a.example/app:1") + \
        ": not evaluated: {why} (failure policy: fail closed)"
    why = _why(MAX_MESSAGE + over, whole)
    message = controller.fallback(r, why).message
    full = whole.format(why=why)
    assert message == (full if not over else full[:MAX_MESSAGE - 3] + "...")
    assert len(message) == MAX_MESSAGE


@pytest.mark.parametrize("over", [0, 1])
def test_warnings_and_logged_reasons_are_cut_to_their_caps(signed_only: Policy,
                                                           client: RegistryClient,
                                                           over: int) -> None:
    controller = controller_for(Admission(signed_only, client=client), failure_policy="ignore")
    r = parsed(review(pod("a.example/app:1")))
    whole = label("a.example/app:1") + ": not evaluated: {why}; allowed by failure policy 'ignore'"
    for cap in (MAX_WARNING, MAX_REASON):
        why = _why(cap + over, whole)
        full = whole.format(why=why)
        verdict = controller.fallback(r, why)
        cut = full if not over else full[:cap - 3] + "..."
        kept = verdict.warnings[0] if cap == MAX_WARNING else verdict.reasons[0]
        assert kept == cut and len(kept) == cap


# -- the evidence cache ------------------------------------------------------------------------


class Counted:
    """An Admission whose gathering is counted (every other step is the real one)."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self._gather = admission.gather
        self.gathered: list[str] = []

    def gather(self, name: ImageName) -> Evidence:
        self.gathered.append(str(name))
        return self._gather(name)


def _controllers(policy: Policy, client: RegistryClient
                 ) -> dict[str, Callable[[Counted], AdmissionController]]:
    def direct(ttl: float | None) -> Callable[[Counted], AdmissionController]:
        def make(c: Counted) -> AdmissionController:
            extra = {} if ttl is None else {"cache_ttl": ttl}
            return AdmissionController(policy, resolve=c.admission.resolve, gather=c.gather,
                                       decide=c.admission.decide, **extra)  # type: ignore[arg-type]
        return make

    def through(ttl: float | None) -> Callable[[Counted], AdmissionController]:
        def make(c: Counted) -> AdmissionController:
            c.admission.gather = c.gather  # type: ignore[method-assign]
            return (controller_for(c.admission) if ttl is None else
                    controller_for(c.admission, cache_ttl=ttl))
        return make

    return {"default": direct(None), "0.5": direct(0.5), "0": direct(0.0), "for-default": through(None),
            "for-5": through(5.0)}


@pytest.mark.parametrize("make, ttl", [("default", 300.0), ("0.5", 0.5), ("for-default", 300.0),
                                       ("for-5", 5.0)])
def test_evidence_is_cached_for_the_ttl_and_no_longer(
        make: str, ttl: float, signed_only: Policy, client: RegistryClient,
        images: dict[str, str]) -> None:
    counted = Counted(Admission(signed_only, client=client))
    controller = _controllers(signed_only, client)[make](counted)
    now = [1000.0]
    controller._clock = lambda: now[0]
    pinned = images["good"].rsplit(":", 1)[0] + "@" + images["good@"]
    r = parsed(review(pod(pinned)))
    # Gathered at 0, kept until (not at) the TTL, gathered again then and kept.
    for at, gathered in ((0.0, 1), (ttl * 0.98, 1), (ttl, 2), (ttl * 1.98, 2)):
        now[0] = 1000.0 + at
        assert controller.decide(r).allowed is True
        assert len(counted.gathered) == gathered, at
    assert set(counted.gathered) == {pinned}


def test_a_ttl_of_zero_caches_nothing(signed_only: Policy, client: RegistryClient,
                                      images: dict[str, str]) -> None:
    counted = Counted(Admission(signed_only, client=client))
    controller = _controllers(signed_only, client)["0"](counted)
    controller._clock = lambda: 1000.0  # no time passes at all
    pinned = images["good"].rsplit(":", 1)[0] + "@" + images["good@"]
    for _ in range(2):
        assert controller.decide(parsed(review(pod(pinned)))).allowed is True
    assert counted.gathered == [pinned, pinned]
    assert controller.cached == 0


def test_expired_evidence_of_digests_not_named_again_is_dropped(
        signed_only: Policy, client: RegistryClient, images: dict[str, str]) -> None:
    # Pods naming ever new digests must not grow the cache without end: what has expired
    # goes when new evidence comes in, even if no review names its digest again.
    counted = Counted(Admission(signed_only, client=client))
    controller = _controllers(signed_only, client)["for-5"](counted)
    now = [1000.0]
    controller._clock = lambda: now[0]
    names = [images[n].rsplit(":", 1)[0] + "@" + images[f"{n}@"] for n in ("good", "evil", "unsigned")]
    controller.decide(parsed(review(pod(names[0]))))
    now[0] += 3.0
    controller.decide(parsed(review(pod(names[1]))))
    assert controller.cached == 2
    now[0] += 2.0  # the first has expired, the second has not
    controller.decide(parsed(review(pod(names[2]))))
    assert controller.cached == 2
    now[0] += 10.0
    controller.decide(parsed(review(pod(names[2]))))  # gathered again: everything had expired
    assert controller.cached == 1
    assert counted.gathered == [names[0], names[1], names[2], names[2]]
