"""Registry credentials: explicit, from the environment, or from Docker's config.json.

Credentials belong to a host. A command's lookup (:func:`scoped_credentials`) answers for
the registry of the reference the user named:

1. a username/password passed in (``--username``/``--password-stdin``);
2. ``HULLCHECK_REGISTRY_USERNAME`` / ``HULLCHECK_REGISTRY_PASSWORD``;
3. Docker's config, as for any host;

and for every other host (a base image's registry named by an image label, a registry a Pod
names) only with what Docker's config holds for that host (:func:`config_credentials`):
``$DOCKER_CONFIG/config.json`` (else ``~/.docker/config.json``): a ``credHelpers`` entry for
the host, then an ``auths`` entry (base64 ``auth``, ``username``/``password``,
``identitytoken``), then the default ``credsStore``.

Helpers are run as ``docker-credential-<name> get`` with the server URL on stdin.
Docker Hub is keyed ``https://index.docker.io/v1/`` in config files; it matches ``docker.io``
(and ``index.docker.io``, ``registry-1.docker.io``).
"""

from __future__ import annotations

import base64
import binascii
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hullcheck import deadline, untrusted
from hullcheck.errors import AuthError
from hullcheck.registry.reference import DOCKER_HUB, DOCKER_HUB_ALIASES

