"""Credential lookup (explicit, environment, Docker config, credential helpers) and
WWW-Authenticate parsing."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from hullcheck.errors import AuthError
from hullcheck.registry.auth import Credentials, lookup_credentials, normalize_host
from hullcheck.registry.challenge import parse_challenges, pick_challenge


def write_config(directory: Path, doc: dict[str, object]) -> dict[str, str]:
    """A Docker config dir holding ``doc``; returns an environment pointing at it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(doc))
    return {"DOCKER_CONFIG": str(directory), "PATH": os.environ.get("PATH", "")}


def install_helper(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# A helper in the protocol's shape: reads the server URL on stdin, records it, answers JSON
# for the one server it knows and "credentials not found" otherwise.
HELPER = """read url
printf '%s\\n' "$url" >> "{log}"
if [ "$url" = "{known}" ]; then
  printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{secret}"}}' "$url"
else
  echo "credentials not found in native keychain"; exit 1
fi
"""


def test_explicit_credentials_win(tmp_path: Path) -> None:
    env = write_config(tmp_path, {"auths": {"r.example": {"auth": b64("cfg:cfgpw")}}})
    env |= {"HULLCHECK_REGISTRY_USERNAME": "envuser", "HULLCHECK_REGISTRY_PASSWORD": "envpw"}
    creds = lookup_credentials("r.example", username="me", password="pw", env=env)
    assert creds == Credentials(username="me", password="pw", source="explicit")


def test_environment_before_docker_config(tmp_path: Path) -> None:
    env = write_config(tmp_path, {"auths": {"r.example": {"auth": b64("cfg:cfgpw")}}})
    env |= {"HULLCHECK_REGISTRY_USERNAME": "envuser", "HULLCHECK_REGISTRY_PASSWORD": "envpw"}
    creds = lookup_credentials("r.example", env=env)
    assert creds is not None
    assert (creds.username, creds.password) == ("envuser", "envpw")


def test_half_set_environment_is_an_error(tmp_path: Path) -> None:
    env = write_config(tmp_path, {}) | {"HULLCHECK_REGISTRY_USERNAME": "only-user"}
    with pytest.raises(AuthError, match="HULLCHECK_REGISTRY_PASSWORD"):
        lookup_credentials("r.example", env=env)


def test_auths_base64_entry(tmp_path: Path) -> None:
    env = write_config(tmp_path, {"auths": {"https://r.example:5000": {"auth": b64("alice:s3:cret")}}})
    creds = lookup_credentials("r.example:5000", env=env)
    assert creds is not None
    # The password may contain ':'; only the first one separates.
    assert (creds.username, creds.password) == ("alice", "s3:cret")
    assert lookup_credentials("other.example", env=env) is None


def test_auths_username_password_and_identity_token(tmp_path: Path) -> None:
    env = write_config(
        tmp_path,
        {
            "auths": {
                "a.example": {"username": "bob", "password": "pw"},
                "b.example": {"identitytoken": "refresh-me"},
            }
        },
    )
    a = lookup_credentials("a.example", env=env)
    b = lookup_credentials("b.example", env=env)
    assert a is not None and (a.username, a.password) == ("bob", "pw")
    assert b is not None and b.identity_token == "refresh-me" and not b.basic_usable


def test_docker_hub_key_matches_docker_io(tmp_path: Path) -> None:
    env = write_config(tmp_path, {"auths": {"https://index.docker.io/v1/": {"auth": b64("hubuser:hubpw")}}})
    creds = lookup_credentials("docker.io", env=env)
    assert creds is not None and creds.username == "hubuser"
    assert lookup_credentials("registry-1.docker.io", env=env) == creds
    assert normalize_host("https://index.docker.io/v1/") == "docker.io"


def test_malformed_auth_entry_names_the_file(tmp_path: Path) -> None:
    env = write_config(tmp_path, {"auths": {"r.example": {"auth": "%%%not-base64"}}})
    with pytest.raises(AuthError, match=r"config\.json: 'auth' for r\.example"):
        lookup_credentials("r.example", env=env)


def test_unreadable_config_is_an_auth_error(tmp_path: Path) -> None:
    tmp_path.joinpath("config.json").write_text("{not json")
    with pytest.raises(AuthError, match="not valid JSON"):
        lookup_credentials("r.example", env={"DOCKER_CONFIG": str(tmp_path)})


def test_missing_config_means_no_credentials(tmp_path: Path) -> None:
    assert lookup_credentials("r.example", env={"DOCKER_CONFIG": str(tmp_path / "none")}) is None


def test_cred_helper_per_registry(tmp_path: Path) -> None:
    log = tmp_path / "asked.txt"
    install_helper(
        tmp_path / "bin",
        "test",
        HELPER.format(log=log, known="r.example:5000", user="helperuser", secret="helperpw"),
    )
    env = write_config(tmp_path / "cfg", {"credHelpers": {"r.example:5000": "test"}})
    env["PATH"] = f"{tmp_path / 'bin'}:{env['PATH']}"
    creds = lookup_credentials("r.example:5000", env=env)
    assert creds is not None
    assert (creds.username, creds.password) == ("helperuser", "helperpw")
    assert creds.source == "helper docker-credential-test"
    assert log.read_text().splitlines() == ["r.example:5000"]


def test_creds_store_asks_docker_hub_by_its_server_url(tmp_path: Path) -> None:
    log = tmp_path / "asked.txt"
    install_helper(
        tmp_path / "bin",
        "test",
        HELPER.format(log=log, known="https://index.docker.io/v1/", user="hub", secret="pw"),
    )
    env = write_config(tmp_path / "cfg", {"auths": {"https://index.docker.io/v1/": {}}, "credsStore": "test"})
    env["PATH"] = f"{tmp_path / 'bin'}:{env['PATH']}"
    creds = lookup_credentials("docker.io", env=env)
    assert creds is not None and creds.username == "hub"
    # A host the store does not know: "credentials not found" means none, not an error.
    assert lookup_credentials("elsewhere.example", env=env) is None
    assert log.read_text().splitlines() == ["https://index.docker.io/v1/", "elsewhere.example"]


def test_helper_identity_token(tmp_path: Path) -> None:
    install_helper(
        tmp_path / "bin",
        "test",
        HELPER.format(log=tmp_path / "log", known="r.example", user="<token>", secret="tok"),
    )
    env = write_config(tmp_path / "cfg", {"credsStore": "test"})
    env["PATH"] = f"{tmp_path / 'bin'}:{env['PATH']}"
    creds = lookup_credentials("r.example", env=env)
    assert creds is not None and creds.identity_token == "tok" and creds.username == ""


def test_failing_helper_names_the_helper(tmp_path: Path) -> None:
    install_helper(tmp_path / "bin", "broken", "echo 'keychain is locked' >&2; exit 3\n")
    env = write_config(tmp_path / "cfg", {"credHelpers": {"r.example": "broken"}})
    env["PATH"] = f"{tmp_path / 'bin'}:{env['PATH']}"
    with pytest.raises(
        AuthError, match=r"docker-credential-broken for r\.example exited 3: keychain is locked"
    ):
        lookup_credentials("r.example", env=env)


def test_missing_helper_names_the_helper(tmp_path: Path) -> None:
    env = write_config(tmp_path / "cfg", {"credHelpers": {"r.example": "nonexistent"}})
    env["PATH"] = str(tmp_path / "empty-bin")
    with pytest.raises(AuthError, match=r"docker-credential-nonexistent .* not installed"):
        lookup_credentials("r.example", env=env)


def test_helper_printing_garbage(tmp_path: Path) -> None:
    install_helper(tmp_path / "bin", "garbage", "echo 'not json'\n")
    env = write_config(tmp_path / "cfg", {"credsStore": "garbage"})
    env["PATH"] = f"{tmp_path / 'bin'}:{env['PATH']}"
    with pytest.raises(AuthError, match=r"docker-credential-garbage .* not valid JSON"):
        lookup_credentials("r.example", env=env)


def test_bearer_challenge_with_commas_in_scope() -> None:
    header = (
        'Bearer realm="https://auth.example/token",service="reg.example",'
        'scope="repository:team/app:pull,push"'
    )
    (challenge,) = parse_challenges(header)
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.example/token"
    assert challenge.get("service") == "reg.example"
    assert challenge.get("scope") == "repository:team/app:pull,push"


def test_bearer_preferred_over_basic() -> None:
    challenge = pick_challenge('Basic realm="r", Bearer realm="https://t.example/token"')
    assert challenge is not None and challenge.scheme == "bearer"
    assert challenge.realm == "https://t.example/token"
    assert pick_challenge("Negotiate abc") is None
    assert pick_challenge("") is None


# -- each refusal as its line, and the helper protocol (mutation testing found these open) --


def _helper_env(tmp_path: Path, name: str, script: str) -> dict[str, str]:
    install_helper(tmp_path / "bin", name, script)
    env = write_config(tmp_path / "cfg", {"credHelpers": {"r.example": name}})
    env["PATH"] = f"{tmp_path / 'bin'}:{env['PATH']}"
    return env


def test_config_credentials_name_the_file_they_came_from(tmp_path: Path) -> None:
    env = write_config(tmp_path, {"auths": {"r.example": {"auth": b64("alice:pw")},
                                            "u.example": {"username": "bob"}}})
    creds = lookup_credentials("r.example", env=env)
    assert creds == Credentials(username="alice", password="pw",
                                source=str(tmp_path / "config.json"))
    # A username alone is that user's entry, not a placeholder for the credsStore.
    assert lookup_credentials("u.example", env=env) == Credentials(
        username="bob", source=str(tmp_path / "config.json"))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"auth": b64("alice:pw")[:-1] + "*="}, "'auth' for r.example is not base64 of user:password"),
        ({"auth": "YWxp Y2U6cHc="}, "'auth' for r.example is not base64 of user:password"),
        ({"auth": b64("alice")}, "'auth' for r.example has no ':' separator"),
        ({"username": "bob", "password": 7}, "malformed credentials for r.example"),
        ({"identitytoken": ["t"]}, "malformed credentials for r.example"),
    ],
)
def test_malformed_auths_entries_are_one_line_each(tmp_path: Path, entry: dict[str, object],
                                                   message: str) -> None:
    """base64 with characters outside its alphabet is refused, not read with them dropped."""
    env = write_config(tmp_path, {"auths": {"r.example": entry}})
    with pytest.raises(AuthError) as caught:
        lookup_credentials("r.example", env=env)
    assert str(caught.value) == f"Docker config {tmp_path / 'config.json'}: {message}"


