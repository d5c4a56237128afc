"""Credentials stay with the registry they belong to: --username/--password-stdin and
HULLCHECK_REGISTRY_* go only to the registry of the image named on the command line; any
other host (a base image's registry named by an image label) gets only what Docker's
config.json holds for it. Real registries (Debian's docker-registry) and a hostile one on
127.0.0.1 that records every Authorization header it receives."""

from __future__ import annotations

import base64
import io
import json
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hullcheck.base.identify import BASE_DIGEST, BASE_NAME
from hullcheck.cli.main import main
from hullcheck.errors import AuthError
from hullcheck.image import PullOptions
from hullcheck.image.remote import make_client
from hullcheck.image.writer import ImageBuilder, push
from hullcheck.registry.auth import Credentials, scoped_credentials
from hullcheck.registry.client import RegistryClient
from hullcheck.registry.reference import parse_reference
from tests.fixtures.registry import RunningRegistry
from tests.registry._servers import Server, reply, serve

OS = {"etc/os-release": "ID=alpine\nVERSION_ID=3.20.0\n"}
ENV_USER, ENV_PASS = "HULLCHECK_REGISTRY_USERNAME", "HULLCHECK_REGISTRY_PASSWORD"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def hostile() -> Iterator[Server]:
    """A registry that asks everyone for a username and password, and keeps what it gets."""
    with serve(lambda h: reply(h, 401, b"{}", {"WWW-Authenticate": 'Basic realm="give me"'})) as s:
        yield s


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """Point DOCKER_CONFIG at an empty config; call it with {host: "user:password"} to fill it."""
    directory = tmp_path / "docker"
    directory.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    monkeypatch.delenv(ENV_USER, raising=False)
    monkeypatch.delenv(ENV_PASS, raising=False)

    def write(entries: dict[str, str]) -> None:
        auths = {host: {"auth": base64.b64encode(up.encode()).decode()} for host, up in entries.items()}
        (directory / "config.json").write_text(json.dumps({"auths": auths}))

    return write


def push_app(reg: RunningRegistry, base_name: str) -> str:
    """An image on ``reg`` whose labels say it was built on ``base_name``."""
    labels = {BASE_NAME: base_name, BASE_DIGEST: "sha256:" + "ab" * 32}
    image = ImageBuilder(labels=labels).add_layer(OS).build()
    ref = parse_reference(f"{reg.host}/scope/app-{secrets.token_hex(4)}:1")
    with RegistryClient(credentials=Credentials(username=reg.username, password=reg.password)) as c:
        push(c, ref, image)
    return str(ref)


