"""The webhook channel against a real HTTP(S) receiver on 127.0.0.1 that checks the HMAC with
its own computation: what is sent, how each answer is judged, redirects, secrets."""

from __future__ import annotations

import hashlib
import hmac
import json
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from hullcheck.errors import VerificationError
from hullcheck.monitor.channels import (
    MAX_RETRY_AFTER,
    Outcome,
    WebhookChannel,
    channel_from_config,
    retry_after,
    verify_signature,
)
from tests.monitor.events import finding_event
from tests.monitor.receivers import (
    Reply,
    closed_port,
    receiver,
    self_signed,
    server_tls,
    silent_port,
)

SECRET = "s3cret-hook-key"
EVENT = finding_event("CVE-2024-0001", "critical", "openssl", "3.0.11-1", fixed=("3.0.13-1",),
                      kev=True)


def hook(url: str, **kwargs: Any) -> WebhookChannel:
    return WebhookChannel(name="ops", url=url, secret=SECRET, **kwargs)


def test_one_signed_post_per_event_with_type_and_delivery_key() -> None:
    with receiver(secret=SECRET.encode()) as rec:
        result = hook(rec.url()).send([EVENT], "evt-17.ops")
    assert result.ok and result.outcome is Outcome.DELIVERED
    assert len(rec.deliveries) == 1
    d = rec.deliveries[0]
    assert d.path == "/hook"
    assert d.signature_ok  # the receiver's own HMAC of the bytes it got
    assert d.headers["content-type"] == "application/json"
    assert d.headers["x-hullcheck-event"] == "new-finding"
    assert d.headers["x-hullcheck-delivery"] == "evt-17.ops"
    assert d.headers["x-hullcheck-signature"] == \
        "sha256=" + hmac.new(SECRET.encode(), d.body, hashlib.sha256).hexdigest()
    assert json.loads(d.body) == EVENT
    verify_signature(d.body, d.headers["x-hullcheck-signature"], SECRET)


def test_a_retry_sends_the_same_bytes_signature_and_key() -> None:
    with receiver(Reply(503), Reply(200), secret=SECRET.encode()) as rec:
        channel = hook(rec.url())
        first = channel.send([EVENT], "evt-18.ops")
        second = channel.send([EVENT], "evt-18.ops")
    assert first.outcome is Outcome.RETRY and second.ok
    a, b = rec.deliveries
    assert a.body == b.body and a.signature_ok and b.signature_ok
    assert a.headers["x-hullcheck-signature"] == b.headers["x-hullcheck-signature"]
    assert a.headers["x-hullcheck-delivery"] == b.headers["x-hullcheck-delivery"] == "evt-18.ops"


@pytest.mark.parametrize(("reply", "outcome", "after"), [
    (Reply(200), Outcome.DELIVERED, None),
    (Reply(204, body=b""), Outcome.DELIVERED, None),
    # Taken: the status says so, though the answer's body does not decode.
    (Reply(200, (("Content-Encoding", "gzip"),), b"not gzip"), Outcome.DELIVERED, None),
    (Reply(400, body=b"bad event"), Outcome.PERMANENT, None),
    (Reply(401), Outcome.PERMANENT, None),
    (Reply(404), Outcome.PERMANENT, None),
    (Reply(408), Outcome.RETRY, None),
    (Reply(429, (("Retry-After", "120"),)), Outcome.RETRY, 120.0),
    (Reply(429, (("Retry-After", "99999999"),)), Outcome.RETRY, MAX_RETRY_AFTER),
    (Reply(429, (("Retry-After", "soon"),)), Outcome.RETRY, None),
    (Reply(500), Outcome.RETRY, None),
    (Reply(503, (("Retry-After", "5"),)), Outcome.RETRY, 5.0),
])
def test_answers_map_to_outcomes(reply: Reply, outcome: Outcome, after: float | None) -> None:
    with receiver(reply, secret=SECRET.encode()) as rec:
        result = hook(rec.url()).send([EVENT], "evt-1")
    assert (result.outcome, result.retry_after) == (outcome, after)
    assert f"HTTP {reply.status}" in result.detail
    assert len(rec.deliveries) == 1 and rec.deliveries[0].signature_ok


def test_retry_after_as_an_http_date() -> None:
    import datetime as dt

    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert retry_after(format_datetime(now + dt.timedelta(seconds=90), usegmt=True), now=now) \
        == 90.0
    assert retry_after(format_datetime(now - dt.timedelta(seconds=90), usegmt=True), now=now) \
        == 0.0
    with receiver(Reply(429, (("Retry-After", "Fri, 01 Jan 2100 00:00:00 GMT"),)),
                  secret=SECRET.encode()) as rec:
        result = hook(rec.url()).send([EVENT], "evt-1")
    assert result.outcome is Outcome.RETRY and result.retry_after == MAX_RETRY_AFTER


