"""The admission webhook under hostile clients and registries, over real TLS on 127.0.0.1:
slow connections (slowloris), bodies that trickle in, too many connections, nesting bombs,
registries that answer 401/403/404/500/garbage or drip one byte at a time, more reviews
than slots, a bug in the evaluation; and what it records: the decision log and /metrics."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hullcheck.server.admission_http import Limits
from tests.server.wire import (
    BASIC_CHALLENGE,
    FAKE_DIGEST,
    GARBAGE,
    Behaviour,
    Tls,
    answer,
    answers,
    drips,
    get,
    hostile_registry,
    pod,
    post,
    review,
    tls_socket,
)

PARTIAL_HEAD = b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


def metrics(base_url: str, tls: Tls) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample on /metrics: (name, sorted labels) -> value."""
    resp = get(base_url.replace("/validate", "/metrics"), tls)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text) for s in family.samples}


def closed_by_server(sock: ssl.SSLSocket, wait: float, into: bytearray | None = None) -> bool:
    """Whether the server closes ``sock`` within ``wait`` seconds; what it sent on the way is
    added to ``into``."""
    end = time.monotonic() + wait
    while True:
        # A timeout per recv: a TLS 1.3 session ticket makes the socket readable with no data.
        sock.settimeout(max(end - time.monotonic(), 0.001))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return False
        except (OSError, ssl.SSLError):
            return True
        if not chunk:
            return True
        if into is not None:
            into += chunk


def drip_until_closed(sock: ssl.SSLSocket, data: bytes, every: float) -> tuple[int, bytes | None]:
    """Send ``data`` a byte at a time; (bytes sent, what the server sent) once it closes the
    connection, or (len(data), None) if it never did."""
    got = bytearray()
    for i in range(len(data)):
        try:
            sock.sendall(data[i:i + 1])
        except OSError:  # closed: read what it said first
            closed_by_server(sock, 1.0, got)
            return i, bytes(got)
        if closed_by_server(sock, every, got):
            return i + 1, bytes(got)
    return len(data), None


@contextmanager
def slow_connections(port: int, tls: Tls, count: int) -> Iterator[list[ssl.SSLSocket]]:
    """``count`` TLS connections that each sent half a request head, then nothing."""
    socks: list[ssl.SSLSocket] = []
    try:
        for _ in range(count):
            s = tls_socket(port, tls)
            s.sendall(PARTIAL_HEAD)
            socks.append(s)
        yield socks
    finally:
        for s in socks:
            s.close()


# -- slow and greedy clients -------------------------------------------------------------------


def test_300_slow_connections_hold_no_threads_and_a_review_is_answered(
        webhook: Any, tls: Tls, images: dict[str, str]) -> None:
    url, _ = webhook(limits=Limits(header_timeout=120.0))
    port = webhook.server.port
    before = threading.active_count()
    with slow_connections(port, tls, 300) as socks:
        during = threading.active_count()
        resp = answer(post(url, tls, review(pod(images["good"]), uid="real")), "real")
        # The slow ones are still open (their header deadline is far off): the review was
        # answered while all 300 were held, and they cost no thread each.
        still_open = sum(not closed_by_server(s, 0.0) for s in socks)
    assert resp["allowed"] is True
    assert still_open == 300
    assert during - before < 10, (before, during)


def test_header_deadline_counts_total_time_not_time_between_bytes(webhook: Any, tls: Tls) -> None:
    url, _ = webhook(limits=Limits(header_timeout=1.0))
    with tls_socket(webhook.server.port, tls) as s:
        s.sendall(PARTIAL_HEAD)
        # One byte every 0.2 s: no single read waits long, but the head never ends.
        sent, got = drip_until_closed(s, b"X-Slow: " + b"a" * 60 + b"\r\n", every=0.2)
    assert got is not None, "the server never closed a connection whose head took 14 s"
    assert sent < 60
    assert metrics(url, tls)[("hullcheck_admission_errors_total",
                              (("reason", "header_timeout"),))] == 1.0


def test_tls_handshake_deadline_counts_total_time(webhook: Any, tls: Tls) -> None:
    webhook(limits=Limits(handshake_timeout=1.0))
    with socket.create_connection(("127.0.0.1", webhook.server.port), timeout=30.0) as raw:
        # A TLS handshake record that never ends, one byte every 0.2 s.
        record = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 60
        sent = 0
        for i in range(len(record)):
            try:
                raw.sendall(record[i:i + 1])
            except OSError:
                break
            sent = i + 1
            raw.settimeout(0.2)
            try:
                if raw.recv(1024) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
    assert sent < len(record), "the server waited out a 14 s handshake"


