"""An OCI distribution client: manifests, digest-verified blobs, push, tags and referrers.

Authentication follows Docker's protocol: every request goes out anonymously (or with a
token cached for its host and scope); a ``401`` carries a ``WWW-Authenticate`` challenge,
answered with a bearer token from the challenge's realm or with basic credentials, and the
request is retried once. A ``401`` after that is an :class:`AuthError`.

Credentials and tokens stay with the registry they belong to: redirects (to blob storage)
are followed by hand so ``Authorization`` is never sent to another origin, and a ``401``
from another origin (a redirect target) is never answered. The bearer realm the registry
names may be on another host (Docker Hub's ``auth.docker.io``), as Docker allows; a
redirect away from it drops ``Authorization`` too.

Every wait is bounded: each request and read has a timeout, shortened to what is left of
the command's deadline (:mod:`hullcheck.deadline`), which is checked between chunks, so a
server that drips a byte at a time ends at the deadline with :class:`DeadlineExceeded`.
No answer (connection refused, DNS failure, a timeout) is :class:`Unreachable`; an answer
we refuse (an HTTP error status, a malformed body, a TLS certificate that does not verify)
is a :class:`RegistryError` or one of its other kinds.

Plain HTTP is used for loopback hosts and when ``insecure=True``; HTTPS otherwise.
Every byte that leaves this module has been checked against its digest.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, BinaryIO

import httpx

from hullcheck import deadline, untrusted
from hullcheck.digest import VerifyingReader, parse_digest, sha256_digest, verify_bytes
from hullcheck.errors import (
    AuthError,
    DigestMismatch,
    FormatError,
    HullcheckError,
    ImageError,
    NotFound,
    RegistryError,
    Unreachable,
    UnsupportedMediaType,
)
from hullcheck.registry.auth import (
    CredentialLookup,
    Credentials,
    normalize_host,
    scoped_credentials,
)
from hullcheck.registry.challenge import Challenge, pick_challenge
from hullcheck.registry.media import MANIFEST_TYPES, OCI_INDEX, Descriptor, Manifest
from hullcheck.registry.reference import Reference, parse_reference

MAX_MANIFEST_SIZE = 4 * 1024 * 1024
MAX_CONFIG_SIZE = 8 * 1024 * 1024
_MAX_SMALL_BODY = 4 * 1024 * 1024  # tag lists, tokens, referrers indexes
_MAX_ERROR_BODY = 64 * 1024
_MAX_REDIRECTS = 5
_MAX_PAGES = 10_000
_CHUNK = 1 << 20
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "hullcheck/0.1"
_TLS_HINT = (
    "the registry's certificate did not verify; fix its certificate (or SSL_CERT_FILE), "
    "or use --insecure only if you trust the network to it"
)
_LINK_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


def is_loopback(host: str) -> bool:
    """``127.0.0.0/8``, ``localhost`` or ``[::1]``, with or without a port."""
    name = host
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name[1:]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    port = url.port or (443 if url.scheme == "https" else 80)
    return (url.scheme, url.host, port)


# TLS errors that mean the connection went away, not that the server's TLS was refused.
_TLS_CUT = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


def _tls_refused(exc: BaseException) -> bool:
    """Whether ``exc`` was caused by TLS we refuse: a certificate that does not verify, a
    failed handshake, a server that does not speak TLS."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLError):
            return not isinstance(cause, _TLS_CUT)
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _network_error(exc: httpx.TransportError, *, where: str, doing: str) -> HullcheckError:
    """The error for a request or read that failed without an HTTP answer: DeadlineExceeded
    when the command's deadline has passed (raised), else RegistryError for TLS we refuse
    (an answer, of a kind), else Unreachable for no answer (refused, DNS, timeouts, a
    dropped connection), else RegistryError (an answer that is not HTTP)."""
    deadline.check(doing)
    detail = str(exc) or type(exc).__name__
    if _tls_refused(exc):
        return RegistryError(f"TLS with {where} failed while {doing}: {detail}", hint=_TLS_HINT)
    if isinstance(exc, httpx.TimeoutException):
        return Unreachable(f"{where} did not answer in time while {doing} ({detail})")
    if isinstance(exc, httpx.NetworkError):
        return Unreachable(f"cannot reach {where} while {doing}: {detail}")
    return RegistryError(f"{where} sent an answer that is not valid HTTP while {doing}: {detail}")


