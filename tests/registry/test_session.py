"""The registry session in-process against real HTTP servers on 127.0.0.1: what goes to the
token server (scope, service, form, headers), which challenges are answered and which
refused (word for word), how long a token is kept, redirects and their methods, the waits.

Written for the `registry-session` mutation group (docs/testing.md): each test pins a
behaviour a mutant of `hullcheck/registry/session.py` changed and no other test noticed.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from hullcheck.errors import AuthError
from hullcheck.registry.auth import Credentials
from hullcheck.registry.session import Session
from tests.registry._servers import Handler, Server, reply, serve

ALICE = Credentials(username="alice", password="s3cret")
SCOPE = "repository:team/app:pull"


def basic(creds: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()


@dataclass
class Asked:
    """One request as a server saw it: every header and the body."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    """Answers with ``respond`` and keeps each request whole."""

    respond: Callable[[Handler, Asked], None]
    asked: list[Asked] = field(default_factory=list)

    def __call__(self, h: Handler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(h.path)
        asked = Asked(h.command, split.path, urllib.parse.parse_qs(split.query, keep_blank_values=True),
                      {k.lower(): v for k, v in h.headers.items()}, body)
        self.asked.append(asked)
        self.respond(h, asked)


def session(creds: Credentials | None = ALICE, *, insecure: bool = False,
            timeout: float = 10.0) -> Session:
    return Session(httpx.Client(), lambda host: creds, insecure=insecure, timeout=timeout)


def get(s: Session, reg: Server, path: str = "/v2/team/app/tags/list",
        *, what: str = "tags of team/app", scope: str = SCOPE) -> httpx.Response:
    response = s.send("GET", reg.host, f"{reg.url}{path}", scope=scope, what=what)
    response.read()
    response.close()
    return response


def bearer_registry(realm: str, token: str = "GOOD", *, extra: str = "") -> Recorder:
    """A registry that wants ``Bearer <token>`` and names ``realm`` in its challenge."""

    def respond(h: Handler, asked: Asked) -> None:
        if asked.headers.get("authorization") == f"Bearer {token}":
            reply(h, 200, b'{"name":"team/app","tags":["1"]}')
        else:
            reply(h, 401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}"{extra}'})

    return Recorder(respond)


def token_server(token: str = "GOOD", *, doc: dict[str, object] | None = None) -> Recorder:
    """A token server that hands out ``token`` to anyone (``doc`` replaces its answer)."""
    answer = json.dumps(doc if doc is not None else {"token": token}).encode()
    return Recorder(lambda h, asked: reply(h, 200, answer, {"Content-Type": "application/json"}))


# -- the bearer challenge: its realm, scope and service ---------------------------------------


@pytest.mark.parametrize("realm", ["http://[::1", "ftp://auth.example/token", "https:///token", "/token"])
def test_an_unusable_realm_is_refused_word_for_word(realm: str) -> None:
    registry = bearer_registry(realm)
    with serve(registry) as reg, pytest.raises(AuthError) as caught:
        get(session(), reg)
    assert str(caught.value) == f"{reg.host} sent a bearer challenge with an unusable realm {realm!r}"
    assert len(registry.asked) == 1  # nothing else was tried


def test_credentials_never_go_to_a_plain_http_realm_elsewhere_and_the_hint_says_why() -> None:
    registry = bearer_registry("http://auth.example/token")
    with serve(registry) as reg, pytest.raises(AuthError) as caught:
        get(session(), reg)
    assert str(caught.value) == (f"refusing to send credentials for {reg.host} to "
                                 "http://auth.example/token over plain HTTP")
    assert caught.value.hint == "use --insecure only if you trust the network to this registry"


def test_the_token_request_asks_for_the_challenges_scopes_as_json() -> None:
    """The registry's challenge names the scopes (here two, as for a cross-repository
    mount); they are asked for as given, not the scope the request was made with."""
    tokens = token_server()
    with serve(tokens) as auth:
        registry = bearer_registry(
            f"{auth.url}/token",
            extra=',service="reg.example",scope="repository:team/app:pull repository:team/base:pull"')
        with serve(registry) as reg:
            get(session(), reg)
    (asked,) = tokens.asked
    assert (asked.method, asked.path) == ("GET", "/token")
    assert asked.query == {"service": ["reg.example"],
                           "scope": ["repository:team/app:pull", "repository:team/base:pull"]}
    assert asked.headers["accept"] == "application/json"
    assert asked.headers["authorization"] == basic(ALICE)
    assert registry.asked[-1].headers["authorization"] == "Bearer GOOD"


def test_an_identity_token_is_posted_as_an_oauth2_refresh_form() -> None:
    """Docker's ``identitytoken``: a POST of the refresh-token grant, every field named as
    the distribution spec names it, the challenge's scopes in one space-separated field."""
    tokens = token_server(doc={"access_token": "GOOD"})
    robot = Credentials(username="robot", identity_token="REFRESH")
    with serve(tokens) as auth:
        registry = bearer_registry(
            f"{auth.url}/token",
            extra=',service="reg.example",scope="repository:team/app:pull repository:team/base:pull"')
        with serve(registry) as reg:
            get(session(robot), reg)
    (asked,) = tokens.asked
    assert (asked.method, asked.path, asked.query) == ("POST", "/token", {})
    assert asked.headers["content-type"] == "application/x-www-form-urlencoded"
    assert asked.headers["accept"] == "application/json"
    assert "authorization" not in asked.headers  # the refresh token is the credential
    assert urllib.parse.parse_qs(asked.body.decode()) == {
        "grant_type": ["refresh_token"], "refresh_token": ["REFRESH"], "client_id": ["hullcheck"],
        "scope": ["repository:team/app:pull repository:team/base:pull"], "service": ["reg.example"],
    }


def test_an_identity_token_without_a_service_posts_no_service() -> None:
    tokens = token_server()
    with serve(tokens) as auth, serve(bearer_registry(f"{auth.url}/token")) as reg:
        get(session(Credentials(identity_token="REFRESH")), reg)
    form = urllib.parse.parse_qs(tokens.asked[0].body.decode())
    assert sorted(form) == ["client_id", "grant_type", "refresh_token", "scope"]
    assert form["scope"] == [SCOPE]  # the request's own scope when the challenge names none
