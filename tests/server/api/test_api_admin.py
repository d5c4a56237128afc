"""Admin calls over HTTP: an advisory update re-matches the fleet and the alert reaches a
real webhook receiver, signed; a delivery that fails for good is a dead letter listed by
the API and delivered when retried."""

from __future__ import annotations

import json
from pathlib import Path

from hullcheck.monitor.channels import verify_signature
from tests.fixtures.images import write
from tests.monitor.receivers import Reply, receiver
from tests.server.api.shapes import check
from tests.server.api.support import (
    URLLIB3_ADVISORY,
    URLLIB3_CVE,
    URLLIB3_PURL,
    Running,
    drain,
    osv_sources,
    python_image,
    running,
)

SECRET = "api-test-hook-secret"
ALERTS = """channels:
  - {{name: ops, type: webhook, url: "{url}", secret-env: HOOK_SECRET}}
alerts:
  - {{name: everything, when: [new-finding, fixed-finding], channels: [ops]}}
"""


def upload(api: Running, tmp: Path, name: str, packages: dict[str, str]) -> str:
    from hullcheck import pipeline, sbom

    ref = write(python_image(packages, marker=name), tmp / name.replace("/", "_").replace(":", "_"))
    inv = pipeline.inventory(pipeline.SbomRequest(image=ref, scope="all-layers"))
    r = api.post("/uploads", content=sbom.encode(inv, "json"), params={"name": name})
    assert r.status_code == 201, r.text
    return str(check(r.json(), "Stored")["digest"])


def test_an_advisory_update_rematches_and_the_alert_arrives_signed(tmp_path: Path) -> None:
    with receiver(secret=SECRET.encode()) as hook, running(
            tmp_path / "data", database_url=None, registry=None, records=(),
            extra_config=ALERTS.format(url=hook.url()),
            environ={"HOOK_SECRET": SECRET}) as api:
        digest = upload(api, tmp_path, "registry.example.org/shop/web:1.0", {"urllib3": "1.24.1"})
        assert api.get(f"/images/{digest}").json()["findings"] == []

        # The feed publishes the urllib3 advisory; an admin asks for an update now.
        osv_sources(tmp_path / "data-sources", URLLIB3_ADVISORY)
        r = api.post("/advisories/update", scope="admin")
        assert r.status_code == 202
        job = check(r.json(), "Queued")["job"]
        assert r.headers["location"] == job["url"] == f"/api/v1/jobs/{job['id']}"
        assert check(api.get(f"/jobs/{job['id']}").json(), "Job")["status"] == "queued"
        before = api.get(f"/images/{digest}").json()
        assert before["matchedBuild"] and before["rematchQueued"] is None
        assert api.service.run_pending(limit=1) == 1  # the update; its re-match is queued
        done = api.get(f"/jobs/{job['id']}").json()
        assert (done["kind"], done["status"], done["error"]) == ("advisories", "done", None)
        # while queued, the image names the build it waits for, not the update's marker
        queued = check(api.get(f"/images/{digest}").json(), "Image")
        assert queued["matchedBuild"] is None
        assert queued["rematchQueued"] not in (None, before["matchedBuild"])
        assert ":" not in queued["rematchQueued"] and queued["findings"] == []
        drain(api.service)
        after = api.get(f"/images/{digest}").json()
        assert (after["matchedBuild"], after["rematchQueued"]) == (queued["rematchQueued"], None)

        [finding] = api.get(f"/images/{digest}").json()["findings"]
        assert (finding["id"], finding["package"]["purl"]) == (URLLIB3_CVE, URLLIB3_PURL)
        assert [h["reason"].split()[:2] for h in finding["history"]] == [["advisory", "update"]]

        [delivery] = hook.deliveries
        assert delivery.signature_ok
        verify_signature(delivery.body, delivery.headers["x-hullcheck-signature"], SECRET)
        event = json.loads(delivery.body)
        assert event["event"] == "new-finding" and event["image"]["digest"] == digest
        assert event["finding"]["id"] == URLLIB3_CVE
        audit = api.get("/audit").json()["entries"]
        assert ("advisories.update", "admin-token") in {(e["action"], e["actor"]) for e in audit}


def test_a_dead_letter_is_listed_and_retried_by_an_admin(tmp_path: Path) -> None:
    with receiver(Reply(status=410, body=b"gone"), Reply(status=200),
                  secret=SECRET.encode()) as hook, running(
            tmp_path / "data", database_url=None, registry=None,
            extra_config=ALERTS.format(url=hook.url()), environ={"HOOK_SECRET": SECRET}) as api:
        digest = upload(api, tmp_path, "registry.example.org/shop/web:1.0", {"urllib3": "1.24.1"})
        drain(api.service)
        assert len(hook.deliveries) == 1  # answered 410: permanent, no retry

        assert api.get("/dead-letters", scope="write").status_code == 403
        letters = check(api.get("/dead-letters", scope="admin").json(), "Deliveries")["deliveries"]
        [dead] = letters
        assert (dead["channel"], dead["status"], dead["attempts"]) == ("ops", "dead", 1)
        assert "410" in dead["lastError"]
        assert (dead["event"]["type"], dead["event"]["imageDigest"]) == ("new-finding", digest)

        assert api.post(f"/dead-letters/{dead['id'] + 1000}/retry", scope="admin").json() == {
            "error": f"no dead letter {dead['id'] + 1000}"}
        r = api.post(f"/dead-letters/{dead['id']}/retry", scope="admin")
        assert r.status_code == 200 and r.json() == {"retried": dead["id"]}
        drain(api.service)
        assert len(hook.deliveries) == 2 and hook.deliveries[1].signature_ok
        assert hook.deliveries[1].body == hook.deliveries[0].body  # the same event, again
        assert api.get("/dead-letters", scope="admin").json() == {"deliveries": []}
        audit = api.get("/audit", target=f"delivery:{dead['id']}").json()["entries"]
        assert [(e["action"], e["actor"]) for e in audit] == [("delivery.retry", "admin-token")]
