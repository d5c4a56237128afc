"""Delivery through the service to real receivers on 127.0.0.1: a Slack digest per run, an
email per run (aiosmtpd), dead letters after a permanent refusal (both backends) and after
retries run out (SQLite, with a clock the test moves), and a dead letter revived."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from hullcheck import sbom
from hullcheck.fleet.model import DeliveryStatus
from hullcheck.model import ImageSource, PackageType
from hullcheck.monitor import delivery
from hullcheck.monitor.service import Service
from tests.match.support import inventory, pkg
from tests.monitor.receivers import Reply, mailbox, receiver
from tests.monitor.support import HOOK_SECRET, config, drain, osv_record, write_sources


def upload(name: str, digest_byte: str, requests_version: str = "2.19.0") -> bytes:
    inv = inventory(pkg(PackageType.PYTHON, "requests", requests_version))
    inv = type(inv)(**{**{f: getattr(inv, f) for f in inv.__dataclass_fields__},
                       "source": ImageSource(kind="registry", name=name,
                                             manifest_digest="sha256:" + digest_byte * 64)})
    return sbom.encode(inv, "json")


def service(tmp_path: Path, channels: str, database_url: str | None = None,
            clock: object = None) -> Service:
    write_sources(tmp_path, [osv_record("PYSEC-2018-28"), osv_record("PYSEC-2023-74")])
    text = f"""
