"""A client of the monitoring service's API, for ``hullcheck push`` and ``hullcheck query``.

    with ApiClient("https://hullcheck.example.org", token) as api:
        digest = api.post("/uploads", params={"name": "app:1.2"}, content=sbom)["digest"]
        hits = api.get("/search", params={"purl": "pkg:deb/debian/xz-utils@5.6.0-0.2"})

The service is another party: its answers are read with a size cap and parsed with
hullcheck's limits, its error text is escaped, redirects are not followed (the token would
go with them), and every wait honours the command's deadline (``--timeout``).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from hullcheck import __version__, deadline, untrusted
from hullcheck.errors import HullcheckError, Unreachable, UsageError

TIMEOUT = 60.0  # seconds per request, clamped to the command's deadline
MAX_ANSWER = 256 << 20  # bytes of an answer (a search over a large fleet is big)
TOKEN_ENV = "HULLCHECK_TOKEN"  # noqa: S105 - a variable's name, not a secret
_READ = 1 << 16


class ServiceError(HullcheckError):
    """The monitoring service refused a call or answered something unusable."""

    default_hint = f"check --server and the token in {TOKEN_ENV}"


def base_url(server: str) -> httpx.URL:
    """``--server`` as the API's base URL (``http(s)://HOST[:PORT][/prefix]``)."""
    try:
        url = httpx.URL(server)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"--server {server!r}: write the service's URL, e.g. "
                         "https://hullcheck.example.org")
    if url.userinfo:
        raise UsageError("--server: put no credentials in the URL; the token comes from "
                         f"{TOKEN_ENV}")
    return url.copy_with(path=url.path.rstrip("/") + "/api/v1", query=None, fragment=None)


class ApiClient:
    def __init__(self, server: str, token: str, *, http: httpx.Client | None = None) -> None:
        if not token:
            raise UsageError(f"set {TOKEN_ENV} to a token of the service ('hullcheck token "
                             "create' on the service's side)")
        self.base = base_url(server)
        self.where = f"{self.base.scheme}://{self.base.netloc.decode()}"
        self._http = http or httpx.Client(timeout=TIMEOUT, follow_redirects=False)
        self._headers = {"Authorization": f"Bearer {token}",
                         "User-Agent": f"hullcheck/{__version__}",
                         "Accept": "application/json",
                         # the answer is read raw (capped as it arrives): never compressed
                         "Accept-Encoding": "identity"}

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, *, params: dict[str, str] | None = None) -> Any:
        return self._call("GET", path, params=params)

    def post(self, path: str, *, params: dict[str, str] | None = None,
             content: bytes = b"", content_type: str = "application/json") -> Any:
        return self._call("POST", path, params=params, content=content,
                          headers={"Content-Type": content_type})

    def _call(self, method: str, path: str, *, params: dict[str, str] | None = None,
              content: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        doing = f"{method} {self.base.path}{path}"
        deadline.check(doing)
        timeout = deadline.clamp(TIMEOUT)
        request = self._http.build_request(
            method, self.base.copy_with(path=self.base.path + path), params=params,
            content=content, headers={**self._headers, **(headers or {})},
            timeout=httpx.Timeout(timeout))
        try:
            response = self._http.send(request, stream=True)
            try:
                body = self._read(response, doing)
            finally:
                response.close()
        except httpx.TimeoutException:
            deadline.check(doing)
            raise Unreachable(f"{self.where} did not answer in time ({doing})",
                              hint="check --server, or raise --timeout") from None
        except httpx.TransportError as exc:
            deadline.check(doing)
            raise Unreachable(f"cannot reach {self.where} ({doing}): {exc or type(exc).__name__}",
                              hint="check --server and the network") from None
        return self._answer(response, body, doing)

    def _read(self, response: httpx.Response, doing: str) -> bytes:
        parts: list[bytes] = []
        total = 0
        for chunk in response.iter_raw(_READ):
            deadline.check(doing)  # a server dripping bytes is cut off by the deadline
            total += len(chunk)
            if total > MAX_ANSWER:
                raise ServiceError(f"{self.where} answered {doing} with more than "
                                   f"{MAX_ANSWER >> 20} MiB; refused")
            parts.append(chunk)
        return b"".join(parts)

    def _answer(self, response: httpx.Response, body: bytes, doing: str) -> Any:
        status = response.status_code
        what = f"the answer of {self.where} to {doing}"
        if 200 <= status < 300:
            return untrusted.json_document(body, what=what, error=ServiceError)
        if 300 <= status < 400:
            raise ServiceError(f"{self.where} redirected {doing} (HTTP {status}); not followed",
                               hint="give --server the service's own URL")
        detail = _error_text(body)
        hint = {401: f"the token in {TOKEN_ENV} is missing, unknown or revoked",
                403: "the token's scope is not enough for this call (push needs write)",
                429: f"too many calls; wait {response.headers.get('retry-after', 'a while')}s"
                }.get(status)
        raise ServiceError(f"{self.where} refused {doing}: HTTP {status}"
                           + (f": {detail}" if detail else ""), hint=hint)


def _error_text(body: bytes) -> str:
    """The ``error`` of the API's one-line JSON error, else a short excerpt (escaped by
    the exception's message handling)."""
    try:
        doc = untrusted.json_document(body[:8192], what="error", error=ServiceError)
    except ServiceError:
        return " ".join(body[:200].decode("utf-8", "replace").split())
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return str(doc["error"])[:400]
    return ""