def test_no_answer_is_retried() -> None:
    refused = hook(f"http://127.0.0.1:{closed_port()}/hook").send([EVENT], "evt-1")
    assert refused.outcome is Outcome.RETRY and "no answer" in refused.detail
    with silent_port() as port:
        mute = hook(f"http://127.0.0.1:{port}/hook", timeout=0.3).send([EVENT], "evt-1")
    assert mute.outcome is Outcome.RETRY and "no answer within 0.3s" in mute.detail


def test_a_redirect_to_another_port_is_not_followed() -> None:
    with receiver(secret=SECRET.encode()) as elsewhere, \
            receiver(Reply(307, (("Location", elsewhere.url("/collect")),)),
                     secret=SECRET.encode()) as rec:
        result = hook(rec.url()).send([EVENT], "evt-1")
    assert result.outcome is Outcome.PERMANENT
    assert f"redirect to http://127.0.0.1:{elsewhere.port}/… not followed" in result.detail
    assert len(rec.deliveries) == 1 and elsewhere.deliveries == []


def test_only_307_308_to_the_same_origin_are_followed() -> None:
    with receiver(Reply(308, (("Location", "/moved"),)), Reply(200),
                  secret=SECRET.encode()) as rec:
        result = hook(rec.url()).send([EVENT], "evt-1")
    assert result.ok
    assert [d.path for d in rec.deliveries] == ["/hook", "/moved"]
    assert all(d.signature_ok for d in rec.deliveries)
    assert rec.deliveries[0].body == rec.deliveries[1].body
    # A 302 would turn the POST into a GET: reported, not followed.
    with receiver(Reply(302, (("Location", "/moved"),)), secret=SECRET.encode()) as rec:
        result = hook(rec.url()).send([EVENT], "evt-1")
    assert result.outcome is Outcome.PERMANENT and len(rec.deliveries) == 1


def test_secrets_stay_out_of_details_and_reprs() -> None:
    token = "/services/T0001/B0002/XyZsEcReTtOkEn"
    echo = Reply(400, body=f"invalid token in {token} (signature sha256=...)".encode())
    with receiver(echo, Reply(500, body=token.encode()), secret=SECRET.encode()) as rec:
        channel = hook(rec.url(token))
        results = [channel.send([EVENT], "evt-1"), channel.send([EVENT], "evt-2")]
    results.append(hook(f"http://127.0.0.1:{closed_port()}{token}").send([EVENT], "evt-3"))
    with silent_port() as port:
        results.append(hook(f"http://127.0.0.1:{port}{token}", timeout=0.2)
                       .send([EVENT], "evt-4"))
    assert [r.outcome for r in results] == [Outcome.PERMANENT] + [Outcome.RETRY] * 3
    for text in [r.detail for r in results] + [repr(channel)]:
        assert "XyZsEcReTtOkEn" not in text and SECRET not in text, text
    assert "/…" in results[0].detail


def test_https_with_the_configured_ca(tmp_path: Path) -> None:
    cert = self_signed(tmp_path)
    with receiver(tls=server_tls(cert), secret=SECRET.encode()) as rec:
        trusting = channel_from_config(
            {"name": "ops", "type": "webhook", "url": rec.url(), "secret-env": "HOOK_SECRET",
             "ca-file": str(cert[0])}, environ={"HOOK_SECRET": SECRET})
        ok = trusting.send([EVENT], "evt-1")
        untrusting = hook(rec.url()).send([EVENT], "evt-2")
    assert ok.ok and rec.deliveries[0].signature_ok
    assert untrusting.outcome is Outcome.PERMANENT and "not trusted" in untrusting.detail
    assert len(rec.deliveries) == 1


def test_verify_signature_refuses_what_does_not_match() -> None:
    body = json.dumps(EVENT).encode()
    good = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    verify_signature(body, good, SECRET)
    verify_signature(body, good.upper().replace("SHA256=", "sha256="), SECRET.encode())
    for header, secret, data in [
        (good, SECRET, body + b" "),
        (good, "other-secret", body),
        (good.replace("sha256=", "sha1="), SECRET, body),
        ("sha256=", SECRET, body),
        (None, SECRET, body),
        ("", SECRET, body),
        ("sha256=ünicode", SECRET, body),
    ]:
        with pytest.raises(VerificationError):
            verify_signature(data, header, secret)


def test_misuse_is_a_programming_error() -> None:
    channel = hook("http://127.0.0.1:9/hook")
    with pytest.raises(ValueError, match="exactly one event"):
        channel.send([EVENT, EVENT], "evt-1")
    with pytest.raises(ValueError, match="idempotency key"):
        channel.send([EVENT], "evt 1\r\nX-Injected: yes")