advisories: {{sources: sources.yaml}}
channels: {channels}
alerts: [{{name: all, when: [new-finding], channels: [out]}}]
"""
    svc = Service.open(data_dir=tmp_path / "data", database_url=database_url,
                       config=config(text, base=tmp_path), clock=clock)  # type: ignore[arg-type]
    svc.update_advisories(requested_by="test")
    drain(svc)
    return svc


def test_slack_gets_one_digest_per_run(tmp_path: Path) -> None:
    with receiver() as slack:
        with service(tmp_path, f'[{{name: out, type: slack, url: "{slack.url()}"}}]') as svc:
            svc.ingest_push(upload("reg.example/a:1", "a"), name="reg.example/a:1",
                            requested_by="ci")
            svc.ingest_push(upload("reg.example/b:1", "b"), name="reg.example/b:1",
                            requested_by="ci")
            drain(svc)
        assert len(slack.deliveries) == 1  # four events, one message
        text = json.dumps(json.loads(slack.deliveries[0].body))
        for needle in ("CVE-2018-18074", "CVE-2023-32681", "reg.example/a", "reg.example/b"):
            assert needle in text


def test_email_gets_one_message_per_run(tmp_path: Path) -> None:
    with mailbox() as box:
        channel = (f"[{{name: out, type: email, smtp: '127.0.0.1:{box.port}', "
                   "from: alerts@example.org, to: [ops@example.org], starttls: false}]")
        with service(tmp_path, channel) as svc:
            svc.ingest_push(upload("reg.example/a:1", "a"), name="reg.example/a:1",
                            requested_by="ci")
            drain(svc)
        assert len(box.mails) == 1
        mail = box.mails[0]
        assert mail.rcpt_tos == ("ops@example.org",)
        body = mail.message.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert "CVE-2018-18074" in text and "CVE-2023-32681" in text
        assert mail.message["X-Hullcheck-Delivery"]


def test_a_refused_delivery_is_a_dead_letter_and_can_be_revived(
        tmp_path: Path, database_url: str | None) -> None:
    with receiver(Reply(status=400, body=b"no such hook"), Reply(status=204),
                  secret=HOOK_SECRET.encode()) as hook:
        channel = f'[{{name: out, type: webhook, url: "{hook.url()}", secret-env: HOOK_SECRET}}]'
        with service(tmp_path, channel, database_url) as svc:
            svc.ingest_push(upload("reg.example/a:1", "a"), name="reg.example/a:1",
                            requested_by="ci")
            drain(svc)
            dead = svc.dead_letters()
            # The first POST was refused (permanent): dead at once, not retried; the second
            # event's POST was accepted.
            assert len(hook.deliveries) == 2
            assert len(dead) == 1 and dead[0].attempts == 1
            assert "HTTP 400" in dead[0].last_error
            assert svc.retry_delivery(dead[0].id, actor="admin")
            drain(svc)
            assert svc.dead_letters() == []
            assert len(hook.deliveries) == 3
            assert hook.deliveries[2].headers["x-hullcheck-delivery"] == dead[0].idempotency_key
            assert svc.audit_log(target=f"delivery:{dead[0].id}")[0].action == "delivery.retry"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def test_retries_back_off_then_end_in_dead_letters(tmp_path: Path) -> None:
    clock = Clock()
    with receiver(Reply(status=503, headers=(("Retry-After", "120"),))) as hook:
        channel = f'[{{name: out, type: slack, url: "{hook.url()}"}}]'
        with service(tmp_path, channel, clock=clock) as svc:
            svc.ingest_push(upload("reg.example/a:1", "a"), name="reg.example/a:1",
                            requested_by="ci")
            drain(svc)
            waits = []
            for attempt in range(1, delivery.MAX_ATTEMPTS + 1):
                assert len(hook.deliveries) == attempt
                due = svc.store.next_delivery_due()
                if attempt < delivery.MAX_ATTEMPTS:
                    assert due is not None and due > clock.now
                    waits.append((due - clock.now).total_seconds())
                    assert svc.run_pending() <= 1 and len(hook.deliveries) == attempt  # not yet
                    clock.now = due
                    drain(svc)
            dead = svc.dead_letters()
            assert svc.store.deliveries(DeliveryStatus.PENDING) == []
            assert len(dead) == 2 and all(d.attempts == delivery.MAX_ATTEMPTS for d in dead)
            assert "HTTP 503" in dead[0].last_error
        assert len(hook.deliveries) == delivery.MAX_ATTEMPTS  # one digest per run
        # Honours Retry-After (120 s), then grows: 30 s * 2^(n-1) with equal jitter.
        assert waits[0] >= 120
        assert all(w >= min(delivery.MAX_DELAY, delivery.BASE_DELAY * 2 ** (n - 1)) / 2
                   for n, w in enumerate(waits, start=1))
        assert waits[-1] > waits[0]


def test_sboms_and_uploads_are_sniffed_and_checked(tmp_path: Path) -> None:
    """A CycloneDX SBOM (the content says so) is stored and matched; an upload must be a
    native SBOM naming its manifest digest; what is refused is one line and stores nothing."""
    import pytest

    from hullcheck.errors import FormatError, UsageError

    inv = inventory(pkg(PackageType.PYTHON, "requests", "2.19.0"))
    with receiver() as slack, \
            service(tmp_path, f'[{{name: out, type: slack, url: "{slack.url()}"}}]') as svc:
        digest = svc.ingest_sbom(sbom.encode(inv, "cyclonedx-json"), name="vendor/appliance",
                                 version="7.1", requested_by="ci")
        image = svc.image(digest)
        assert image is not None and image.repository == "vendor/appliance"
        assert [t.tag for t in image.tags] == ["7.1"]
        assert {f.finding.advisory_id for f in image.findings} == \
            {"CVE-2018-18074", "CVE-2023-32681"}
        for bad, message in [
            (b"<bom xmlns='http://cyclonedx.org/schema/bom/1.6'/>",
             "not a CycloneDX XML BOM hullcheck can read|not a CycloneDX, SPDX or hullcheck SBOM"),
            (b'{"bomFormat": "CycloneDX", "components": 3}', "CycloneDX|components"),
            (b"\xff\xfe garbage", "not valid JSON"),
        ]:
            with pytest.raises(FormatError, match=message):
                svc.ingest_sbom(bad, name="x", version="1", requested_by="ci")
        with pytest.raises(FormatError, match="not a hullcheck native SBOM"):
            svc.ingest_push(sbom.encode(inv, "cyclonedx-json"), name="r.example/a:1",
                            requested_by="ci")
        with pytest.raises(FormatError, match="names no image manifest digest"):
            svc.ingest_push(sbom.encode(inv, "json"), name="r.example/a:1", requested_by="ci")
        with pytest.raises(UsageError, match="not a digest"):
            svc.ingest_push(upload("r.example/a:1", "c"), name="r.example/a@sha256:" + "c" * 64,
                            requested_by="ci")
        assert [i.digest for i in svc.images("r.example/a").images] == []