def test_helpers_are_asked_with_get(tmp_path: Path) -> None:
    log = tmp_path / "argv"
    env = _helper_env(tmp_path, "argv", f'echo "$@" > "{log}"\n'
                      'printf \'{"Username":"u","Secret":"s"}\'\n')
    creds = lookup_credentials("r.example", env=env)
    assert creds == Credentials(username="u", password="s", source="helper docker-credential-argv")
    assert log.read_text() == "get\n"


def test_a_token_from_a_helper_names_the_helper(tmp_path: Path) -> None:
    env = _helper_env(tmp_path, "tok", 'printf \'{"Username":"<token>","Secret":"t"}\'\n')
    assert lookup_credentials("r.example", env=env) == Credentials(
        identity_token="t", source="helper docker-credential-tok")


@pytest.mark.parametrize("answer", ['{"Username":"u"}', '{"Secret":"s"}', '{"Username":1,"Secret":"s"}'])
def test_a_helper_answer_without_both_fields_is_refused(tmp_path: Path, answer: str) -> None:
    env = _helper_env(tmp_path, "half", f"printf '{answer}'\n")
    with pytest.raises(AuthError) as caught:
        lookup_credentials("r.example", env=env)
    assert str(caught.value) == ("credential helper docker-credential-half for r.example "
                                 "gave no Username/Secret")