def test_body_deadline_counts_total_time_and_answers_408(webhook: Any, tls: Tls) -> None:
    url, _ = webhook(limits=Limits(body_timeout=1.0))
    with tls_socket(webhook.server.port, tls) as s:
        s.sendall(PARTIAL_HEAD + b"Content-Length: 60\r\n\r\n")
        sent, got = drip_until_closed(s, b"{" + b" " * 58 + b"}", every=0.2)
    assert got is not None and sent < 60
    assert got.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), got
    assert b"request body not received within 1s" in got
    assert metrics(url, tls)[("hullcheck_admission_errors_total",
                              (("reason", "body_timeout"),))] == 1.0


def test_connections_over_the_cap_are_closed_at_once(webhook: Any, tls: Tls) -> None:
    url, _ = webhook(limits=Limits(max_connections=3, header_timeout=120.0))
    with slow_connections(webhook.server.port, tls, 3), tls_socket(webhook.server.port, tls) as s:
        s.sendall(PARTIAL_HEAD)
        got = bytearray()
        assert closed_by_server(s, 20.0, got) and got == b""
    assert metrics(url, tls)[("hullcheck_admission_errors_total",
                              (("reason", "too_many_connections"),))] == 1.0


# -- hostile bodies ----------------------------------------------------------------------------

DEEP = 100_000
ENVELOPE = '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x",'


@pytest.mark.parametrize("body", [
    b"[" * DEEP + b"]" * DEEP,
    (ENVELOPE + '"object":' + '{"a":' * DEEP + "1" + "}" * DEEP + "}}").encode(),
    (ENVELOPE + '"object":' + "[" * 200 + "]" * 200 + "}}").encode(),  # parses; too deep to walk
], ids=["lists-100k", "objects-100k-in-request", "lists-200"])
def test_nesting_bomb_gets_a_one_line_400(webhook: Any, tls: Tls, body: bytes) -> None:
    url, _ = webhook()
    resp = post(url, tls, body)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error == "malformed AdmissionReview: nested more than 128 levels deep"
    # The server is still there for the next review.
    assert answer(post(url, tls, review(None)))["allowed"] is True


# -- registries that answer, registries that do not ----------------------------------------------