def run_base(image: str, args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code = main(["base", image, "-o", "json", "--no-advice", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc: dict[str, object] = json.loads(out)
    return doc


@pytest.mark.parametrize("how", ["--username", "environment"])
def test_base_label_naming_another_registry_gets_no_credentials(
    how: str, registry_basic: RunningRegistry, hostile: Server, docker_config: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    app = push_app(registry_basic, f"{hostile.host}/evil/base:1")
    if how == "--username":
        monkeypatch.setattr(sys, "stdin", io.StringIO(registry_basic.password + "\n"))
        args = ["--username", registry_basic.username, "--password-stdin"]
    else:
        monkeypatch.setenv(ENV_USER, registry_basic.username)
        monkeypatch.setenv(ENV_PASS, registry_basic.password)
        args = []
    doc = run_base(app, args, capsys)
    # The image itself was read with the credentials (from its own registry)...
    assert doc["base"]["name"] == f"{hostile.host}/evil/base"  # type: ignore[index]
    # ...and the registry its label names asked for credentials and got none.
    assert hostile.seen, "the base's registry was never asked"
    assert hostile.authorizations() == []
    assert any("could not read the claimed base" in n for n in doc["notes"])  # type: ignore[attr-defined]


def test_base_label_registry_gets_its_own_docker_config_entry(
    registry_basic: RunningRegistry, hostile: Server, docker_config: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    app = push_app(registry_basic, f"{hostile.host}/evil/base:1")
    docker_config({hostile.host: "cfguser:cfgpw"})
    monkeypatch.setenv(ENV_USER, registry_basic.username)
    monkeypatch.setenv(ENV_PASS, registry_basic.password)
    run_base(app, [], capsys)
    # Docker's config applies by host, as Docker does: that entry, and only it, went there.
    assert hostile.authorizations()
    assert set(hostile.authorizations()) == {basic("cfguser", "cfgpw")}


def test_pull_options_without_a_registry_mean_docker_config_only(
    registry_basic: RunningRegistry, docker_config: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the admission webhook builds: the environment's credentials go nowhere."""
    monkeypatch.setenv(ENV_USER, registry_basic.username)
    monkeypatch.setenv(ENV_PASS, registry_basic.password)
    app = push_app(registry_basic, "example.org/base:1")
    with make_client(PullOptions()) as client, pytest.raises(AuthError, match="requires a username"):
        client.resolve(parse_reference(app))
    docker_config({registry_basic.host: f"{registry_basic.username}:{registry_basic.password}"})
    with make_client(PullOptions()) as client:
        assert client.resolve(parse_reference(app)).startswith("sha256:")


def test_explicit_credentials_need_a_registry() -> None:
    with pytest.raises(ValueError, match="need the registry they belong to"):
        PullOptions(username="u", password="p")


@pytest.mark.parametrize(
    ("registry", "host", "explicit"),
    [
        ("docker.io", "registry-1.docker.io", True),
        ("docker.io", "index.docker.io", True),
        ("index.docker.io", "docker.io", True),
        ("Example.org:5000", "example.org:5000", True),
        ("example.org:5000", "example.org", False),  # another port is another registry
        ("example.org", "auth.example.org", False),
        ("docker.io", "quay.io", False),
        (None, "docker.io", False),
    ],
)
def test_scoped_lookup_compares_normalized_hosts(
    registry: str | None, host: str, explicit: bool, tmp_path: Path
) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path), ENV_USER: "envuser", ENV_PASS: "envpw"}
    with_flags = scoped_credentials(registry, username="me", password="pw", env=env)
    from_env = scoped_credentials(registry, env=env)
    got, got_env = with_flags(host), from_env(host)
    if explicit:
        assert got is not None and (got.username, got.source) == ("me", "explicit")
        assert got_env is not None and (got_env.username, got_env.source) == ("envuser", "environment")
    else:
        assert got is None and got_env is None  # the config is empty


def test_other_hosts_get_their_docker_config_entry(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(
        {"auths": {"other.example": {"auth": base64.b64encode(b"cfg:cfgpw").decode()}}}))
    env = {"DOCKER_CONFIG": str(tmp_path), ENV_USER: "envuser", ENV_PASS: "envpw"}
    lookup = scoped_credentials("mine.example", username="me", password="pw", env=env)
    other = lookup("other.example")
    assert other is not None and (other.username, other.password) == ("cfg", "cfgpw")


# -- the command line ----------------------------------------------------------------------


def test_username_for_a_file_source_is_a_usage_error(
    make_image: Callable[..., str], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = make_image(OS)
    monkeypatch.setattr(sys, "stdin", io.StringIO("secret\n"))
    assert main(["sbom", image, "--username", "u", "--password-stdin", "-o", "json"]) == 2
    err = capsys.readouterr()[1]
    assert f"{image} is not a registry reference" in err
    assert "hint: registry credentials go only to the registry of the image named" in err
    assert sys.stdin.read() == "secret\n"  # not even read
    # The environment's credentials are ambient: with a file source they simply apply nowhere.
    monkeypatch.setenv(ENV_USER, "u")
    monkeypatch.setenv(ENV_PASS, "p")
    assert main(["sbom", image, "-o", "json", "-q"]) == 0


def test_username_for_images_on_two_registries_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    code = main(["base", "add", "one.example/a:1", "two.example/b:1", "--username", "u",
                 "--catalog", str(tmp_path / "c.json")])
    assert code == 2
    assert "on different registries (one.example, two.example)" in capsys.readouterr()[1]


def test_password_stdin_needs_a_username(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_USER, raising=False)
    assert main(["sbom", "example.org/a:1", "--password-stdin"]) == 2
    assert "--password-stdin needs --username" in capsys.readouterr()[1]