def test_helper_output_that_is_not_utf8_is_an_auth_error_not_a_crash(tmp_path: Path) -> None:
    env = _helper_env(tmp_path, "bytes", "printf '\\377\\376'\n")
    with pytest.raises(AuthError, match="not valid JSON"):
        lookup_credentials("r.example", env=env)
    env = _helper_env(tmp_path / "2", "bytes", "printf 'locked \\377' >&2; exit 1\n")
    with pytest.raises(AuthError) as caught:
        lookup_credentials("r.example", env=env)
    assert str(caught.value).endswith("exited 1: locked \ufffd")


def test_a_helper_failure_quotes_at_most_200_characters(tmp_path: Path) -> None:
    env = _helper_env(tmp_path, "long", "printf 'e%.0s' $(seq 300) >&2; exit 2\n")
    with pytest.raises(AuthError) as caught:
        lookup_credentials("r.example", env=env)
    assert str(caught.value) == ("credential helper docker-credential-long for r.example "
                                 f"exited 2: {'e' * 200}")


def test_a_helper_that_cannot_be_run_is_named(tmp_path: Path) -> None:
    env = _helper_env(tmp_path, "noexec", "exit 0\n")
    (tmp_path / "bin" / "docker-credential-noexec").chmod(0o644)
    with pytest.raises(AuthError, match=r"^credential helper docker-credential-noexec for "
                       r"r\.example failed: \[Errno 13\] Permission denied"):
        lookup_credentials("r.example", env=env)


