"""The service counts keyless signers (a Fulcio certificate for an identity, logged in Rekor)
as it counts keys: ``signatures.identities`` in the config. The image is signed by a
test-made Sigstore instance (``tests/fixtures/sigstore/mint.py``) and served by a real
registry; an image signed by another identity raises ``image-unsigned``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from hullcheck.monitor.config import ConfigError
from hullcheck.monitor.service import Service
from hullcheck.registry import RegistryClient
from hullcheck.sign.store import open_target
from tests.fixtures.registry import RunningRegistry
from tests.fixtures.sigstore.mint import GITHUB_ISSUER, MiniSigstore, attach
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

RELEASE = "https://github.com/example/app/.github/workflows/release.yml@refs/tags/v1"
OTHER = "https://github.com/someone/else/.github/workflows/x.yml@refs/heads/main"
SUFFIX = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def sigstore_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[MiniSigstore, Path]:
    instance = MiniSigstore()
    return instance, instance.write_trusted_root(tmp_path_factory.mktemp("tsig") / "root.json")


def _signed_image(registry: RunningRegistry, instance: MiniSigstore, name: str,
                  identity: str) -> tuple[str, str]:
    ref = f"{registry.host}/{name}:1"
    digest = push_image(registry.host, f"{name}:1", python_image({"six": "1.16.0"}, extra={"app/name": name}))
    with RegistryClient() as client:
        target = open_target(ref, client=client)
        attach(target, instance.sign(target.docker_reference, digest, identity))
    return ref, digest


def _config_text(registry: RunningRegistry, hook: str, root: Path) -> str:
    return f"""
registries: ["{registry.host}"]
advisories: {{sources: sources.yaml}}
channels: [{{name: ops, type: webhook, url: "{hook}", secret-env: HOOK_SECRET}}]
alerts: [{{name: mine, when: [image-unsigned], channels: [ops]}}]
signatures:
  identities:
    - {{identity: "{RELEASE}", issuer: "{GITHUB_ISSUER}"}}
  trustedRoot: {root}
"""


def test_keyless_signers_count_and_others_raise_image_unsigned(
        tmp_path: Path, registry: RunningRegistry,
        sigstore_root: tuple[MiniSigstore, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HULLCHECK_OFFLINE", "1")
    instance, root = sigstore_root
    write_sources(tmp_path, [osv_record("PYSEC-2018-28")])
    good_ref, good = _signed_image(registry, instance, f"keyless/good-{SUFFIX}", RELEASE)
    bad_ref, bad = _signed_image(registry, instance, f"keyless/bad-{SUFFIX}", OTHER)
    with receiver(secret=HOOK_SECRET.encode()) as hook:
        cfg = config(_config_text(registry, hook.url(), root), base=tmp_path)
        with Service.open(data_dir=tmp_path / "data", config=cfg) as svc:
            svc.update_advisories(requested_by="admin")
            drain(svc)
            svc.submit_scan(good_ref, requested_by="ci")
            svc.submit_scan(bad_ref, requested_by="ci")
            drain(svc)
            row = svc.image(good)
            assert row is not None
            assert [(s["identity"], s["issuer"]) for s in row.signatures] == [
                (RELEASE, GITHUB_ISSUER)]
            other = svc.image(bad)
            assert other is not None and other.signatures == ()
            events = [json.loads(d.body) for d in hook.deliveries]
    assert [(e["event"], e["image"]["digest"]) for e in events] == [("image-unsigned", bad)]
    assert events[0]["identities"] and RELEASE in events[0]["identities"][0]


def test_trusted_root_without_identities_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "root.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"signatures\.trustedRoot.*only used with identities"):
        config("signatures: {trustedRoot: root.json}\n", base=tmp_path)


def test_an_identity_needs_an_issuer(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"signatures\.identities"):
        config(f"signatures: {{identities: [{{identity: \"{RELEASE}\"}}]}}\n", base=tmp_path)
