"""The service end to end, on both backends: a real image pushed to the real registry
(Debian's docker-registry), scanned through the facade, stored with its packages and
findings; an advisory update that adds one record gives exactly one new-finding, delivered
once to a real webhook receiver on 127.0.0.1 with a valid HMAC."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from hullcheck.errors import UsageError
from hullcheck.monitor.service import Service
from tests.fixtures.registry import RunningRegistry
from tests.monitor.receivers import receiver
from tests.monitor.support import (
    HOOK_SECRET,
    config,
    drain,
    osv_record,
    push_image,
    python_image,
    write_sources,
)

AUTHORS = "shop-team@example.org"

SUFFIX = uuid.uuid4().hex[:8]  # repository names unique in the session's registry


def monitor_config(tmp_path: Path, registry: RunningRegistry, hook: str) -> str:
    return f"""
registries: [{{host: "{registry.host}"}}]
advisories: {{sources: sources.yaml}}
channels:
  - {{name: ops, type: webhook, url: "{hook}", secret-env: HOOK_SECRET}}
alerts:
  - {{name: all-new, when: [new-finding], channels: [ops]}}
repositories:
  - {{match: "{registry.host}/shop/**", owners: [shop-owners@example.org]}}
"""


def test_push_scan_update_alert(tmp_path: Path, registry: RunningRegistry,
                                database_url: str | None) -> None:
    write_sources(tmp_path, [osv_record("PYSEC-2018-28")])  # requests < 2.20.0
    image = python_image({"requests": "2.19.0", "Jinja2": "2.10"},
                         labels={"org.opencontainers.image.authors": AUTHORS})
    digest = push_image(registry.host, f"shop/web-{SUFFIX}:1.0", image)
    repository = f"{registry.host}/shop/web-{SUFFIX}"
    with receiver(secret=HOOK_SECRET.encode()) as hook:
        cfg = config(monitor_config(tmp_path, registry, hook.url()), base=tmp_path)
        with Service.open(data_dir=tmp_path / "data", database_url=database_url,
                          config=cfg) as svc:
            advisories = svc.update_advisories(requested_by="admin")
            drain(svc)
            assert svc.job(advisories).status == "done"  # type: ignore[union-attr]

            job = svc.submit_scan(f"{repository}:1.0", requested_by="ci")
            drain(svc)
            info = svc.job(job)
            assert info is not None and info.status == "done", info

            stored = svc.image(digest)
            assert stored is not None and stored.status == "scanned"
            assert stored.repository == repository
            assert [t.tag for t in stored.tags if t.current] == ["1.0"]
            assert set(stored.owners) == {AUTHORS, "shop-owners@example.org"}
            assert [(f.finding.advisory_id, f.finding.package_purl)
                    for f in stored.findings] == [("CVE-2018-18074", "pkg:pypi/requests@2.19.0")]
            hits = svc.search_purl("pkg:pypi/jinja2@2.10")
            assert [h.digest for h in hits] == [digest]
            # The first scan's finding was delivered once, signed.
            assert len(hook.deliveries) == 1
            first = json.loads(hook.deliveries[0].body)
            assert first["finding"]["id"] == "CVE-2018-18074"
            assert hook.deliveries[0].signature_ok

            # The next advisory update adds PYSEC-2023-74 (requests 2.3.0 until 2.31.0).
            write_sources(tmp_path, [osv_record("PYSEC-2018-28"), osv_record("PYSEC-2023-74")])
            svc.update_advisories(requested_by="admin")
            drain(svc)

            assert len(hook.deliveries) == 2, [d.body for d in hook.deliveries]
            event = json.loads(hook.deliveries[1].body)
            assert hook.deliveries[1].signature_ok
            assert event["event"] == "new-finding"
            assert event["finding"]["id"] == "CVE-2023-32681"
            assert event["finding"]["package"]["purl"] == "pkg:pypi/requests@2.19.0"
            assert event["image"]["digest"] == digest
            assert event["image"]["tags"] == ["1.0"]
            assert AUTHORS in event["image"]["owners"]
            keys = {d.headers["x-hullcheck-delivery"] for d in hook.deliveries}
            assert len(keys) == 2
            findings = {f.finding.advisory_id
                        for f in svc.image(digest).findings}  # type: ignore[union-attr]
            assert findings == {"CVE-2018-18074", "CVE-2023-32681"}
            # Running again changes nothing and sends nothing.
            svc.update_advisories(requested_by="admin")
            drain(svc)
            assert len(hook.deliveries) == 2


def test_a_registry_not_in_the_config_is_refused(tmp_path: Path,
                                                 database_url: str | None) -> None:
    cfg = config("registries: [registry.example.org]\n", base=tmp_path)
    with Service.open(data_dir=tmp_path / "data", database_url=database_url, config=cfg) as svc:
        with pytest.raises(UsageError, match=r"registry 169.254.169.254 is not in the "
                                             r"service's registries"):
            svc.submit_scan("169.254.169.254/latest/meta-data:x", requested_by="ci")
        envelope = {"events": [{"action": "push", "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + "a" * 64, "repository": "app", "tag": "1",
            "url": "http://10.0.0.7:5000/v2/app/manifests/sha256:" + "a" * 64}}]}
        with pytest.raises(UsageError, match=r"events\[0\]: registry 10.0.0.7:5000 is not in"):
            svc.ingest_registry_event(json.dumps(envelope).encode())
        assert svc.run_pending() == 0  # nothing was queued