@dataclass(slots=True)
class _Token:
    value: str
    expires: float  # time.monotonic() deadline


class _ResponseStream:
    """A read(n) view over a streamed httpx response body; transport errors become
    RegistryError. Bytes are read raw (no content decoding): they are what was hashed."""

    def __init__(self, response: httpx.Response, *, host: str, what: str) -> None:
        # ``what`` names the body for messages: "reading <what>".
        self._chunks: Iterator[bytes]
        try:
            # A response some transports (tests' MockTransport) hand over already loaded.
            loaded = response.content
        except httpx.ResponseNotRead:
            self._chunks = response.iter_raw()
        else:
            self._chunks = iter((loaded,) if loaded else ())
        self._buffer = b""
        self._eof = False
        self._host = host
        self._what = what
        self._response = response

    def _next_chunk(self) -> bytes:
        # A per-read timeout alone lets a server that drips a byte at a time go on for
        # ever: the command's deadline is checked before every read.
        deadline.check(f"reading {self._what}")
        try:
            return next(self._chunks)
        except StopIteration:
            self._eof = True
            return b""
        except httpx.TransportError as exc:
            raise _network_error(exc, where=self._host, doing=f"reading {self._what}") from None
        except httpx.HTTPError as exc:  # e.g. a body cut short of its Content-Length
            raise RegistryError(f"{self._host} broke off {self._what}: {exc}") from None

    def read(self, n: int = -1) -> bytes:
        """``n`` bytes, fewer only at the end of the body, as a file's ``read`` gives: readers
        sniff magic numbers with ``read(4)``, and a slow server sends a byte at a time."""
        if n is None or n < 0:
            parts = [self._buffer]
            self._buffer = b""
            while not self._eof:
                parts.append(self._next_chunk())
            return b"".join(parts)
        parts, have = [self._buffer], len(self._buffer)
        while have < n and not self._eof:
            chunk = self._next_chunk()
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        out, self._buffer = data[:n], data[n:]
        return out

    def close(self) -> None:
        self._response.close()


def _read_capped(response: httpx.Response, cap: int, *, host: str, what: str) -> bytes:
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        raise ImageError(f"{what} on {host} is {int(length)} bytes, over the {cap}-byte limit")
    stream = _ResponseStream(response, host=host, what=what)
    parts: list[bytes] = []
    total = 0
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
        if total > cap:
            raise ImageError(f"{what} on {host} is over the {cap}-byte limit")
        parts.append(chunk)
    return b"".join(parts)


def _error_detail(response: httpx.Response, *, host: str, what: str) -> str:
    """``CODE: message`` from an OCI error body, else a short text excerpt. The text goes
    into an error message, which escapes control characters (a hostile body's ANSI/OSC
    sequences never reach the terminal)."""
    try:
        body = _read_capped(response, _MAX_ERROR_BODY, host=host, what=f"error body of {what}")
    except (ImageError, RegistryError):
        return ""
    try:
        doc = untrusted.json_document(body, what=f"error body from {host}", error=RegistryError)
    except RegistryError:
        text = body.decode("utf-8", "replace").strip()
        return " ".join(text.split())[:200]
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if isinstance(errors, list):
        parts = []
        for err in errors[:3]:
            if isinstance(err, dict):
                code, msg = err.get("code", ""), err.get("message", "")
                parts.append(f"{code}: {msg}" if code and msg else str(code or msg))
        return "; ".join(p for p in parts if p)[:300]
    return ""


def _json_object(data: bytes, *, host: str, what: str) -> dict[str, Any]:
    return untrusted.json_object(data, what=f"{what} from {host}", error=RegistryError)


def _join(base: httpx.URL, link: str, *, host: str, what: str) -> httpx.URL:
    """``link`` (a Location or Link header) resolved against ``base``; RegistryError when
    it is not a URL."""
    try:
        return base.join(link)
    except httpx.InvalidURL:
        raise RegistryError(f"{host} sent an invalid URL {link[:200]!r} for {what}") from None


def _next_link(response: httpx.Response, *, host: str, what: str) -> httpx.URL | None:
    m = _LINK_RE.search(response.headers.get("link", ""))
    return _join(response.url, m.group(1), host=host, what=what) if m else None


