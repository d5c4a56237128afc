"""The monitor's own events, from real images in the real registry: secret-found (first scan
only), image-unsigned (signature keys configured, none signed), policy-failed, base-stale
(the base's tag moved: the re-check assesses again, with rebuild advice), and the registry
watch scanning new tags."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hullcheck.image.writer import ImageBuilder
from hullcheck.monitor import workers
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

GH_TOKEN = "ghp_" + "Zq8Lr2Xv5Nm1Kc7Pt4Wy9Hb3Jd6Fs0Ga2Qe7"  # github token shape, not a real one
POLICY = """apiVersion: hullcheck/v1
kind: Policy
metadata: {name: production}
rules:
  - {id: no-secrets, type: secrets}
"""

SUFFIX = uuid.uuid4().hex[:8]  # repository names unique in the session's registry


@contextmanager
def counting_server() -> Iterator[tuple[int, list[str]]]:
    """An HTTP server on 127.0.0.1 that records every request it gets (and answers 404)."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            asked.append(f"{self.command} {self.path}")
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD = do_POST = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], asked
    finally:
        server.shutdown()


def events_config(registry: RunningRegistry, hook: str, extra: str = "") -> str:
    return f"""
registries: ["{registry.host}"]
advisories: {{sources: sources.yaml}}
channels: [{{name: ops, type: webhook, url: "{hook}", secret-env: HOOK_SECRET}}]
alerts:
  - {{name: mine, when: [secret-found, image-unsigned, policy-failed, base-stale],
     channels: [ops]}}
{extra}"""


def received(hook: object) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for d in hook.deliveries:  # type: ignore[attr-defined]
        assert d.signature_ok
        event = json.loads(d.body)
        out.setdefault(event["event"], []).append(event)
    return out


def test_secret_unsigned_and_policy_events(tmp_path: Path, registry: RunningRegistry,
                                           key_files: tuple[Path, Path, Path]) -> None:
    write_sources(tmp_path, [osv_record("PYSEC-2018-28")])
    (tmp_path / "policy.yaml").write_text(POLICY)
    _, public, _ = key_files
    image = python_image({"requests": "2.19.0"}, extra={"app/ci.sh": f"export GH_TOKEN={GH_TOKEN}\n"})
    name = f"events/app-{SUFFIX}"
    digest = push_image(registry.host, f"{name}:1", image)
    with receiver(secret=HOOK_SECRET.encode()) as hook:
        text = events_config(registry, hook.url(), f"policy: policy.yaml\n"
                             f"signatures: {{keys: [{public}]}}\n")
        with Service.open(data_dir=tmp_path / "data", config=config(text, base=tmp_path)) as svc:
            svc.update_advisories(requested_by="admin")
            drain(svc)
            svc.submit_scan(f"{registry.host}/{name}:1", requested_by="ci")
            drain(svc)
            got = received(hook)
            assert sorted(got) == ["image-unsigned", "policy-failed", "secret-found"]
            secret = got["secret-found"][0]
            assert secret["count"] == 1 and secret["image"]["digest"] == digest
            assert GH_TOKEN not in json.dumps(secret)  # redacted
            assert got["policy-failed"][0]["policy"]["outcome"] == "fail"
            image_row = svc.image(digest)
            assert image_row is not None and image_row.policy is not None
            assert image_row.signatures == ()
            # A rescan (forced by a new tag) raises none of them again.
            svc.submit_scan(f"{registry.host}/{name}@{digest}", requested_by="ci")
            drain(svc)
            assert sum(len(v) for v in received(hook).values()) == 3


