"""The admission webhook over HTTPS with real AdmissionReview bodies, against the real
registry fixture: tags resolved to digests, allowed and denied images, signed and
unsigned images, an unreachable registry (fail closed / ignore), malformed reviews,
and the digest cache (counted registry calls)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

import hullcheck
from hullcheck.registry import RegistryClient, parse_reference
from hullcheck.server.admission import parse_review
from hullcheck.server.admission_http import MAX_BODY
from tests.server.wire import answer, pod, post, review


def test_signed_image_by_tag_is_resolved_and_allowed(webhook: Any, tls: Any,
                                                     images: dict[str, str]) -> None:
    url, _ = webhook()
    body = review(pod(images["good"]), uid="uid-good")
    resp = answer(post(url, tls, body), "uid-good")
    assert resp["allowed"] is True, resp
    assert "status" not in resp
    # The tag was resolved to the pushed digest, and that digest was evaluated.
    assert webhook.gathered == [images["good"] + "@" + images["good@"]]


def test_unsigned_image_denied_naming_image_and_rule(webhook: Any, tls: Any,
                                                     images: dict[str, str]) -> None:
    url, _ = webhook()
    resp = answer(post(url, tls, review(pod(images["good"], images["unsigned"]))))
    assert resp["allowed"] is False
    msg = resp["status"]["message"]
    assert resp["status"]["code"] == 403
    assert images["unsigned"] in msg and images["unsigned@"] in msg
    assert "signed: not signed by any required key" in msg
    assert images["good"] not in msg


def test_image_failing_a_rule_in_a_deployment_init_container(webhook: Any, tls: Any,
                                                             images: dict[str, str]) -> None:
    url, _ = webhook()
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"template": {"spec": pod(images["good"], init=(images["evil"],))
                                        ["spec"]}}}
    resp = answer(post(url, tls, review(deployment, kind="Deployment")))
    assert resp["allowed"] is False
    msg = resp["status"]["message"]
    assert "init container 'init0'" in msg and images["evil"] in msg
    assert "no-evil: 1 banned package(s): evilpkg (6.6.6, banned: test malware)" in msg


def test_cronjob_and_warning_rule(webhook: Any, tls: Any, images: dict[str, str]) -> None:
    url, _ = webhook()
    latest_ref = images["good"].replace(":v1", ":latest")
    with RegistryClient() as c:  # tag the good image as latest too
        ref = parse_reference(images["good"])
        manifest = c.get_manifest(ref)
        c.push_manifest(parse_reference(latest_ref), manifest.data, manifest.media_type)
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": pod(latest_ref)["spec"]}}}}}
    resp = answer(post(url, tls, review(cron, kind="CronJob")))
    assert resp["allowed"] is True
    assert any("tagged" in w and latest_ref in w for w in resp["warnings"]), resp


def test_decision_cached_by_digest(webhook: Any, tls: Any, images: dict[str, str]) -> None:
    url, _ = webhook()
    pinned = images["good"].rsplit(":", 1)[0] + "@" + images["good@"]
    assert answer(post(url, tls, review(pod(images["good"]))))["allowed"] is True
    calls_after_first = webhook.http.calls
    assert len(webhook.gathered) == 1 and calls_after_first >= 1
    # By tag again: only the tag is resolved (one HEAD); the evidence is not gathered again.
    assert answer(post(url, tls, review(pod(images["good"]))))["allowed"] is True
    assert len(webhook.gathered) == 1
    assert webhook.http.calls == calls_after_first + 1
    # By digest: no registry call at all.
    assert answer(post(url, tls, review(pod(pinned))))["allowed"] is True
    assert webhook.http.calls == calls_after_first + 1 and len(webhook.gathered) == 1


def test_cache_expires(webhook: Any, tls: Any, images: dict[str, str]) -> None:
    url, controller = webhook(ttl=300.0)
    now = [1000.0]
    controller._clock = lambda: now[0]
    post(url, tls, review(pod(images["good"])))
    now[0] += 301.0
    post(url, tls, review(pod(images["good"])))
    assert len(webhook.gathered) == 2


def test_unreachable_registry_fails_closed(webhook: Any, tls: Any) -> None:
    url, _ = webhook()
    dead = "127.0.0.1:9/admission/good:v1"  # discard port: connection refused
    resp = answer(post(url, tls, review(pod(dead))))
    assert resp["allowed"] is False
    msg = resp["status"]["message"]
    assert dead in msg and "registry could not be reached" in msg and "fail closed" in msg


def test_unreachable_registry_allowed_with_warning_when_ignored(webhook: Any, tls: Any) -> None:
    url, _ = webhook(failure_policy="ignore")
    dead = "127.0.0.1:9/admission/good:v1"
    resp = answer(post(url, tls, review(pod(dead))))
    assert resp["allowed"] is True
    assert any("registry could not be reached" in w and "failure policy 'ignore'" in w
               for w in resp["warnings"])


@pytest.mark.parametrize("body", [
    b"not json",
    b"[]",
    json.dumps({"apiVersion": "v1", "kind": "Pod"}).encode(),
    json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(),
    json.dumps(review({"spec": {"containers": [{"name": "x"}]}})).encode(),
    json.dumps(review({"spec": {"containers": "nginx"}})).encode(),
    json.dumps({**review(None), "request": {"uid": "x", "kind": {"kind": ["Pod"]}}}).encode(),
])
def test_malformed_review_is_400(webhook: Any, tls: Any, body: bytes) -> None:
    url, _ = webhook()
    resp = post(url, tls, body)
    assert resp.status_code == 400
    assert "malformed AdmissionReview" in resp.json()["error"]


def test_the_webhook_answers_a_bad_body_400_and_a_review_200_word_for_word(webhook: Any,
                                                                          tls: Any) -> None:
    """The one way a request body is answered (the server's): a malformed review is a 400
    with its one-line error, a review the AdmissionReview document with its uid."""
    url, _ = webhook()
    bad_kind = post(url, tls, json.dumps({"kind": "Pod"}).encode())
    assert (bad_kind.status_code, bad_kind.json()) == (400, {"error": (
        "malformed AdmissionReview: expected kind AdmissionReview, apiVersion "
        "admission.k8s.io/v1; got 'Pod', None")})
    nothing = post(url, tls, review(None, uid="u-del"))
    assert (nothing.status_code, nothing.json()) == (200, {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "response": {"uid": "u-del", "allowed": True}})
    bad_image = answer(post(url, tls, review(pod("Example.com/App:1"), uid="u-bad")), "u-bad")
    assert bad_image["allowed"] is False and bad_image["status"]["code"] == 403
    assert bad_image["status"]["message"].startswith(
        "hullcheck denied: container 'c0' image Example.com/App:1: ")
    assert webhook.http.calls == 0


def test_request_bodies_are_read_into_reviews_in_one_place() -> None:
    """One way an AdmissionReview is answered: the webhook server reads the body (400 when
    malformed) and judges it under its deadline; no second path answers a body without that
    deadline, metrics or decision log (``AdmissionController.handle`` was one)."""
    src = Path(hullcheck.__file__).parent
    callers = sorted(
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "parse_review")
    assert callers == ["server/admission_http.py"]


def test_oversized_request_is_413(webhook: Any, tls: Any) -> None:
    url, _ = webhook()
    resp = post(url, tls, b"{" + b" " * MAX_BODY + b"}")
    assert resp.status_code == 413


def test_delete_and_other_kinds_are_allowed_without_registry_calls(webhook: Any, tls: Any) -> None:
    url, _ = webhook()
    body = review(None)
    body["request"]["operation"] = "DELETE"
    assert answer(post(url, tls, body))["allowed"] is True
    cm = review({"apiVersion": "v1", "kind": "ConfigMap", "data": {}}, kind="ConfigMap")
    assert answer(post(url, tls, cm))["allowed"] is True
    assert webhook.http.calls == 0


def test_parse_review_finds_every_container_kind() -> None:
    spec = pod("a:1", init=("b:1",))["spec"]
    spec["ephemeralContainers"] = [{"name": "debug", "image": "busybox:1.36"}]
    r = parse_review(json.dumps(review({"spec": spec})).encode())
    assert [(c.role, c.image) for c in r.images] == [
        ("init container", "b:1"), ("container", "a:1"), ("ephemeral container", "busybox:1.36")]