class RegistryClient:
    """Talks to OCI registries. Use as a context manager (or call :meth:`close`).

    ``credentials``: fixed :class:`Credentials` for every host, a lookup ``host -> Credentials
    | None`` (a command's: :func:`~hullcheck.registry.auth.scoped_credentials`), or None for
    Docker's config.json by host. Credentials are only looked up when a registry asks for
    them. ``timeout``: seconds for each connect and each read, never past the deadline.
    """

    def __init__(
        self,
        *,
        http: httpx.Client | None = None,
        credentials: Credentials | CredentialLookup | None = None,
        insecure: bool = False,
        timeout: float = 30.0,
        max_manifest_size: int = MAX_MANIFEST_SIZE,
    ) -> None:
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=timeout, headers={"User-Agent": _USER_AGENT})
        if credentials is None:
            self._lookup: CredentialLookup = scoped_credentials(None)
        elif isinstance(credentials, Credentials):
            fixed = credentials
            self._lookup = lambda _host: fixed
        else:
            self._lookup = credentials
        self._insecure = insecure
        self._timeout = timeout
        self._max_manifest = max_manifest_size
        self._creds: dict[str, Credentials | None] = {}
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._basic: dict[str, Credentials] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # -- public API ------------------------------------------------------------------------

    def get_manifest(self, ref: Reference, accept: tuple[str, ...] = MANIFEST_TYPES) -> Manifest:
        """The manifest or index ``ref`` names, digest-verified.

        With a digest in ``ref`` the bytes must hash to it; otherwise the digest is computed
        and must equal the registry's ``Docker-Content-Digest`` when it sends one.
        """
        host = ref.api_host
        what = f"manifest {ref}"
        response = self._send_manifest_request("GET", ref, accept, what=what)
        try:
            self._raise_for_status(response, host=host, what=what)
            data = _read_capped(response, self._max_manifest, host=host, what=what)
        finally:
            response.close()
        digest = self._check_manifest_digest(ref, data, response, what=what)
        # Decoded here, with the depth limit, so that nobody downstream meets a manifest that
        # is not a JSON object or nests deep enough to exhaust the stack.
        doc = untrusted.json_object(data, what=f"{what} on {host}", error=ImageError)
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if media_type not in MANIFEST_TYPES:
            # Some registries serve application/json; the document's own mediaType decides.
            declared = doc.get("mediaType")
            media_type = declared if isinstance(declared, str) and declared else media_type
        if media_type not in accept:
            raise UnsupportedMediaType(
                f"{what} on {host} has media type {media_type or '(none)'!r}, not one of {', '.join(accept)}"
            )
        return Manifest(media_type=media_type, digest=digest, data=data)

    def resolve(self, ref: Reference, accept: tuple[str, ...] = MANIFEST_TYPES) -> str:
        """The digest ``ref`` points to (HEAD, falling back to GET)."""
        host = ref.api_host
        what = f"manifest {ref}"
        response = self._send_manifest_request("HEAD", ref, accept, what=what)
        try:
            if response.status_code == 404:
                raise NotFound(f"{what} not found on {host}")
            header: str = response.headers.get("docker-content-digest", "")
            if response.is_success and header:
                _header_digest(header, host=host, what=what)
                if ref.digest is not None and header != ref.digest:
                    raise DigestMismatch(f"{what}: registry {host} says it is {header}")
                return header
        finally:
            response.close()
        return self.get_manifest(ref, accept).digest

    @contextmanager
    def open_blob(
        self,
        ref_or_repo: Reference | str,
        digest: str,
        *,
        size: int | None = None,
        label: str = "blob",
    ) -> Iterator[VerifyingReader]:
        """Stream a blob; the reader raises DigestMismatch at end of stream when the bytes
        (or their count, when ``size`` is given) are wrong. Read it to the end, or call
        ``finish()``, before trusting anything read. ``label`` ("layer 2") names it in
        messages."""
        repo = _as_repo(ref_or_repo)
        host = repo.api_host
        what = f"{repo.name} blob"
        parse_digest(digest, what=f"{what} digest")
        url = self._url(repo, f"blobs/{digest}")
        response = self._send(
            "GET",
            host,
            url,
            scope=_scope(repo, "pull"),
            what=f"{what} {digest}",
            headers={"Accept-Encoding": "identity"},
        )
        try:
            self._raise_for_status(response, host=host, what=f"{what} {digest}")
            length = response.headers.get("content-length", "")
            if size is not None and length.isdigit() and int(length) != size:
                raise DigestMismatch(f"{what} {digest}: {host} serves {int(length)} bytes, expected {size}")
            stream = _ResponseStream(response, host=host, what=f"{label} {digest} of {repo.name}")
            yield VerifyingReader(stream, digest, what=what, size=size)  # type: ignore[arg-type]
        finally:
            response.close()

    def fetch_blob(
        self,
        ref_or_repo: Reference | str,
        digest: str,
        *,
        max_size: int = MAX_CONFIG_SIZE,
        size: int | None = None,
    ) -> bytes:
        """A small blob (a config, an attestation) in memory, verified; ImageError over
        ``max_size``."""
        repo = _as_repo(ref_or_repo)
        if size is not None and size > max_size:
            raise ImageError(f"{repo.name} blob {digest} is {size} bytes, over the {max_size}-byte limit")
        parts: list[bytes] = []
        total = 0
        with self.open_blob(repo, digest, size=size) as reader:
            while chunk := reader.read(_CHUNK):
                total += len(chunk)
                if total > max_size:
                    raise ImageError(
                        f"{repo.name} blob {digest} on {repo.api_host} is over the {max_size}-byte limit"
                    )
                parts.append(chunk)
        return b"".join(parts)

    def blob_exists(self, ref_or_repo: Reference | str, digest: str) -> bool:
        repo = _as_repo(ref_or_repo)
        host = repo.api_host
        what = f"{repo.name} blob {digest}"
        url = self._url(repo, f"blobs/{digest}")
        response = self._send("HEAD", host, url, scope=_scope(repo, "pull"), what=what)
        try:
            if response.status_code == 404:
                return False
            self._raise_for_status(response, host=host, what=what)
            return True
        finally:
            response.close()

    def push_blob(self, ref_or_repo: Reference | str, data: bytes | BinaryIO, digest: str, size: int) -> str:
        """Upload a blob unless the repository already has it (monolithic POST + PUT)."""
        repo = _as_repo(ref_or_repo)
        host = repo.api_host
        what = f"{repo.name} blob {digest}"
        parse_digest(digest, what=f"{repo.name} blob digest")
        content: bytes | Iterator[bytes]
        if isinstance(data, bytes):
            if len(data) != size:
                raise DigestMismatch(f"{what}: {len(data)} bytes given, declared size {size}")
            content = verify_bytes(data, digest, what=f"{repo.name} blob")
        else:
            content = _chunks(VerifyingReader(data, digest, what=f"{repo.name} blob", size=size))
        push = _scope(repo, "pull,push")
        head = self._send("HEAD", host, self._url(repo, f"blobs/{digest}"), scope=push, what=what)
        head.close()
        if head.is_success:
            return digest
        if head.status_code != 404:
            self._raise_for_status(head, host=host, what=what)
        start = self._send(
            "POST",
            host,
            self._url(repo, "blobs/uploads/"),
            scope=push,
            what=f"upload of {what}",
            content=b"",
        )
        try:
            self._raise_for_status(start, host=host, what=f"upload of {what}")
            location = start.headers.get("location")
        finally:
            start.close()
        if not location:
            raise RegistryError(f"{host} started an upload of {what} without a Location")
        target = _join(start.url, location, host=host, what=f"upload of {what}")
        target = target.copy_merge_params({"digest": digest})
        put = self._send(
            "PUT",
            host,
            target,
            scope=push,
            what=f"upload of {what}",
            content=content,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )
        try:
            self._raise_for_status(put, host=host, what=f"upload of {what}")
        finally:
            put.close()
        echoed = put.headers.get("docker-content-digest")
        if echoed and echoed != digest:
            raise DigestMismatch(f"{what}: {host} stored it as {echoed}")
        return digest

    def push_manifest(self, ref: Reference, data: bytes, media_type: str) -> str:
        """PUT a manifest at ``ref``'s tag (or digest); returns its digest."""
        return self._put_manifest(ref, data, media_type)[0]

    def push_referrer(self, ref_or_repo: Reference | str, data: bytes, media_type: str) -> str:
        """Push a manifest that has a ``subject`` (a signature, an SBOM...) by digest.

        When the registry does not confirm it indexed the subject (no ``OCI-Subject``
        header: no referrers API), the referrers tag schema is maintained instead: the
        descriptor is added to the index tagged ``sha256-<hex>`` of the subject.
        """
        repo = _as_repo(ref_or_repo).repo()
        digest = sha256_digest(data)
        doc = Manifest(media_type=media_type, digest=digest, data=data).json()
        subject = doc.get("subject")
        if not isinstance(subject, dict) or not isinstance(subject.get("digest"), str):
            raise ImageError(f"manifest {digest} for {repo.name} has no subject to refer to")
        subject_digest = subject["digest"]
        algo, hexpart = parse_digest(subject_digest, what=f"subject of manifest {digest}")
        _, headers = self._put_manifest(repo.with_digest(digest), data, media_type)
        if headers.get("oci-subject"):
            return digest
        artifact_type = doc.get("artifactType")
        if not isinstance(artifact_type, str) or not artifact_type:
            config = doc.get("config")
            config_type = config.get("mediaType") if isinstance(config, dict) else None
            artifact_type = config_type if isinstance(config_type, str) else ""
        annotations = doc.get("annotations")
        entry = Descriptor(
            media_type=media_type,
            digest=digest,
            size=len(data),
            artifact_type=artifact_type,
            annotations=tuple(sorted(annotations.items())) if isinstance(annotations, dict) else (),
        )
        tag_ref = repo.with_tag(f"{algo}-{hexpart}")
        try:
            existing = self.get_manifest(tag_ref, accept=(OCI_INDEX,))
            index = existing.json()
        except NotFound:
            index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        listed = index.get("manifests")
        manifests = listed if isinstance(listed, list) else []
        if any(isinstance(m, dict) and m.get("digest") == digest for m in manifests):
            return digest
        index["manifests"] = [*manifests, entry.to_json()]
        body = json.dumps(index, separators=(",", ":")).encode()
        self._put_manifest(tag_ref, body, OCI_INDEX)
        return digest

    def _put_manifest(self, ref: Reference, data: bytes, media_type: str) -> tuple[str, httpx.Headers]:
        host = ref.api_host
        digest = sha256_digest(data)
        what = f"manifest {ref}"
        if ref.digest is not None:
            verify_bytes(data, ref.digest, what=f"manifest {ref.name}")
            digest = ref.digest
        if len(data) > self._max_manifest:
            raise ImageError(f"{what} is {len(data)} bytes, over the {self._max_manifest}-byte limit")
        url = self._url(ref, f"manifests/{ref.tag or digest}")
        response = self._send(
            "PUT",
            host,
            url,
            scope=_scope(ref, "pull,push"),
            what=what,
            content=data,
            headers={"Content-Type": media_type},
        )
        try:
            self._raise_for_status(response, host=host, what=what)
        finally:
            response.close()
        echoed = response.headers.get("docker-content-digest")
        if echoed and echoed != digest:
            raise DigestMismatch(f"{what}: {host} stored it as {echoed}, we sent {digest}")
        return digest, response.headers

    def list_tags(self, ref_or_repo: Reference | str, *, page_size: int | None = None) -> tuple[str, ...]:
        """Every tag of the repository, following ``Link: <...>; rel="next"`` pages."""
        repo = _as_repo(ref_or_repo)
        host = repo.api_host
        what = f"tag list of {repo.name}"
        first = httpx.URL(self._url(repo, "tags/list"))
        if page_size is not None:
            first = first.copy_merge_params({"n": str(page_size)})
        tags: list[str] = []
        for doc, _ in self._get_json_pages(repo, first, what=what):
            page = doc.get("tags") or []
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise RegistryError(f"{what} from {host} has a malformed 'tags' field")
            tags.extend(page)
        return tuple(tags)

    def referrers(
        self, ref_or_repo: Reference | str, digest: str, artifact_type: str | None = None
    ) -> tuple[Descriptor, ...]:
        """Manifests whose ``subject`` is ``digest`` (OCI 1.1 referrers API).

        A registry without the API answers 404; then the referrers tag schema is read
        instead: an index tagged ``sha256-<hex>``. No such tag means no referrers.
        """
        repo = _as_repo(ref_or_repo)
        host = repo.api_host
        parse_digest(digest, what=f"{repo.name} subject digest")
        what = f"referrers of {repo.name}@{digest}"
        first = httpx.URL(self._url(repo, f"referrers/{digest}"))
        if artifact_type:
            first = first.copy_merge_params({"artifactType": artifact_type})
        found: list[Descriptor] = []
        filtered = True
        try:
            for doc, response in self._get_json_pages(repo, first, what=what, accept=OCI_INDEX):
                found.extend(_index_descriptors(doc, where=f"{what} on {host}"))
                filtered = filtered and "artifactType" in response.headers.get("oci-filters-applied", "")
        except NotFound:
            if found:
                raise
            return self._referrers_from_tag(repo, digest, artifact_type)
        if artifact_type and not filtered:
            found = [d for d in found if d.artifact_type == artifact_type]
        return tuple(found)

    # -- internals -------------------------------------------------------------------------

    def _referrers_from_tag(
        self, repo: Reference, digest: str, artifact_type: str | None
    ) -> tuple[Descriptor, ...]:
        algo, hexpart = parse_digest(digest)
        try:
            index = self.get_manifest(repo.with_tag(f"{algo}-{hexpart}"), accept=(OCI_INDEX,))
        except NotFound:
            return ()
        where = f"referrers tag {algo}-{hexpart} of {repo.name}"
        try:
            doc = index.json()
        except FormatError as exc:
            raise RegistryError(str(exc)) from None
        found = _index_descriptors(doc, where=where)
        if artifact_type:
            found = [d for d in found if d.artifact_type == artifact_type]
        return tuple(found)

    def _get_json_pages(
        self, repo: Reference, first: httpx.URL, *, what: str, accept: str = "application/json"
    ) -> Iterator[tuple[dict[str, Any], httpx.Response]]:
        """Each page of a JSON listing, following ``Link: <...>; rel="next"`` (at most
        ``_MAX_PAGES``; a link back to a page already read is an error)."""
        host = repo.api_host
        url: httpx.URL | None = first
        seen: set[str] = set()
        while url is not None and len(seen) < _MAX_PAGES:
            if str(url) in seen:
                raise RegistryError(f"{host} sent a pagination loop in the {what}")
            seen.add(str(url))
            doc, response = self._get_json(host, url, scope=_scope(repo, "pull"), what=what, accept=accept)
            yield doc, response
            url = _next_link(response, host=host, what=what)

    def _get_json(
        self, host: str, url: httpx.URL, *, scope: str, what: str, accept: str = "application/json"
    ) -> tuple[dict[str, Any], httpx.Response]:
        response = self._send("GET", host, url, scope=scope, what=what, headers={"Accept": accept})
        try:
            self._raise_for_status(response, host=host, what=what)
            data = _read_capped(response, _MAX_SMALL_BODY, host=host, what=what)
        finally:
            response.close()
        return _json_object(data, host=host, what=what), response

    def _send_manifest_request(
        self, method: str, ref: Reference, accept: tuple[str, ...], *, what: str
    ) -> httpx.Response:
        """GET or HEAD of the manifest ``ref`` names; the response is streamed: close it."""
        return self._send(
            method,
            ref.api_host,
            self._url(ref, f"manifests/{ref.identifier}"),
            scope=_scope(ref, "pull"),
            what=what,
            headers={"Accept": ", ".join(accept)},
        )

    def _check_manifest_digest(
        self, ref: Reference, data: bytes, response: httpx.Response, *, what: str
    ) -> str:
        host = ref.api_host
        if ref.digest is not None:
            verify_bytes(data, ref.digest, what=f"manifest {ref.name}")
            return ref.digest
        digest = sha256_digest(data)
        header = response.headers.get("docker-content-digest")
        if header:
            algo, hexpart = _header_digest(header, host=host, what=what)
            actual = hashlib.new(algo, data).hexdigest()
            if actual != hexpart:
                raise DigestMismatch(
                    f"{what}: {host} says {header} but the content hashes to {algo}:{actual}"
                )
        return digest

    def _scheme(self, host: str) -> str:
        return "http" if self._insecure or is_loopback(host) else "https"

    def _url(self, ref: Reference, tail: str) -> str:
        return f"{self._scheme(ref.api_host)}://{ref.api_host}/v2/{ref.repository}/{tail}"

    def _credentials(self, host: str) -> Credentials | None:
        if host not in self._creds:
            self._creds[host] = self._lookup(normalize_host(host))
        return self._creds[host]

    def _auth_header(self, host: str, scope: str) -> str | None:
        token = self._tokens.get((host, scope))
        if token is not None and token.expires > time.monotonic():
            return f"Bearer {token.value}"
        creds = self._basic.get(host)
        if creds is not None:
            return _basic_header(creds)
        return None

    def _send(
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
        home = _origin(httpx.URL(f"{self._scheme(host)}://{host}/"))
        for attempt in (0, 1):
            request_headers = dict(headers or {})
            auth = self._auth_header(host, scope) if _origin(url) == home else None
            if auth:
                request_headers["Authorization"] = auth
            response = self._send_following_redirects(
                method, url, request_headers, content, host=host, what=what
            )
            if response.status_code != 401:
                return response
            response.close()
            if _origin(response.url) != home:
                # A redirect target (blob storage) asks to authenticate: the registry's
                # credentials are not its to have, and a token it hands out must never be
                # sent back to the registry. Docker answers no such challenge either.
                raise AuthError(
                    f"{host} sent {what} on to {_netloc(response.url)}, which asks for "
                    f"credentials; the credentials for {host} are not sent to another host",
                    hint="the registry's storage redirect needs no credentials of ours; "
                    "ask the registry's operator to fix it",
                )
            challenge_header = response.headers.get("www-authenticate", "")
            if attempt == 1 or not (content is None or isinstance(content, bytes)):
                break
            self._tokens.pop((host, scope), None)
            self._authenticate(host, scope, challenge_header, what=what, had_auth=bool(auth))
        creds = self._credentials(host)
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
        for _ in range(_MAX_REDIRECTS + 1):
            doing = f"requesting {what}"
            deadline.check(doing)
            # Each connect, write and read waits at most the client's timeout, and never
            # past the command's deadline.
            timeout = httpx.Timeout(deadline.clamp(self._timeout))
            request = self._http.build_request(
                method, url, headers=headers, content=content, timeout=timeout
            )
            try:
                response = self._http.send(request, stream=True, follow_redirects=False)
            except httpx.TransportError as exc:
                raise _network_error(exc, where=_netloc(url), doing=doing) from None
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                return response
            response.close()
            target = _join(url, location, host=host, what=what)
            if target.scheme not in ("http", "https"):
                raise RegistryError(f"{host} redirected {what} to an unsupported URL {target}")
            if _origin(target) != _origin(url):
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
            creds = self._credentials(host)
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
        creds = self._credentials(host)
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
            self._raise_for_status(response, host=realm_url.host, what=token_what)
            data = _read_capped(response, _MAX_SMALL_BODY, host=realm_url.host, what=token_what)
        finally:
            response.close()
        doc = _json_object(data, host=realm_url.host, what=token_what)
        value = doc.get("token") or doc.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthError(f"token server {realm} for {host} sent no token")
        expires_in = doc.get("expires_in")
        lifetime = expires_in if isinstance(expires_in, int) and expires_in > 0 else 60
        return _Token(value=value, expires=time.monotonic() + max(lifetime - 5, 1))

    def _raise_for_status(self, response: httpx.Response, *, host: str, what: str) -> None:
        if response.is_success:
            return
        status = response.status_code
        detail = _error_detail(response, host=host, what=what) if response.request.method != "HEAD" else ""
        suffix = f" ({detail})" if detail else ""
        if status == 404:
            raise NotFound(f"{what} not found on {host}{suffix}")
        if status in (401, 403):
            raise AuthError(f"{host} denied {what}: HTTP {status}{suffix}")
        raise RegistryError(f"{host} answered HTTP {status} for {what}{suffix}")


def _netloc(url: httpx.URL) -> str:
    return f"{url.host}:{url.port}" if url.port else url.host


def _header_digest(header: str, *, host: str, what: str) -> tuple[str, str]:
    """(algorithm, hex) of a Docker-Content-Digest header; RegistryError when malformed."""
    try:
        return parse_digest(header)
    except ImageError:
        raise RegistryError(
            f"{host} sent an invalid Docker-Content-Digest {header!r} for {what}"
        ) from None


def _basic_header(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _scope(ref: Reference, actions: str) -> str:
    return f"repository:{ref.repository}:{actions}"


def _as_repo(ref_or_repo: Reference | str) -> Reference:
    if isinstance(ref_or_repo, Reference):
        return ref_or_repo
    return parse_reference(ref_or_repo, default_tag=False)


def _chunks(reader: VerifyingReader) -> Iterator[bytes]:
    while chunk := reader.read(_CHUNK):
        yield chunk


def _index_descriptors(doc: dict[str, Any], *, where: str) -> list[Descriptor]:
    """The descriptors of an index a registry served; RegistryError when malformed."""
    manifests = doc.get("manifests") or []
    if not isinstance(manifests, list):
        raise RegistryError(f"{where}: 'manifests' is not a list")
    try:
        return [Descriptor.from_json(m, where=where) for m in manifests]
    except FormatError as exc:
        raise RegistryError(str(exc)) from None
