"""One registry session: requests with Docker's authentication, redirects followed by
hand, every wait bounded.

Every request goes out anonymously (or with a token cached for its host and scope); a
``401`` carries a ``WWW-Authenticate`` challenge, answered with a bearer token from the
challenge's realm or with basic credentials, and the request is retried once. A ``401``
after that is an :class:`AuthError`.

Credentials and tokens stay with the registry they belong to: redirects (to blob storage)
are followed by hand so ``Authorization`` is never sent to another origin, and a ``401``
from another origin (a redirect target) is never answered. The bearer realm the registry
names may be on another host (Docker Hub's ``auth.docker.io``), as Docker allows; a
redirect away from it drops ``Authorization`` too.

Each request and read waits at most the session's timeout, shortened to what is left of
the command's deadline (:mod:`hullcheck.deadline`). Plain HTTP is used for loopback hosts
and when ``insecure=True``; HTTPS otherwise.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from hullcheck import deadline
from hullcheck.errors import AuthError, RegistryError
from hullcheck.registry.auth import CredentialLookup, Credentials, normalize_host
from hullcheck.registry.challenge import Challenge, pick_challenge
from hullcheck.registry.http import (
    MAX_SMALL_BODY,
    is_loopback,
    join,
    json_object,
    netloc,
    network_error,
    next_link,
    origin,
    raise_for_status,
    read_capped,
)
from hullcheck.registry.reference import Reference

MAX_REDIRECTS = 5
MAX_PAGES = 10_000  # of one listing (tags, referrers)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LONG_LISTING = ("hullcheck reads at most this many pages of one listing; a registry that "
                 "sends more is broken or hostile")


@dataclass(slots=True)
class _Token:
    value: str
    expires: float  # time.monotonic() deadline



class Session:
    """Sends requests to registries: ``credentials`` is asked for a host's credentials only
    when that host asks for them. The httpx client is the caller's to close."""

    def __init__(self, http: httpx.Client, credentials: CredentialLookup, *, insecure: bool,
                 timeout: float) -> None:
        self.http = http
        self._lookup = credentials
        self._insecure = insecure
        self._timeout = timeout
        self._creds: dict[str, Credentials | None] = {}
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._basic: dict[str, Credentials] = {}

    def scheme(self, host: str) -> str:
        return "http" if self._insecure or is_loopback(host) else "https"

    def url(self, ref: Reference, tail: str) -> str:
        return f"{self.scheme(ref.api_host)}://{ref.api_host}/v2/{ref.repository}/{tail}"

    def credentials(self, host: str) -> Credentials | None:
        if host not in self._creds:
            self._creds[host] = self._lookup(normalize_host(host))
        return self._creds[host]

    def json_pages(
        self, repo: Reference, first: httpx.URL, *, what: str, accept: str = "application/json"
    ) -> Iterator[tuple[dict[str, Any], httpx.Response]]:
        """Each page of a JSON listing, following ``Link: <...>; rel="next"``. A link back to
        a page already read is an error, and so is a next page after ``MAX_PAGES``: a listing
        cut short would hide the newest tags or a signature, so none is handed out in part."""
        host = repo.api_host
        url: httpx.URL | None = first
        seen: set[str] = set()
        while url is not None:
            if str(url) in seen:
                raise RegistryError(f"{host} sent a pagination loop in the {what}")
            if len(seen) >= MAX_PAGES:
                raise RegistryError(f"{what} on {host} goes on past {MAX_PAGES} pages; refusing "
                                    "to use part of it", hint=_LONG_LISTING)
            seen.add(str(url))
            doc, response = self.get_json(host, url, scope=repo_scope(repo, "pull"), what=what, accept=accept)
            yield doc, response
            url = next_link(response, host=host, what=what)

    def get_json(
        self, host: str, url: httpx.URL, *, scope: str, what: str, accept: str = "application/json"
    ) -> tuple[dict[str, Any], httpx.Response]:
        response = self.send("GET", host, url, scope=scope, what=what, headers={"Accept": accept})
        try:
            raise_for_status(response, host=host, what=what)
            data = read_capped(response, MAX_SMALL_BODY, host=host, what=what)
        finally:
            response.close()
        return json_object(data, host=host, what=what), response

    def _auth_header(self, host: str, scope: str) -> str | None:
        token = self._tokens.get((host, scope))
        if token is not None and token.expires > time.monotonic():
            return f"Bearer {token.value}"
        creds = self._basic.get(host)
        if creds is not None:
            return _basic_header(creds)
        return None

    def send(
        self,
        method: str,
        host: str,
        url: str | httpx.URL,
        *,
        scope: str,
        what: str,
        headers: dict[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
    ) -> httpx.Response:
        """One request with the auth dance; the response is streamed: close it."""
        url = httpx.URL(url)
        home = origin(httpx.URL(f"{self.scheme(host)}://{host}/"))
        for attempt in (0, 1):
            request_headers = dict(headers or {})
            auth = self._auth_header(host, scope) if origin(url) == home else None
            if auth:
                request_headers["Authorization"] = auth
            response = self._send_following_redirects(
                method, url, request_headers, content, host=host, what=what
            )
            if response.status_code != 401:
                return response
            response.close()
            if origin(response.url) != home:
                # A redirect target (blob storage) asks to authenticate: the registry's
                # credentials are not its to have, and a token it hands out must never be
                # sent back to the registry. Docker answers no such challenge either.
                raise AuthError(
                    f"{host} sent {what} on to {netloc(response.url)}, which asks for "
                    f"credentials; the credentials for {host} are not sent to another host",
                    hint="the registry's storage redirect needs no credentials of ours; "
                    "ask the registry's operator to fix it",
                )
            challenge_header = response.headers.get("www-authenticate", "")
            if attempt == 1 or not (content is None or isinstance(content, bytes)):
                break
            self._tokens.pop((host, scope), None)
            self._authenticate(host, scope, challenge_header, what=what, had_auth=bool(auth))
        creds = self.credentials(host)
        who = f"as {creds.username}" if creds and creds.username else "anonymously"
        raise AuthError(f"{host} refused access to {what} ({scope}) {who}")

    def _send_following_redirects(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        content: bytes | Iterator[bytes] | None,
        *,
        host: str,
        what: str,
    ) -> httpx.Response:
        for _ in range(MAX_REDIRECTS + 1):
            doing = f"requesting {what}"
            deadline.check(doing)
            # Each connect, write and read waits at most the client's timeout, and never
            # past the command's deadline.
            timeout = httpx.Timeout(deadline.clamp(self._timeout))
            request = self.http.build_request(
                method, url, headers=headers, content=content, timeout=timeout
            )
            try:
                response = self.http.send(request, stream=True, follow_redirects=False)
            except httpx.TransportError as exc:
                raise network_error(exc, where=netloc(url), doing=doing) from None
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                return response
            response.close()
            target = join(url, location, host=host, what=what)
            if target.scheme not in ("http", "https"):
                raise RegistryError(f"{host} redirected {what} to an unsupported URL {target}")
            if origin(target) != origin(url):
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method not in ("GET", "HEAD")
            ):
                method, content = "GET", None
            url = target
        raise RegistryError(f"too many redirects from {host} for {what}")

    def _authenticate(self, host: str, scope: str, header: str, *, what: str, had_auth: bool) -> None:
        challenge = pick_challenge(header)
        if challenge is None:
            raise AuthError(f"{host} refused access to {what} and sent no usable WWW-Authenticate challenge")
        if challenge.scheme == "basic":
            creds = self.credentials(host)
            if creds is None or not creds.basic_usable:
                raise AuthError(f"{host} requires a username and password for {what}")
            if had_auth and host in self._basic:
                raise AuthError(f"{host} refused the credentials of {creds.username} for {what}")
            self._basic[host] = creds
            return
        token = self._fetch_token(host, scope, challenge, what=what)
        self._tokens[(host, scope)] = token

    def _fetch_token(self, host: str, scope: str, challenge: Challenge, *, what: str) -> _Token:
        realm = challenge.realm
        try:
            realm_url = httpx.URL(realm)
        except httpx.InvalidURL:
            realm_url = httpx.URL("")
        if realm_url.scheme not in ("http", "https") or not realm_url.host:
            raise AuthError(f"{host} sent a bearer challenge with an unusable realm {realm!r}")
        creds = self.credentials(host)
        if (
            creds is not None
            and realm_url.scheme == "http"
            and not self._insecure
            and not is_loopback(realm_url.host)
        ):
            raise AuthError(
                f"refusing to send credentials for {host} to {realm} over plain HTTP",
                hint="use --insecure only if you trust the network to this registry",
            )
        scopes = [s for s in (challenge.get("scope") or scope).split(" ") if s]
        service = challenge.get("service")
        headers = {"Accept": "application/json"}
        content: bytes | None = None
        method = "GET"
        if creds is not None and creds.identity_token:
            method = "POST"
            form = {
                "grant_type": "refresh_token",
                "refresh_token": creds.identity_token,
                "client_id": "hullcheck",
                "scope": " ".join(scopes),
            }
            if service:
                form["service"] = service
            content = str(httpx.QueryParams(form)).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            url = realm_url
        else:
            params: list[tuple[str, str | int | float | bool | None]] = [("scope", s) for s in scopes]
            if service:
                params.insert(0, ("service", service))
            url = realm_url.copy_merge_params(httpx.QueryParams(params))
            if creds is not None and creds.basic_usable:
                headers["Authorization"] = _basic_header(creds)
        token_what = f"token for {what} from {realm_url.host}"
        response = self._send_following_redirects(method, url, headers, content, host=host, what=token_what)
        try:
            if response.status_code in (401, 403):
                who = (
                    f"the credentials of {creds.username}"
                    if creds and creds.username
                    else ("anonymous access")
                )
                raise AuthError(f"token server {realm} for {host} refused {who} ({scope})")
            raise_for_status(response, host=realm_url.host, what=token_what)
            data = read_capped(response, MAX_SMALL_BODY, host=realm_url.host, what=token_what)
        finally:
            response.close()
        doc = json_object(data, host=realm_url.host, what=token_what)
        value = doc.get("token") or doc.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthError(f"token server {realm} for {host} sent no token")
        expires_in = doc.get("expires_in")
        lifetime = expires_in if isinstance(expires_in, int) and expires_in > 0 else 60
        return _Token(value=value, expires=time.monotonic() + max(lifetime - 5, 1))


def _basic_header(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def repo_scope(ref: Reference, actions: str) -> str:
    """The token scope of ``actions`` ("pull", "pull,push") on ``ref``'s repository."""
    return f"repository:{ref.repository}:{actions}"
