"""Pull images from a real registry (Debian's docker-registry) through every auth mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hullcheck import catalog, filetree
from hullcheck.cli.main import main
from hullcheck.image import Platform, PullOptions, open_image
from hullcheck.image.writer import ImageBuilder, push, push_index
from hullcheck.registry.auth import Credentials
from hullcheck.registry.client import RegistryClient
from hullcheck.registry.reference import parse_reference
from tests.fixtures.registry import RunningRegistry

OS = {"etc/os-release": "ID=alpine\nVERSION_ID=3.20.0\n"}


def _push(reg: RunningRegistry, repo: str, *, creds: Credentials | None = None) -> str:
    img = ImageBuilder().add_layer(OS).add_layer({"srv/app": "v1"}, compression="zstd").build()
    ref = parse_reference(f"{reg.host}/{repo}:1.0")
    with RegistryClient(credentials=creds) as client:
        push(client, ref, img)
    return img.config_digest


def test_pull_anonymous(registry: RunningRegistry) -> None:
    cfg = _push(registry, "team/app")
    image = open_image(f"{registry.host}/team/app:1.0")
    assert image.source.kind == "registry"
    assert image.source.config_digest == cfg
    assert image.source.repo_digests[0].startswith(f"{registry.host}/team/app@sha256:")
    tree = filetree.build(image, [*catalog.globs_for(), "/srv/*"])
    assert tree.view().read("/srv/app") == b"v1"
    assert catalog.run(tree, image.source).distro.version_id == "3.20.0"  # type: ignore[union-attr]


def test_pull_by_digest(registry: RunningRegistry) -> None:
    _push(registry, "team/bydigest")
    first = open_image(f"registry:{registry.host}/team/bydigest:1.0")
    pinned = open_image(f"{registry.host}/team/bydigest@{first.source.manifest_digest}")
    assert pinned.source.config_digest == first.source.config_digest


def test_pull_with_basic_auth(registry_basic: RunningRegistry, monkeypatch: pytest.MonkeyPatch,
                              tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # no stray credentials
    creds = Credentials(username=registry_basic.username, password=registry_basic.password)
    cfg = _push(registry_basic, "secure/app", creds=creds)
    ok = PullOptions(username=registry_basic.username, password=registry_basic.password,
                     registry=registry_basic.host)
    assert open_image(f"{registry_basic.host}/secure/app:1.0", pull=ok).source.config_digest == cfg
    code = main(["sbom", f"{registry_basic.host}/secure/app:1.0", "-o", "json", "-q"])
    assert code == 2  # no credentials: a clear error, exit 2


def test_pull_with_token_auth_and_docker_config(
    registry_token: RunningRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    import base64

    creds = Credentials(username=registry_token.username, password=registry_token.password)
    cfg = _push(registry_token, "tok/app", creds=creds)
    auth = base64.b64encode(f"{registry_token.username}:{registry_token.password}".encode())
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {registry_token.host: {"auth": auth.decode()}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert main(["sbom", f"{registry_token.host}/tok/app:1.0", "-o", "json", "-q"]) == 0
    assert json.loads(capsys.readouterr()[0])["source"]["configDigest"] == cfg


def test_password_stdin(registry_basic: RunningRegistry, tmp_path: Path) -> None:
    creds = Credentials(username=registry_basic.username, password=registry_basic.password)
    _push(registry_basic, "stdin/app", creds=creds)
    exe = Path(sys.executable).with_name("hullcheck")
    proc = subprocess.run(
        [str(exe), "sbom", f"{registry_basic.host}/stdin/app:1.0", "-o", "json",
         "--username", registry_basic.username, "--password-stdin"],
        input=registry_basic.password + "\n", capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin", "DOCKER_CONFIG": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["distro"]["id"] == "alpine"


def test_multi_platform_index(registry: RunningRegistry) -> None:
    amd = ImageBuilder(architecture="amd64").add_layer({**OS, "arch": "amd64"}).build()
    arm = ImageBuilder(architecture="arm64").add_layer({**OS, "arch": "arm64"}).build()
    ref = parse_reference(f"{registry.host}/multi/app:2")
    with RegistryClient() as client:
        push_index(client, ref, [amd, arm])
    got = open_image(str(ref), platform=Platform.parse("linux/arm64"))
    assert got.source.config_digest == arm.config_digest
    got = open_image(str(ref), platform=Platform.parse("linux/amd64"))
    assert got.source.config_digest == amd.config_digest


def test_unknown_repository_is_one_error_line(registry: RunningRegistry,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sbom", f"{registry.host}/does/not:exist", "-q"]) == 2
    err = capsys.readouterr()[1]
    assert err.startswith("hullcheck: error: ") and "Traceback" not in err
