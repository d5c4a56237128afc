"""An OCI distribution client: manifests, digest-verified blobs, push, tags and referrers.

Every byte that leaves this module has been checked against its digest. Its parts:
``session`` (requests with Docker's authentication, redirects followed by hand, every wait
bounded by the command's deadline), ``http`` (bounded reads, errors that say whether a
registry answered), ``referrers`` (the OCI 1.1 API and the tag schema). No answer
(connection refused, DNS failure, a timeout) is :class:`Unreachable`; an answer we refuse
(an HTTP error status, a malformed body, a TLS certificate that does not verify) is a
:class:`RegistryError` or one of its other kinds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import BinaryIO

import httpx

from hullcheck import untrusted
from hullcheck.digest import VerifyingReader, parse_digest, sha256_digest, verify_bytes
from hullcheck.errors import (
    DigestMismatch,
    ImageError,
    NotFound,
    RegistryError,
    UnsupportedMediaType,
)
from hullcheck.registry import referrers
from hullcheck.registry.auth import CredentialLookup, Credentials, scoped_credentials
from hullcheck.registry.http import (
    CHUNK,
    ResponseStream,
    header_digest,
    is_loopback,
    join,
    raise_for_status,
    read_capped,
    read_sized,
)
from hullcheck.registry.media import MANIFEST_TYPES, Descriptor, Manifest
from hullcheck.registry.reference import Reference, parse_reference
from hullcheck.registry.session import Session, repo_scope

__all__ = ["MAX_CONFIG_SIZE", "MAX_MANIFEST_SIZE", "RegistryClient", "is_loopback"]

MAX_MANIFEST_SIZE = 4 * 1024 * 1024
MAX_CONFIG_SIZE = 8 * 1024 * 1024
_USER_AGENT = "hullcheck/0.1"


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
        self._session = Session(self._http, _lookup(credentials), insecure=insecure,
                                timeout=timeout)
        self._max_manifest = max_manifest_size

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

    def get_manifest(self, ref: Reference, accept: tuple[str, ...] = MANIFEST_TYPES, *,
                     size: int | None = None) -> Manifest:
        """The manifest or index ``ref`` names, digest-verified.

        With a digest in ``ref`` the bytes must hash to it; otherwise the digest is computed
        and must equal the registry's ``Docker-Content-Digest`` when it sends one. ``size``
        (its descriptor's, with a digest in ``ref``): the bytes must be that many, and no
        more than one byte over it is read.
        """
        host = ref.api_host
        what = f"manifest {ref}"
        if size is not None and size > self._max_manifest:
            raise ImageError(f"{what} is declared {size} bytes, over the {self._max_manifest}-byte limit")
        response = self._send_manifest_request("GET", ref, accept, what=what)
        try:
            raise_for_status(response, host=host, what=what)
            data = (read_capped(response, self._max_manifest, host=host, what=what)
                    if size is None else read_sized(response, size, host=host, what=what))
        finally:
            response.close()
        digest = self._check_manifest_digest(ref, data, response, what=what, size=size)
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
                header_digest(header, host=host, what=what)
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
        url = self._session.url(repo, f"blobs/{digest}")
        response = self._session.send(
            "GET",
            host,
            url,
            scope=repo_scope(repo, "pull"),
            what=f"{what} {digest}",
            headers={"Accept-Encoding": "identity"},
        )
        try:
            raise_for_status(response, host=host, what=f"{what} {digest}")
            length = response.headers.get("content-length", "")
            if size is not None and length.isdigit() and int(length) != size:
                raise DigestMismatch(f"{what} {digest}: {host} serves {int(length)} bytes, expected {size}")
            stream = ResponseStream(response, host=host, what=f"{label} {digest} of {repo.name}")
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
        # Read no further than a byte past what may be kept: the declared size, else the cap.
        limit = max_size if size is None else size
        with self.open_blob(repo, digest, size=size) as reader:
            while chunk := reader.read(min(CHUNK, limit + 1 - total)):
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
        url = self._session.url(repo, f"blobs/{digest}")
        response = self._session.send("HEAD", host, url, scope=repo_scope(repo, "pull"), what=what)
        try:
            if response.status_code == 404:
                return False
            raise_for_status(response, host=host, what=what)
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
        push = repo_scope(repo, "pull,push")
        head = self._session.send("HEAD", host, self._session.url(repo, f"blobs/{digest}"),
                                  scope=push, what=what)
        head.close()
        if head.is_success:
            return digest
        if head.status_code != 404:
            raise_for_status(head, host=host, what=what)
        start = self._session.send(
            "POST",
            host,
            self._session.url(repo, "blobs/uploads/"),
            scope=push,
            what=f"upload of {what}",
            content=b"",
        )
        try:
            raise_for_status(start, host=host, what=f"upload of {what}")
            location = start.headers.get("location")
        finally:
            start.close()
        if not location:
            raise RegistryError(f"{host} started an upload of {what} without a Location")
        target = join(start.url, location, host=host, what=f"upload of {what}")
        target = target.copy_merge_params({"digest": digest})
        put = self._session.send(
            "PUT",
            host,
            target,
            scope=push,
            what=f"upload of {what}",
            content=content,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )
        try:
            raise_for_status(put, host=host, what=f"upload of {what}")
        finally:
            put.close()
        echoed = put.headers.get("docker-content-digest")
        if echoed and echoed != digest:
            raise DigestMismatch(f"{what}: {host} stored it as {echoed}")
        return digest

    def push_manifest(self, ref: Reference, data: bytes, media_type: str) -> str:
        """PUT a manifest at ``ref``'s tag (or digest); returns its digest."""
        return self.put_manifest(ref, data, media_type)[0]

    def push_referrer(self, ref_or_repo: Reference | str, data: bytes, media_type: str) -> str:
        """Push a manifest that has a ``subject`` (a signature, an SBOM...) by digest; on a
        registry without the referrers API, also add it to the referrers tag schema."""
        return referrers.push_referrer(self, _as_repo(ref_or_repo), data, media_type)

    def put_manifest(self, ref: Reference, data: bytes, media_type: str) -> tuple[str, httpx.Headers]:
        host = ref.api_host
        digest = sha256_digest(data)
        what = f"manifest {ref}"
        if ref.digest is not None:
            verify_bytes(data, ref.digest, what=f"manifest {ref.name}")
            digest = ref.digest
        if len(data) > self._max_manifest:
            raise ImageError(f"{what} is {len(data)} bytes, over the {self._max_manifest}-byte limit")
        url = self._session.url(ref, f"manifests/{ref.tag or digest}")
        response = self._session.send(
            "PUT",
            host,
            url,
            scope=repo_scope(ref, "pull,push"),
            what=what,
            content=data,
            headers={"Content-Type": media_type},
        )
        try:
            raise_for_status(response, host=host, what=what)
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
        first = httpx.URL(self._session.url(repo, "tags/list"))
        if page_size is not None:
            first = first.copy_merge_params({"n": str(page_size)})
        tags: list[str] = []
        for doc, _ in self._session.json_pages(repo, first, what=what):
            page = doc.get("tags") or []
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise RegistryError(f"{what} from {host} has a malformed 'tags' field")
            tags.extend(page)
        return tuple(tags)

    def referrers(
        self, ref_or_repo: Reference | str, digest: str, artifact_type: str | None = None
    ) -> tuple[Descriptor, ...]:
        """Manifests whose ``subject`` is ``digest`` (OCI 1.1 referrers API, else the
        referrers tag schema; no such tag means none)."""
        return referrers.referrers(self, self._session, _as_repo(ref_or_repo), digest,
                                   artifact_type)

    # -- internals -------------------------------------------------------------------------

    def _send_manifest_request(
        self, method: str, ref: Reference, accept: tuple[str, ...], *, what: str
    ) -> httpx.Response:
        """GET or HEAD of the manifest ``ref`` names; the response is streamed: close it."""
        return self._session.send(
            method,
            ref.api_host,
            self._session.url(ref, f"manifests/{ref.identifier}"),
            scope=repo_scope(ref, "pull"),
            what=what,
            headers={"Accept": ", ".join(accept)},
        )

    def _check_manifest_digest(
        self, ref: Reference, data: bytes, response: httpx.Response, *, what: str,
        size: int | None = None,
    ) -> str:
        host = ref.api_host
        if ref.digest is not None:
            verify_bytes(data, ref.digest, what=f"manifest {ref.name}", size=size)
            return ref.digest
        digest = sha256_digest(data)
        header = response.headers.get("docker-content-digest")
        if header:
            algo, hexpart = header_digest(header, host=host, what=what)
            actual = hashlib.new(algo, data).hexdigest()
            if actual != hexpart:
                raise DigestMismatch(
                    f"{what}: {host} says {header} but the content hashes to {algo}:{actual}"
                )
        return digest


def _lookup(credentials: Credentials | CredentialLookup | None) -> CredentialLookup:
    """Fixed credentials for every host, a lookup by host, or Docker's config by host."""
    if credentials is None:
        return scoped_credentials(None)
    if isinstance(credentials, Credentials):
        fixed = credentials
        return lambda _host: fixed
    return credentials


def _as_repo(ref_or_repo: Reference | str) -> Reference:
    if isinstance(ref_or_repo, Reference):
        return ref_or_repo
    return parse_reference(ref_or_repo, default_tag=False)


def _chunks(reader: VerifyingReader) -> Iterator[bytes]:
    while chunk := reader.read(CHUNK):
        yield chunk