DOCKER_HUB_SERVER_URL = "https://index.docker.io/v1/"
_HELPER_TIMEOUT = 30.0
MAX_CONFIG = 4 << 20  # a Docker config.json; real ones are a few KiB


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """What to log in with. ``identity_token`` is an OAuth2 refresh token (Docker's
    ``identitytoken``); when set it is used instead of the password at token servers."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    source: str = ""  # where they came from, for messages: "env", "config.json", "helper pass"

    @property
    def basic_usable(self) -> bool:
        return bool(self.username) and bool(self.password)


# What RegistryClient accepts: fixed credentials for every host, or a lookup by host.
CredentialLookup = Callable[[str], Credentials | None]


def normalize_host(key: str) -> str:
    """Reduce a config.json key or server URL to the host (with port) references use."""
    host = key.strip()
    for scheme in ("https://", "http://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme) :]
    host = host.split("/", 1)[0].lower()
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def server_url(host: str) -> str:
    """The server URL a credential helper is asked about (Docker's convention)."""
    return DOCKER_HUB_SERVER_URL if normalize_host(host) == DOCKER_HUB else host


def docker_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("DOCKER_CONFIG")
    if base:
        return Path(base) / "config.json"
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".docker" / "config.json"


def _load_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = untrusted.read_file(path, what="Docker config", limit=MAX_CONFIG, error=AuthError)
    return untrusted.json_object(data, what=f"Docker config {path}", error=AuthError)


def _find_for_host(table: object, host: str) -> Any:
    if not isinstance(table, dict):
        return None
    for key, value in table.items():
        if isinstance(key, str) and normalize_host(key) == host:
            return value
    return None


def _from_auths_entry(entry: object, path: Path, host: str) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    source = f"{path}"
    username = entry.get("username") or ""
    password = entry.get("password") or ""
    encoded = entry.get("auth") or ""
    if encoded and isinstance(encoded, str):
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthError(
                f"Docker config {path}: 'auth' for {host} is not base64 of user:password"
            ) from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise AuthError(f"Docker config {path}: 'auth' for {host} has no ':' separator")
    token = entry.get("identitytoken") or ""
    if not all(isinstance(v, str) for v in (username, password, token)):
        raise AuthError(f"Docker config {path}: malformed credentials for {host}")
    if not (username or password or token):
        return None  # a placeholder entry, as Docker writes when a credsStore holds the secret
    return Credentials(username=username, password=password, identity_token=token, source=source)


def run_helper(helper: str, host: str, *, env: Mapping[str, str] | None = None) -> Credentials | None:
    """Ask ``docker-credential-<helper>`` for the host's credentials; None when it has none."""
    program = f"docker-credential-{helper}"
    try:
        proc = subprocess.run(
            [program, "get"],
            input=server_url(host).encode(),
            capture_output=True,
            timeout=deadline.clamp(_HELPER_TIMEOUT),
            check=False,
            env=None if env is None else dict(env),
        )
    except FileNotFoundError:
        raise AuthError(f"credential helper {program} for {host} is not installed (not on PATH)") from None
    except subprocess.TimeoutExpired:
        deadline.check(f"waiting for credential helper {program} for {host}")
        raise AuthError(f"credential helper {program} for {host} did not answer within "
                        f"{_HELPER_TIMEOUT:g}s") from None
    except OSError as exc:
        raise AuthError(f"credential helper {program} for {host} failed: {exc}") from None
    out = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        detail = (out or proc.stderr.decode("utf-8", "replace")).strip()
        if "credentials not found" in detail.lower():
            return None
        raise AuthError(f"credential helper {program} for {host} exited {proc.returncode}: {detail[:200]}")
    doc = untrusted.json_object(out, what=f"credential helper {program} for {host} output",
                                error=AuthError)
    username, secret = doc.get("Username"), doc.get("Secret")
    if not isinstance(username, str) or not isinstance(secret, str):
        raise AuthError(f"credential helper {program} for {host} gave no Username/Secret")
    source = f"helper {program}"
    if username == "<token>":
        return Credentials(identity_token=secret, source=source)
    return Credentials(username=username, password=secret, source=source)


def config_credentials(host: str, *, env: Mapping[str, str] | None = None) -> Credentials | None:
    """What Docker's config (credential helpers, ``auths``, ``credsStore``) holds for ``host``;
    never the explicit or environment credentials."""
    env = os.environ if env is None else env
    host = normalize_host(host)
    path = docker_config_path(env)
    config = _load_config(path)
    helper = _find_for_host(config.get("credHelpers"), host)
    if isinstance(helper, str) and helper:
        return run_helper(helper, host, env=env)
    found = _from_auths_entry(_find_for_host(config.get("auths"), host), path, host)
    if found is not None:
        return found
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        return run_helper(store, host, env=env)
    return None


def lookup_credentials(
    host: str,
    *,
    username: str | None = None,
    password: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Credentials | None:
    """The credentials for the registry the user named (``docker.io``, ``example.org:5000``):
    explicit, else the environment's, else Docker's config; None when there are none."""
    env = os.environ if env is None else env
    host = normalize_host(host)
    if username or password:
        if not (username and password):
            raise AuthError(f"both a username and a password are needed for {host}")
        return Credentials(username=username, password=password, source="explicit")
    env_user = env.get("HULLCHECK_REGISTRY_USERNAME")
    env_pass = env.get("HULLCHECK_REGISTRY_PASSWORD")
    if env_user or env_pass:
        if not (env_user and env_pass):
            raise AuthError(
                "set both HULLCHECK_REGISTRY_USERNAME and HULLCHECK_REGISTRY_PASSWORD "
                f"to log in to {host}"
            )
        return Credentials(username=env_user, password=env_pass, source="environment")
    return config_credentials(host, env=env)


def scoped_credentials(
    registry: str | None,
    *,
    username: str | None = None,
    password: str | None = None,
    env: Mapping[str, str] | None = None,
) -> CredentialLookup:
    """A command's lookup: :func:`lookup_credentials` (explicit, environment, config) for
    ``registry`` only, :func:`config_credentials` for every other host. ``registry=None``:
    Docker's config by host for every host, and the explicit and environment credentials
    for none. Docker's config is read at each call."""
    home = normalize_host(registry) if registry else None

    def lookup(host: str) -> Credentials | None:
        if home is not None and normalize_host(host) == home:
            return lookup_credentials(host, username=username, password=password, env=env)
        return config_credentials(host, env=env)

    return lookup