def test_a_moved_base_makes_its_images_base_stale(tmp_path: Path,
                                                  registry: RunningRegistry) -> None:
    write_sources(tmp_path, [osv_record("PYSEC-2018-28")])
    suffix = SUFFIX
    base_v1 = python_image({"requests": "2.19.0"})
    base_ref = f"{registry.host}/events/base-{suffix}:12"
    base_digest = push_image(registry.host, f"events/base-{suffix}:12", base_v1)
    # The app: the base's layers, then its own; the base named by the OCI annotations.
    b = ImageBuilder(annotations={"org.opencontainers.image.base.name": base_ref,
                                  "org.opencontainers.image.base.digest": base_digest})
    b.add_layer({"etc/os-release": "ID=debian\nVERSION_ID=\"12\"\n"}, created_by="base")
    b.add_layer({"usr/lib/python3/dist-packages/requests-2.19.0.dist-info/METADATA":
                 "Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\n\nbody\n"},
                created_by="pip install")
    b.add_layer({"app/main.py": "print('hi')\n"}, created_by="COPY app")
    app = b.build()
    app_digest = push_image(registry.host, f"events/app-{suffix}:1", app)
    with receiver(secret=HOOK_SECRET.encode()) as hook:
        text = events_config(registry, hook.url(), "")
        with Service.open(data_dir=tmp_path / "data", config=config(text, base=tmp_path)) as svc:
            svc.update_advisories(requested_by="admin")
            drain(svc)
            svc.submit_scan(f"{registry.host}/events/app-{suffix}:1", requested_by="ci")
            drain(svc)
            stored = svc.image(app_digest)
            assert stored is not None and stored.base is not None
            assert stored.base["freshness"]["upToDate"] is True, stored.base
            svc.ctx.store.enqueue("base", {})
            drain(svc)
            assert "base-stale" not in received(hook)  # the tag has not moved

            # The base is rebuilt: its tag now points at a new digest (requests fixed).
            push_image(registry.host, f"events/base-{suffix}:12",
                       python_image({"requests": "2.20.0"}))
            svc.ctx.store.enqueue("base", {})
            drain(svc)
            stale = received(hook)["base-stale"]
            assert len(stale) == 1 and stale[0]["image"]["digest"] == app_digest
            assert stale[0]["freshness"]["upToDate"] is False
            assert stale[0]["advice"]["fixedBySeverity"], stale[0]
            svc.ctx.store.enqueue("base", {})
            drain(svc)
            assert len(received(hook)["base-stale"]) == 1  # once, not on every re-check


def test_a_watched_repository_is_polled(tmp_path: Path, registry: RunningRegistry) -> None:
    write_sources(tmp_path, [osv_record("PYSEC-2018-28")])
    repo = f"events/watched-{SUFFIX}"
    one = push_image(registry.host, f"{repo}:1.0", python_image({"requests": "2.19.0"}))
    push_image(registry.host, f"{repo}:dev", python_image({"requests": "2.18.0"}))
    text = f"""
registries: ["{registry.host}"]
advisories: {{sources: sources.yaml, update-every: 6h}}
watch: [{{repository: "{registry.host}/{repo}", tags: ["1.*"], every: 10m}}]
"""
    with Service.open(data_dir=tmp_path / "data", config=config(text, base=tmp_path)) as svc:
        # The schedules queue the advisory update, the base re-check and the watch.
        assert workers.schedule_due(svc.ctx) == 3
        assert workers.schedule_due(svc.ctx) == 0  # queued already
        drain(svc)
        page = svc.images(f"{registry.host}/{repo}")
        assert [(i.digest, i.tags, i.status) for i in page.images] == [(one, ("1.0",), "scanned")]
        two = push_image(registry.host, f"{repo}:1.1", python_image({"requests": "2.31.0"}))
        assert workers.schedule_due(svc.ctx) == 0  # polled less than 10 minutes ago
        svc.ctx.store.enqueue("watch", {"repository": f"{registry.host}/{repo}"})
        drain(svc)
        digests = {i.digest for i in svc.images(f"{registry.host}/{repo}").images}
        assert digests == {one, two}


def test_a_base_named_in_another_registry_is_not_contacted(tmp_path: Path,
                                                           registry: RunningRegistry) -> None:
    """An image's author names its base; a base in a registry the config does not list is
    never fetched (a real HTTP server there counts the requests it gets: none)."""
    write_sources(tmp_path, [osv_record("PYSEC-2018-28")])
    with counting_server() as (port, asked):
        b = ImageBuilder(annotations={
            "org.opencontainers.image.base.name": f"127.0.0.1:{port}/internal/base:1",
            "org.opencontainers.image.base.digest": "sha256:" + "b" * 64})
        b.add_layer({"etc/os-release": "ID=debian\nVERSION_ID=\"12\"\n"}, created_by="base")
        digest = push_image(registry.host, f"events/claims-{SUFFIX}:1", b.build())
        (tmp_path / "policy.yaml").write_text(
            "apiVersion: hullcheck/v1\nkind: Policy\nmetadata: {name: p}\nrules:\n"
            "  - {id: fresh, type: base, maxDaysBehind: 30}\n")
        text = f'registries: ["{registry.host}"]\nadvisories: {{sources: sources.yaml}}\n' \
               "policy: policy.yaml\n"
        with Service.open(data_dir=tmp_path / "data", config=config(text, base=tmp_path)) as svc:
            svc.update_advisories(requested_by="admin")
            drain(svc)
            svc.submit_scan(f"{registry.host}/events/claims-{SUFFIX}:1", requested_by="ci")
            drain(svc)
            image = svc.image(digest)
            assert image is not None and image.base is not None and image.policy is not None
            assert "not in the service's registries: not contacted" in image.base["notes"][0]
            assert image.policy["outcome"] == "error"
        assert asked == []
