"""Intake: the real registry's push notifications become scan jobs; owners from labels and
rules; deployments from kubectl; config mistakes are one line with file:line."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from hullcheck.errors import FormatError, UsageError
from hullcheck.model import ImageSource, Inventory
from hullcheck.monitor import convert, intake
from hullcheck.monitor.config import ConfigError
from hullcheck.monitor.service import Service
from tests.fixtures.registry import RunningRegistry, _config, _free_port, _wait_ready
from tests.monitor.receivers import Receiver, receiver
from tests.monitor.support import config, drain, osv_record, push_image, python_image, write_sources


@contextmanager
def notifying_registry(root: Path, hook: str) -> Iterator[RunningRegistry]:
    """Debian's docker-registry with a notification endpoint (its real envelopes)."""
    binary = shutil.which("docker-registry")
    assert binary is not None, "docker-registry is not installed"
    port = _free_port()
    cfg = _config(root, port, None)
    cfg["notifications"] = {"endpoints": [{"name": "hullcheck", "url": hook, "timeout": "2s",
                                           "threshold": 3, "backoff": "1s"}]}
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yml").write_text(yaml.safe_dump(cfg))
    log = root / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen([binary, "serve", str(root / "config.yml")], stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    reg = RunningRegistry(host=f"127.0.0.1:{port}", root=root, auth="none", process=process,
                          log_path=log)
    try:
        assert _wait_ready(reg), reg.log()
        yield reg
    finally:
        reg.stop()


def envelopes(hook: Receiver, digest: str) -> list[bytes]:
    """Wait (bounded) for the envelope announcing the manifest push of ``digest``."""
    for _ in range(300):
        found = [d.body for d in hook.deliveries if (digest.encode() in d.body
                 and b'"manifests' in d.body.replace(b"\\/", b"/")) or
                 (digest.encode() in d.body and b"manifest" in d.body)]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no notification for {digest}: {[d.body for d in hook.deliveries]}")


def test_a_push_to_the_registry_is_scanned(tmp_path: Path) -> None:
    write_sources(tmp_path, [osv_record("PYSEC-2018-28")])
    with receiver() as hook, notifying_registry(tmp_path / "reg", hook.url("/events")) as reg:
        cfg = config(f'registries: ["{reg.host}"]\nadvisories: {{sources: sources.yaml}}\n',
                     base=tmp_path)
        with Service.open(data_dir=tmp_path / "data", config=cfg) as svc:
            svc.update_advisories(requested_by="admin")
            drain(svc)
            digest = push_image(reg.host, "team/api:2.0", python_image({"requests": "2.19.0"}))
            jobs = []
            for body in envelopes(hook, digest):
                jobs += svc.ingest_registry_event(body)
            assert jobs
            assert svc.image(digest).status == "pending"  # type: ignore[union-attr]
            drain(svc)
            image = svc.image(digest)
            assert image is not None and image.status == "scanned"
            assert image.repository == f"{reg.host}/team/api"
            assert [t.tag for t in image.tags] == ["2.0"]
            assert [f.finding.advisory_id for f in image.findings] == ["CVE-2018-18074"]


def test_envelopes_that_are_not_pushes_or_not_envelopes() -> None:
    cfg = config("registries: [reg.example]\n", base=Path())
    pull = {"events": [{"action": "pull", "target": {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + "a" * 64, "repository": "app",
        "url": "https://reg.example/v2/app/manifests/sha256:" + "a" * 64}}]}
    assert intake.registry_pushes(json.dumps(pull).encode(), cfg, limit=1 << 20) == []
    blob = {"events": [{"action": "push", "target": {
        "mediaType": "application/octet-stream", "digest": "sha256:" + "a" * 64,
        "repository": "app", "url": "https://elsewhere.example/v2/app/blobs/x"}}]}
    assert intake.registry_pushes(json.dumps(blob).encode(), cfg, limit=1 << 20) == []
    for bad, message in [(b"[]", "expected a JSON object"),
                         (b'{"events": 3}', "expected {\"events\""),
                         (b"x" * 100, "larger than 50 bytes"),
                         (json.dumps({"events": [{"action": "push", "target": {
                             "mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "digest": "sha256:../../etc", "repository": "app",
                             "url": "https://reg.example/v2/"}}]}).encode(),
                          r"events\[0\]: target.digest must be sha256:<64 hex>")]:
        with pytest.raises(FormatError, match=message):
            intake.registry_pushes(bad, cfg, limit=50 if message.startswith("larger") else 1 << 20)


def test_owners_from_labels_then_rules() -> None:
    inv = Inventory(source=ImageSource(kind="registry", name="x", labels=(
        ("org.opencontainers.image.authors", "Ann <ann@example.org>"),
        ("org.opencontainers.image.source", "https://git.example/shop/web"))))
    assert convert.owners(inv, [(True, ("shop@example.org",)), (False, ("other@example.org",))]) \
        == ("Ann <ann@example.org>", "https://git.example/shop/web", "shop@example.org")
    assert convert.owners(Inventory(source=ImageSource(kind="registry", name="x")), []) == ()


def test_deployments_from_kubectl_replace_the_cluster(tmp_path: Path) -> None:
    digest = "sha256:" + "d" * 64
    pods = {"kind": "List", "items": [{
        "metadata": {"name": "web-5d8f7c9b6-abcde", "namespace": "shop",
                     "labels": {"pod-template-hash": "5d8f7c9b6"},
                     "ownerReferences": [{"kind": "ReplicaSet", "name": "web-5d8f7c9b6"}]},
        "status": {"containerStatuses": [
            {"name": "app", "imageID": f"docker-pullable://reg.example/web@{digest}"},
            {"name": "starting", "imageID": ""}]}}]}
    with Service.open(data_dir=tmp_path / "data", config=config("", base=tmp_path)) as svc:
        assert svc.ingest_deployments(json.dumps(pods).encode(), cluster="prod",
                                      requested_by="kubectl") == {"prod": 1}
        (dep,) = svc.store.deployments_of(digest)
        assert (dep.cluster, dep.namespace, dep.workload, dep.container) == \
            ("prod", "shop", "web", "app")
        rows = [{"cluster": "prod", "namespace": "shop", "workload": "api",
                 "digest": "sha256:" + "e" * 64}]
        assert svc.ingest_deployments(json.dumps(rows).encode(), requested_by="ci") == {"prod": 1}
        assert svc.store.deployments_of(digest) == ()  # the cluster was replaced
        with pytest.raises(UsageError, match="give cluster=NAME"):
            svc.ingest_deployments(json.dumps(pods).encode(), requested_by="kubectl")
        with pytest.raises(FormatError, match=r"deployments: \[0\]: digest must be"):
            svc.ingest_deployments(b'[{"cluster": "c", "namespace": "n", "workload": "w", '
                                   b'"digest": "latest"}]', requested_by="ci")


@pytest.mark.parametrize(("text", "message"), [
    ("registries: [{host: 'a b'}]\n", r"monitor.yaml:1: registries\[0\]: 'a b' is not a "
                                      r"registry host"),
    ("alerts:\n  - {name: x, when: new-findings, channels: [ops]}\n",
     r"monitor.yaml:2: alerts\[0\].when: unknown event 'new-findings'"),
    ("channels: [{name: ops, type: slack, url: 'https://h.example/x'}]\nalerts:\n"
     "  - {name: x, when: new-finding, channels: [opps]}\n",
     r"monitor.yaml:3: alerts\[0\].channels\[0\]: no channel named 'opps' \(channels: ops\)"),
    ("advisories: {update-every: soon}\n", r"monitor.yaml:1: advisories.update-every: must be "
                                           r"a duration"),
    ("polcy: p.yaml\n", r"monitor.yaml:1: polcy: unknown key"),
    ("policy: missing.yaml\n", r"monitor.yaml:1: policy: missing.yaml: no such file"),
    ("watch: [{repository: other.example/app}]\nregistries: [reg.example]\n",
     r"monitor.yaml:1: watch\[0\].repository: other.example is not in registries"),
    ("channels:\n  - {name: ops, type: webhook, url: 'https://h.example/', "
     "secret-env: NOT_SET}\n", r"monitor.yaml:2: channels\[0\] \(channel ops\): secret-env: "
                               r"the environment variable NOT_SET is not set"),
    ("a: [\n", r"monitor.yaml"),
    ("layer-cache: {max-size: lots}\n", r"monitor.yaml:1: layer-cache.max-size: must be a size"),
    ("layer-cache: {max-size: 1MiB}\n", r"monitor.yaml:1: layer-cache.max-size: must be at "
                                        r"least 16MiB"),
    ("layer-cache: {max-size: 99999999999999999999GiB}\n", r"layer-cache.max-size: must be a size"),
    ("layer-cache: {size: 2GiB}\n", r"monitor.yaml:1: layer-cache.size: unknown key"),
])
def test_config_mistakes_are_one_line_with_the_line(tmp_path: Path, text: str,
                                                    message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        config(text, base=tmp_path)
    assert "\n" not in str(caught.value)
