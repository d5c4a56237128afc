"""The registry session in-process against real HTTP servers on 127.0.0.1: what goes to the
token server (scope, service, form, headers), which challenges are answered and which
refused (word for word), how long a token is kept, redirects and their methods, the waits.

Written for the `registry-session` mutation group (docs/testing.md): each test pins a
behaviour a mutant of `hullcheck/registry/session.py` changed and no other test noticed.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from hullcheck import deadline
from hullcheck.errors import AuthError, DeadlineExceeded, ImageError, NotFound, RegistryError, Unreachable
from hullcheck.registry import media
from hullcheck.registry.auth import Credentials
from hullcheck.registry.client import RegistryClient
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


# -- how long a token is kept ------------------------------------------------------------------


class Clock:
    """``time.monotonic`` for the session module, moved by the test (no waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.mark.parametrize(("expires_in", "kept"), [
    (300, 295),    # five seconds of margin
    (10, 5),
    (None, 55),    # none said: Docker's default of 60
    ("300", 55),   # not a number: the default
    (0, 55),       # not positive: the default
    (1, 1),        # never less than a second
])
def test_a_token_is_kept_five_seconds_less_than_it_lives(
        monkeypatch: pytest.MonkeyPatch, expires_in: object, kept: float) -> None:
    clock = Clock()
    monkeypatch.setattr("hullcheck.registry.session.time", clock)
    doc: dict[str, object] = {"token": "GOOD"}
    if expires_in is not None:
        doc["expires_in"] = expires_in
    tokens = token_server(doc=doc)
    with serve(tokens) as auth, serve(bearer_registry(f"{auth.url}/token")) as reg:
        s = session()
        get(s, reg)
        clock.now = 1000.0 + kept - 0.01
        get(s, reg)
        assert len(tokens.asked) == 1  # still kept
        clock.now = 1000.0 + kept  # used strictly before it expires
        get(s, reg)
        assert len(tokens.asked) == 2  # expired: asked again


# -- what the token server answers -------------------------------------------------------------


def token_answer(status: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> Recorder:
    return Recorder(lambda h, asked: reply(h, status, body, headers))


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize(("creds", "who"), [
    (ALICE, "the credentials of alice"),
    (None, "anonymous access"),
    (Credentials(), "anonymous access"),  # an entry with no username is no one's
])
def test_a_token_server_refusal_says_who_was_refused(status: int, creds: Credentials | None,
                                                     who: str) -> None:
    with serve(token_answer(status)) as auth, serve(bearer_registry(f"{auth.url}/token")) as reg, \
            pytest.raises(AuthError) as caught:
        get(session(creds), reg)
    assert str(caught.value) == f"token server {auth.url}/token for {reg.host} refused {who} ({SCOPE})"


@pytest.mark.parametrize(("answer", "error", "message"), [
    (token_answer(404), NotFound, "token for tags of team/app from 127.0.0.1 not found on 127.0.0.1"),
    (token_answer(500), RegistryError,
     "127.0.0.1 answered HTTP 500 for token for tags of team/app from 127.0.0.1"),
    (token_answer(200, b"<html>"), RegistryError,
     "token for tags of team/app from 127.0.0.1 from 127.0.0.1: not valid JSON"),
    (token_answer(200, b'{"token": ""}'), AuthError, "token server {realm} for {host} sent no token"),
    (token_answer(200, b'{"token": 5}'), AuthError, "token server {realm} for {host} sent no token"),
])
def test_what_a_token_server_answers_wrong_is_named(answer: Recorder, error: type[Exception],
                                                    message: str) -> None:
    with serve(answer) as auth, serve(bearer_registry(f"{auth.url}/token")) as reg, \
            pytest.raises(error) as caught:
        get(session(), reg)
    assert str(caught.value).startswith(message.format(realm=f"{auth.url}/token", host=reg.host))


def test_a_token_answer_over_the_cap_is_refused_by_its_length() -> None:
    def huge(h: Handler, asked: Asked) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(5 << 20))
        h.end_headers()

    with serve(Recorder(huge)) as auth, serve(bearer_registry(f"{auth.url}/token")) as reg, \
            pytest.raises(ImageError) as caught:
        get(session(), reg)
    assert str(caught.value) == ("token for tags of team/app from 127.0.0.1 on 127.0.0.1 is "
                                 f"{5 << 20} bytes, over the {4 << 20}-byte limit")


def test_a_token_server_redirecting_to_itself_is_named() -> None:
    def loop(h: Handler, asked: Asked) -> None:
        reply(h, 302, b"", {"Location": "/token"})

    with serve(Recorder(loop)) as auth, serve(bearer_registry(f"{auth.url}/token")) as reg, \
            pytest.raises(RegistryError) as caught:
        get(session(), reg)
    assert str(caught.value) == (f"too many redirects from {reg.host} "
                                 "for token for tags of team/app from 127.0.0.1")


# -- listings (tags): the Accept header, the pull scope, pages, errors --------------------------


def tags_registry(realm: str, *, pages: int = 1) -> Recorder:
    """A bearer registry (challenge without a scope) listing tag N on page N."""

    def respond(h: Handler, asked: Asked) -> None:
        if asked.headers.get("authorization") != "Bearer GOOD":
            reply(h, 401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}"'})
            return
        page = int(asked.query.get("page", ["1"])[0])
        headers = {"Link": f'</v2/team/app/tags/list?page={page + 1}>; rel="next"'} if page < pages else {}
        reply(h, 200, json.dumps({"tags": [str(page)]}).encode(), headers)

    return Recorder(respond)


def _declare_length(h: Handler, length: int) -> None:
    """Answer 200 with a ``Content-Length`` of ``length`` and send none of it."""
    h.send_response(200)
    h.send_header("Content-Length", str(length))
    h.end_headers()
    h.close_connection = True


def test_a_tag_listing_asks_for_json_with_the_pull_scope() -> None:
    tokens = token_server()
    with serve(tokens) as auth:
        registry = tags_registry(f"{auth.url}/token", pages=2)
        with serve(registry) as reg, RegistryClient(credentials=ALICE) as client:
            assert client.list_tags(f"{reg.host}/team/app") == ("1", "2")
    assert [a.query["scope"] for a in tokens.asked] == [[SCOPE]]
    assert {a.headers["accept"] for a in registry.asked} == {"application/json"}
    assert [a.query.get("page") for a in registry.asked] == [None, None, ["2"]]


def test_a_listing_longer_than_max_pages_is_refused_not_cut_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three pages read, a fourth named: an error naming the listing and the limit, and the
    fourth page is never asked for (a tag list cut short hides the newest tags)."""
    monkeypatch.setattr("hullcheck.registry.session.MAX_PAGES", 3)
    with serve(token_server()) as auth:
        registry = tags_registry(f"{auth.url}/token", pages=1000)
        with serve(registry) as reg, RegistryClient(credentials=ALICE) as client, \
                pytest.raises(RegistryError) as caught:
            client.list_tags(f"{reg.host}/team/app")
    assert str(caught.value) == (f"tag list of {reg.host}/team/app on {reg.host} goes on past 3 "
                                 "pages; refusing to use part of it")
    assert caught.value.hint == ("hullcheck reads at most this many pages of one listing; a "
                                 "registry that sends more is broken or hostile")
    assert [a.query.get("page") for a in registry.asked] == [None, None, ["2"], ["3"]]


def test_a_listing_of_exactly_max_pages_is_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hullcheck.registry.session.MAX_PAGES", 3)
    with serve(token_server()) as auth:
        registry = tags_registry(f"{auth.url}/token", pages=3)
        with serve(registry) as reg, RegistryClient(credentials=ALICE) as client:
            assert client.list_tags(f"{reg.host}/team/app") == ("1", "2", "3")
    assert [a.query.get("page") for a in registry.asked] == [None, None, ["2"], ["3"]]


def endless_referrers(subject: str) -> Recorder:
    """A referrers API whose every page names one more referrer and links to the next page."""

    def respond(h: Handler, asked: Asked) -> None:
        page = int(asked.query.get("page", ["1"])[0])
        descriptor = {"mediaType": media.OCI_MANIFEST, "digest": "sha256:" + f"{page:064x}",
                      "size": 100, "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"}
        index = {"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": [descriptor]}
        reply(h, 200, json.dumps(index).encode(), {
            "Content-Type": media.OCI_INDEX,
            "Link": f'</v2/team/app/referrers/{subject}?page={page + 1}>; rel="next"'})

    return Recorder(respond)


def test_a_referrers_listing_longer_than_max_pages_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The referrers cut short could hide a signature: none of them is handed out."""
    monkeypatch.setattr("hullcheck.registry.session.MAX_PAGES", 4)
    subject = "sha256:" + "5" * 64
    registry = endless_referrers(subject)
    with serve(registry) as reg, RegistryClient(credentials=ALICE) as client, \
            pytest.raises(RegistryError) as caught:
        client.referrers(f"{reg.host}/team/app", subject)
    assert str(caught.value) == (f"referrers of {reg.host}/team/app@{subject} on {reg.host} goes "
                                 "on past 4 pages; refusing to use part of it")
    assert [a.query.get("page") for a in registry.asked] == [None, ["2"], ["3"], ["4"]]


@pytest.mark.parametrize(("respond", "error", "message"), [
    (lambda h, a: reply(h, 500, b"", {}), RegistryError,
     "{host} answered HTTP 500 for tag list of {host}/team/app"),
    (lambda h, a: reply(h, 404, b"", {}), NotFound, "tag list of {host}/team/app not found on {host}"),
    (lambda h, a: reply(h, 200, b'{"tags": []}', {"Link": '<http://[::1>; rel="next"'}), RegistryError,
     "{host} sent an invalid URL 'http://[::1' for tag list of {host}/team/app"),
    (lambda h, a: reply(h, 401, b"", {"WWW-Authenticate": 'Basic realm="r"'}), AuthError,
     "{host} refused access to tag list of {host}/team/app (repository:team/app:pull) as alice"),
    (lambda h, a: reply(h, 200, b"<html>", {}), RegistryError,
     "tag list of {host}/team/app from {host}: not valid JSON (Expecting value: line 1 column 1 (char 0))"),
    (lambda h, a: _declare_length(h, 5 << 20), ImageError,
     f"tag list of {{host}}/team/app on {{host}} is {5 << 20} bytes, over the {4 << 20}-byte limit"),
])
def test_a_listing_that_fails_names_the_listing_and_the_host(
        respond: Callable[[Handler, Asked], None], error: type[Exception], message: str) -> None:
    with serve(Recorder(respond)) as reg, RegistryClient(credentials=ALICE) as client, \
            pytest.raises(error) as caught:
        client.list_tags(f"{reg.host}/team/app")
    assert str(caught.value) == message.format(host=reg.host)


# -- which 401s are answered, and how often ------------------------------------------------------


def test_a_registry_that_refuses_every_token_gets_one_token_request() -> None:
    """The request is retried once with a fresh token; a second 401 is the end."""
    tokens = token_server()
    with serve(tokens) as auth:
        registry = bearer_registry(f"{auth.url}/token", token="NEVER")
        with serve(registry) as reg, pytest.raises(AuthError) as caught:
            get(session(None), reg)
    assert str(caught.value) == f"{reg.host} refused access to tags of team/app ({SCOPE}) anonymously"
    assert len(tokens.asked) == 1
    assert [a.headers.get("authorization") for a in registry.asked] == [None, "Bearer GOOD"]


def test_a_401_without_a_challenge_is_named() -> None:
    registry = Recorder(lambda h, asked: reply(h, 401))
    with serve(registry) as reg, pytest.raises(AuthError) as caught:
        get(session(), reg)
    assert str(caught.value) == (f"{reg.host} refused access to tags of team/app and sent no usable "
                                 "WWW-Authenticate challenge")


def test_basic_credentials_refused_later_are_named_after_one_request() -> None:
    """The password worked once and is refused now (changed, revoked): one request, and the
    error says whose credentials were refused."""
    accepted = [True]

    def respond(h: Handler, asked: Asked) -> None:
        if asked.headers.get("authorization") == basic(ALICE) and accepted[0]:
            reply(h, 200, b"{}")
        else:
            reply(h, 401, b"", {"WWW-Authenticate": 'Basic realm="r"'})

    registry = Recorder(respond)
    with serve(registry) as reg:
        s = session()
        get(s, reg)
        assert len(registry.asked) == 2
        accepted[0] = False
        with pytest.raises(AuthError) as caught:
            get(s, reg)
    assert str(caught.value) == f"{reg.host} refused the credentials of alice for tags of team/app"
    assert len(registry.asked) == 3


def test_a_registry_that_stops_taking_its_token_and_asks_for_basic_gets_basic() -> None:
    """A token refused later is dropped: the retry answers the new (Basic) challenge rather
    than sending the refused token again."""
    state = {"tokens": True}

    def respond(h: Handler, asked: Asked) -> None:
        got = asked.headers.get("authorization")
        if got == basic(ALICE) or (got == "Bearer GOOD" and state["tokens"]):
            reply(h, 200, b"{}")
        elif state["tokens"]:
            reply(h, 401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}"'})
        else:
            reply(h, 401, b"", {"WWW-Authenticate": 'Basic realm="r"'})

    registry = Recorder(respond)
    with serve(token_server()) as auth, serve(registry) as reg:
        realm = f"{auth.url}/token"
        s = session()
        get(s, reg)
        state["tokens"] = False
        assert get(s, reg).status_code == 200
    assert [a.headers.get("authorization") for a in registry.asked] == [
        None, "Bearer GOOD", "Bearer GOOD", basic(ALICE)]


def test_credentials_never_go_to_an_upload_location_on_another_host() -> None:
    """The registry's upload Location may name another host (storage): the PUT there
    carries no Authorization."""
    blob = b"layer"
    digest = "sha256:" + __import__("hashlib").sha256(blob).hexdigest()
    storage = Recorder(lambda h, asked: reply(h, 201, b"", {"Docker-Content-Digest": digest}))
    with serve(storage) as elsewhere:

        def respond(h: Handler, asked: Asked) -> None:
            if asked.headers.get("authorization") != basic(ALICE):
                reply(h, 401, b"", {"WWW-Authenticate": 'Basic realm="r"'})
            elif asked.method == "HEAD":
                reply(h, 404)
            else:
                reply(h, 202, b"", {"Location": f"{elsewhere.url}/upload/1"})

        registry = Recorder(respond)
        with serve(registry) as reg, RegistryClient(credentials=ALICE) as client:
            assert client.push_blob(f"{reg.host}/team/app", blob, digest, len(blob)) == digest
    assert [(a.method, a.path, a.body) for a in storage.asked] == [("PUT", "/upload/1", blob)]
    assert "authorization" not in storage.asked[0].headers
    assert [a.headers.get("authorization") for a in registry.asked] == [None, basic(ALICE), basic(ALICE)]


# -- redirects ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("hops", "ok"), [(5, True), (6, False)])
def test_five_redirects_are_followed_and_a_sixth_is_refused(hops: int, ok: bool) -> None:
    def respond(h: Handler, asked: Asked) -> None:
        n = int(asked.query.get("n", ["0"])[0])
        if n < hops:
            reply(h, 302, b"", {"Location": f"{asked.path}?n={n + 1}"})
        else:
            reply(h, 200, b"{}")

    registry = Recorder(respond)
    with serve(registry) as reg:
        if ok:
            assert get(session(), reg).status_code == 200
        else:
            with pytest.raises(RegistryError) as caught:
                get(session(), reg)
            assert str(caught.value) == f"too many redirects from {reg.host} for tags of team/app"
    assert len(registry.asked) == 6


def test_the_referrers_listing_asks_for_an_oci_index() -> None:
    """The referrers API answers an OCI image index; the Accept header says so on every page."""
    subject = "sha256:" + "5" * 64
    index = {"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": []}
    registry = Recorder(lambda h, asked: reply(h, 200, json.dumps(index).encode(),
                                               {"Content-Type": media.OCI_INDEX}))
    with serve(registry) as reg, RegistryClient(credentials=ALICE) as client:
        assert client.referrers(f"{reg.host}/team/app", subject) == ()
    assert [(a.path, a.headers["accept"]) for a in registry.asked] == [
        (f"/v2/team/app/referrers/{subject}", media.OCI_INDEX)]


@pytest.mark.parametrize(("status", "method", "then"), [
    (303, "PUT", "GET"), (303, "POST", "GET"),    # See Other: always a GET, without the body
    (301, "POST", "GET"), (302, "PUT", "GET"),    # as browsers and Go do for these two
    (301, "GET", "GET"), (302, "HEAD", "HEAD"),   # a GET or HEAD stays what it was
    (307, "PUT", "PUT"), (308, "POST", "POST"),   # method and body kept
])
def test_a_redirect_keeps_or_changes_the_method_as_http_says(status: int, method: str, then: str) -> None:
    target = Recorder(lambda h, asked: reply(h, 200, b"{}"))
    with serve(target) as elsewhere:
        registry = Recorder(lambda h, asked: reply(h, status, b"", {"Location": f"{elsewhere.url}/there"}))
        with serve(registry) as reg:
            body = b"" if method in ("GET", "HEAD") else b"the body"
            response = session().send(method, reg.host, f"{reg.url}/v2/team/app/blobs/uploads/x",
                                      scope=SCOPE, what="upload", content=body or None)
            response.close()
    (asked,) = target.asked
    assert (asked.method, asked.path) == (then, "/there")
    assert asked.body == (body if then == method and then != "GET" else b"")


def test_a_redirect_elsewhere_drops_authorization_and_keeps_the_other_headers() -> None:
    target = Recorder(lambda h, asked: reply(h, 200, b"{}"))
    with serve(target) as elsewhere:

        def respond(h: Handler, asked: Asked) -> None:
            if asked.headers.get("authorization") != basic(ALICE):
                reply(h, 401, b"", {"WWW-Authenticate": 'Basic realm="r"'})
            else:
                reply(h, 307, b"", {"Location": f"{elsewhere.url}/blob"})

        with serve(Recorder(respond)) as reg:
            response = session().send("GET", reg.host, f"{reg.url}/v2/team/app/blobs/x", scope=SCOPE,
                                      what="blob", headers={"Accept": "application/octet-stream"})
            response.close()
    (asked,) = target.asked
    assert asked.headers["accept"] == "application/octet-stream"
    assert "authorization" not in asked.headers


def test_a_redirect_to_another_scheme_is_named() -> None:
    location = "ftp://files.example/blob"
    with serve(Recorder(lambda h, asked: reply(h, 302, b"", {"Location": location}))) as reg, \
            pytest.raises(RegistryError) as caught:
        get(session(), reg)
    assert str(caught.value) == f"{reg.host} redirected tags of team/app to an unsupported URL {location}"


def test_redirects_are_the_sessions_to_follow_whatever_the_client_says() -> None:
    """A caller's httpx client may follow redirects itself; the session still counts them
    (and strips credentials) on its own."""
    def respond(h: Handler, asked: Asked) -> None:
        reply(h, 302, b"", {"Location": "/v2/team/app/tags/list"})

    registry = Recorder(respond)
    with serve(registry) as reg, pytest.raises(RegistryError) as caught:
        s = Session(httpx.Client(follow_redirects=True), lambda host: None, insecure=False, timeout=10.0)
        get(s, reg)
    assert str(caught.value) == f"too many redirects from {reg.host} for tags of team/app"
    assert len(registry.asked) == 6


# -- waits ---------------------------------------------------------------------------------------------


def test_each_request_waits_the_sessions_timeout_not_the_clients() -> None:
    """The caller's client may have no timeout at all: the session's own bounds each wait."""
    stop = threading.Event()

    def never_answer(h: Handler, asked: Asked) -> None:
        stop.wait(60)  # then hang up without an answer (a regression fails, it does not hang)
        h.close_connection = True

    with serve(Recorder(never_answer)) as reg, pytest.raises(Unreachable) as caught:
        s = Session(httpx.Client(timeout=None), lambda host: None, insecure=False, timeout=0.5)
        try:
            get(s, reg)
        finally:
            stop.set()
    assert str(caught.value).startswith(
        f"{reg.host} did not answer in time while requesting tags of team/app")


def test_a_deadline_already_past_sends_nothing() -> None:
    import time

    registry = Recorder(lambda h, asked: reply(h, 200, b"{}"))
    with serve(registry) as reg, deadline.within(0.01, "scan"), pytest.raises(DeadlineExceeded) as caught:
        time.sleep(0.05)
        get(session(), reg)
    assert str(caught.value).startswith("scan: gave up after ")
    assert str(caught.value).endswith(" (--timeout) while requesting tags of team/app")
    assert registry.asked == []