def test_a_helper_that_does_not_answer_in_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hullcheck import deadline
    from hullcheck.errors import DeadlineExceeded
    from hullcheck.registry import auth

    env = _helper_env(tmp_path, "slow", "exec sleep 30\n")
    # Within a command's deadline, the wait is the deadline's, and its error says so.
    with deadline.within(0.3, "scan"), pytest.raises(DeadlineExceeded) as late:
        lookup_credentials("r.example", env=env)
    assert "waiting for credential helper docker-credential-slow for r.example" in str(late.value)
    # Without one, the helper's own limit (shortened here from 30 s).
    monkeypatch.setattr(auth, "_HELPER_TIMEOUT", 0.3)
    with pytest.raises(AuthError) as caught:
        lookup_credentials("r.example", env=env)
    assert str(caught.value) == ("credential helper docker-credential-slow for r.example "
                                 "did not answer within 0.3s")


def test_docker_config_path_from_docker_config_then_home(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from hullcheck.registry.auth import docker_config_path

    assert docker_config_path({"DOCKER_CONFIG": "/d", "HOME": "/h"}) == Path("/d/config.json")
    assert docker_config_path({"HOME": "/h"}) == Path("/h/.docker/config.json")
    assert docker_config_path({}) == Path.home() / ".docker" / "config.json"
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert docker_config_path() == tmp_path / "config.json"


def test_the_process_environment_is_read_when_none_is_given(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from hullcheck.registry.auth import config_credentials

    write_config(tmp_path, {"auths": {"r.example": {"auth": b64("alice:pw")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    creds = config_credentials("r.example")
    assert creds is not None and creds.username == "alice"


def test_a_config_under_home_is_found(tmp_path: Path) -> None:
    write_config(tmp_path / ".docker", {"auths": {"r.example": {"auth": b64("alice:pw")}}})
    creds = lookup_credentials("r.example", env={"HOME": str(tmp_path)})
    assert creds is not None and creds.source == str(tmp_path / ".docker" / "config.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "Docker config {path}: "),
        ("x" * ((4 << 20) + 1), "Docker config {path}: larger than "),
    ],
)
def test_a_config_that_is_not_one_object_is_one_auth_error(tmp_path: Path, content: str,
                                                           message: str) -> None:
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(AuthError) as caught:
        lookup_credentials("r.example", env={"DOCKER_CONFIG": str(tmp_path)})
    assert str(caught.value).startswith(message.format(path=tmp_path / "config.json"))


def test_helper_names_that_are_not_strings_are_ignored(tmp_path: Path) -> None:
    env = write_config(tmp_path, {"credHelpers": {"r.example": 5}, "credsStore": ["x"],
                                  "auths": {"r.example": {"auth": b64("alice:pw")}}})
    creds = lookup_credentials("r.example", env=env)
    assert creds is not None and creds.username == "alice"
    assert lookup_credentials("other.example", env=env) is None


@pytest.mark.parametrize(("username", "password"), [("me", None), (None, "pw"), ("me", "")])
def test_half_explicit_credentials_are_refused(tmp_path: Path, username: str | None,
                                               password: str | None) -> None:
    env = write_config(tmp_path, {"auths": {"r.example": {"auth": b64("cfg:cfgpw")}}})
    with pytest.raises(AuthError) as caught:
        lookup_credentials("r.example", username=username, password=password, env=env)
    assert str(caught.value) == "both a username and a password are needed for r.example"


def test_half_set_environment_message(tmp_path: Path) -> None:
    env = write_config(tmp_path, {}) | {"HULLCHECK_REGISTRY_PASSWORD": "only-password"}
    with pytest.raises(AuthError) as caught:
        lookup_credentials("r.example", env=env)
    assert str(caught.value) == ("set both HULLCHECK_REGISTRY_USERNAME and "
                                 "HULLCHECK_REGISTRY_PASSWORD to log in to r.example")


def test_run_helper_without_an_environment_uses_the_process_one(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from hullcheck.registry.auth import run_helper

    install_helper(tmp_path / "bin", "envless", 'printf \'{"Username":"u","Secret":"s"}\'\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    assert run_helper("envless", "r.example") == Credentials(
        username="u", password="s", source="helper docker-credential-envless")