@pytest.mark.parametrize("behaviour, says", [
    (BASIC_CHALLENGE, "requires a username and password"),
    (answers(403, b'{"errors":[{"code":"DENIED"}]}'), "HTTP 403"),
    (answers(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'), "not found"),
    (answers(500, b"oops"), "HTTP 500"),
    (GARBAGE, "invalid Docker-Content-Digest"),
], ids=["401", "403", "404", "500", "garbage"])
@pytest.mark.parametrize("pinned", [False, True], ids=["by-tag", "by-digest"])
def test_a_registry_that_answers_is_denied_even_under_failure_policy_ignore(
        webhook: Any, tls: Tls, behaviour: Behaviour, says: str, pinned: bool) -> None:
    url, _ = webhook(failure_policy="ignore")
    with hostile_registry(behaviour) as hostile:
        image = f"{hostile.host}/app/web" + (f"@{FAKE_DIGEST}" if pinned else ":v1")
        resp = answer(post(url, tls, review(pod(image))))
        assert hostile.requests, "the registry was never asked"
    assert resp["allowed"] is False, resp
    message = resp["status"]["message"]
    assert f"image {image}: cannot be evaluated" in message
    if pinned and behaviour is GARBAGE:
        says = "content hashes to"  # by digest, the bytes are checked against it first
    assert says in message, message
    assert "failure policy" not in message and "warnings" not in resp


@pytest.mark.parametrize("failure_policy", ["fail", "ignore"])
def test_a_dripping_registry_is_answered_within_the_review_timeout(
        webhook: Any, tls: Tls, failure_policy: str) -> None:
    url, _ = webhook(failure_policy=failure_policy, limits=Limits(review_timeout=2.0))
    with hostile_registry(drips(every=0.25, limit=60.0)) as dripping:
        image = f"{dripping.host}/app/web:v1"
        started = time.monotonic()
        resp = answer(post(url, tls, review(pod(image), uid="drip")), "drip")
        took = time.monotonic() - started
    # The feature is an answer within the budget; the margin is generous (the registry
    # would hold the review for 60 s).
    assert took < 2.0 + 8.0, took
    reason = next(iter([resp["status"]["message"]] if "status" in resp else resp["warnings"]))
    assert image in reason
    assert "no verdict within 2s (--review-timeout)" in reason or "could not be reached" in reason
    if failure_policy == "fail":
        assert resp["allowed"] is False and "(failure policy: fail closed)" in reason
    else:
        assert resp["allowed"] is True and "allowed by failure policy 'ignore'" in reason
    m = metrics(url, tls)
    assert m[("hullcheck_admission_failures_total", ())] == 1.0
    verdict = "denied" if failure_policy == "fail" else "allowed"
    assert m[("hullcheck_admission_reviews_total", (("verdict", verdict),))] == 1.0


def test_reviews_beyond_the_slots_are_answered_at_once_by_the_failure_policy(
        webhook: Any, tls: Tls, images: dict[str, str]) -> None:
    url, _ = webhook(limits=Limits(max_concurrent=1, review_timeout=20.0))
    server = webhook.server
    with hostile_registry(drips(every=0.25, limit=60.0)) as dripping:
        held: list[dict[str, Any]] = []
        first = threading.Thread(target=lambda: held.append(
            answer(post(url, tls, review(pod(f"{dripping.host}/app/web:v1"))))))
        first.start()
        for _ in range(400):  # until the first review holds the one slot
            if server.in_flight == 1:
                break
            time.sleep(0.05)
        assert server.in_flight == 1
        resp = answer(post(url, tls, review(pod(images["good"]))))
        assert first.is_alive(), "the busy answer did not wait for the slot"
        assert resp["allowed"] is False
        assert "the webhook is busy: all 1 review slots are in use" in resp["status"]["message"]
        assert webhook.gathered == []  # the second review was not evaluated at all
        assert metrics(url, tls)[("hullcheck_admission_busy_total", ())] == 1.0
    first.join()
    assert held and held[0]["allowed"] is False


def test_a_bug_in_the_evaluation_is_still_answered_denied(webhook: Any, tls: Tls,
                                                          images: dict[str, str]) -> None:
    url, controller = webhook(failure_policy="ignore")

    def broken(ref: Any) -> Any:
        raise RuntimeError("boom")

    controller._gather = broken
    resp = answer(post(url, tls, review(pod(images["good"]))))
    assert resp["allowed"] is False
    assert "internal error in hullcheck: RuntimeError: boom" in resp["status"]["message"]
    assert metrics(url, tls)[("hullcheck_admission_errors_total", (("reason", "internal"),))] == 1


# -- what it records ---------------------------------------------------------------------------


def test_one_log_line_per_decision_and_prometheus_counters(
        webhook: Any, tls: Tls, images: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    url, _ = webhook()
    with caplog.at_level(logging.INFO, logger="hullcheck.admission"):
        assert answer(post(url, tls, review(pod(images["good"]), uid="u-ok")))["allowed"] is True
        assert answer(post(url, tls, review(pod(images["unsigned"]), uid="u-no")))["allowed"] is False
        assert post(url, tls, b"{not json").status_code == 400
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "hullcheck.admission"]
    decisions = {d["uid"]: d for d in lines if d["event"] == "decision"}
    assert set(decisions) == {"u-ok", "u-no"}
    ok, no = decisions["u-ok"], decisions["u-no"]
    assert (ok["kind"], ok["namespace"], ok["name"], ok["operation"]) == ("Pod", "shop", "web", "CREATE")
    assert ok["images"] == [{"container": "c0", "role": "container", "image": images["good"],
                             "digest": images["good@"], "outcome": "pass"}]
    assert ok["allowed"] is True and ok["reasons"] == []
    assert no["allowed"] is False and no["images"][0]["digest"] == images["unsigned@"]
    assert any("signed: not signed by any required key" in r for r in no["reasons"])
    assert all(isinstance(d["duration_ms"], float) and d["duration_ms"] >= 0 for d in (ok, no))
    assert [d["event"] for d in lines].count("bad_review") == 1
    m = metrics(url, tls)
    assert m[("hullcheck_admission_reviews_total", (("verdict", "allowed"),))] == 1.0
    assert m[("hullcheck_admission_reviews_total", (("verdict", "denied"),))] == 1.0
    assert m[("hullcheck_admission_errors_total", (("reason", "bad_review"),))] == 1.0
    assert m[("hullcheck_admission_decision_seconds_count", ())] == 2.0
    assert m[("hullcheck_admission_in_flight", ())] == 0.0
    assert m[("hullcheck_admission_failures_total", ())] == 0.0
    assert m[("hullcheck_admission_timeouts_total", ())] == 0.0
